"""coursekit.graph.gpu_figures: notebook 04's break-even of a compiled call against eager ops, from
published measurements (computed, and labelled so), from the roofline (exactly one op), or measured
(:func:`coursekit.graph.torch_graphs.measure_compile_break_even`); and the traffic prediction at a
published bandwidth."""

from __future__ import annotations

import math

import pytest

from coursekit.graph import gpu_figures as gf
from coursekit.perf import published, reveal
from coursekit.perf.reference import GPUResult


def test_break_even_where_the_lines_cross():
    assert gf.break_even(0.0, 7.1, 44.3, 0.0) == pytest.approx(44.3 / 7.1)
    assert gf.break_even(2.0, 5.0, 26.0, 1.0) == pytest.approx(6.0)
    assert gf.break_even(10.0, 5.0, 1.0, 1.0) == 0.0  # compiled ahead from the start and per op
    assert gf.break_even(0.0, 1.0, 5.0, 1.0) == math.inf  # same slope, compiled behind: never
    assert math.isnan(gf.break_even(5.0, 1.0, 1.0, 2.0))  # ahead at first, behind later: no "from k on"


def test_wins_from_is_the_first_whole_k_past_the_tie():
    assert gf.wins_from(6.24) == 7
    assert gf.wins_from(1.0) == 2  # a tie at one op: compiled wins from two
    assert gf.wins_from(0.3) == 1
    assert gf.wins_from(0.0) == 1
    assert gf.wins_from(math.inf) is None and gf.wins_from(math.nan) is None


@pytest.mark.parametrize("launch_s", [0.0, 1e-6, 3e-6, 1e-4])
def test_roofline_break_even_is_one_op_whatever_the_launch(launch_s):
    k_star = gf.roofline_break_even(8192, 2.039e12, launch_s)
    assert k_star == 1.0 and gf.wins_from(k_star) == 2


def test_roofline_break_even_refuses_nonsense():
    with pytest.raises(ValueError):
        gf.roofline_break_even(8192, 0.0, 1e-6)
    with pytest.raises(ValueError):
        gf.roofline_break_even(0, 1e12, 0.0)


def test_published_break_even_is_computed_from_the_two_entries_and_says_so():
    eager, compiled = published.get(gf.EAGER_OP), published.get(gf.COMPILED_CALL)
    r = gf.published_break_even()
    assert r.source == published.TIER and r.value == gf.wins_from(compiled.value / eager.value)
    assert r.label.startswith("published measurement, computed from two")
    for entry in (eager, compiled):
        assert entry.id in r.label and entry.device in r.label and entry.source.cite() in r.label
    shown = reveal.reveal("k", "ops", r, roofline_prediction=2.0)  # accepted as a revealable tier
    assert shown.roofline_error is not None and shown.roofline_error < 0


def test_break_even_result_turns_a_measurement_into_ops_and_passes_others_through():
    m = {
        "eager_per_op_us": 5.3,
        "compiled_fixed_us": 26.1,
        "compiled_per_op_us": -0.04,
        "break_even": 5.4,
        "wins_from": 6,
    }
    r = gf.break_even_result(GPUResult(m, "measured", "NVIDIA H200, measured here"))
    assert r.value == 6.0 and r.source == "measured"
    assert r.label.startswith("NVIDIA H200, measured here: eager 5.3 us per op") and "break-even 5.4" in r.label
    failed = gf.break_even_result(GPUResult({"error": "no triton"}, "measured", "a GPU"))
    assert not failed and "no triton" in failed.label
    never = gf.break_even_result(GPUResult({**m, "wins_from": None}, "measured", "a GPU"))
    assert not never and "never caught up" in never.label
    other = GPUResult(7.0, published.TIER, "x")
    assert gf.break_even_result(other) is other


def test_launch_scale_lines_name_their_tier():
    lines = gf.launch_scale_lines()
    assert len(lines) == 4 and all("published measurement:" in line for line in lines)


def test_traffic_prediction_is_bytes_over_bandwidth():
    pred = gf.traffic_prediction({"poly": {"before": 48, "after": 8}}, 10_000_000, 2.97e12)
    assert pred["poly"]["eager_ms"] == pytest.approx(48e7 / 2.97e12 * 1e3)
    assert pred["poly"]["fused_ms"] == pytest.approx(8e7 / 2.97e12 * 1e3)
    assert pred["poly"]["ratio"] == 6.0
    with pytest.raises(ValueError):
        gf.traffic_prediction({"poly": {"before": 48, "after": 8}}, 10, 0.0)
