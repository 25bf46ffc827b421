"""Notebook 04's computed titles and verdicts (coursekit.graph.findings): each claim appears when its
premise holds and gives way to what the numbers show when it does not. Also the pieces they read:
a fused kernel's transcendental steps and ``out=``, the cost-per-op helpers, inductor's kernel calls."""

from __future__ import annotations

import math

import numpy as np
import pytest

import coursekit.graph as T
from coursekit.graph import findings
from coursekit.graph.torch_graphs import kernel_calls
from coursekit.perf import opcost

# ------------------------------------------------------------------------------ comparisons


def test_versus_names_the_faster_only_beyond_the_tie():
    assert findings.versus("ours", 10.0, "torch", 20.0) == "ours is 2.0x faster than torch (10 ms vs 20 ms)"
    assert findings.versus("ours", 30.0, "torch", 20.0).startswith("torch is 1.5x faster than ours")
    tie = findings.versus("ours", 10.0, "torch", 10.5)
    assert "within 10%" in tie and "faster" not in tie


def test_factor_phrase_faster_slower_and_no_change():
    assert findings.factor_phrase(3.04) == "3.0x faster"
    assert findings.factor_phrase(0.5) == "2.0x slower"
    assert findings.factor_phrase(1.05).startswith("no clear change")
    assert findings.factor_phrase(0.95).startswith("no clear change")


def test_fusion_and_threads_gives_two_factors_and_handles_one_cpu_and_one_thread():
    text = findings.fusion_and_threads(numpy_ms=40.0, fused1_ms=10.0, fused_n_ms=5.0, cpus=2, threads_used=2)
    assert text == (
        "fusion alone (one thread each, vs numpy eager): 4.0x faster; threads (2 vs one, fused kernel): 2.0x faster"
    )
    slow = findings.fusion_and_threads(numpy_ms=10.0, fused1_ms=20.0, fused_n_ms=20.0, cpus=4, threads_used=0)
    assert "2.0x slower" in slow and "threads (4 vs one, fused kernel): no clear change" in slow
    same = findings.fusion_and_threads(40.0, 10.0, 17.0, cpus=2, threads_used=1)
    assert "kept one thread" in same and "slower" not in same.split(";")[1]
    one = findings.fusion_and_threads(40.0, 10.0, 10.0, cpus=1, threads_used=1)
    assert "one usable CPU" in one


# ---------------------------------------------------------------------------------- bounds


def test_bound_verdict_says_near_only_when_the_kernel_reaches_the_lowest_ceiling():
    limits = {"memory roof": 5e9, "tanh": 2e9}
    near = findings.bound_verdict("poly", 1.6e9, limits)
    assert "Near its tanh ceiling" in near and "80% of it" in near
    serial = findings.bound_verdict("poly", 0.9e9, limits)  # 45 % of tanh; times added: 1 / (1/5 + 1/2) = 1.43 G/s
    assert "Near" not in serial and "63% of the rate if the memory roof and tanh times add up" in serial
    assert "the steps follow one another" in serial
    far = findings.bound_verdict("poly", 0.3e9, limits)
    assert "Near" not in far and "follow one another" not in far and "other costs dominate" in far
    assert findings.nearest_bound(1e9, {"a": 4e9, "b": 2e9}) == ("b", 0.5)


def test_roofline_title_claims_up_only_when_every_fused_point_is_faster():
    both = {"poly": (0.1, 1e9, 0.7, 5e9), "xent": (0.1, 1e9, 0.9, 4e9)}
    assert findings.roofline_title(both) == "Fusion moves each chain right (less traffic) and up (faster)"
    not_up = {"poly": (0.1, 1e9, 0.7, 5e9), "xent": (0.1, 1e9, 0.9, 0.8e9)}
    t = findings.roofline_title(not_up)
    assert "and up" not in t and "not up for xent" in t
    neither = {"poly": (0.7, 1e9, 0.1, 0.5e9)}
    assert "right" not in findings.roofline_title(neither)


# ---------------------------------------------------------------------------------- titles


def test_fastest_title_names_a_winner_only_with_a_clear_lead():
    assert findings.fastest_title("MLP", {"numpy": 2.0, "torch": 3.0}) == "MLP: numpy fastest"
    t = findings.fastest_title("MLP", {"numpy": 2.0, "torch": 2.05, "EDF": 3.0})
    assert "fastest" not in t and "numpy and torch within 5%" in t


