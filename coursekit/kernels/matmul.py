"""Matrix multiply: one thread per output element, naive and with shared-memory tiles."""

from __future__ import annotations

from numba import cuda, float32

from . import _device  # noqa: F401  (importing the package switched the simulator on first)


@cuda.jit
def matmul_naive(A, B, C):
    """C = A @ B, one thread per element of C.  Reference: ``numpy.matmul(A, B)``.

    Memory contract: per thread 2k global reads (a row of A, a column of B) and 1 global write;
    no shared memory, no barrier. Launch a 2-D grid covering C's shape (rows = y, columns = x).
    """
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = 0.0
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


def make_matmul_tiled(tile: int):
    """C = A @ B with ``tile x tile`` blocks staging tiles of A and B in shared memory.

    Reference: ``numpy.matmul(A, B)``. Memory contract: per thread 2 * ceil(k / tile) global reads
    (one element of each tile), 1 global write; shared memory 2 * tile^2 floats; 2 barriers per
    tile step. Each loaded number is reused ``tile`` times from shared memory, which raises the
    kernel's arithmetic intensity by that factor. Launch with (tile, tile) threads per block.
    """
    T = tile

    def matmul_tiled(A, B, C):
        sA = cuda.shared.array((T, T), float32)
        sB = cuda.shared.array((T, T), float32)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        col, row = cuda.grid(2)
        acc = 0.0
        for step in range((A.shape[1] + T - 1) // T):
            k_a = step * T + tx  # column of A this thread loads
            k_b = step * T + ty  # row of B this thread loads
            sA[ty, tx] = A[row, k_a] if (row < A.shape[0] and k_a < A.shape[1]) else 0.0
            sB[ty, tx] = B[k_b, col] if (k_b < B.shape[0] and col < B.shape[1]) else 0.0
            cuda.syncthreads()  # the tiles are complete
            for k in range(T):
                acc += sA[ty, k] * sB[k, tx]
            cuda.syncthreads()  # everyone is done with the tiles before they are overwritten
        if row < C.shape[0] and col < C.shape[1]:
            C[row, col] = acc

    return matmul_tiled


TILE = 16
matmul_tiled = cuda.jit(make_matmul_tiled(TILE))


def time_on_gpu(n: int = 2048) -> dict[str, float]:
    """Median seconds per call of ``n x n`` float32 matmul on the GPU: the naive kernel, the tiled
    kernel (TILE x TILE blocks) and cuBLAS (through ``torch.matmul``). Needs a CUDA GPU and torch."""
    import numpy as np
    import torch

    from .. import timing

    rng = np.random.default_rng(0)
    A = cuda.to_device(rng.standard_normal((n, n)).astype(np.float32))
    B = cuda.to_device(rng.standard_normal((n, n)).astype(np.float32))
    C = cuda.device_array((n, n), np.float32)
    grid = ((n + TILE - 1) // TILE, (n + TILE - 1) // TILE)
    naive = timing.benchmark(lambda: matmul_naive[grid, (TILE, TILE)](A, B, C), device="cuda").median
    tiled = timing.benchmark(lambda: matmul_tiled[grid, (TILE, TILE)](A, B, C), device="cuda").median
    At, Bt = torch.as_tensor(A, device="cuda"), torch.as_tensor(B, device="cuda")
    cublas = timing.benchmark(torch.matmul, At, Bt, device="cuda").median
    return {"n": n, "naive_s": naive, "tiled_s": tiled, "cublas_s": cublas}
