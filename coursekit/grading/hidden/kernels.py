"""Checkers for the kernel exercises of notebook 02: values *and* the memory contract.

Each checker runs the student's kernel in :mod:`coursekit.gpu.tracer` (thread by thread, strict
bounds) through :func:`coursekit.gpu.contract.check_contract`, so the wrong answers that a GPU lets
pass by luck fail here every time: a missing bounds check (an index past the end), a missing
barrier (a shared-memory race, even in a one-warp block), an untiled transpose (uncoalesced
writes), a tree with a barrier inside an ``if`` (a divergent barrier). Each raises
``AssertionError`` saying what was expected and what the kernel did.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from coursekit.gpu.contract import check_contract


def _blocks(n: int, threads: int) -> int:
    return (n + threads - 1) // threads


def check_saxpy(kernel: Callable, seed: int = 2) -> None:
    """Ex 2.1: ``kernel(a, x, y, out)`` computes ``out = a * x + y``, one thread per element,
    2 global reads and 1 write per thread, coalesced, no shared memory; surplus threads idle."""
    rng = np.random.default_rng(seed)
    for n, threads, extra in ((1, 64, 0), (65, 64, 0), (130, 32, 2)):
        x = rng.standard_normal(n).astype(np.float32)
        y = rng.standard_normal(n).astype(np.float32)
        a = np.float32(-1.5)
        out = np.full(n, np.nan, dtype=np.float32)
        check_contract(
            kernel, _blocks(n, threads) + extra, threads, a, x, y, out,
            reads=2, writes=1, shared_writes=0, barriers=0, coalesced=("x", "y", "out"),
            expect={"out": a * x + y}, rtol=1e-6,
            what=f"saxpy_kernel (n={n}, {threads} threads per block, {extra} surplus blocks)",
        )  # fmt: skip


def check_relu_2d(kernel: Callable, seed: int = 5) -> None:
    """Ex 2.2: ``kernel(x, out)`` computes ``out = max(x, 0)`` on 2-D arrays with a 2-D grid
    (x = column, y = row), 1 read and 1 write per thread, coalesced, both bounds checked."""
    rng = np.random.default_rng(seed)
    for shape, block in (((3, 20), (4, 2)), ((20, 3), (4, 2)), ((5, 7), (8, 8))):
        x = rng.standard_normal(shape).astype(np.float32)
        out = np.full(shape, np.nan, dtype=np.float32)
        grid = (_blocks(shape[1], block[0]), _blocks(shape[0], block[1]))
        check_contract(
            kernel, grid, block, x, out,
            reads=1, writes=1, shared_writes=0, barriers=0, coalesced=("x", "out"),
            expect={"out": np.maximum(x, 0)}, what=f"relu_2d on shape {shape} with {block} blocks",
        )  # fmt: skip


def check_transpose(kernel: Callable, tile: int, seed: int = 11) -> None:
    """Ex 2.3: ``kernel(x, out)`` writes ``out = x.T`` through a ``tile x tile`` shared tile:
    per thread 1 global read, 1 global write, 1 shared write and 1 shared read, exactly 1 barrier,
    reads of ``x`` and writes of ``out`` both coalesced."""
    rng = np.random.default_rng(seed)
    for shape in ((11, 13), (3, 17), (tile, tile)):
        x = rng.standard_normal(shape).astype(np.float32)
        out = np.full(shape[::-1], np.nan, dtype=np.float32)
        grid = (_blocks(shape[1], tile), _blocks(shape[0], tile))
        check_contract(
            kernel, grid, (tile, tile), x, out,
            reads=1, writes=1, shared_writes=1, shared_reads=1, barriers=1, coalesced=("x", "out"),
            expect={"out": x.T}, what=f"transpose_tiled of a {shape[0]} x {shape[1]} matrix",
        )  # fmt: skip


def check_block_max(kernel: Callable, block: int, seed: int = 13) -> None:
    """Ex 2.4: ``kernel(x, out)`` writes each block's maximum to ``out[blockIdx.x]`` by a tree in
    shared memory: 1 global read per thread, one writer per block, log2(block) or log2(block) + 1
    barriers reached by every thread, no race, at most 2 shared reads per tree level."""
    rng = np.random.default_rng(seed)
    levels = int(np.log2(block))
    cases = {
        "70 numbers": rng.standard_normal(70).astype(np.float32),
        "all negative (padding must not win)": -np.abs(rng.standard_normal(block + 1)).astype(np.float32),
        "the maximum in thread 0": np.arange(block, dtype=np.float32)[::-1].copy(),
    }
    for name, x in cases.items():
        blocks = _blocks(x.size, block)
        out = np.full(blocks, np.nan, dtype=np.float32)
        check_contract(
            kernel, blocks, block, x, out,
            reads=1, writes=1, shared_reads=2 * levels + 1, barriers=(levels, levels + 1),
            expect={"out": np.maximum.reduceat(x, range(0, x.size, block))},
            what=f"block_max ({name}, blocks of {block})",
        )  # fmt: skip


def check_transpose_no_conflicts(kernel: Callable, seed: int = 17) -> None:
    """Ex 2.5: ``kernel(x, out)`` writes ``out = x.T`` with blocks of (32, 8) threads, each block
    moving one 32 x 32 tile through shared memory: coalesced global reads and writes, 1 barrier,
    and no shared-memory bank conflict (every warp access touches each of the 32 banks at most
    once, counting 4-byte words)."""
    from coursekit.gpu.contract import bank_conflicts

    rng = np.random.default_rng(seed)
    for shape in ((32, 32), (40, 70)):
        x = rng.standard_normal(shape).astype(np.float32)
        out = np.full(shape[::-1], np.nan, dtype=np.float32)
        grid = (_blocks(shape[1], 32), _blocks(shape[0], 32))
        what = f"transpose_no_conflicts of a {shape[0]} x {shape[1]} matrix"
        tr = check_contract(
            kernel, grid, (32, 8), x, out,
            reads=4, writes=4, shared_writes=4, shared_reads=4, barriers=1, coalesced=("x", "out"),
            expect={"out": x.T}, what=what,
        )  # fmt: skip
        conflicts = bank_conflicts(tr)
        worst = int(conflicts["ways"].max()) if len(conflicts) else 0
        if worst > 1:
            row = conflicts.loc[conflicts["ways"].idxmax()]
            raise AssertionError(
                f"{what}: expected no bank conflicts (1 way), but a warp's shared {row['op']} "
                f"(phase {row['phase']}) was a {worst}-way conflict: {worst} words in one bank "
                "(pad the tile's rows?)"
            )


def check_saxpy_grid_stride(kernel: Callable, seed: int = 19) -> None:
    """Ex 2.6: ``kernel(a, x, y, out)`` computes ``out = a * x + y`` with a grid-stride loop, so
    any grid covers any n: each thread handles elements i, i + stride, ... (stride = the number of
    threads in the grid), neighbouring threads on neighbouring elements at every step."""
    rng = np.random.default_rng(seed)
    for n, blocks, threads in ((300, 2, 32), (37, 1, 64), (1000, 3, 32)):
        x = rng.standard_normal(n).astype(np.float32)
        y = rng.standard_normal(n).astype(np.float32)
        a = np.float32(0.5)
        out = np.full(n, np.nan, dtype=np.float32)
        per_thread = -(-n // (blocks * threads))
        check_contract(
            kernel, blocks, threads, a, x, y, out,
            reads=2 * per_thread, writes=per_thread, shared_writes=0, barriers=0, coalesced=("x", "y", "out"),
            expect={"out": a * x + y}, rtol=1e-6,
            what=f"saxpy_grid_stride (n={n}, {blocks} blocks of {threads} threads)",
        )  # fmt: skip
