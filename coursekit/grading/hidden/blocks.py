"""Checker for notebook 02's Exercise 2.9 (a row-wise log-sum-exp in Triton): values *and* bounds.

The student's ``row_logsumexp(x)`` launches their masked kernel, one program per row. The checker
runs it on shapes chosen so that each plausible mistake shows: rows that are not a power of two
long and longer than a small fixed block, a row slice whose row stride is not its length, rows of
large values (``exp`` overflows unless the row's maximum is subtracted), rows of negative values
(masked-out lanes must read as ``-inf``, not 0). Under Triton's interpreter every launch runs inside
the course's bounds checker (:mod:`coursekit.gpu.triton_bounds`), which also counts the memory
contract: each program loads its row once and stores one value. Raises ``AssertionError`` saying
what was expected and what came back; ``RuntimeError`` when triton is missing (never a silent pass).
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import torch

from coursekit.checks import check_close
from coursekit.gpu import triton_setup

# (what, rows, columns, the row stride of the input, how its values are made)
CASES: tuple[tuple[str, int, int, int, str], ...] = (
    ("5 rows of 100 (not a power of two)", 5, 100, 100, "normal"),
    ("3 rows of 1", 3, 1, 1, "normal"),
    ("4 rows of 300, all values about -50", 4, 300, 300, "negative"),
    ("6 rows of 70 sliced from rows of 96 (row stride 96)", 6, 70, 96, "normal"),
    ("3 rows of 129 around 1000 (exp overflows without the row maximum)", 3, 129, 129, "large"),
    ("2 rows of 1500 (longer than a block of 1024)", 2, 1500, 1500, "normal"),
)


def _input(rows: int, cols: int, stride: int, values: str, seed: int, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(rows, stride, generator=g)
    base = {"normal": 3 * base, "negative": base - 50, "large": base + 1000}[values]
    return base.to(device)[:, :cols]


def _run(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, what: str) -> tuple[torch.Tensor, list]:
    """``fn(x)``, under the bounds checker when interpreting; the accesses it recorded."""
    record: list = []
    if not triton_setup.interpreting():
        return fn(x), record
    from coursekit.gpu.triton_bounds import TritonBoundsError, checked_bounds

    try:
        with checked_bounds(record):
            out = fn(x)
    except TritonBoundsError as err:
        raise AssertionError(f"row_logsumexp on {what}: a load or store out of bounds. {err}") from None
    return out, record


def _contract(record: list, rows: int, cols: int, what: str) -> None:
    loads: collections.Counter[tuple[int, int, int]] = collections.Counter()
    stores: collections.Counter[tuple[int, int, int]] = collections.Counter()
    for a in record:
        (loads if a.op == "load" else stores)[a.program] += a.lanes
    programs = {(r, 0, 0) for r in range(rows)}
    if set(loads) != programs or set(stores) != programs:
        raise AssertionError(
            f"row_logsumexp on {what}: expected one program per row, programs 0..{rows - 1}; "
            f"got programs {sorted(p[0] for p in set(loads) | set(stores))}"
        )
    for p in sorted(programs):
        if loads[p] != cols or stores[p] != 1:
            raise AssertionError(
                f"row_logsumexp on {what}: expected program {p[0]} to load its {cols} elements once "
                f"and store 1 value; it loaded {loads[p]} and stored {stores[p]}"
            )


def check_row_logsumexp(fn: Callable[[torch.Tensor], torch.Tensor], seed: int = 9) -> None:
    """Ex 2.9: ``fn(x)`` equals ``torch.logsumexp(x, dim=1)`` for 2-D float32 ``x`` (rows possibly
    strided), every access in bounds, each program loading its row once and storing one value."""
    if not triton_setup.triton_available():
        raise RuntimeError(f"Exercise 2.9 cannot be graded here: {triton_setup.MISSING}")
    device = triton_setup.device()
    for i, (what, rows, cols, stride, values) in enumerate(CASES):
        x = _input(rows, cols, stride, values, seed + i, device)
        got, record = _run(fn, x, what)
        check_close(got, torch.logsumexp(x, dim=1), what=f"row_logsumexp on {what}", rtol=1e-5, atol=1e-5)
        if triton_setup.interpreting():
            _contract(record, rows, cols, what)
