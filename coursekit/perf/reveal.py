"""Predict, then reveal: an estimate of a GPU figure, made before it is shown, against the best
figure the course has for it (measured here, recorded on a GPU, or a published measurement).

A notebook first puts the ceilings on screen and asks for an estimate (``my_guess = None`` in a
cell the student edits); it also computes the roofline's own prediction from the datasheet. Then
:func:`reveal` prints the figure with its tier and source, and how far each estimate was off:

    >>> from coursekit.perf.reference import GPUResult
    >>> actual = GPUResult(4.15e12, "published measurement", "published measurement: NVIDIA H200 ...")
    >>> r = reveal("H200 triad bandwidth", "TB/s", actual, roofline_prediction=4.8e12, guess=4.0)
    >>> print(r.text())
    H200 triad bandwidth, revealed: 4.15 TB/s (published measurement: NVIDIA H200 ...)
      the roofline's prediction (datasheet peaks): 4.8 TB/s, 16 % too high
      your prediction: 4 TB/s, 3.6 % too low
    >>> round(r.guess_error, 3), round(r.roofline_error, 3)
    (-0.036, 0.157)

Errors are relative to the revealed figure: (predicted - revealed) / revealed. Nothing here
measures anything: the revealed figure comes from :func:`coursekit.perf.reference.gpu_result`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from coursekit.perf.reference import GPUResult

# unit -> SI factor (bytes/s, FLOP/s, seconds, or a plain number). Decimal prefixes.
SCALE: dict[str, float] = {
    "GB/s": 1e9,
    "TB/s": 1e12,
    "GFLOP/s": 1e9,
    "TFLOP/s": 1e12,
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "x": 1.0,
    "ops": 1.0,
}
WITHIN = 0.01  # an estimate within 1 % of the revealed figure is called "within 1 %"


def no_figure_line(what: str) -> str:
    """The one line a GPU cell prints when no tier holds its figure (nothing measured here,
    recorded on a GPU or published with a source), so that the notebooks say it the same way.

    >>> no_figure_line("the block-size sweep")[:55]
    'No GPU here, and no tier holds the block-size sweep (no'
    """
    return f"No GPU here, and no tier holds {what} (none measured here, recorded on a GPU or published with a source)."


def check_guess(guess: Any, name: str = "my_guess") -> float | None:
    """A student's estimate as a float, or None when none was given; raises ValueError with a
    message that says what to write for anything else (text, a bool, 0, a negative or non-finite
    number)."""
    if guess is None:
        return None
    if isinstance(guess, bool) or not isinstance(guess, (int, float)):
        raise ValueError(f"{name} must be a number (or None for no estimate), got {guess!r}")
    value = float(guess)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number, got {guess!r}")
    return value


def relative_error(predicted: float, actual: float) -> float:
    """``(predicted - actual) / actual``: +0.2 is 20 % too high, -0.5 half the actual figure."""
    if not (actual > 0 and math.isfinite(actual)):
        raise ValueError(f"the revealed figure must be positive and finite, got {actual!r}")
    return (predicted - actual) / actual


def error_phrase(error: float) -> str:
    """``0.157`` -> ``'16 % too high'``; ``-0.036`` -> ``'3.6 % too low'``; beyond 2x it is said as a
    factor (``'3.1x too high'``, ``'4.0x too low'``); within 1 %: ``'within 1 %'``."""
    if abs(error) < WITHIN:
        return "within 1 %"
    if error >= 1:
        return f"{1 + error:.1f}x too high"
    if error <= -0.5:
        return f"{1 / (1 + error):.1f}x too low"
    percent = abs(error) * 100
    digits = f"{percent:.2g}" if percent < 10 else f"{percent:.0f}"
    return f"{digits} % too {'high' if error > 0 else 'low'}"


def _figure(value_si: float, unit: str) -> str:
    return f"{value_si / SCALE[unit]:.3g} {unit}"


@dataclass(frozen=True)
class Reveal:
    """A revealed GPU figure (``actual.value`` in SI units) and the estimates made before it."""

    what: str
    unit: str
    actual: GPUResult
    roofline_prediction: float | None = None  # SI units, from the datasheet ceilings
    guess: float | None = None  # in ``unit``, as the student wrote it
    roofline_basis: str = "datasheet peaks"

    @property
    def revealed(self) -> float | None:
        """The revealed figure in SI units, None when no tier has one."""
        return float(self.actual.value) if self.actual else None

    @property
    def roofline_error(self) -> float | None:
        """Relative error of the roofline's prediction (None without a figure or prediction)."""
        if self.revealed is None or self.roofline_prediction is None:
            return None
        return relative_error(self.roofline_prediction, self.revealed)

    @property
    def guess_error(self) -> float | None:
        """Relative error of the student's estimate (None without a figure or estimate)."""
        if self.revealed is None or self.guess is None:
            return None
        return relative_error(self.guess * SCALE[self.unit], self.revealed)

    def lines(self) -> list[str]:
        """What to print: the figure with its tier and source, then each estimate and its error."""
        if self.revealed is None:
            return [f"{self.what}: no GPU figure in any tier (measured, recorded or published): nothing to reveal"]
        out = [f"{self.what}, revealed: {_figure(self.revealed, self.unit)} ({self.actual.label})"]
        if self.roofline_prediction is not None:
            out.append(
                f"  the roofline's prediction ({self.roofline_basis}): "
                f"{_figure(self.roofline_prediction, self.unit)}, {error_phrase(self.roofline_error or 0.0)}"
            )
        if self.guess is None:
            out.append("  your prediction: none given (set my_guess above, then run both cells again)")
        else:
            out.append(f"  your prediction: {self.guess:g} {self.unit}, {error_phrase(self.guess_error or 0.0)}")
        return out

    def text(self) -> str:
        """:meth:`lines` joined by newlines."""
        return "\n".join(self.lines())


def reveal(
    what: str,
    unit: str,
    actual: GPUResult,
    roofline_prediction: float | None = None,
    guess: Any = None,
    roofline_basis: str = "datasheet peaks",
) -> Reveal:
    """Compare ``guess`` (in ``unit``; checked by :func:`check_guess`) and the roofline's
    ``roofline_prediction`` (SI units) with ``actual`` (a :class:`GPUResult` whose value is in SI
    units: bytes/s, FLOP/s, seconds). ``unit`` is a key of :data:`SCALE`."""
    if unit not in SCALE:
        raise ValueError(f"unit {unit!r} is not one of {sorted(SCALE)}")
    if actual.source == "published":
        raise ValueError("a datasheet peak is a prediction, not a figure to reveal: pass a measured tier")
    return Reveal(what, unit, actual, roofline_prediction, check_guess(guess), roofline_basis)
