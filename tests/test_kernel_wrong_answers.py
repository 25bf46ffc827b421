"""The kernel exercises of notebook 02 bite: plausible wrong kernels fail their checkers.

Each wrong kernel below gives the right numbers at least some of the time on a GPU (or on
numba-cuda's simulator): a missing bounds check whose stray write lands in unused memory, a
missing barrier in a block that is one warp, an untiled transpose. The checkers run them in the
tracer against the exercise's memory contract, where each fails every time; the instructor
solutions (copied from the notebook) pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import float32

from coursekit.gpu import tracer
from coursekit.gpu.contract import bank_conflicts, sectors_per_warp
from coursekit.grading.hidden import kernels as checks

cuda = None  # the tracer binds its own `cuda` into each kernel's globals

TILE = 8
MAX_BLOCK = 64
NEG_INF = float32(-np.inf)

# ---- Ex 2.1: saxpy -------------------------------------------------------------------------------


def saxpy_right(a, x, y, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a * x[i] + y[i]


def saxpy_no_bounds_check(a, x, y, out):
    i = cuda.grid(1)
    out[i] = a * x[i] + y[i]


def saxpy_bounds_off_by_one(a, x, y, out):
    i = cuda.grid(1)
    if i <= out.size:
        out[i] = a * x[i] + y[i]


def saxpy_thread_index_only(a, x, y, out):
    i = cuda.threadIdx.x  # forgets the block offset: every block redoes block 0's elements
    if i < out.size:
        out[i] = a * x[i] + y[i]


def saxpy_rereads(a, x, y, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = y[i]
        out[i] = a * x[i] + out[i]  # right values, but 3 global reads and 2 writes per thread


SAXPY = {
    saxpy_right: True,
    saxpy_no_bounds_check: False,
    saxpy_bounds_off_by_one: False,
    saxpy_thread_index_only: False,
    saxpy_rereads: False,
}

# ---- Ex 2.2: relu_2d ----------------------------------------------------------------------------


def relu_2d_right(x, out):
    col, row = cuda.grid(2)
    if row < x.shape[0] and col < x.shape[1]:
        out[row, col] = max(x[row, col], float32(0))


def relu_2d_one_bound(x, out):
    col, row = cuda.grid(2)
    if row < x.shape[0]:  # the column is not checked
        out[row, col] = max(x[row, col], float32(0))


def relu_2d_swapped_bounds(x, out):
    col, row = cuda.grid(2)
    if row < x.shape[1] and col < x.shape[0]:  # right on square arrays only
        out[row, col] = max(x[row, col], float32(0))


def relu_2d_uncoalesced(x, out):
    row, col = cuda.grid(2)  # the seed lectures' array[x, y]: neighbouring threads a row apart
    if row < x.shape[0] and col < x.shape[1]:
        out[row, col] = max(x[row, col], float32(0))


RELU_2D = {relu_2d_right: True, relu_2d_one_bound: False, relu_2d_swapped_bounds: False, relu_2d_uncoalesced: False}

# ---- Ex 2.3: transpose_tiled --------------------------------------------------------------------


def transpose_right(x, out):
    tile = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * TILE, cuda.blockIdx.y * TILE
    if by + ty < x.shape[0] and bx + tx < x.shape[1]:
        tile[ty, tx] = x[by + ty, bx + tx]
    cuda.syncthreads()
    if bx + ty < out.shape[0] and by + tx < out.shape[1]:
        out[bx + ty, by + tx] = tile[tx, ty]


def transpose_direct(x, out):
    col, row = cuda.grid(2)  # no tile: right values, but the writes of out are strided
    if row < x.shape[0] and col < x.shape[1]:
        out[col, row] = x[row, col]


def transpose_tile_unused(x, out):
    tile = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    if row < x.shape[0] and col < x.shape[1]:
        tile[ty, tx] = x[row, col]
    cuda.syncthreads()
    if row < x.shape[0] and col < x.shape[1]:
        out[col, row] = tile[ty, tx]  # goes through shared memory, still writes out strided


def transpose_no_barrier(x, out):
    tile = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * TILE, cuda.blockIdx.y * TILE
    if by + ty < x.shape[0] and bx + tx < x.shape[1]:
        tile[ty, tx] = x[by + ty, bx + tx]
    if bx + ty < out.shape[0] and by + tx < out.shape[1]:
        out[bx + ty, by + tx] = tile[tx, ty]


def transpose_unguarded_load(x, out):
    tile = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * TILE, cuda.blockIdx.y * TILE
    tile[ty, tx] = x[by + ty, bx + tx]  # fine for multiples of TILE only
    cuda.syncthreads()
    if bx + ty < out.shape[0] and by + tx < out.shape[1]:
        out[bx + ty, by + tx] = tile[tx, ty]


def transpose_tile_not_transposed(x, out):
    tile = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * TILE, cuda.blockIdx.y * TILE
    if by + ty < x.shape[0] and bx + tx < x.shape[1]:
        tile[ty, tx] = x[by + ty, bx + tx]
    cuda.syncthreads()
    if bx + ty < out.shape[0] and by + tx < out.shape[1]:
        out[bx + ty, by + tx] = tile[ty, tx]  # the blocks move, the tile's contents do not


def transpose_barrier_in_branch(x, out):
    tile = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * TILE, cuda.blockIdx.y * TILE
    if by + ty < x.shape[0] and bx + tx < x.shape[1]:
        tile[ty, tx] = x[by + ty, bx + tx]
        cuda.syncthreads()  # only the threads inside the matrix reach it
    if bx + ty < out.shape[0] and by + tx < out.shape[1]:
        out[bx + ty, by + tx] = tile[tx, ty]


TRANSPOSE = {
    transpose_right: True,
    transpose_direct: False,
    transpose_tile_unused: False,
    transpose_no_barrier: False,
    transpose_unguarded_load: False,
    transpose_tile_not_transposed: False,
    transpose_barrier_in_branch: False,
}

# ---- Ex 2.4: block_max --------------------------------------------------------------------------


def make_block_max(kind: str, B: int = MAX_BLOCK):
    """The instructor's tree (``kind="right"``) and wrong variants of it, for blocks of ``B``."""

    def block_max(x, out):
        cache = cuda.shared.array(B, float32)
        t = cuda.threadIdx.x
        i = cuda.blockIdx.x * cuda.blockDim.x + t
        if kind == "zero padding":
            cache[t] = x[i] if i < x.size else float32(0)
        else:
            cache[t] = x[i] if i < x.size else NEG_INF
        if kind != "no first barrier":
            cuda.syncthreads()
        stride = B // 2
        while stride > 0:
            if t < stride:
                cache[t] = max(cache[t], cache[t + stride])
                if kind == "barrier inside the if":
                    cuda.syncthreads()
            if kind not in ("no barriers in the loop", "barrier inside the if"):
                cuda.syncthreads()
            stride //= 2
        if kind == "every thread writes":
            out[cuda.blockIdx.x] = cache[0]
        elif t == 0:
            out[cuda.blockIdx.x] = cache[0]

    return block_max


