"""Checks for graded exercises that tell the student what was expected and what came back.

Each raises ``AssertionError`` with a readable message; nbgrader counts a test cell that raises
as failed. Used in the notebooks' locked test cells.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _short(value: Any, limit: int = 200) -> str:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()  # a number shown as one: 2.0, not array(2.) nor 2.
    text = np.array2string(value, threshold=8, precision=4) if isinstance(value, np.ndarray) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_numpy(value: Any) -> np.ndarray:
    """``value`` as a numpy array, copied to the host where it lives on a GPU (a torch tensor,
    a CuPy or a numba device array)."""
    if hasattr(value, "detach"):  # torch
        value = value.detach().cpu().numpy()
    elif hasattr(value, "get") and (type(value).__module__ or "").startswith("cupy"):
        value = value.get()
    elif hasattr(value, "copy_to_host"):  # numba device array
        value = value.copy_to_host()
    return np.asarray(value)


def _number(value: Any) -> str:
    try:
        return f"{value:.6g}"
    except (TypeError, ValueError):
        return repr(value)


def check_close(actual: Any, expected: Any, what: str = "the result", rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """``actual`` equals ``expected`` within ``rtol``/``atol``: ``|actual - expected| <= atol + rtol *
    |expected|`` element by element (numbers, or arrays of the same shape: numpy, torch, CuPy).

    NaN rule: a NaN in ``actual`` counts as equal where ``expected`` is NaN at the same place (a
    reference that is itself NaN, such as the log of a negative number, must be matched by a NaN),
    and fails where ``expected`` holds a number; the message then counts the NaNs. Infinities equal
    only infinities of the same sign. Raises ``AssertionError`` saying what was expected and what
    came back: the shapes, or how many elements differ and the first that does.

    >>> check_close([1.0, float("nan")], [1.0, float("nan")])
    >>> check_close(float("nan"), 2.0, what="the mean")
    Traceback (most recent call last):
    ...
    AssertionError: the mean: expected 2.0, got nan (NaN where a number was expected)
    """
    if actual is None:
        raise AssertionError(f"{what}: got None — did the function forget to `return` its result?")
    a, e = to_numpy(actual), to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: expected shape {e.shape}, got shape {a.shape}")
    bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return
    nan_e = np.isnan(e) if np.issubdtype(e.dtype, np.inexact) else np.zeros(e.shape, dtype=bool)
    stray_nan = int((np.isnan(a) & ~nan_e).sum()) if np.issubdtype(a.dtype, np.inexact) else 0
    if a.ndim == 0:
        where = " (NaN where a number was expected)" if stray_nan else ""
    else:
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = (
            f" ({int(bad.sum())} of {bad.size} elements differ, first at index {first}: expected "
            f"{_number(e[first])}, got {_number(a[first])}"
            + (f"; {stray_nan} NaN where numbers were expected" if stray_nan else "")
            + ")"
        )
    raise AssertionError(f"{what}: expected {_short(e)}, got {_short(a)}{where}")


def check_equal(actual: Any, expected: Any, what: str = "the result") -> None:
    """``actual == expected`` exactly (for ints, strings, tuples, shapes)."""
    if actual != expected:
        raise AssertionError(f"{what}: expected {_short(expected)}, got {_short(actual)}")


def check_true(condition: bool, message: str) -> None:
    """Fail with ``message`` (say what was expected and what was measured) unless ``condition``."""
    if not condition:
        raise AssertionError(message)


def passed(grade_id: str, points: float, hidden: bool = False) -> None:
    """Print what a test cell that ran to its end means for the student's grade (nothing is
    returned: as a cell's last line, a returned text would be shown a second time).

    Called as the last line of a locked test cell: ``points`` is the cell's value; ``hidden``
    says whether the cell holds hidden tests, which the student's copy does not show and which
    run only when the notebook is graded.
    """
    pts = f"{points:g} point{'s' if points != 1 else ''}"
    if hidden:
        text = (
            f"PASSED {grade_id}: every visible test passes. Worth {pts} if the hidden tests, "
            "which run when your notebook is graded, pass too."
        )
    else:
        text = f"PASSED {grade_id}: every test passes ({pts})."
    print(text)
