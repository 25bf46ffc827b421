"""Copy and transpose kernels for the "warps and memory" section: coalescing.

``copy_2d`` and ``transpose_naive`` read row by row; ``transpose_naive`` writes column by column
(neighbouring threads 4 * rows bytes apart: uncoalesced). The tiled transposes, which stage a tile
in shared memory so that both reads and writes are coalesced, are not here: they are notebook 02's
exercises, and the notebook writes its own after them. :func:`time_on_gpu` times whichever tiled
kernels it is given next to these two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from numba import cuda

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


def time_on_gpu(n: int = 4096, tiled: Mapping[str, Callable] | None = None, **options) -> dict[str, float]:
    """Median seconds of copy_2d, transpose_naive and each kernel of ``tiled`` (name -> a compiled
    transpose launched with blocks of (TILE, ROWS) threads, one TILE x TILE tile per block) on an
    ``n x n`` float32 matrix, each result first checked against numpy, and the effective bandwidth
    (2 n^2 4 bytes / time, ``<name>_gbs``) of each. For the GPU recording script and notebook 02;
    without a GPU it runs on the simulator (keep ``n`` small; times mean nothing). ``options`` go
    to :func:`coursekit.perf.timing.benchmark` (default ``min_time=0.2``).
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
        **{name: (kernel, (TILE, ROWS), x.T) for name, kernel in (tiled or {}).items()},
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
