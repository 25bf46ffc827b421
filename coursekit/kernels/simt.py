"""SIMT kernels of notebook 01: one thread per element, and what warps do with branches."""

from __future__ import annotations

import math

from numba import cuda

from . import _device  # noqa: F401  (importing the package switched the simulator on first)

WARP_SIZE = 32


@cuda.jit
def relu(x, out):
    """out[i] = max(x[i], 0).  Reference: ``numpy.maximum(x, 0)``.

    Memory contract: per thread 1 global read and 1 global write; no shared memory, no barrier.
    """
    i = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    if i < x.size:
        out[i] = max(x[i], 0.0)


@cuda.jit
def branch_record(x, branch):
    """branch[i] = 1 where x[i] > 0 else 2: which path each thread took.

    Reference: ``numpy.where(x > 0, 1, 2)``. Memory contract: per thread 1 global read and 1
    global write; no shared memory, no barrier. Threads of one warp that disagree make the warp
    run both paths, one after the other, each with the other lanes masked off.
    """
    i = cuda.grid(1)
    if i < x.size:
        if x[i] > 0:
            branch[i] = 1
        else:
            branch[i] = 2


@cuda.jit
def heavy_branches(x, out, work):
    """Two expensive paths chosen per element: out[i] = f(x[i]) if x[i] > 0 else g(x[i]).

    Reference (loop of ``work`` steps): f iterates ``v = sin(v) + 1``, g iterates
    ``v = cos(v) - 1``, both starting at ``x[i]``. Memory contract: per thread 1 global read and
    1 global write; no shared memory, no barrier. Timing it on data where each warp agrees
    (sorted signs) against data where lanes alternate shows the cost of divergence on a GPU.
    """
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        if v > 0:
            for _ in range(work):
                v = math.sin(v) + 1.0
        else:
            for _ in range(work):
                v = math.cos(v) - 1.0
        out[i] = v
