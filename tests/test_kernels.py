"""coursekit.gpu.kernels: each kernel against the numpy reference line of its docstring, and its memory
contract as :func:`coursekit.gpu.tracer.trace` records it, on sizes that are not multiples of the block
(1, 31, 33 and block + 45).

Kernels launch in this process: tests/conftest.py switched numba-cuda's simulator on before numba was
imported (off on a machine with a GPU, where these launches run on the GPU). The tracer runs the same
Python source thread by thread, raises on any out-of-bounds index, and records every global and shared
access with its barrier phase; the tests compare that record with the contract each docstring states.

The input data are distinct multiples of 1/4: every sum and product the kernels form is exact in
float32, so any summation order (atomics, trees, a GPU's fused multiply-add) gives numpy's answer bit
for bit, and a wrong index shows as a wrong value.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections import Counter, defaultdict

import numpy as np
import pytest
from numba import cuda

from coursekit.gpu import sim_switch, tracer
from coursekit.gpu.contract import check_contract
from coursekit.gpu.kernels import matmul, reduce, simt, stencil
from coursekit.machine import device
from coursekit.show import python_function

from conftest import SIMULATOR

# On a GPU, numba-cuda advises against small grids and host arrays: these launches are small on purpose.
pytestmark = [
    pytest.mark.filterwarnings(r"ignore:.*Grid size \d+ will likely result in GPU under-utilization"),
    pytest.mark.filterwarnings("ignore:.*Host array used in CUDA kernel will incur copy overhead"),
]


def sizes(block: int) -> tuple[int, ...]:
    """Problem sizes that are not multiples of ``block``: one element, either side of a warp, and a
    partial block after a full one."""
    return 1, 31, 33, block + 45


def cases(block_of: dict[str, int]) -> list:
    """pytest params ``(kernel name, n)`` for each kernel (name -> its block size) and each of its sizes."""
    return [pytest.param(name, n, id=f"{name}-n={n}") for name, block in block_of.items() for n in sizes(block)]


def data(shape: int | tuple[int, ...], seed: int = 0) -> np.ndarray:
    """float32 array of distinct multiples of 1/4 centred on 0 (0 itself included), shuffled."""
    size = math.prod(shape) if isinstance(shape, tuple) else shape
    values = (np.random.default_rng(seed).permutation(size) - size // 2) / 4
    return values.astype(np.float32).reshape(shape)


def blocks(n: int, block: int) -> int:
    return (n + block - 1) // block


@functools.cache
def jit(fn):
    """``cuda.jit`` once per kernel function (a GPU compiles each)."""
    return cuda.jit(fn)


def reference_line(documented) -> str:
    """The numpy expression after ``Reference:`` in a kernel's (or kernel factory's) docstring."""
    doc = " ".join(python_function(documented).__doc__.split())
    found = re.search(r"Reference: ``(.+?)``", doc)
    assert found, f"{python_function(documented).__name__}'s docstring states no numpy reference"
    return found.group(1)


def reference(documented, **names):
    """Evaluate the docstring's reference line with ``numpy`` and the kernel's arguments as ``names``."""
    return eval(reference_line(documented), {"numpy": np}, names)


def launch(kernel, grid, block, *args) -> list:
    """Launch ``kernel[grid, block]`` (simulator or GPU) on copies of ``args``; returns the copies."""
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    kernel[grid, block](*args)
    return args


def trace(kernel, grid, block, *args) -> tuple[list, tracer.Trace]:
    """:func:`coursekit.gpu.tracer.trace` on copies of ``args``; returns the copies and the trace."""
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    return args, tracer.trace(kernel, grid, block, *args)


def thread_id(tr: tracer.Trace, access: tracer.Access):
    """The thread's ``cuda.grid`` index: an int in a 1-D launch, (x, y) in a 2-D one."""
    x = access.block[0] * tr.block[0] + access.thread[0]
    if tr.grid[1] == tr.block[1] == 1:
        return x
    return x, access.block[1] * tr.block[1] + access.thread[1]


