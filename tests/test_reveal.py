"""Predict, then reveal: estimates checked, errors signed and phrased, tiers kept apart."""

import math

import matplotlib

matplotlib.use("Agg")
import pytest

from coursekit.perf import published, reveal, roofline
from coursekit.perf.reference import GPUResult

ACTUAL = GPUResult(4.15e12, "published measurement", "published measurement: NVIDIA H200, triad")


@pytest.mark.parametrize("bad", ["4", True, 0, -1.0, math.inf, math.nan, [4]])
def test_check_guess_refuses_what_is_not_a_positive_number(bad):
    with pytest.raises(ValueError, match="my_guess"):
        reveal.check_guess(bad)


def test_check_guess_accepts_none_and_numbers():
    assert reveal.check_guess(None) is None
    assert reveal.check_guess(3) == 3.0


def test_errors_are_relative_to_the_revealed_figure_and_signed():
    r = reveal.reveal("triad", "TB/s", ACTUAL, roofline_prediction=4.8e12, guess=4.0)
    assert r.roofline_error == pytest.approx(4.8 / 4.15 - 1)
    assert r.guess_error == pytest.approx(4.0 / 4.15 - 1)
    assert r.revealed == 4.15e12


@pytest.mark.parametrize(
    ("error", "phrase"),
    [
        (0.005, "within 1 %"),
        (-0.009, "within 1 %"),
        (0.157, "16 % too high"),
        (-0.036, "3.6 % too low"),
        (2.1, "3.1x too high"),
        (-0.75, "4.0x too low"),
        (0.99, "99 % too high"),
        (-0.49, "49 % too low"),
    ],
)
def test_error_phrase(error, phrase):
    assert reveal.error_phrase(error) == phrase


def test_lines_name_the_tier_and_say_when_no_guess_was_given():
    text = reveal.reveal("triad", "TB/s", ACTUAL, roofline_prediction=4.8e12).text()
    assert "published measurement: NVIDIA H200" in text
    assert "none given" in text
    assert "4.8 TB/s, 16 % too high" in text


def test_no_figure_in_any_tier_is_one_line():
    r = reveal.reveal("triad", "TB/s", GPUResult(None, "none", "nothing"), roofline_prediction=4.8e12, guess=4)
    assert len(r.lines()) == 1 and "nothing to reveal" in r.text()
    assert r.guess_error is None and r.roofline_error is None


def test_a_datasheet_peak_is_not_revealed():
    with pytest.raises(ValueError, match="datasheet"):
        reveal.reveal("triad", "TB/s", GPUResult(4.8e12, "published", "H200, published peak"))


def test_unknown_unit_is_refused():
    with pytest.raises(ValueError, match="unit"):
        reveal.reveal("triad", "furlongs", ACTUAL)


def test_reveal_with_a_shipped_published_measurement():
    actual = published.published_result("triad_bandwidth", "H200")
    r = reveal.reveal("H200 triad", "TB/s", actual, roofline_prediction=4.8e12)
    assert r.revealed == pytest.approx(4.15e12)
    assert r.text().splitlines()[0].startswith("H200 triad, revealed: 4.15 TB/s (published measurement:")


def test_roofline_draws_published_points_hollow_and_measured_ones_filled():
    roof = roofline.Ceilings("GPU", "cuda", "float32", 1e12, 1e13, source="published")
    here = roofline.Kernel("here", 1e9, 1e8, 1e-3, "GPU")
    there = roofline.Kernel("there", 1e9, 1e8, 2e-3, "GPU", tier="published measurement")
    ax = roofline.plot(roof, [here, there])
    markers = {line.get_marker(): line.get_markerfacecolor() for line in ax.lines if line.get_marker() in ("s", "D")}
    assert set(markers) == {"s", "D"}
    assert markers["D"] == "none" and markers["s"] != "none"
    matplotlib.pyplot.close("all")
