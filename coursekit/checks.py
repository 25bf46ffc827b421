"""Checks for graded exercises that tell the student what was expected and what came back.

Each raises ``AssertionError`` with a readable message; nbgrader counts a test cell that raises
as failed. Used in the notebooks' locked test cells.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _short(value: Any, limit: int = 200) -> str:
    text = np.array2string(value, threshold=8, precision=4) if isinstance(value, np.ndarray) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_close(actual: Any, expected: Any, what: str = "the result", rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """``actual`` equals ``expected`` within ``rtol``/``atol`` (numbers or arrays, same shape)."""
    if actual is None:
        raise AssertionError(f"{what}: got None — did the function forget to `return` its result?")
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: expected shape {e.shape}, got shape {a.shape}")
    if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        where = (
            ""
            if a.ndim == 0
            else f" ({int(bad.sum())} of {bad.size} elements differ, first at index "
            f"{tuple(int(i) for i in np.argwhere(bad)[0])})"
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