def global_by_thread(tr: tracer.Trace) -> dict:
    """Each thread's global-memory accesses: ``{cuda.grid index: Counter((array, index, op))}``;
    threads that touch no global memory are absent."""
    out: dict = defaultdict(Counter)
    for a in tr.accesses:
        if a.space == "global":
            out[thread_id(tr, a)][a.array, a.index, a.op] += 1
    return dict(out)


def shared_by_thread_and_phase(tr: tracer.Trace) -> dict:
    """``{(block, thread, phase): Counter((array, index, op))}`` of shared-memory accesses."""
    out: dict = defaultdict(Counter)
    for a in tr.accesses:
        if a.space == "shared":
            out[a.block, a.thread, a.phase][a.array, a.index, a.op] += 1
    return dict(out)


def shared_hazards(tr: tracer.Trace) -> list[str]:
    """Shared-memory bugs a barrier prevents: a cell read before any thread wrote it (in an earlier
    phase, or earlier in this one by the reading thread itself), and a cell one thread writes in a
    phase in which another thread also reads or writes it (a race: on a GPU, the order is unknown)."""
    problems = []
    per_block: dict = defaultdict(list)
    for a in tr.accesses:
        if a.space == "shared":
            per_block[a.block].append(a)
    for block, accesses in per_block.items():
        written_before: set = set()
        for phase in sorted({a.phase for a in accesses}):
            in_phase = [a for a in accesses if a.phase == phase]  # in the order the threads ran
            own_writes: dict = defaultdict(set)
            users: dict = defaultdict(set)
            writers: dict = defaultdict(set)
            for a in in_phase:
                cell = (a.array, a.index)
                if a.op == "read" and cell not in written_before and cell not in own_writes[a.thread]:
                    problems.append(f"block {block} phase {phase}: thread {a.thread} reads unwritten {cell}")
                if a.op == "write":
                    own_writes[a.thread].add(cell)
                    writers[cell].add(a.thread)
                users[cell].add(a.thread)
            for cell, who in writers.items():
                if len(users[cell]) > 1:
                    problems.append(
                        f"block {block} phase {phase}: {cell} written by {sorted(who)}, "
                        f"used by {sorted(users[cell])} without a barrier between"
                    )
            written_before |= set(writers)
    return problems


def test_kernels_run_where_conftest_switched_them():
    """The simulator without a GPU, the GPU itself when there is one: decided before numba loaded."""
    assert sim_switch.enabled() == SIMULATOR
    if not device.gpu_available():
        assert SIMULATOR, "no GPU here: the kernels must run on numba-cuda's simulator"


# ------------------------------------------------------------------------- SIMT (notebook 01)

WARP = simt.WARP_SIZE  # one warp a block
WORK = 4  # heavy_branches' loop length
SIMT = {"relu": simt.relu, "branch_record": simt.branch_record, "heavy_branches": simt.heavy_branches}


def simt_args(name: str, n: int) -> tuple:
    out = np.full(n, -7, np.int32 if name == "branch_record" else np.float32)
    return (data(n), out, WORK) if name == "heavy_branches" else (data(n), out)


def assert_simt_result(name: str, x: np.ndarray, got: np.ndarray) -> None:
    if name == "heavy_branches":
        # The docstring's reference: v = sin(v) + 1 where x > 0, else v = cos(v) - 1, `work` times from v = x.
        v = x.astype(np.float64)
        for _ in range(WORK):
            v = np.where(x > 0, np.sin(v) + 1, np.cos(v) - 1)
        np.testing.assert_allclose(got, v, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, reference(SIMT[name], x=x))