def block_max_serial(x, out):
    cache = cuda.shared.array(MAX_BLOCK, float32)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * cuda.blockDim.x + t
    cache[t] = x[i] if i < x.size else NEG_INF
    cuda.syncthreads()
    if t == 0:  # right values, but one thread does all the work: not a tree
        m = cache[0]
        for k in range(1, MAX_BLOCK):
            m = max(m, cache[k])
        out[cuda.blockIdx.x] = m


BLOCK_MAX = {
    "right": True,
    "no first barrier": False,
    "no barriers in the loop": False,
    "barrier inside the if": False,
    "zero padding": False,
    "every thread writes": False,
}


# ---- Ex 2.5: transpose without bank conflicts (32 x 32 tile, blocks of 32 x 8) ---------------------


def make_tile32(kind: str):
    """A 32 x 32 tiled transpose: ``"padded"`` (right), ``"swizzled"`` (right: XOR-permuted
    columns), ``"unpadded"`` (32-way conflicts), ``"no tile"`` (direct), ``"no barrier"``."""
    COLS = 33 if kind == "padded" else 32

    def transpose(x, out):
        tile = cuda.shared.array((32, COLS), float32)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        bx, by = cuda.blockIdx.x * 32, cuda.blockIdx.y * 32
        for j in range(ty, 32, 8):
            if by + j < x.shape[0] and bx + tx < x.shape[1]:
                if kind == "no tile":
                    out[bx + tx, by + j] = x[by + j, bx + tx]
                elif kind == "swizzled":
                    tile[j, tx ^ j] = x[by + j, bx + tx]
                else:
                    tile[j, tx] = x[by + j, bx + tx]
        if kind not in ("no barrier", "no tile"):
            cuda.syncthreads()
        if kind != "no tile":
            for j in range(ty, 32, 8):
                if bx + j < out.shape[0] and by + tx < out.shape[1]:
                    out[bx + j, by + tx] = tile[tx, j ^ tx] if kind == "swizzled" else tile[tx, j]

    return transpose


TILE32 = {"padded": True, "swizzled": True, "unpadded": False, "no tile": False, "no barrier": False}

# ---- Ex 2.6: saxpy with a grid-stride loop -------------------------------------------------------


def saxpy_grid_stride_right(a, x, y, out):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, out.size, stride):
        out[i] = a * x[i] + y[i]


