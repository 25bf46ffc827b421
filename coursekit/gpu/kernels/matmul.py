"""Matrix multiply: one thread per output element, naive and with shared-memory tiles."""

from __future__ import annotations

from numba import cuda, float32


@cuda.jit
def matmul_naive(A, B, C):
    """C = A @ B, one thread per element of C.  Reference: ``numpy.matmul(A, B)``.

    Memory contract: per thread 2k global reads (a row of A, a column of B) and 1 global write;
    no shared memory, no barrier. Launch a 2-D grid covering C's shape (rows = y, columns = x).
    """
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0)  # not 0.0: a bare 0.0 is float64 in numba, and so would be every += below
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
        acc = float32(0)  # float32 accumulator: 0.0 would make the whole sum float64
        for step in range((A.shape[1] + T - 1) // T):
            k_a = step * T + tx  # column of A this thread loads
            k_b = step * T + ty  # row of B this thread loads
            sA[ty, tx] = A[row, k_a] if (row < A.shape[0] and k_a < A.shape[1]) else float32(0)
            sB[ty, tx] = B[k_b, col] if (k_b < B.shape[0] and col < B.shape[1]) else float32(0)
            cuda.syncthreads()  # the tiles are complete
            for k in range(T):
                acc += sA[ty, k] * sB[k, tx]
            cuda.syncthreads()  # everyone is done with the tiles before they are overwritten
        if row < C.shape[0] and col < C.shape[1]:
            C[row, col] = acc

    return matmul_tiled


TILE = 16
matmul_tiled = cuda.jit(make_matmul_tiled(TILE))


def time_on_gpu(n: int = 2048, **options) -> dict[str, float | str]:
    """Median seconds per call of ``n x n`` float32 matmul: the naive kernel, the tiled kernel
    (TILE x TILE blocks) and cuBLAS (through ``torch.matmul``), each result first checked against
    cuBLAS's (``*_rel_error``: relative Frobenius error, about 1e-6 in float32).

    Needs a CUDA GPU and a CUDA build of torch. Without a GPU the same code runs the kernels on the
    simulator and torch.matmul on the CPU (``library`` says which): that checks the wiring at tiny
    sizes, and its times mean nothing for a GPU. ``options`` go to :func:`coursekit.perf.timing.benchmark`
    (default ``min_time=0.2``).
    """
    import numpy as np
    import torch

    from coursekit.gpu import sim_switch
    from coursekit.machine import device
    from coursekit.perf import timing

    on_gpu = device.gpu_available() and not sim_switch.enabled()
    options = {"min_time": 0.2, **options}
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    A, B = cuda.to_device(a), cuda.to_device(b)
    C = cuda.device_array((n, n), np.float32)
    grid = ((n + TILE - 1) // TILE, (n + TILE - 1) // TILE)
    if on_gpu:
        At, Bt = torch.as_tensor(A, device="cuda"), torch.as_tensor(B, device="cuda")  # no copy
        library = "cuBLAS (torch.matmul)"
    else:
        At, Bt = torch.from_numpy(a), torch.from_numpy(b)
        library = "torch.matmul on the CPU (no GPU: simulator dry run)"
    reference = torch.matmul(At, Bt).cpu().numpy().astype(np.float64)
    out: dict[str, float | str] = {"n": n, "library": library}
    for name, kernel in (("naive", matmul_naive), ("tiled", matmul_tiled)):

        def launch(kernel=kernel):
            kernel[grid, (TILE, TILE)](A, B, C)

        launch()
        got = C.copy_to_host().astype(np.float64)
        out[f"{name}_rel_error"] = float(np.linalg.norm(got - reference) / np.linalg.norm(reference))
        out[f"{name}_s"] = timing.benchmark(launch, device="cuda", **options).median
    out["cublas_s"] = timing.benchmark(torch.matmul, At, Bt, device="cuda" if on_gpu else "cpu", **options).median
    return out
