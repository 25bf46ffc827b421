"""Sum reductions: every thread adds into one cell with an atomic, or a shared-memory tree."""

from __future__ import annotations

from numba import cuda, float32

from . import _device  # noqa: F401  (importing the package switched the simulator on first)


@cuda.jit
def atomic_sum(x, total):
    """total[0] += x[i] for every i, with an atomic add.  Reference: ``x.sum()``.

    Memory contract: per thread 1 global read and 1 atomic read-modify-write of ``total[0]``
    (all threads contend for that one address); no shared memory, no barrier. ``total`` must be
    zeroed before the launch.
    """
    i = cuda.grid(1)
    if i < x.size:
        cuda.atomic.add(total, 0, x[i])


def make_tree_sum(block: int):
    """Per-block sums by a tree in shared memory: ``partial[b] = sum of block b's elements``.

    Reference: ``numpy.add.reduceat(x, range(0, x.size, block))``. Memory contract: per thread 1
    global read; thread 0 writes 1 partial sum; shared array of ``block`` floats; log2(block) + 1
    barriers. ``block`` must be a power of two. Sum ``partial`` (one number per block) on the host
    or with a second launch.
    """
    B = block
    if B & (B - 1):
        raise ValueError("block must be a power of two")

    def tree_sum(x, partial):
        cache = cuda.shared.array(B, float32)
        t = cuda.threadIdx.x
        i = cuda.blockIdx.x * cuda.blockDim.x + t
        cache[t] = x[i] if i < x.size else float32(0)  # threads past the end add nothing
        cuda.syncthreads()
        stride = B // 2
        while stride > 0:
            if t < stride:
                cache[t] += cache[t + stride]
            cuda.syncthreads()  # a level must finish before the next reads it
            stride //= 2
        if t == 0:
            partial[cuda.blockIdx.x] = cache[0]

    return tree_sum


tree_sum = cuda.jit(make_tree_sum(128))
