"""Copy and transpose kernels for the "warps and memory" section: coalescing and bank conflicts.

``copy_2d`` and ``transpose_naive`` read row by row; ``transpose_naive`` writes column by column
(neighbouring threads 4 * rows bytes apart: uncoalesced). :func:`make_transpose_tiled` stages a
32 x 32 tile in shared memory so both global reads and writes are coalesced; without padding
(``pad=0``) its column reads of the tile hit one shared-memory bank 32 times (a 32-way bank
conflict), with ``pad=1`` (33 columns) each lane of a warp hits its own bank.
"""

from __future__ import annotations

from numba import cuda, float32

TILE = 32  # one warp's width
ROWS = 8  # threads per block in y: each thread moves TILE / ROWS elements of its tile column


@cuda.jit
def copy_2d(x, out):
    """out[r, c] = x[r, c], one thread per element.  Reference: ``x.copy()``.

    Memory contract: per thread 1 global read and 1 global write, both coalesced (x = column).
    """
    col, row = cuda.grid(2)
    if row < x.shape[0] and col < x.shape[1]:
        out[row, col] = x[row, col]


@cuda.jit
def transpose_naive(x, out):
    """out[c, r] = x[r, c], one thread per element.  Reference: ``x.T``.

    Memory contract: per thread 1 global read (coalesced) and 1 global write (uncoalesced:
    neighbouring threads write addresses a whole row of ``out`` apart).
    """
    col, row = cuda.grid(2)
    if row < x.shape[0] and col < x.shape[1]:
        out[col, row] = x[row, col]


def make_transpose_tiled(pad: int):
    """out = x.T through a TILE x (TILE + ``pad``) shared tile, blocks of (TILE, ROWS) threads.

    Reference: ``x.T``. Memory contract: per thread TILE / ROWS global reads and as many writes,
    all coalesced; the same numbers of shared writes and reads; 1 barrier. ``pad=1`` removes the
    bank conflicts of the column reads ``tile[tx, j]``.
    """
    T, R, COLS = TILE, ROWS, TILE + pad

    def transpose_tiled(x, out):
        tile = cuda.shared.array((T, COLS), float32)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        bx, by = cuda.blockIdx.x * T, cuda.blockIdx.y * T
        for j in range(ty, T, R):
            if by + j < x.shape[0] and bx + tx < x.shape[1]:
                tile[j, tx] = x[by + j, bx + tx]  # a warp reads one row of x: coalesced
        cuda.syncthreads()
        for j in range(ty, T, R):
            if bx + j < out.shape[0] and by + tx < out.shape[1]:
                out[bx + j, by + tx] = tile[tx, j]  # a warp reads a tile column, writes a row of out

    return transpose_tiled


transpose_tiled = cuda.jit(make_transpose_tiled(0))
transpose_padded = cuda.jit(make_transpose_tiled(1))


def time_on_gpu(n: int = 4096, **options) -> dict[str, float]:
    """Median seconds of copy_2d, transpose_naive, transpose_tiled (32-way bank conflicts) and
    transpose_padded on an ``n x n`` float32 matrix, each result first checked against numpy, and
    the effective bandwidth (2 n^2 4 bytes / time, ``*_gbs``) of each. For the GPU recording script
    and notebook 02; without a GPU it runs on the simulator (keep ``n`` small; times mean nothing).
    ``options`` go to :func:`coursekit.perf.timing.benchmark` (default ``min_time=0.2``).
    """
    import numpy as np

    from coursekit.perf import timing

    options = {"min_time": 0.2, **options}
    x = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    d_x, d_out = cuda.to_device(x), cuda.device_array((n, n), np.float32)
    out: dict[str, float] = {"n": n}
    cases = {
        "copy": (copy_2d, (TILE, ROWS * 4), x),
        "naive": (transpose_naive, (TILE, ROWS * 4), x.T),
        "tiled": (transpose_tiled, (TILE, ROWS), x.T),
        "padded": (transpose_padded, (TILE, ROWS), x.T),
    }
    for name, (kernel, block, expected) in cases.items():
        per_block = (TILE, TILE) if block == (TILE, ROWS) else block
        grid = ((n + per_block[0] - 1) // per_block[0], (n + per_block[1] - 1) // per_block[1])

        def launch(kernel=kernel, grid=grid, block=block):
            kernel[grid, block](d_x, d_out)

        launch()
        np.testing.assert_array_equal(d_out.copy_to_host(), expected, err_msg=name)
        out[f"{name}_s"] = timing.benchmark(launch, device="cuda", **options).median
        out[f"{name}_gbs"] = 2 * n * n * 4 / out[f"{name}_s"] / 1e9
    return out
