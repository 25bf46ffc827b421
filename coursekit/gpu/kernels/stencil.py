"""A 1-D stencil with a shared-memory tile and a halo: out[g] = sum of 2R+1 neighbours."""

from __future__ import annotations

from numba import cuda, float32


def make_stencil_1d(radius: int, block: int, barrier: bool = True):
    """The stencil kernel for a given radius and block size (both compile-time constants).

    ``kernel(inp, out)``: ``inp`` holds ``len(out) + 2 * radius`` elements (the input padded by
    ``radius`` on each side); ``out[g] = inp[g] + ... + inp[g + 2 * radius]``.
    Reference: ``numpy.convolve(inp, numpy.ones(2 * radius + 1), "valid")``.
    Memory contract: per thread 1 global read (plus 2 more for the first ``radius`` threads: the
    halo), 1 global write; shared tile of ``block + 2 * radius`` floats; 1 barrier. Launch with
    ``block`` threads per block and enough blocks to cover ``out``. ``barrier=False`` leaves out
    the barrier, to show what goes wrong without it.
    """
    R, B, SYNC = radius, block, barrier
    TILE_LEN = block + 2 * radius  # computed here: a shared array's shape must be a compile-time constant

    def stencil_1d(inp, out):
        temp = cuda.shared.array(TILE_LEN, float32)
        t = cuda.threadIdx.x
        g = cuda.blockIdx.x * cuda.blockDim.x + t  # this thread's output element
        if g + R < inp.size:
            temp[t + R] = inp[g + R]  # the centre of the tile
        if t < R and g < inp.size:  # a block past the end of `out` must not read past `inp`
            temp[t] = inp[g]  # left halo
            if g + B + R < inp.size:
                temp[t + B + R] = inp[g + B + R]  # right halo
        if SYNC:
            cuda.syncthreads()  # every thread's load must land before anyone reads the tile
        if g < out.size:
            acc = float32(0)  # not 0.0, which numba types as float64
            for k in range(2 * R + 1):
                acc += temp[t + k]
            out[g] = acc

    return stencil_1d


RADIUS, BLOCK = 3, 128
stencil_1d = cuda.jit(make_stencil_1d(RADIUS, BLOCK))
