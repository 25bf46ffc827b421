"""Gradient checking: compare a backward pass with centred finite differences of the loss.

For an EDF graph one line does it::

    result = gradcheck.check_edf(loss)        # every edf.parameters entry, or a chosen list
    result                                    # a table: max relative error per parameter, PASS/FAIL

For anything else, ``check(f, params, backward)`` takes a function ``f()`` returning the scalar
loss from the parameters' current ``.value`` and a function ``backward()`` filling their ``.grad``.

Each checked entry w gets the numerical derivative (f(w + h) - f(w - h)) / (2 h) (``eps`` is the
step h) and the relative error ``|a - n| / max(|a|, |n|, floor)`` against the analytic one
(cs231n's measure). The check runs in float64 (parameters and floating inputs are converted for
the check and restored afterwards), so the float32 rounding of a model does not hide or fake an
error. Large parameters are checked on a random sample of ``max_entries`` entries.

How far a *right* gradient may sit from the centred difference (:func:`expected_error`):

- truncation: the difference is exact for a quadratic; the next Taylor term leaves
  ``h^2 |f3| / 6`` (f3 the third derivative), a relative error of about ``h^2`` when f varies on a
  scale of 1 (1e-10 for h = 1e-5);
- rounding: f(w + h) and f(w - h) each carry a rounding error of about ``u |f|`` (u the unit
  roundoff of the dtype: 1.1e-16 in float64, 6e-8 in float32), and the difference divides it by
  ``2 h``: an absolute error of about ``u |f| / h`` (1e-11 |f| in float64 with h = 1e-5; 6e-3 |f|
  in float32, which is why the check never runs in float32).

The rounding error is absolute: relative to a *small* gradient entry g it is ``u |f| / (h |g|)``,
which for |g| = 1e-6 and |f| = 2 reaches 2e-5. So the floor of the relative error is not a
constant but the size below which an entry cannot be resolved to the threshold,
``floor = ROUNDING_SAFETY * u |f| / (h * threshold)`` (:func:`rounding_floor`): an entry smaller
than that is judged by its absolute error against ``ROUNDING_SAFETY * u |f| / h``. With it, a
right gradient's relative error stays near h^2 (1e-10 to 1e-7 in practice), while the usual bugs
(a missing 1/B, a factor 2, a wrong index, a transposed product, a dropped term) give 1e-2 to 1
and more. The default threshold, 1e-5, sits two or more orders of magnitude from both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_EPS = 1e-5  # the step h of the centred difference
DEFAULT_THRESHOLD = 1e-5  # on the relative error; the module docstring says where it comes from
DEFAULT_FLOOR = 1e-8  # the smallest floor of the relative error (the rounding floor is usually larger)
# The loss's rounding error in units of u |f|. A sum of n terms rounds with an error of up to n u |f|
# (Higham, Accuracy and Stability of Numerical Algorithms, 2002, section 4.2); 1e3 covers the
# 784-term products and batch sums of the course's graphs, so a right gradient lands far below it.
ROUNDING_SAFETY = 1e3
CHECK_DTYPE = np.float64


def expected_error(h: float = DEFAULT_EPS, dtype: Any = CHECK_DTYPE, f_scale: float = 1.0) -> dict[str, float]:
    """The two error terms of a centred difference of step ``h`` in ``dtype``, for a loss of size
    ``f_scale`` that varies on a scale of 1, in units of the derivative (absolute errors):
    ``truncation`` = ``h**2 / 6`` and ``rounding`` = ``u * f_scale / h`` (u: the dtype's unit roundoff)."""
    unit_roundoff = float(np.finfo(dtype).eps) / 2
    return {"truncation": h**2 / 6, "rounding": unit_roundoff * f_scale / h}


def rounding_floor(f_value: float, h: float = DEFAULT_EPS, threshold: float = DEFAULT_THRESHOLD) -> float:
    """The floor of the relative error for a loss of value ``f_value`` checked in float64 with step
    ``h``: ``ROUNDING_SAFETY * u |f| / (h * threshold)``, the gradient size below which the centred
    difference cannot resolve an entry to ``threshold`` relative error (same units as the gradient)."""
    return ROUNDING_SAFETY * expected_error(h, CHECK_DTYPE, abs(f_value))["rounding"] / threshold


def relative_error(analytic: Any, numeric: Any, floor: float = DEFAULT_FLOOR) -> np.ndarray:
    """Elementwise ``|a - n| / max(|a|, |n|, floor)``; 0 where both are 0."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)


@dataclass(frozen=True)
class ParamCheck:
    """The check of one parameter: its worst entry's index, analytic and numerical derivatives."""

    name: str
    shape: tuple[int, ...]
    entries_checked: int
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float

    def passed(self, threshold: float) -> bool:
        return bool(self.max_rel_error <= threshold)  # NaN fails


@dataclass(frozen=True)
class GradCheck:
    """Result of a gradient check; true when every parameter's max relative error is within threshold."""

    params: tuple[ParamCheck, ...]
    threshold: float
    eps: float
    floor: float = DEFAULT_FLOOR  # the floor of the relative error used (see :func:`rounding_floor`)

    @property
    def passed(self) -> bool:
        return all(p.passed(self.threshold) for p in self.params)

    @property
    def max_rel_error(self) -> float:
        return max((p.max_rel_error for p in self.params), default=0.0)

    def failed(self) -> list[str]:
        """Names of the parameters whose gradient is wrong."""
        return [p.name for p in self.params if not p.passed(self.threshold)]

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        lines = [
            f"GradCheck {verdict}: max relative error {self.max_rel_error:.1e} "
            f"(threshold {self.threshold:.0e}, step h {self.eps:.0e}, float64, floor {self.floor:.1e})"
        ]
        lines.append(
            f"  {'param':<10} {'shape':<12} {'entries':>9}  {'max rel err':>11}         "
            "worst entry: analytic vs numeric"
        )
        for p in self.params:
            entries = f"{p.entries_checked}/{int(np.prod(p.shape))}"
            mark = "ok" if p.passed(self.threshold) else "WRONG"
            lines.append(
                f"  {p.name:<10} {str(p.shape):<12} {entries:>9}  {p.max_rel_error:>11.1e}  {mark:<5}  "
                f"{list(p.worst_index)}: {p.analytic:+.6e} vs {p.numeric:+.6e}"
            )
        return "\n".join(lines)


def _to_numpy(value: Any) -> np.ndarray:
    """A host numpy copy of a numpy or CuPy array."""
    return np.array(value.get() if hasattr(value, "get") else value, dtype=np.float64)


def _sample(shape: tuple[int, ...], max_entries: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Every index of ``shape``, or ``max_entries`` distinct ones drawn at random, in order."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= max_entries else np.sort(rng.choice(size, max_entries, replace=False))
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in flat]


def _numeric_derivative(f: Callable[[], Any], value: Any, index: tuple[int, ...], eps: float) -> float:
    """(f(w + eps) - f(w - eps)) / (2 eps) for the entry ``value[index]``, which is restored."""
    original = float(value[index])
    value[index] = original + eps
    plus = float(f())
    value[index] = original - eps
    minus = float(f())
    value[index] = original
    return (plus - minus) / (2 * eps)


def check(
    f: Callable[[], Any],
    params: Sequence[Any],
    backward: Callable[[], Any] | None = None,
    *,
    eps: float = DEFAULT_EPS,
    threshold: float = DEFAULT_THRESHOLD,
    floor: float = DEFAULT_FLOOR,
    max_entries: int = 50,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> GradCheck:
    """Check the gradients of the scalar ``f()`` with respect to each ``param.value``.

    ``params``: objects with an array ``.value`` and, after ``f()`` then ``backward()`` (when given),
    the analytic gradient in ``.grad``. Values are float64 during the check and restored afterwards.
    ``eps``: the step h. ``floor``: the smallest floor of the relative error; the floor used is the
    larger of it and :func:`rounding_floor` of the loss's value.
    """
    rng = np.random.default_rng(seed)
    originals = [p.value for p in params]
    labels = (
        list(names) if names is not None else [getattr(p, "name", None) or f"param{i}" for i, p in enumerate(params)]
    )
    results = []
    try:
        for p in params:
            p.value = p.value.astype(np.float64)
        f_value = float(f())
        if backward is not None:
            backward()
        if np.isfinite(f_value):
            floor = max(floor, rounding_floor(f_value, eps, threshold))
        analytic = [_to_numpy(p.grad) for p in params]
        for label, p, grad in zip(labels, params, analytic, strict=True):
            indices = _sample(tuple(p.value.shape), max_entries, rng)
            numeric = np.array([_numeric_derivative(f, p.value, i, eps) for i in indices])
            picked = np.array([grad[i] for i in indices])
            errors = relative_error(picked, numeric, floor)
            worst = int(np.argmax(np.where(np.isnan(errors), np.inf, errors)))  # a NaN counts as worst
            results.append(
                ParamCheck(
                    label,
                    tuple(p.value.shape),
                    len(indices),
                    float(errors[worst]),
                    indices[worst],
                    float(picked[worst]),
                    float(numeric[worst]),
                )
            )
    finally:
        for p, original in zip(params, originals, strict=True):
            p.value = original
    return GradCheck(tuple(results), threshold, eps, floor)


def check_edf(loss: Any, params: Sequence[Any] | None = None, **options: Any) -> GradCheck:
    """Check an EDF graph: gradients of the batch-mean of ``loss`` (B,) for ``params`` (default: all).

    Runs ``edf.Forward()`` for each loss evaluation and ``edf.Backward(loss)`` for the analytic
    gradients, on the inputs' current values. ``options`` go to :func:`check`. Afterwards the
    graph's values are those of the last evaluation: run ``edf.Forward()`` before using them.
    """
    from coursekit.edf import framework as edf

    chosen = list(edf.parameters) if params is None else list(params)
    floating = [x for x in edf.inputs if x.value is not None and x.value.dtype.kind == "f"]
    saved = [x.value for x in floating]

    def mean_loss() -> float:
        edf.Forward()
        return float(loss.value.mean())

    try:
        for x in floating:
            x.value = x.value.astype(np.float64)
        return check(mean_loss, chosen, lambda: edf.Backward(loss), **options)
    finally:
        for x, value in zip(floating, saved, strict=True):
            x.value = value