@pytest.mark.parametrize("name, n", cases(dict.fromkeys(SIMT, WARP)))
def test_simt_kernel_matches_numpy(name, n):
    args = simt_args(name, n)
    grid = blocks(n, WARP) + 1  # one block more than needed: the bounds check keeps it idle
    assert_simt_result(name, args[0], launch(SIMT[name], grid, WARP, *args)[1])


@pytest.mark.parametrize("name, n", cases(dict.fromkeys(SIMT, WARP)))
def test_simt_kernel_touches_only_its_own_element(name, n):
    kernel, args = SIMT[name], simt_args(name, n)
    traced, tr = trace(kernel, blocks(n, WARP) + 1, WARP, *args)
    assert_simt_result(name, args[0], traced[1])
    # Contract: per thread 1 global read and 1 global write; no shared memory, no barrier. The
    # threads past the end (the extra block's included) touch nothing.
    x_name, out_name = list(inspect.signature(python_function(kernel)).parameters)[:2]
    expected = {i: Counter({(x_name, (i,), "read"): 1, (out_name, (i,), "write"): 1}) for i in range(n)}
    assert global_by_thread(tr) == expected
    assert shared_by_thread_and_phase(tr) == {} and tr.phases == 1


# --------------------------------------------------------------------------------- reductions

ATOMIC_BLOCK = 128


@pytest.mark.parametrize("n", sizes(ATOMIC_BLOCK))
def test_atomic_sum_matches_numpy(n):
    x = data(n)
    total = launch(reduce.atomic_sum, blocks(n, ATOMIC_BLOCK) + 1, ATOMIC_BLOCK, x, np.zeros(1, np.float32))[1]
    assert total[0] == reference(reduce.atomic_sum, x=x)


@pytest.mark.parametrize("n", sizes(ATOMIC_BLOCK))
def test_atomic_sum_does_one_atomic_per_thread(n):
    x = data(n)
    (_, total), tr = trace(reduce.atomic_sum, blocks(n, ATOMIC_BLOCK) + 1, ATOMIC_BLOCK, x, np.zeros(1, np.float32))
    assert total[0] == reference(reduce.atomic_sum, x=x)
    # Contract: per thread 1 global read and 1 atomic read-modify-write of total[0]; nothing shared.
    rmw = Counter({("total", (0,), "read"): 1, ("total", (0,), "write"): 1})
    assert global_by_thread(tr) == {i: Counter({("x", (i,), "read"): 1}) + rmw for i in range(n)}
    assert shared_by_thread_and_phase(tr) == {} and tr.phases == 1


TREE = {
    "tree_sum": (reduce.tree_sum, 128),
    "make_tree_sum(8)": (jit(reduce.make_tree_sum(8)), 8),
    "make_tree_sum(32)": (jit(reduce.make_tree_sum(32)), 32),
}


@pytest.mark.parametrize("name, n", cases({name: block for name, (_, block) in TREE.items()}))
def test_tree_sum_matches_numpy(name, n):
    kernel, B = TREE[name]
    x = data(n)
    partial = launch(kernel, blocks(n, B), B, x, np.full(blocks(n, B), np.nan, np.float32))[1]
    np.testing.assert_array_equal(partial, reference(reduce.make_tree_sum, x=x, block=B))


