"""The 32 x 32 tiled transposes that notebook 02 writes after its exercises, for the GPU recording
(``record_reference.transpose_kernels``). They are not in the shipped package: a tiled transpose
is the answer to the notebook's Exercise 2.3. Import this module only after ``ck.setup()`` (or
:mod:`coursekit.gpu.sim_switch`) has chosen between the GPU and the simulator: it imports numba."""

from __future__ import annotations

from numba import cuda, float32


def transpose_tile32(x, out):
    """out = x.T through a 32 x 32 shared tile, blocks of (32, 8) threads (32-way bank conflicts)."""
    tile = cuda.shared.array((32, 32), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * 32, cuda.blockIdx.y * 32
    for j in range(ty, 32, 8):
        if by + j < x.shape[0] and bx + tx < x.shape[1]:
            tile[j, tx] = x[by + j, bx + tx]
    cuda.syncthreads()
    for j in range(ty, 32, 8):
        if bx + j < out.shape[0] and by + tx < out.shape[1]:
            out[bx + j, by + tx] = tile[tx, j]


def transpose_padded(x, out):
    """``transpose_tile32`` with tile rows padded to 33 floats: no bank conflict."""
    tile = cuda.shared.array((32, 33), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * 32, cuda.blockIdx.y * 32
    for j in range(ty, 32, 8):
        if by + j < x.shape[0] and bx + tx < x.shape[1]:
            tile[j, tx] = x[by + j, bx + tx]
    cuda.syncthreads()
    for j in range(ty, 32, 8):
        if bx + j < out.shape[0] and by + tx < out.shape[1]:
            out[bx + j, by + tx] = tile[tx, j]


def compiled() -> dict:
    """``{"tiled": ..., "padded": ...}`` compiled with ``cuda.jit``, for ``transpose.time_on_gpu``."""
    return {"tiled": cuda.jit(transpose_tile32), "padded": cuda.jit(transpose_padded)}
