"""Warps in coursekit's tracer: shuffles and votes in lockstep, masked lanes under divergence, strict
errors where CUDA leaves a shuffle undefined, and the warp-shuffle block sum against numpy and the
shared-memory tree (its barriers and shared traffic counted), on sizes that are not multiples of the block.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from coursekit.gpu import tracer
from coursekit.gpu.contract import block_traffic, check_contract, races
from coursekit.gpu.kernels import reduce, warp_reduce
from coursekit.gpu.warp_sync import popc

from conftest import SIMULATOR

cuda = None  # the kernels' `cuda`: tracer.trace binds it to its thread-by-thread fake
FULL = 0xFFFFFFFF
WARP = 32


def shfl_down_by(x, out, delta):
    i = cuda.grid(1)
    out[i] = cuda.shfl_down_sync(FULL, x[i], delta)


def shfl_up_by(x, out, delta):
    i = cuda.grid(1)
    out[i] = cuda.shfl_up_sync(FULL, x[i], delta)


def shfl_xor_by(x, out, lane_mask):
    i = cuda.grid(1)
    out[i] = cuda.shfl_xor_sync(FULL, x[i], lane_mask)


def ballot_every(out, k):
    i = cuda.grid(1)
    out[i] = cuda.ballot_sync(FULL, cuda.laneid % k == 0)


def masks_under_divergence(inside, other, after):
    """activemask() inside `if lane < 5`, in its else branch, and after the if."""
    i = cuda.grid(1)
    lane = cuda.laneid
    if lane < 5:
        inside[i] = cuda.activemask()
    else:
        other[i] = cuda.activemask()
    after[i] = cuda.activemask()


def mask_after_early_return(out, n):
    i = cuda.grid(1)
    if i >= n:
        return
    out[i] = cuda.activemask()


def mask_per_loop_pass(out):
    """Lane k runs k % 4 passes; out[i, p] = activemask() on pass p."""
    i = cuda.grid(1)
    for p in range(cuda.laneid % 4):
        out[i, p] = cuda.activemask()


def shuffle_in_a_branch(x, out):
    """Wrong: lanes 0..7 shuffle with their own activemask, but lanes 4..7 read lanes 8..11."""
    i = cuda.grid(1)
    v = x[i]
    if cuda.laneid < 8:
        v = cuda.shfl_down_sync(cuda.activemask(), v, 4)
    out[i] = v


def mask_without_caller(x, out):
    i = cuda.grid(1)
    out[i] = cuda.shfl_down_sync(0b10, x[i], 1)


def two_masks(x, out):
    i = cuda.grid(1)
    out[i] = cuda.shfl_down_sync(FULL if cuda.laneid else 0x7FFFFFFF, x[i], 1)


def lanes(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32) + 100


@pytest.mark.parametrize("delta", [1, 3, 16])
def test_shfl_down_reads_lane_plus_delta_and_keeps_its_own_past_the_warp(delta):
    x, out = lanes(64), np.zeros(64, np.float32)
    tracer.trace(shfl_down_by, 1, 64, x, out, delta)
    lane = np.arange(64) % WARP
    want = np.where(lane + delta < WARP, x[np.minimum(np.arange(64) + delta, 63)], x)
    np.testing.assert_array_equal(out, want)


def test_shfl_up_reads_lane_minus_delta():
    x, out = lanes(64), np.zeros(64, np.float32)
    tracer.trace(shfl_up_by, 1, 64, x, out, 2)
    lane = np.arange(64) % WARP
    np.testing.assert_array_equal(out, np.where(lane >= 2, x[np.arange(64) - 2], x))


@pytest.mark.parametrize("lane_mask", [1, 5, 16, 31])
def test_shfl_xor_is_a_butterfly_within_each_warp(lane_mask):
    x, out = lanes(64), np.zeros(64, np.float32)
    tr = tracer.trace(shfl_xor_by, 1, 64, x, out, lane_mask)
    np.testing.assert_array_equal(out, x[np.arange(64) ^ lane_mask])
    assert tr.counts()["warp shuffles"].tolist() == [1] * 64  # one shuffle per lane, recorded
    assert races(tr) == []


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_ballot_sets_the_bits_of_lanes_whose_predicate_holds(k):
    out = np.zeros(64, np.int64)
    tracer.trace(ballot_every, 1, 64, out, k)
    want = sum(1 << lane for lane in range(WARP) if lane % k == 0)
    assert {int(v) & FULL for v in out} == {want}  # every lane gets the warp's ballot
    assert all(-(2**31) <= int(v) < 2**31 for v in out)  # an int32, as numba types ballot_sync
    assert popc(int(out[0])) == len(range(0, WARP, k))


def test_activemask_shows_the_lanes_of_each_side_of_a_branch_and_reconverges():
    inside, other, after = (np.zeros(64, np.int64) for _ in range(3))
    tracer.trace(masks_under_divergence, 1, 64, inside, other, after)
    lane = np.arange(64) % WARP
    assert set(inside[lane < 5]) == {0b11111}
    assert set(other[lane >= 5]) == {FULL & ~0b11111}
    assert set(after) == {FULL}  # both sides done: the warp meets again after the if


def test_activemask_leaves_out_lanes_that_returned():
    out = np.zeros(64, np.int64)
    tracer.trace(mask_after_early_return, 1, 64, out, 40)
    assert set(out[:32]) == {FULL} and set(out[32:40]) == {0xFF}


def test_each_pass_of_a_loop_meets_the_same_pass_of_the_other_lanes():
    out = np.zeros((32, 3), np.int64)
    tracer.trace(mask_per_loop_pass, 1, 32, out)
    for p in range(3):
        want = sum(1 << lane for lane in range(WARP) if lane % 4 > p)
        assert {int(out[lane, p]) for lane in range(WARP) if lane % 4 > p} == {want}


def test_a_shuffle_from_an_inactive_lane_raises_naming_warp_lane_and_source():
    x = lanes(64)
    with pytest.raises(tracer.WarpError, match=r"block \(0, 0\): warp 0, lane 4: .*source lane 8"):
        tracer.trace(shuffle_in_a_branch, 1, 64, x, np.zeros(64, np.float32))


def test_a_mask_must_name_the_caller_and_be_the_same_for_every_lane():
    x = lanes(32)
    with pytest.raises(tracer.WarpError, match="leaves out the calling lane"):
        tracer.trace(mask_without_caller, 1, 32, x, np.zeros(32, np.float32))
    with pytest.raises(tracer.WarpError, match="lanes 0 and 1 .* one mask"):
        tracer.trace(two_masks, 1, 32, x, np.zeros(32, np.float32))


# ---- the warp-shuffle block sum: numpy, its contract, and the tree's counts ---------------------------


def block_sums(x: np.ndarray, block: int) -> np.ndarray:
    return np.add.reduceat(x.astype(np.float64), np.arange(0, x.size, block))


@pytest.mark.parametrize(("n", "block"), [(1, 32), (45, 32), (100, 64), (200, 128), (300, 96)])
def test_warp_sum_equals_numpy_and_keeps_its_contract(n, block):
    x = np.random.default_rng(n).random(n, dtype=np.float32)
    partial = np.full(-(-n // block), np.nan, np.float32)
    tr = check_contract(
        warp_reduce.make_warp_sum(block), partial.size, block, x, partial,
        reads=1, writes=1, shared_reads=1, shared_writes=1, shuffles=10, barriers=1,
        expect={"partial": block_sums(x, block)},
    )  # fmt: skip
    assert races(tr) == []


def test_warp_sum_needs_far_fewer_barriers_and_shared_accesses_than_the_tree():
    B, n = 128, 200
    x = np.random.default_rng(3).random(n, dtype=np.float32)
    blocks = -(-n // B)
    warp = block_traffic(tracer.trace(warp_reduce.make_warp_sum(B), blocks, B, x, np.zeros(blocks, np.float32)))
    tree = block_traffic(tracer.trace(reduce.make_tree_sum(B), blocks, B, x, np.zeros(blocks, np.float32)))
    levels, warps = int(math.log2(B)), B // WARP
    # the tree: one barrier after loading, one per level; every thread stores its element, then each
    # level's active threads read two cells and write one; thread 0 reads the root
    assert set(tree["barriers"]) == {levels + 1}
    assert set(tree["shared writes"]) == {B + (B - 1)}
    assert set(tree["shared reads"]) == {2 * (B - 1) + 1}
    assert set(tree["warp shuffles"]) == {0}
    # the warps: one barrier; each warp's lane 0 writes a partial that warp 0 reads; 5 shuffles per
    # lane of every warp, 5 more in warp 0
    assert set(warp["barriers"]) == {1}
    assert set(warp["shared writes"]) == {warps} and set(warp["shared reads"]) == {warps}
    assert set(warp["warp shuffles"]) == {5 * B + 5 * WARP}
    assert (warp["global reads"] == tree["global reads"]).all()
    assert (tree["shared reads"] >= 50 * warp["shared reads"]).all() and (
        tree["barriers"] == 8 * warp["barriers"]
    ).all()


def warp_sum_returns_early(x, partial):
    """Wrong: tail threads return before the shuffles their warp's mask names them in."""
    warp_sums = cuda.shared.array(2, np.float32)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * cuda.blockDim.x + t
    if i >= x.size:
        return
    v = x[i]
    for offset in (16, 8, 4, 2, 1):
        v += cuda.shfl_down_sync(FULL, v, offset)
    if t % 32 == 0:
        warp_sums[t // 32] = v
    cuda.syncthreads()
    if t == 0:
        partial[cuda.blockIdx.x] = warp_sums[0] + warp_sums[1]


def warp_sum_shuffles_inside_the_bounds_check(x, partial):
    """Wrong: the bounds check wraps the shuffles, so tail lanes diverge from them."""
    warp_sums = cuda.shared.array(2, np.float32)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * cuda.blockDim.x + t
    v = np.float32(0)
    if i < x.size:
        v = x[i]
        for offset in (16, 8, 4, 2, 1):
            v += cuda.shfl_down_sync(FULL, v, offset)
    if t % 32 == 0:
        warp_sums[t // 32] = v
    cuda.syncthreads()
    if t == 0:
        partial[cuda.blockIdx.x] = warp_sums[0] + warp_sums[1]


def make_warp_sum_offsets(offsets: tuple[int, ...]):
    """The two-warp block sum with the given shuffle offsets (right: 16, 8, 4, 2, 1)."""

    def warp_sum_offsets(x, partial):
        warp_sums = cuda.shared.array(2, np.float32)
        t = cuda.threadIdx.x
        i = cuda.blockIdx.x * cuda.blockDim.x + t
        v = x[i] if i < x.size else np.float32(0)
        for offset in offsets:
            v += cuda.shfl_down_sync(FULL, v, offset)
        if t % 32 == 0:
            warp_sums[t // 32] = v
        cuda.syncthreads()
        if t == 0:
            partial[cuda.blockIdx.x] = warp_sums[0] + warp_sums[1]

    return warp_sum_offsets


@pytest.mark.parametrize(
    ("kernel", "says"),
    [
        (warp_sum_returns_early, "names lane 13, which has exited"),
        (warp_sum_shuffles_inside_the_bounds_check, "names lane 13, which is inactive here: it waits at a syncthreads"),
        (make_warp_sum_offsets((8, 4, 2, 1)), "'partial' is wrong"),  # a width of 16: half warps
        (make_warp_sum_offsets((32, 16, 8, 4, 2, 1)), "'partial' is wrong"),  # 32 is past the warp: doubles
    ],
)
def test_plausible_wrong_warp_sums_are_caught(kernel, says):
    n = 109  # block 1 of 64 holds 45 elements: lanes 13..31 of its second warp are past the end
    x = np.random.default_rng(9).random(n, dtype=np.float32)
    partial = np.zeros(2, np.float32)
    with pytest.raises(AssertionError, match=says):
        check_contract(kernel, 2, 64, x, partial, barriers=1, expect={"partial": block_sums(x, 64)})


def test_the_right_offsets_pass_in_the_same_harness():
    x = np.random.default_rng(9).random(109, dtype=np.float32)
    partial = np.zeros(2, np.float32)
    check_contract(make_warp_sum_offsets((16, 8, 4, 2, 1)), 2, 64, x, partial, barriers=1,
                   expect={"partial": block_sums(x, 64)})  # fmt: skip


@pytest.mark.parametrize("n", [1, 50, 200])
def test_ballot_counts_positive_elements_per_warp(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    blocks = -(-n // 64)
    counts = np.full(blocks * 2, -1, np.int32)
    padded = np.concatenate([x, np.zeros(counts.size * WARP - n, np.float32)])
    tr = check_contract(
        warp_reduce.warp_count_positive, blocks, 64, x, counts,
        reads=1, writes=1, shared_writes=0, barriers=0, expect={"counts": (padded.reshape(-1, WARP) > 0).sum(axis=1)},
    )  # fmt: skip
    assert set(tr.counts()["warp votes"]) == {1}


@pytest.mark.skipif(SIMULATOR, reason="no CUDA GPU: numba-cuda's simulator has no shfl/ballot; the tracer runs them")
def test_the_same_kernels_compile_and_agree_on_a_gpu():
    from numba import cuda as real_cuda

    n, B = 1000, 128
    x = np.random.default_rng(4).random(n, dtype=np.float32)
    partial = np.zeros(-(-n // B), np.float32)
    real_cuda.jit(warp_reduce.make_warp_sum(B))[partial.size, B](x, partial)
    np.testing.assert_allclose(partial, block_sums(x, B), rtol=1e-5)
    signed = x - 0.5
    counts = np.zeros(partial.size * B // WARP, np.int32)
    real_cuda.jit(warp_reduce.warp_count_positive)[partial.size, B](signed, counts)
    padded = np.concatenate([signed, np.zeros(counts.size * WARP - n, np.float32)])
    np.testing.assert_array_equal(counts, (padded.reshape(-1, WARP) > 0).sum(axis=1))


def test_the_serial_runner_sends_warp_kernels_to_the_tracer():
    from coursekit.gpu import serial

    with pytest.raises(RuntimeError, match="shfl_down_sync needs tracer.trace"):
        serial.run(shfl_down_by, 1, 32, lanes(32), np.zeros(32, np.float32), 1)