@pytest.mark.parametrize(
    "name, n",
    # tracing a block of 128 threads takes seconds (a barrier wakes every thread of the block, one
    # thread at a time): the module's kernel on one size, the same code with smaller blocks on all.
    cases({"make_tree_sum(8)": 8, "make_tree_sum(32)": 32}) + [pytest.param("tree_sum", 33, id="tree_sum-n=33")],
)
def test_tree_sum_halves_the_active_threads_at_each_barrier(name, n):
    kernel, B = TREE[name]
    x = data(n)
    grid = blocks(n, B)
    (_, partial), tr = trace(kernel, grid, B, x, np.full(grid, np.nan, np.float32))
    np.testing.assert_array_equal(partial, reference(reduce.make_tree_sum, x=x, block=B))
    # Global: per thread 1 read (threads past the end read nothing); thread 0 writes the block's sum.
    expected: dict = defaultdict(Counter)
    for i in range(n):
        expected[i]["x", (i,), "read"] += 1
    for b in range(grid):
        expected[b * B]["partial", (b,), "write"] += 1
    assert global_by_thread(tr) == dict(expected)
    # log2(block) + 1 barriers. Shared, `block` floats: in phase 0 every thread stores its element; at
    # level p the first block >> p threads add the cell block >> p above theirs to their own; after the
    # last barrier thread 0 reads the total.
    levels = B.bit_length() - 1
    assert tr.phases == levels + 2
    shared: dict = defaultdict(Counter)
    for b in range(grid):
        for t in range(B):
            shared[(b, 0, 0), (t, 0, 0), 0]["shared", (t,), "write"] += 1
        for p in range(1, levels + 1):
            stride = B >> p
            for t in range(stride):
                shared[(b, 0, 0), (t, 0, 0), p].update(
                    {("shared", (t,), "read"): 1, ("shared", (t + stride,), "read"): 1, ("shared", (t,), "write"): 1}
                )
        shared[(b, 0, 0), (0, 0, 0), levels + 1]["shared", (0,), "read"] += 1
    assert shared_by_thread_and_phase(tr) == dict(shared)
    assert shared_hazards(tr) == []


def test_tree_sum_needs_a_power_of_two_block():
    with pytest.raises(ValueError, match="power of two"):
        reduce.make_tree_sum(12)


# ------------------------------------------------------------------------------------ stencil

STENCIL = {
    "stencil_1d": (stencil.stencil_1d, stencil.RADIUS, stencil.BLOCK),
    "make_stencil_1d(2, 8)": (jit(stencil.make_stencil_1d(2, 8)), 2, 8),
}
STENCIL_CASES = cases({name: block for name, (_, _, block) in STENCIL.items()})


