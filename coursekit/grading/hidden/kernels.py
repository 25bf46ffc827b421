"""Checkers for the kernel exercises of notebook 02: values *and* the memory contract.

Each checker runs the student's kernel in :mod:`coursekit.gpu.tracer` (thread by thread, strict
bounds) through :func:`coursekit.gpu.contract.check_contract`, so the wrong answers that a GPU lets
pass by luck fail here every time: a missing bounds check (an index past the end), a missing
barrier (a shared-memory race, even in a one-warp block), an untiled transpose (uncoalesced
writes), a tree with a barrier inside an ``if`` (a divergent barrier). Each raises
``AssertionError`` saying what was expected and what the kernel did. The prediction exercise's
checker is in :mod:`.kernels_predict`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from coursekit.gpu.contract import bank_conflicts, check_contract


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


def im2col_reference(img: np.ndarray, k: int) -> np.ndarray:
    """Row ``p = oy * OW + ox`` of the result holds the ``k x k`` window of ``img`` whose top-left
    pixel is ``(oy, ox)``, flattened row by row; ``OH, OW = H - k + 1, W - k + 1`` (valid windows)."""
    windows = np.lib.stride_tricks.sliding_window_view(img, (k, k))  # (OH, OW, k, k)
    return windows.reshape(-1, k * k).copy()


def check_im2col(kernel: Callable, k: int, seed: int = 5) -> None:
    """Ex 2.2: ``kernel(img, cols)`` fills ``cols = im2col_reference(img, k)`` on a 2-D grid
    (x over the ``k * k`` columns of ``cols``, y over its rows): 1 global read and 1 write per
    thread, the writes coalesced, both bounds checked (block sizes that do not divide ``cols``)."""
    rng = np.random.default_rng(seed)
    for shape, block in (((5, 7), (4, 8)), ((8, 4), (8, 4)), ((6, 9), (16, 2))):
        img = rng.standard_normal(shape).astype(np.float32)
        want = im2col_reference(img, k)
        cols = np.full(want.shape, np.nan, dtype=np.float32)
        grid = (_blocks(want.shape[1], block[0]), _blocks(want.shape[0], block[1]))
        check_contract(
            kernel, grid, block, img, cols,
            reads=1, writes=1, shared_writes=0, barriers=0, coalesced=("cols",),
            expect={"cols": want}, what=f"im2col of a {shape[0]} x {shape[1]} image with {block} blocks",
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


def first_argmax_per_block(x: np.ndarray, block: int) -> np.ndarray:
    """The global index of the first maximum of each block of ``block`` elements of ``x``."""
    return np.array([start + int(np.argmax(x[start : start + block])) for start in range(0, x.size, block)])


def check_block_argmax(kernel: Callable, block: int, seed: int = 13) -> None:
    """Ex 2.4: ``kernel(x, out)`` writes to ``out[blockIdx.x]`` the global index of the *first*
    maximum of its block's elements, by a tree in shared memory: 1 global read per thread, one
    writer per block, log2(block) or log2(block) + 1 barriers reached by every thread, no race, at
    most 6 shared reads per tree level (+1), so one thread scanning the block fails."""
    rng = np.random.default_rng(seed)
    levels = int(np.log2(block))
    ties = np.zeros(block, dtype=np.float32)
    ties[[1, 2]] = 5  # after the first level the copy at index 2 sits left of the one at index 1
    cases = {
        "70 numbers": rng.standard_normal(70).astype(np.float32),
        "many ties (first index wins)": rng.integers(0, 3, 3 * block - 5).astype(np.float32),
        "the maximum at indices 1 and 2": ties,
        "all negative (padding must not win)": -np.abs(rng.standard_normal(block + 1)).astype(np.float32),
        "-inf everywhere (padding must not win)": np.full(block + 3, -np.inf, dtype=np.float32),
    }
    for name, x in cases.items():
        blocks = _blocks(x.size, block)
        out = np.full(blocks, -1, dtype=np.int32)
        check_contract(
            kernel, blocks, block, x, out,
            reads=1, writes=1, shared_reads=6 * levels + 2, barriers=(levels, levels + 1),
            expect={"out": first_argmax_per_block(x, block)},
            what=f"block_argmax ({name}, blocks of {block})",
        )  # fmt: skip


def check_transpose_swizzled(kernel: Callable, seed: int = 17) -> None:
    """Ex 2.6: ``kernel(x, out)`` writes ``out = x.T`` with blocks of (32, 8) threads, each block
    moving one 32 x 32 tile through shared memory of exactly 32 x 32 floats (no padding):
    coalesced global reads and writes, 1 barrier, and no shared-memory bank conflict (every warp
    access touches each of the 32 banks at most once, counting 4-byte words)."""
    rng = np.random.default_rng(seed)
    for shape in ((32, 32), (40, 70)):
        x = rng.standard_normal(shape).astype(np.float32)
        out = np.full(shape[::-1], np.nan, dtype=np.float32)
        grid = (_blocks(shape[1], 32), _blocks(shape[0], 32))
        what = f"transpose_swizzled of a {shape[0]} x {shape[1]} matrix"
        tr = check_contract(
            kernel, grid, (32, 8), x, out,
            reads=4, writes=4, shared_writes=4, shared_reads=4, barriers=1, coalesced=("x", "out"),
            expect={"out": x.T}, what=what,
        )  # fmt: skip
        floats = sum(int(np.prod(s)) for s in tr.shared_shapes.values())
        if floats > 32 * 32:
            raise AssertionError(
                f"{what}: expected a shared tile of 32 x 32 = 1024 floats and no more, but the kernel "
                f"allocated {floats} ({tr.shared_shapes}): padding is not what is asked here"
            )
        conflicts = bank_conflicts(tr)
        worst = int(conflicts["ways"].max()) if len(conflicts) else 0
        if worst > 1:
            row = conflicts.loc[conflicts["ways"].idxmax()]
            raise AssertionError(
                f"{what}: expected no bank conflicts (1 way), but a warp's shared {row['op']} "
                f"(phase {row['phase']}) was a {worst}-way conflict: {worst} words in one bank"
            )


def check_saxpy_grid_stride(kernel: Callable, seed: int = 19) -> None:
    """Ex 2.7: ``kernel(a, x, y, out)`` computes ``out = a * x + y`` with a grid-stride loop, so
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
