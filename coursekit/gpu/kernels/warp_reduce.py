"""Warp-level kernels: a block sum by register shuffles, and a count by a warp vote.

numba-cuda's simulator has no warps, so without a GPU these run in the course's tracer
(:mod:`coursekit.gpu.tracer`, whose warps meet in lockstep at each shuffle); on a GPU the same
source compiles with ``numba.cuda.jit``. They are plain Python functions for that reason:
``cuda.jit(make_warp_sum(128))`` on a GPU, ``tracer.trace(make_warp_sum(128), ...)`` anywhere.
"""

from __future__ import annotations

from numba import cuda, float32

WARP = 32
FULL_MASK = 0xFFFFFFFF  # all 32 lanes take part


def make_warp_sum(block: int):
    """Per-block sums by warp shuffles: ``partial[b] = sum of block b's elements``.

    Reference: ``partial[b] == x[b*B:(b+1)*B].sum()`` (``numpy.add.reduceat(x, range(0, x.size,
    B))``). Each warp adds its 32 values with ``shfl_down_sync`` over offsets 16, 8, 4, 2, 1 (lane
    0 ends with the warp's sum), lane 0 writes it to shared memory, one barrier, and the first warp
    adds the ``B / 32`` partials the same way. Threads past the end of ``x`` contribute 0 but still
    take part in every shuffle: a shuffle's mask names all 32 lanes, so no lane may skip it.

    Memory contract: per thread 1 global read, 5 shuffles (10 in warp 0), and 1 shared write
    (lane 0 of each warp) and 1 shared read (the first ``B / 32`` lanes of warp 0); thread 0
    writes 1 partial sum; a shared array of ``B / 32`` floats; exactly 1 barrier. ``block`` must
    be a multiple of 32, at most 1024.
    """
    B = block
    if B % WARP or not WARP <= B <= 1024:
        raise ValueError("block must be a multiple of 32, from 32 to 1024")
    WARPS = B // WARP

    def warp_sum(x, partial):
        warp_sums = cuda.shared.array(WARPS, float32)
        t = cuda.threadIdx.x
        i = cuda.blockIdx.x * cuda.blockDim.x + t
        lane = t % WARP
        warp = t // WARP
        v = x[i] if i < x.size else float32(0)  # past the end: add 0, but stay for the shuffles
        offset = WARP // 2
        while offset > 0:  # lane k adds lane k + offset's value: 16, 8, 4, 2, 1
            v += cuda.shfl_down_sync(FULL_MASK, v, offset)
            offset //= 2
        if lane == 0:
            warp_sums[warp] = v  # one partial per warp
        cuda.syncthreads()  # the only barrier: the partials are in shared memory
        if warp == 0:  # the whole first warp enters, so its full mask is right
            v = warp_sums[lane] if lane < WARPS else float32(0)
            offset = WARP // 2
            while offset > 0:
                v += cuda.shfl_down_sync(FULL_MASK, v, offset)
                offset //= 2
            if lane == 0:
                partial[cuda.blockIdx.x] = v

    return warp_sum


def warp_count_positive(x, counts):
    """counts[w] = how many of warp w's 32 elements of ``x`` are positive, by one warp vote.

    Reference: ``counts[w] == (x[32*w:32*(w+1)] > 0).sum()``. Every lane votes with
    ``ballot_sync`` (lanes past the end of ``x`` vote False, they do not skip the vote); lane 0
    counts the 32-bit answer's set bits with ``popc``. Memory contract: per thread 1 global read
    (none past the end), 1 vote; lane 0 writes 1 count; no shared memory, no barrier. ``counts``
    holds int32, one per warp of the grid.
    """
    i = cuda.grid(1)
    positive = i < x.size and x[i] > float32(0)  # float32(0): a bare 0 compares in float64
    votes = cuda.ballot_sync(FULL_MASK, positive)
    if cuda.laneid == 0:
        counts[i // WARP] = cuda.popc(votes)