def stencil_args(R: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    return data(n + 2 * R), np.full(n, np.nan, np.float32)


@pytest.mark.parametrize("name, n", STENCIL_CASES)
def test_stencil_matches_numpy(name, n):
    kernel, R, B = STENCIL[name]
    inp, out = stencil_args(R, n)
    got = launch(kernel, blocks(n, B), B, inp, out)[1]
    np.testing.assert_array_equal(got, reference(stencil.make_stencil_1d, inp=inp, radius=R))


@pytest.mark.parametrize("name, n", STENCIL_CASES)
def test_stencil_loads_each_tile_once_and_reads_it_after_the_barrier(name, n):
    kernel, R, B = STENCIL[name]
    inp, out = stencil_args(R, n)
    grid = blocks(n, B)
    (_, traced), tr = trace(kernel, grid, B, inp, out)
    np.testing.assert_array_equal(traced, reference(stencil.make_stencil_1d, inp=inp, radius=R))
    # Global writes: out[g] once, by thread g, after the barrier; nothing else is written.
    writes = [
        (thread_id(tr, a), a.array, a.index, a.phase) for a in tr.accesses if a.space == "global" and a.op == "write"
    ]
    assert sorted(writes) == [(g, "out", (g,), 1) for g in range(n)]
    # Global reads, before the barrier: 1 per thread, 3 for the first `radius` threads (the halo) ...
    reads = [a for a in tr.accesses if a.space == "global" and a.op == "read"]
    assert {a.array for a in reads} <= {"inp"} and {a.phase for a in reads} <= {0}
    per_thread = Counter((a.block, a.thread) for a in reads)
    assert all(count <= (3 if thread[0] < R else 1) for (_, thread), count in per_thread.items())
    # ... and together each block loads its tile, halo included, exactly once.
    for b in range(grid):
        loaded = Counter(a.index[0] for a in reads if a.block[0] == b)
        assert loaded == Counter(range(b * B, min(b * B + B + 2 * R, n + 2 * R))), f"block {b}"
    # Shared: a tile of block + 2 * radius floats, written before the one barrier, read after it:
    # thread t reads temp[t], ..., temp[t + 2 * radius], once each, if its output exists.
    assert tr.phases == 2 and shared_hazards(tr) == []
    shared = shared_by_thread_and_phase(tr)
    assert {index[0] for counts in shared.values() for _, index, _ in counts} <= set(range(B + 2 * R))
    assert {op for (_, _, phase), counts in shared.items() if phase == 0 for _, _, op in counts} == {"write"}
    after = {b[0] * B + t[0]: counts for (b, t, phase), counts in shared.items() if phase == 1}
    assert after == {g: Counter({("shared", (g % B + k,), "read"): 1 for k in range(2 * R + 1)}) for g in range(n)}


def test_stencil_without_barrier_shows_in_the_trace():
    """The negative control of :func:`shared_hazards`: the barrier-free stencil reads tile cells that
    other threads have not written yet."""
    R, B, n = 2, 8, 21
    (_, out), tr = trace(stencil.make_stencil_1d(R, B, barrier=False), blocks(n, B), B, *stencil_args(R, n))
    assert tr.phases == 1
    hazards = shared_hazards(tr)
    assert any("reads unwritten" in h for h in hazards) and any("without a barrier" in h for h in hazards)
    assert np.isnan(out).any()


def test_stencil_threads_of_an_extra_block_stay_in_bounds():
    """A launch with a spare block: its threads must not read past ``inp`` (the tracer raises if they do).

    The left-halo load once lacked its bounds check, which this test found."""
    R, B, n = 2, 8, 21
    trace(stencil.make_stencil_1d(R, B), blocks(n, B) + 1, B, *stencil_args(R, n))


# ------------------------------------------------------------------------------------- matmul

MATMUL = {
    "matmul_naive": (matmul.matmul_naive, 16),
    "matmul_tiled": (matmul.matmul_tiled, matmul.TILE),
    "make_matmul_tiled(4)": (jit(matmul.make_matmul_tiled(4)), 4),
}
# n goes to one dimension of C = A @ B (rows, inner, columns), small odd sizes to the other two.
SHAPES = {"rows": lambda n: (n, 5, 3), "inner": lambda n: (3, n, 5), "cols": lambda n: (5, 3, n)}


def matmul_cases(*names: str) -> list:
    return [
        pytest.param(name, dim, n, id=f"{name}-{dim}-n={n}")
        for name in names
        for dim in SHAPES
        for n in sizes(MATMUL[name][1])
    ]


def matmul_args(dim: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    M, K, N = SHAPES[dim](n)
    return data((M, K), seed=1), data((K, N), seed=2), np.full((M, N), np.nan, np.float32)


def matmul_grid(C: np.ndarray, tile: int) -> tuple[int, int]:
    return blocks(C.shape[1], tile), blocks(C.shape[0], tile)  # x covers columns, y rows


def matmul_reference(name: str, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return reference(matmul.matmul_naive if name == "matmul_naive" else matmul.make_matmul_tiled, A=A, B=B)


# The simulator starts a Python thread per CUDA thread, so the launches are kept few: make_matmul_tiled(4)
# (many small blocks) is checked against numpy where it is traced, on every case; the module's tiled kernel
# (256 threads a block) on every size of the inner dimension, and on 1 and block + 45 rows or columns.
@pytest.mark.parametrize(
    "name, dim, n",
    matmul_cases("matmul_naive")
    + [p for p in matmul_cases("matmul_tiled") if p.values[1] == "inner" or p.values[2] not in (31, 33)],
)
def test_matmul_matches_numpy(name, dim, n):
    kernel, T = MATMUL[name]
    A, B, C = matmul_args(dim, n)
    np.testing.assert_array_equal(launch(kernel, matmul_grid(C, T), (T, T), A, B, C)[2], matmul_reference(name, A, B))


@pytest.mark.parametrize("name, dim, n", matmul_cases("matmul_naive"))
def test_matmul_naive_reads_a_row_of_a_and_a_column_of_b(name, dim, n):
    kernel, T = MATMUL[name]
    A, B, C = matmul_args(dim, n)
    (_, _, traced), tr = trace(kernel, matmul_grid(C, T), (T, T), A, B, C)
    np.testing.assert_array_equal(traced, matmul_reference(name, A, B))
    # Contract: per thread 2k global reads (a row of A, a column of B) and 1 write; threads outside
    # C touch nothing; no shared memory, no barrier.
    (M, K), N = A.shape, B.shape[1]
    expected = {}
    for row in range(M):
        for col in range(N):
            counts = Counter({("C", (row, col), "write"): 1})
            for k in range(K):
                counts["A", (row, k), "read"] += 1
                counts["B", (k, col), "read"] += 1
            expected[col, row] = counts
    assert global_by_thread(tr) == expected
    assert shared_by_thread_and_phase(tr) == {} and tr.phases == 1


@pytest.mark.parametrize(
    "name, dim, n",
    # tracing a block of 256 threads takes seconds (a barrier wakes every thread of the block, one
    # thread at a time): the module's kernel on one shape, the same code with 4 x 4 tiles on all.
    matmul_cases("make_matmul_tiled(4)") + [pytest.param("matmul_tiled", "inner", 1, id="matmul_tiled-inner-n=1")],
)
def test_matmul_tiled_loads_each_number_once_per_block(name, dim, n):
    kernel, T = MATMUL[name]
    A, B, C = matmul_args(dim, n)
    (_, _, traced), tr = trace(kernel, matmul_grid(C, T), (T, T), A, B, C)
    np.testing.assert_array_equal(traced, matmul_reference(name, A, B))
    (M, K), N = A.shape, B.shape[1]
    steps = blocks(K, T)
    assert tr.phases == 1 + 2 * steps  # 2 barriers per tile step
    glob = [a for a in tr.accesses if a.space == "global"]
    # C[row, col] written once, by its own thread, after the last barrier; nothing else written.
    writes = sorted((thread_id(tr, a), a.array, a.index, a.phase) for a in glob if a.op == "write")
    assert writes == sorted(((c, r), "C", (r, c), 2 * steps) for r in range(M) for c in range(N))
    # Per thread at most 2 * ceil(k / tile) global reads (one element of each tile), each before the
    # barrier that publishes its tile ...
    reads = [a for a in glob if a.op == "read"]
    assert max(Counter((a.block, a.thread) for a in reads).values()) <= 2 * steps
    assert {a.phase % 2 for a in reads} == {0}
    # ... and each block loads the rows of A and the columns of B it needs exactly once (then uses
    # each number `tile` times from shared memory).
    for bx in range(tr.grid[0]):
        for by in range(tr.grid[1]):
            mine = [a for a in reads if a.block[:2] == (bx, by)]
            rows, cols = range(by * T, min(by * T + T, M)), range(bx * T, min(bx * T + T, N))
            assert Counter(a.index for a in mine if a.array == "A") == Counter((r, k) for r in rows for k in range(K))
            assert Counter(a.index for a in mine if a.array == "B") == Counter((k, c) for k in range(K) for c in cols)
    # Shared: 2 * tile^2 floats. Before each step's first barrier thread (tx, ty) stores sA[ty, tx] and
    # sB[ty, tx]; after it, it reads row ty of sA and column tx of sB, once each; all threads of every
    # block take part.
    assert shared_hazards(tr) == []
    shared = shared_by_thread_and_phase(tr)
    assert len({(array, index) for counts in shared.values() for array, index, _ in counts}) == 2 * T * T
    expected = {}
    for bx in range(tr.grid[0]):
        for by in range(tr.grid[1]):
            for tx in range(T):
                for ty in range(T):
                    for s in range(steps):
                        block, thread = (bx, by, 0), (tx, ty, 0)
                        expected[block, thread, 2 * s] = Counter(
                            {("shared", (ty, tx), "write"): 1, ("shared1", (ty, tx), "write"): 1}
                        )
                        expected[block, thread, 2 * s + 1] = Counter(
                            {("shared", (ty, k), "read"): 1 for k in range(T)}
                        ) + Counter({("shared1", (k, tx), "read"): 1 for k in range(T)})
    assert shared == expected


# ---- the docstring contracts, executable: coursekit.gpu.check_contract --------------------------------


def _contract_cases():
    n = 2 * stencil.BLOCK + 45
    x = data(n)
    m = 45
    R, B = 3, 16
    st = stencil.make_stencil_1d(R, B)
    padded = data(m + 2 * R, seed=1)
    tree = reduce.make_tree_sum(16)
    A, Bm = data((13, 9), seed=2), data((9, 11), seed=3)
    tiled4 = matmul.make_matmul_tiled(4)
    mm_grid = (blocks(11, 4), blocks(13, 4))
    return {
        "relu": (simt.relu, blocks(n, 128), 128, (x, np.zeros(n, np.float32)),
                 dict(reads=1, writes=1, shared_writes=0, barriers=0, coalesced=("x", "out"),
                      expect={"out": np.maximum(x, 0)})),
        "atomic_sum": (reduce.atomic_sum, blocks(m, 32), 32, (x[:m], np.zeros(1, np.float32)),
                       dict(reads=1, writes=1, shared_writes=0, barriers=0, expect={"total": [x[:m].sum()]})),
        "tree_sum": (tree, blocks(m, 16), 16, (x[:m], np.zeros(blocks(m, 16), np.float32)),
                     dict(reads=1, writes=1, barriers=5, expect={"partial": np.add.reduceat(x[:m], range(0, m, 16))})),
        "stencil_1d": (st, blocks(m, B), B, (padded, np.zeros(m, np.float32)),
                       dict(reads=3, writes=1, shared_writes=3, barriers=1, coalesced=("out",),
                            expect={"out": np.convolve(padded, np.ones(2 * R + 1), "valid")})),
        "matmul_naive": (matmul.matmul_naive, mm_grid, (4, 4), (A, Bm, np.zeros((13, 11), np.float32)),
                         dict(reads=2 * 9, writes=1, shared_writes=0, barriers=0, coalesced=("B", "C"),
                              expect={"C": A @ Bm})),
        "matmul_tiled(4)": (tiled4, mm_grid, (4, 4), (A, Bm, np.zeros((13, 11), np.float32)),
                            dict(reads=2 * blocks(9, 4), writes=1, shared_writes=2 * blocks(9, 4),
                                 barriers=2 * blocks(9, 4), coalesced=("A", "B", "C"), expect={"C": A @ Bm})),
    }  # fmt: skip


CONTRACTS = _contract_cases()


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_kernel_keeps_its_docstring_contract(name):
    kernel, grid, block, args, contract = CONTRACTS[name]
    args = [a.copy() for a in args]
    check_contract(kernel, grid, block, *args, **contract, rtol=1e-6)


def test_contract_catches_the_stencil_without_its_barrier():
    no_barrier = stencil.make_stencil_1d(3, 16, barrier=False)
    padded = data(45 + 6, seed=4)
    with pytest.raises(AssertionError, match="missing syncthreads"):
        check_contract(no_barrier, 3, 16, padded, np.zeros(45, np.float32), reads=3, writes=1)


def test_contract_counts_a_barrier_past_the_documented_number():
    kernel, grid, block, args, contract = CONTRACTS["tree_sum"]
    with pytest.raises(AssertionError, match="expected 4 barrier"):
        check_contract(kernel, grid, block, *[a.copy() for a in args], **{**contract, "barriers": 4})
