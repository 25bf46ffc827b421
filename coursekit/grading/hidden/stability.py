"""Checker for notebook 04's stable ``log1mexp(a) = log(1 - exp(-a))`` (``a > 0``): accurate to a few
float32 ulps from ``a = 1e-38`` to ``1e4``, accurate in float64 at both ends, and right at the edges
(``-inf`` at 0, ``0`` at ``+inf``, NaN for negative ``a`` and NaN), for arrays of any shape.

The float32 reference is computed in float64, where its rounding error (about 1e-16 relative) is far
below a float32 ulp (6e-8 relative); at the float64 extremes the reference is the asymptotic series,
exact to double precision there: ``log(a) - a/2 + a**2/24`` for ``a <= 1e-6`` and
``-exp(-a) (1 + exp(-a)/2)`` for ``a >= 40``.
"""

from __future__ import annotations

import numpy as np

from coursekit.checks import check_close

ULPS = 8  # float32 ulps allowed; the two-branch answer is within 3.3 on AVX-512 and AVX2 numpy paths

FLOAT32_GRID = np.unique(
    np.concatenate([np.geomspace(1e-38, 1e4, 3000), np.linspace(0.01, 6.0, 2000), [np.log(2.0), 1.0, 20.0]]).astype(
        np.float32
    )
)
SMALL64 = np.array([1e-300, 1e-100, 1e-30, 1e-12, 1e-6])
LARGE64 = np.array([40.0, 100.0, 700.0, 745.0, 1e4])
MIDDLE64 = np.array([1e-3, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0])


def _reference64(a: np.ndarray) -> np.ndarray:
    """log(1 - exp(-a)) in float64, accurate to a few 1e-16 relative for a > 0."""
    a = np.asarray(a, np.float64)
    with np.errstate(all="ignore"):
        return np.where(a > np.log(2.0), np.log1p(-np.exp(-a)), np.log(-np.expm1(-a)))


def _call(fn, a: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):  # log(0) at a = 0 and log(-x) for a < 0 are part of the test
        try:
            out = fn(a.copy())
        except Exception as exc:
            raise AssertionError(f"log1mexp raised {type(exc).__name__}: {exc} on a {a.dtype} array") from exc
    if out is None:
        raise AssertionError("log1mexp returned None: did it forget to `return` its result?")
    out = np.asarray(out)
    if out.shape != a.shape:
        raise AssertionError(f"log1mexp: expected shape {a.shape} (the input's), got {out.shape}")
    if out.dtype != a.dtype:
        raise AssertionError(f"log1mexp on a {a.dtype} array: expected a {a.dtype} result, got {out.dtype}")
    return out


def ulp_errors(got32: np.ndarray, reference64: np.ndarray) -> np.ndarray:
    """|got - reference| in units of the float32 spacing at the reference (inf where got is NaN or inf
    and the reference is not)."""
    spacing = np.spacing(np.abs(reference64).astype(np.float32)).astype(np.float64)
    with np.errstate(all="ignore"):
        err = np.abs(got32.astype(np.float64) - reference64) / spacing
    return np.where(np.isnan(err), np.inf, err)


def check_log1mexp(fn) -> None:
    """``fn(a)`` computes log(1 - exp(-a)) stably: see the module docstring."""
    a32 = FLOAT32_GRID
    got = _call(fn, a32)
    err = ulp_errors(got, _reference64(a32))
    if err.max() > ULPS:
        k = int(np.argmax(err))
        raise AssertionError(
            f"log1mexp on float32: expected every a from 1e-38 to 1e4 within {ULPS} ulps of "
            f"log(1 - exp(-a)); at a = {a32[k]:.6g} expected {_reference64(a32[k]):.8g}, got {got[k]:.8g} "
            f"({err[k]:.3g} ulps; {int((err > ULPS).sum())} of {a32.size} points are off)"
        )
    for what, a, want in [
        ("small a", SMALL64, np.log(SMALL64) - SMALL64 / 2 + SMALL64**2 / 24),
        ("large a", LARGE64, -np.exp(-LARGE64) * (1 + np.exp(-LARGE64) / 2)),
        ("moderate a", MIDDLE64, _reference64(MIDDLE64)),
    ]:
        check_close(_call(fn, a), want, f"log1mexp on float64 at {what} {a.tolist()}", rtol=1e-13, atol=0)
    edges = np.array([[0.0, np.inf, np.nan], [-1e-10, -1.0, -1e4]])
    check_close(
        _call(fn, edges),
        np.array([[-np.inf, 0.0, np.nan], [np.nan, np.nan, np.nan]]),
        "log1mexp at a = [[0, inf, nan], [-1e-10, -1, -1e4]] (as log(1 - exp(-a)): -inf, 0, NaN where undefined)",
        rtol=0,
        atol=0,
    )