def test_elementwise_title_says_fusion_wins_only_when_a_fused_contender_is_fastest_everywhere():
    wins = {
        "poly": {"numpy eager": 40.0, "graph, optimised": 8.0},
        "xent": {"numpy eager": 100.0, "torch.compile": 20.0},
    }
    assert findings.elementwise_title(wins).startswith("Misc. elementwise: fusion wins (poly: graph, optimised")
    same = {k: {"numpy eager": 40.0, "graph, optimised": 8.0} for k in ("poly", "xent")}
    assert findings.elementwise_title(same) == "Misc. elementwise: fusion wins (graph, optimised fastest)"
    loses = {"poly": {"numpy eager": 40.0, "graph, optimised": 8.0}, "xent": {"numpy eager": 10.0, "numexpr": 20.0}}
    t = findings.elementwise_title(loses)
    assert "fusion wins" not in t and "xent: numpy eager" in t


def test_curves_title_coincide_only_within_the_tolerance():
    a = np.array([100.0, 50.0, 10.0])
    assert "coincide" in findings.curves_title(a, a * (1 + 1e-4), rtol=2e-3)
    t = findings.curves_title(a, a * 1.05, rtol=2e-3)
    assert "coincide" not in t and "differ by up to" in t


def test_stability_title_reports_only_the_failures_the_formula_shows():
    grid = np.array([-100.0, 0.0, 50.0])
    exact = np.array([100.0, 0.69, 0.0])
    t = findings.stability_title(grid, np.array([np.inf, 0.69, np.nan]), exact, exact, rtol=1e-5)
    assert t == "As written: inf for z <= -100, nan for z >= 50; rewritten: exact"
    t2 = findings.stability_title(grid, exact, exact * 1.1, exact, rtol=1e-5)
    assert "finite everywhere" in t2 and "not exact" in t2
    tiny = np.array([100.0, 0.69, 1e-50])  # float32 gives 0 for e^-115: exact within atol, not rtol
    assert findings.stability_title(grid, exact, np.array([100.0, 0.69, 0.0]), tiny, 1e-5).endswith(
        "not exact everywhere"
    )
    assert findings.stability_title(grid, exact, np.array([100.0, 0.69, 0.0]), tiny, 1e-5, atol=1e-6).endswith("exact")


def test_fusion_graph_title_says_fused_kernel_only_when_every_node_left_is_one():
    assert findings.fusion_graph_title("g", 8, 1, 1) == "g: 8 op nodes become 1 fused kernel"
    assert findings.fusion_graph_title("g", 30, 2, 2).endswith("become 2 fused kernels")
    assert findings.fusion_graph_title("g", 30, 9, 3) == "g: 30 op nodes -> 9 (3 of them fused kernels)"


def test_payback_calls_only_for_a_clear_gain():
    assert findings.payback_calls(1.0, eager_ms=11.0, compiled_ms=1.0) == "100"
    assert findings.payback_calls(1.0, eager_ms=10.0, compiled_ms=9.4) == "never (no clear gain)"  # 6 %: noise
    assert findings.payback_calls(1.0, eager_ms=10.0, compiled_ms=12.0) == "never (no clear gain)"


def test_step_verdict_says_the_products_dominate_only_when_they_take_half():
    steps = {"numpy by hand": 1.8, "graph, optimised": 2.08, "graph, rewrites, no fusion": 2.05}
    v = findings.step_verdict(steps, products_ms=1.2)
    assert "fastest: numpy by hand" in v and "1.14x ahead of graph, rewrites, no fusion" in v
    assert "they dominate" in v and "fusion on top of the rewrites: no clear change" in v
    small = findings.step_verdict(steps, products_ms=0.3)
    assert "they dominate" not in small and "only 17%" in small
    tied = findings.step_verdict({"a": 2.0, "b": 2.05}, products_ms=1.5)
    assert "within 10%" in tied and "fastest" not in tied


def test_conv_relu_verdict_from_kernel_calls():
    fused = ["cpp_fused_relu_0(arg2_1, buf0, buf1)", "torch.ops.mkldnn._convolution_pointwise.default(buf1, w, 'relu')"]
    apart = ["cpp_fused_convolution_0(a, b)", "extern_kernels.convolution(buf0, buf1)", "cpp_fused_relu_1(buf2, buf3)"]
    v = findings.conv_relu_verdict(apart, fused)
    assert v.startswith("default: the library convolution, then the relu as a generated loop")
    assert "freezing (inference): one library convolution with the relu fused in" in v
    assert "none of them a library convolution" in findings.conv_relu_verdict(["cpp_fused_0(a)"], fused)


