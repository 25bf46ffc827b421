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
from numba import float32, int32

from coursekit.gpu import tracer
from coursekit.gpu.contract import bank_conflicts, sectors_per_warp
from coursekit.grading.hidden import kernels as checks
from coursekit.grading.hidden import kernels_predict

cuda = None  # the tracer binds its own `cuda` into each kernel's globals

K = 3
TILE = 8
MAX_BLOCK = 64
NEG_INF = float32(-np.inf)

# ---- Ex 2.1: saxpy (nb02_saxpy) ------------------------------------------------------------------


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

# ---- Ex 2.2: im2col (nb02_im2col) ----------------------------------------------------------------


def im2col_right(img, cols):
    q, p = cuda.grid(2)
    out_w = img.shape[1] - K + 1
    if p < cols.shape[0] and q < cols.shape[1]:
        cols[p, q] = img[p // out_w + q // K, p % out_w + q % K]


def im2col_no_bounds_check(img, cols):
    q, p = cuda.grid(2)
    out_w = img.shape[1] - K + 1
    cols[p, q] = img[p // out_w + q // K, p % out_w + q % K]


def im2col_one_bound(img, cols):
    q, p = cuda.grid(2)
    out_w = img.shape[1] - K + 1
    if p < cols.shape[0]:  # the K * K columns are not checked: blocks wider than 9 write past them
        cols[p, q] = img[p // out_w + q // K, p % out_w + q % K]


def im2col_windows_per_row_off_by_one(img, cols):
    q, p = cuda.grid(2)
    out_w = img.shape[1] - K  # W - K windows per row instead of W - K + 1
    if p < cols.shape[0] and q < cols.shape[1]:
        cols[p, q] = img[p // out_w + q // K, p % out_w + q % K]


def im2col_split_by_k(img, cols):
    q, p = cuda.grid(2)
    if p < cols.shape[0] and q < cols.shape[1]:  # the window's position split by K, not by W - K + 1
        cols[p, q] = img[p // K + q // K, p % K + q % K]


def im2col_window_transposed(img, cols):
    q, p = cuda.grid(2)
    out_w = img.shape[1] - K + 1
    if p < cols.shape[0] and q < cols.shape[1]:  # the window's pixels column by column
        cols[p, q] = img[p // out_w + q % K, p % out_w + q // K]


def im2col_uncoalesced(img, cols):
    p, q = cuda.grid(2)  # x over the rows of cols: neighbouring threads write 9 floats apart
    out_w = img.shape[1] - K + 1
    if p < cols.shape[0] and q < cols.shape[1]:
        cols[p, q] = img[p // out_w + q // K, p % out_w + q % K]


def im2col_flipped(img, cols):
    q, p = cuda.grid(2)
    out_w = img.shape[1] - K + 1
    if p < cols.shape[0] and q < cols.shape[1]:  # a true convolution's flipped filter: another layout
        cols[p, q] = img[p // out_w + K - 1 - q // K, p % out_w + K - 1 - q % K]


IM2COL = {
    im2col_right: True,
    im2col_no_bounds_check: False,
    im2col_one_bound: False,
    im2col_windows_per_row_off_by_one: False,
    im2col_split_by_k: False,
    im2col_window_transposed: False,
    im2col_uncoalesced: False,
    im2col_flipped: False,
}

# ---- Ex 2.3: transpose_tiled (nb02_transpose) ----------------------------------------------------


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

# ---- Ex 2.4: block_argmax (nb02_blockargmax) -----------------------------------------------------


def make_block_argmax(kind: str, B: int = MAX_BLOCK):
    """The instructor's tree (``kind="right"``) and wrong variants of it, for blocks of ``B``."""

    def block_argmax(x, out):
        vals = cuda.shared.array(B, float32)
        idx = cuda.shared.array(B, int32)
        t = cuda.threadIdx.x
        i = cuda.blockIdx.x * cuda.blockDim.x + t
        if kind == "zero padding":
            vals[t] = x[i] if i < x.size else float32(0)
        else:
            vals[t] = x[i] if i < x.size else NEG_INF
        if kind == "index within the block":
            idx[t] = t
        elif kind == "padding index 0" and i >= x.size:
            idx[t] = 0
        else:
            idx[t] = i
        if kind != "no first barrier":
            cuda.syncthreads()
        stride = B // 2
        while stride > 0:
            if t < stride:
                v, k = vals[t + stride], idx[t + stride]
                if kind == "strict greater only":
                    better = v > vals[t]
                elif kind == "greater or equal":
                    better = v >= vals[t]
                else:
                    better = v > vals[t] or (v == vals[t] and k < idx[t])
                if better:
                    vals[t] = v
                    idx[t] = k
                if kind == "barrier inside the if":
                    cuda.syncthreads()
            if kind not in ("no barriers in the loop", "barrier inside the if"):
                cuda.syncthreads()
            stride //= 2
        if kind == "writes the value":
            if t == 0:
                out[cuda.blockIdx.x] = vals[0]
        elif kind == "every thread writes" or t == 0:
            out[cuda.blockIdx.x] = idx[0]

    return block_argmax


def block_argmax_serial(x, out):
    vals = cuda.shared.array(MAX_BLOCK, float32)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * cuda.blockDim.x + t
    vals[t] = x[i] if i < x.size else NEG_INF
    cuda.syncthreads()
    if t == 0:  # right values, but one thread does all the work: not a tree
        best = 0
        for k in range(1, MAX_BLOCK):
            if vals[k] > vals[best]:
                best = k
        out[cuda.blockIdx.x] = cuda.blockIdx.x * cuda.blockDim.x + best


BLOCK_ARGMAX = {
    "right": True,
    "strict greater only": False,
    "greater or equal": False,
    "zero padding": False,
    "padding index 0": False,
    "index within the block": False,
    "writes the value": False,
    "no first barrier": False,
    "no barriers in the loop": False,
    "barrier inside the if": False,
    "every thread writes": False,
}


# ---- Ex 2.6: a conflict-free 32 x 32 tile without padding (nb02_swizzle) ---------------------------


def make_tile32(kind: str):
    """A 32 x 32 tiled transpose: ``"swizzled"`` (right: XOR-permuted columns), ``"rotated"``
    (right: columns rotated by the row), ``"padded"`` (conflict-free but 32 x 33: not what is asked),
    ``"unpadded"`` (32-way conflicts), ``"swizzled on store only"`` (wrong values), ``"swizzled by
    ty"`` (XOR with the thread's y, not the tile row: wrong values), ``"rows swizzled"`` (the row
    permuted instead of the column: 32-way conflicts), ``"no tile"`` (direct), ``"no barrier"``,
    ``"unguarded"`` (no bounds check)."""
    COLS = 33 if kind == "padded" else 32

    def transpose(x, out):
        tile = cuda.shared.array((32, COLS), float32)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        bx, by = cuda.blockIdx.x * 32, cuda.blockIdx.y * 32
        for j in range(ty, 32, 8):
            if kind == "unguarded" or (by + j < x.shape[0] and bx + tx < x.shape[1]):
                v = x[by + j, bx + tx]
                if kind == "no tile":
                    out[bx + tx, by + j] = v
                elif kind in ("swizzled", "swizzled on store only", "unguarded", "no barrier"):
                    tile[j, tx ^ j] = v
                elif kind == "swizzled by ty":
                    tile[j, tx ^ ty] = v
                elif kind == "rotated":
                    tile[j, (tx + j) % 32] = v
                elif kind == "rows swizzled":
                    tile[j ^ tx, tx] = v
                else:
                    tile[j, tx] = v
        if kind not in ("no barrier", "no tile"):
            cuda.syncthreads()
        if kind != "no tile":
            for j in range(ty, 32, 8):
                if kind == "unguarded" or (bx + j < out.shape[0] and by + tx < out.shape[1]):
                    if kind in ("swizzled", "no barrier", "unguarded", "swizzled by ty"):
                        v = tile[tx, j ^ tx]
                    elif kind == "rotated":
                        v = tile[tx, (j + tx) % 32]
                    elif kind == "rows swizzled":
                        v = tile[tx ^ j, j]
                    else:
                        v = tile[tx, j]
                    out[bx + j, by + tx] = v

    return transpose


TILE32 = {
    "swizzled": True,
    "rotated": True,
    "padded": False,
    "unpadded": False,
    "swizzled on store only": False,
    "swizzled by ty": False,
    "rows swizzled": False,
    "no tile": False,
    "no barrier": False,
    "unguarded": False,
}

# ---- Ex 2.7: saxpy with a grid-stride loop (nb02_gridstride) -------------------------------------


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


@pytest.mark.parametrize("kernel", list(IM2COL), ids=lambda k: k.__name__)
def test_im2col_checker(kernel):
    _expect(checks.check_im2col, kernel, IM2COL[kernel], K)


@pytest.mark.parametrize("kernel", list(TRANSPOSE), ids=lambda k: k.__name__)
def test_transpose_checker(kernel):
    _expect(checks.check_transpose, kernel, TRANSPOSE[kernel], TILE)


@pytest.mark.parametrize("kind", list(BLOCK_ARGMAX))
def test_block_argmax_checker(kind):
    _expect(checks.check_block_argmax, make_block_argmax(kind), BLOCK_ARGMAX[kind], MAX_BLOCK)


def test_block_argmax_serial_is_not_a_tree():
    _expect(checks.check_block_argmax, block_argmax_serial, False, MAX_BLOCK)


@pytest.mark.parametrize("kind", ["no first barrier", "no barriers in the loop"])
def test_one_warp_block_does_not_hide_a_missing_barrier(kind):
    """In a block of 32 threads (one warp) a GPU runs the tree in lock-step, so these pass there by
    luck; the race check fails them anyway."""
    _expect(checks.check_block_argmax, make_block_argmax("right", 32), True, 32)
    with pytest.raises(AssertionError, match="missing syncthreads|wrong"):
        checks.check_block_argmax(make_block_argmax(kind, 32), 32)


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
        checks.check_block_argmax(block_argmax_serial, MAX_BLOCK)
    with pytest.raises(AssertionError, match="not coalesced"):
        checks.check_im2col(im2col_uncoalesced, K)
    with pytest.raises(AssertionError, match="'out' is wrong"):
        checks.check_block_argmax(make_block_argmax("strict greater only"), MAX_BLOCK)


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
def test_transpose_swizzled_checker(kind):
    _expect(checks.check_transpose_swizzled, make_tile32(kind), TILE32[kind])


def test_unpadded_tile_fails_for_its_bank_conflicts_and_the_padded_for_its_size():
    with pytest.raises(AssertionError, match="32-way conflict"):
        checks.check_transpose_swizzled(make_tile32("unpadded"))
    with pytest.raises(AssertionError, match="32-way conflict"):
        checks.check_transpose_swizzled(make_tile32("rows swizzled"))
    with pytest.raises(AssertionError, match="1024 floats and no more"):
        checks.check_transpose_swizzled(make_tile32("padded"))


@pytest.mark.parametrize("kernel", list(GRID_STRIDE), ids=lambda k: k.__name__)
def test_grid_stride_checker(kernel):
    _expect(checks.check_saxpy_grid_stride, kernel, GRID_STRIDE[kernel])


# ---- Ex 2.5: predict, then count (nb02_predict) --------------------------------------------------

RIGHT_PREDICTIONS = dict(zip(kernels_predict.PROMPTS, (32, 8, 32, 2), strict=True))
WRONG_PREDICTIONS = {
    "float32 sectors for the float64 copy": (32, 4, 32, 2),
    "a transpose's writes as coalesced": (4, 8, 32, 2),
    "bank = column index (no conflict read by column)": (32, 8, 1, 2),
    "stride 2 read as conflict-free": (32, 8, 32, 1),
    "stride 2 read as 16 banks, 16-way": (32, 8, 32, 16),
    "bytes instead of sectors": (32, 256, 32, 2),
}


def test_the_right_predictions_pass_and_match_the_tracer():
    assert kernels_predict.measured() == RIGHT_PREDICTIONS
    kernels_predict.check_predictions(RIGHT_PREDICTIONS)
    kernels_predict.check_predictions({k: np.int64(v) for k, v in RIGHT_PREDICTIONS.items()})


@pytest.mark.parametrize("name", list(WRONG_PREDICTIONS))
def test_wrong_predictions_fail(name):
    wrong = dict(zip(kernels_predict.PROMPTS, WRONG_PREDICTIONS[name], strict=True))
    with pytest.raises(AssertionError, match="1 of 4 wrong|2 of 4 wrong"):
        kernels_predict.check_predictions(wrong)


def test_blank_or_incomplete_predictions_fail():
    with pytest.raises(AssertionError, match="4 of 4 wrong"):
        kernels_predict.check_predictions(dict.fromkeys(kernels_predict.PROMPTS))  # the release's None
    with pytest.raises(AssertionError, match="missing"):
        kernels_predict.check_predictions({})
    with pytest.raises(AssertionError, match="1 of 4 wrong"):
        kernels_predict.check_predictions({**RIGHT_PREDICTIONS, "tile[tx, j], 32 x 32 float32 tile: ways": 32.5})