def saxpy_block_chunks(a, x, y, out):
    per = (out.size + cuda.gridsize(1) - 1) // cuda.gridsize(1)
    start = cuda.grid(1) * per  # each thread a contiguous chunk: neighbours `per` elements apart
    for i in range(start, min(start + per, out.size)):
        out[i] = a * x[i] + y[i]


def saxpy_stride_block_only(a, x, y, out):
    for i in range(cuda.grid(1), out.size, cuda.blockDim.x):  # blocks overlap: elements written twice
        out[i] = a * x[i] + y[i]


def saxpy_no_loop(a, x, y, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a * x[i] + y[i]


GRID_STRIDE = {
    saxpy_grid_stride_right: True,
    saxpy_block_chunks: False,
    saxpy_stride_block_only: False,
    saxpy_no_loop: False,
}


# ---- the tests ----------------------------------------------------------------------------------


def _expect(checker, kernel, ok, *more):
    if ok:
        checker(kernel, *more)
    else:
        with pytest.raises(AssertionError, match="expected|wrong|contract|bounds"):
            checker(kernel, *more)


@pytest.mark.parametrize("kernel", list(SAXPY), ids=lambda k: k.__name__)
def test_saxpy_checker(kernel):
    _expect(checks.check_saxpy, kernel, SAXPY[kernel])


@pytest.mark.parametrize("kernel", list(RELU_2D), ids=lambda k: k.__name__)
def test_relu_2d_checker(kernel):
    _expect(checks.check_relu_2d, kernel, RELU_2D[kernel])


@pytest.mark.parametrize("kernel", list(TRANSPOSE), ids=lambda k: k.__name__)
def test_transpose_checker(kernel):
    _expect(checks.check_transpose, kernel, TRANSPOSE[kernel], TILE)


@pytest.mark.parametrize("kind", list(BLOCK_MAX))
def test_block_max_checker(kind):
    _expect(checks.check_block_max, make_block_max(kind), BLOCK_MAX[kind], MAX_BLOCK)


def test_block_max_serial_is_not_a_tree():
    _expect(checks.check_block_max, block_max_serial, False, MAX_BLOCK)


@pytest.mark.parametrize("kind", ["no first barrier", "no barriers in the loop"])
def test_one_warp_block_does_not_hide_a_missing_barrier(kind):
    """In a block of 32 threads (one warp) a GPU runs the tree in lock-step, so these pass there by
    luck; the race check fails them anyway."""
    _expect(checks.check_block_max, make_block_max("right", 32), True, 32)
    with pytest.raises(AssertionError, match="missing syncthreads|wrong"):
        checks.check_block_max(make_block_max(kind, 32), 32)


def test_failure_messages_say_what_broke():
    with pytest.raises(AssertionError, match="out of bounds"):
        checks.check_saxpy(saxpy_no_bounds_check)
    with pytest.raises(AssertionError, match="not coalesced"):
        checks.check_transpose(transpose_direct, TILE)
    with pytest.raises(AssertionError, match="missing syncthreads"):
        checks.check_transpose(transpose_no_barrier, TILE)
    with pytest.raises(AssertionError, match="only some of its threads"):
        checks.check_transpose(transpose_barrier_in_branch, TILE)
    with pytest.raises(AssertionError, match="shared reads per thread"):
        checks.check_block_max(block_max_serial, MAX_BLOCK)


def test_contract_tools_count_sectors_and_bank_conflicts():
    x = np.arange(64, dtype=np.float32).reshape(8, 8)
    out = np.zeros((8, 8), dtype=np.float32)
    tr = tracer.trace(transpose_direct, (1, 1), (8, 8), x, out)
    reads = sectors_per_warp(tr, "x", "read")
    writes = sectors_per_warp(tr, "out", "write")
    assert (reads["sectors"] == reads["ideal"]).all()  # rows of x: 4 rows x 32 bytes per warp
    assert (writes["sectors"] > writes["ideal"]).all()  # columns of out: one sector per thread
    tr = tracer.trace(transpose_right, (1, 1), (8, 8), x, out)
    conflicts = bank_conflicts(tr, op="read")
    assert conflicts["ways"].max() > 1  # tile[tx, ty] with 8 columns: column reads share banks


@pytest.mark.parametrize("kind", list(TILE32))
def test_transpose_no_conflicts_checker(kind):
    _expect(checks.check_transpose_no_conflicts, make_tile32(kind), TILE32[kind])


def test_unpadded_tile_fails_for_its_bank_conflicts():
    with pytest.raises(AssertionError, match="32-way conflict"):
        checks.check_transpose_no_conflicts(make_tile32("unpadded"))


@pytest.mark.parametrize("kernel", list(GRID_STRIDE), ids=lambda k: k.__name__)
def test_grid_stride_checker(kernel):
    _expect(checks.check_saxpy_grid_stride, kernel, GRID_STRIDE[kernel])