def test_kernel_calls_reads_the_call_function_of_a_generated_module():
    source = """
def call(args):
    arg0_1, = args
    buf0 = empty_strided_cpu((4,), (1,), torch.float32)
    cpp_fused_0(arg0_1, buf0)
    buf1 = extern_kernels.convolution(buf0, arg0_1, stride=(1, 1))
    return (buf1, )

def get_args():
    cpp_fused_9(x)
"""
    assert kernel_calls(source) == [
        "cpp_fused_0(arg0_1, buf0)",
        "extern_kernels.convolution(buf0, arg0_1, stride=(1, 1))",
    ]
    assert kernel_calls("x = 1") == []


# ------------------------------------------------------------------------- what they read


def test_fused_kernel_lists_its_transcendental_steps_and_writes_into_out():
    z = T.vector("z", "float32")
    f = T.function([z], T.tanh(2 * z**2 + 3 * z + 1), fusion="numpy")
    (kernel,) = f.kernels
    steps = kernel.transcendental_ops()
    assert [name for name, _ in steps] == ["tanh"]  # z**2 is cheap code
    x = np.linspace(-2, 2, 101, dtype=np.float32)
    np.testing.assert_allclose(steps[0][1](x), np.tanh(x), rtol=3e-7)  # vecmath's tanh: within 4 ulp
    out = np.empty_like(x)
    got = kernel(x, out=out)
    assert np.shares_memory(got, out)
    np.testing.assert_allclose(out, np.tanh(2 * x**2 + 3 * x + 1), rtol=1e-6)
    with pytest.raises(ValueError, match="out must be"):
        kernel(x, out=np.empty(5, np.float32))


def test_opcost_rates_and_their_arithmetic():
    rates = opcost.elementwise_rates({"exp": np.exp, "copy": np.copy}, n=1024, min_time=0.01, max_time=0.5)
    assert set(rates) == {"exp", "copy"} and all(r > 0 and math.isfinite(r) for r in rates.values())
    assert opcost.serial_rate([2e9, 2e9]) == pytest.approx(1e9)
    assert opcost.serial_rate([]) == math.inf
    assert opcost.flop_equivalent(2e9, 100e9) == pytest.approx(50)


def test_best_plan_hands_the_fastest_one_thread_variant_to_a_second_kernel(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(T.config, "autotune_min_size", 4096)
    monkeypatch.setattr(T.config, "n_threads", 2)
    x = T.vector("x", "float32")
    expr = T.tanh(2 * x**2 + 3 * x + 1)
    tuned, other = T.function([x], expr), T.function([x], expr)
    v = np.linspace(-2, 2, 5000, dtype=np.float32)
    tuned(v)
    (k,) = tuned.kernels
    plan = k.best_plan(threads=1)
    assert (
        plan is not None
        and plan[1] == 1
        and k.measured[plan] == min(t for p, t in k.measured.items() if p[0] != "numba" and p[1] == 1)
    )
    assert k.best_plan(threads=3) is None  # never measured
    (k2,) = other.kernels
    k2.plan = plan
    np.testing.assert_allclose(other(v), tuned(v), rtol=1e-6)
    assert k2.choice.endswith(f"x1 B={plan[2]}") and not k2.measured  # ran without measuring again


# ------------------------------------------------------------------------------ break-even on a tiny tensor


def _be(**kw):
    base = {
        "ks": [2, 16],
        "eager_us": [8.0, 82.0],
        "compiled_us": [26.0, 25.5],
        "eager_per_op_us": 5.3,
        "break_even": 5.4,
        "wins_from": 6,
    }
    return {**base, **kw}


def test_break_even_verdict_names_k_when_compiled_catches_up():
    text = findings.break_even_verdict("this CPU", _be())
    assert text.startswith("this CPU: k = 2: eager 8 us, compiled 26 us; k = 16: eager 82 us, compiled 25.5 us")
    assert text.endswith("the compiled call wins from k = 6 ops (the lines cross at 5.4)")


def test_break_even_verdict_when_the_premise_fails():
    never = findings.break_even_verdict("this CPU", _be(compiled_us=[90.0, 100.0], wins_from=None))
    assert "does not catch up" in never and "wins from" not in never
    first = findings.break_even_verdict("this CPU", _be(compiled_us=[1.0, 1.0], wins_from=1))
    assert first.endswith("faster from the first op")
    failed = findings.break_even_verdict("this CPU", {"error": "no C++ compiler"})
    assert "failed (no C++ compiler)" in failed
