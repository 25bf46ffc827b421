"""GPU measurements of notebook 02's "warps and memory" section: divergence and block size.

- :func:`time_divergence_sweep` times :func:`~coursekit.gpu.kernels.simt.heavy_branches` on data
  whose sign flips every ``L`` elements: warps run both paths while ``L < 32`` and one from
  ``L = 32`` on, so on a GPU the time per element falls by about 2x there (the cliff).
- :func:`time_block_sizes` times :func:`copy_stride`, a memory-bound grid-stride copy, over block
  sizes 32 to 1024 and reports the achieved bandwidth, with the registers and shared memory that
  numba-cuda's compiler gave the kernel (on a GPU) and the occupancy they imply
  (:mod:`coursekit.gpu.occupancy`).

Both check every result against numpy before timing it. Without a GPU they run on numba-cuda's
simulator (keep sizes tiny): the results are checked the same way, but the simulator has no warps
and runs one thread at a time, so its times mean nothing and must never be shown as GPU times.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from coursekit.gpu.kernels.simt import WARP_SIZE, heavy_branches, heavy_branches_reference

SEGMENT_LENGTHS = (1, 2, 4, 8, 16, 32, 64, 128)
BLOCK_SIZES = (32, 64, 128, 256, 512, 1024)


@cuda.jit
def copy_stride(x, out):
    """out[i] = x[i] for every i, by a grid-stride loop (any grid covers any n).

    Reference: ``x.copy()``. Memory contract: per thread ceil(n / threads in the grid) global reads
    and as many writes, coalesced at every step (thread t touches t, t + stride, ...); no shared
    memory, no barrier.
    """
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        out[i] = x[i]


def signs_every(n: int, segment_length: int, seed: int = 5) -> np.ndarray:
    """float32 array of ``n`` values with magnitudes in [0.5, 1.5) whose sign flips every
    ``segment_length`` elements (+ for the first run)."""
    magnitude = np.random.default_rng(seed).random(n) + 0.5
    sign = np.where((np.arange(n) // segment_length) % 2 == 0, 1.0, -1.0)
    return (magnitude * sign).astype(np.float32)


def paths_per_warp(x: np.ndarray) -> float:
    """Mean number of branch paths (1 or 2) the warps of 32 consecutive elements of ``x`` take in
    :func:`~coursekit.gpu.kernels.simt.heavy_branches` (``x > 0`` or not)."""
    positive = np.asarray(x) > 0
    pad = (-positive.size) % WARP_SIZE
    warps = np.concatenate([positive, np.repeat(positive[-1:], pad)]).reshape(-1, WARP_SIZE)
    return float(np.mean(1 + (warps.any(axis=1) & ~warps.all(axis=1))))


def time_divergence_sweep(
    n: int = 1 << 22,
    segment_lengths: tuple[int, ...] = SEGMENT_LENGTHS,
    work: int = 200,
    threads: int = 256,
    check: int = 4096,
    **options: Any,
) -> list[dict[str, float]]:
    """``heavy_branches`` on ``n`` elements whose sign flips every ``L`` elements, for each ``L``.

    One row per ``L``: ``segment_length``, ``paths_per_warp`` (from the data), ``median_s`` and
    ``iqr_s`` (seconds per launch) and ``ns_per_element`` (nanoseconds). Each launch's first
    ``check`` outputs (and a strided sample) are first compared with numpy. On a GPU the time per
    element halves from ``L = 32`` on; on the simulator the times mean nothing. ``options`` go to
    :func:`coursekit.perf.timing.benchmark` (default ``min_time=0.2``).
    """
    from coursekit.perf import timing

    options = {"min_time": 0.2, **options}
    d_out = cuda.device_array(n, np.float32)
    blocks = (n + threads - 1) // threads
    sample = np.unique(np.concatenate([np.arange(min(n, check)), np.linspace(0, n - 1, 256).astype(np.int64)]))
    rows = []
    for L in segment_lengths:
        x = signs_every(n, L)
        d_x = cuda.to_device(x)

        def launch(d_x=d_x):
            heavy_branches[blocks, threads](d_x, d_out, work)

        launch()
        got = d_out.copy_to_host()[sample]
        np.testing.assert_allclose(
            got, heavy_branches_reference(x[sample], work), atol=1e-3, err_msg=f"heavy_branches, L = {L}"
        )
        m = timing.benchmark(launch, device="cuda", **options)
        rows.append(
            {
                "segment_length": L,
                "paths_per_warp": paths_per_warp(x),
                "median_s": m.median,
                "iqr_s": m.iqr,
                "ns_per_element": m.median / n * 1e9,
            }
        )
    return rows


def kernel_resources(kernel: Any) -> dict[str, int | None]:
    """Registers per thread, shared and local memory (bytes) that numba-cuda's compiler gave a
    launched kernel (the largest over its compiled signatures), read from its dispatcher; all
    None on the simulator, which compiles nothing."""
    out: dict[str, int | None] = {}
    for key, method in (
        ("registers_per_thread", "get_regs_per_thread"),
        ("shared_bytes_per_block", "get_shared_mem_per_block"),
        ("local_bytes_per_thread", "get_local_mem_per_thread"),
        ("max_threads_per_block", "get_max_threads_per_block"),
    ):
        try:
            value = getattr(kernel, method)()
            values = list(value.values()) if isinstance(value, dict) else [value]
            out[key] = int(max(values)) if values else None
        except Exception:  # noqa: BLE001 - the simulator's kernels have no such methods
            out[key] = None
    return out


def time_block_sizes(
    n: int = 1 << 26,
    block_sizes: tuple[int, ...] = BLOCK_SIZES,
    **options: Any,
) -> dict[str, Any]:
    """``copy_stride`` of ``n`` float32 with one element per thread, for each block size.

    Returns ``n``, ``nbytes`` (bytes moved per launch: read + write), ``resources`` (see
    :func:`kernel_resources`; None on the simulator) and ``rows``: per block size
    ``threads_per_block``, ``blocks``, ``median_s``, ``iqr_s``, ``gbs`` (achieved GB/s = nbytes /
    median / 1e9) and, when the registers are known, the H100 rule of thumb's ``occupancy_pct``,
    ``blocks_per_sm`` and ``limited_by``. Each copy is first checked against numpy. ``options``
    go to :func:`coursekit.perf.timing.benchmark` (default ``min_time=0.2``).
    """
    from coursekit.gpu import occupancy as occ
    from coursekit.perf import timing

    options = {"min_time": 0.2, **options}
    x = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    d_x, d_out = cuda.to_device(x), cuda.device_array(n, np.float32)
    nbytes = 2 * x.nbytes
    rows: list[dict[str, Any]] = []
    for threads in block_sizes:
        blocks = (n + threads - 1) // threads

        def launch(blocks=blocks, threads=threads):
            copy_stride[blocks, threads](d_x, d_out)

        d_out.copy_to_device(np.zeros(n, np.float32))
        launch()
        np.testing.assert_array_equal(d_out.copy_to_host(), x, err_msg=f"copy_stride, {threads} threads per block")
        m = timing.benchmark(launch, device="cuda", **options)
        rows.append(
            {
                "threads_per_block": threads,
                "blocks": blocks,
                "median_s": m.median,
                "iqr_s": m.iqr,
                "gbs": nbytes / m.median / 1e9,
            }
        )
    resources = kernel_resources(copy_stride)
    regs = resources["registers_per_thread"]
    if regs is not None:
        for row in rows:
            o = occ.occupancy(row["threads_per_block"], regs, resources["shared_bytes_per_block"] or 0)
            row.update(
                occupancy_pct=100 * o.fraction, blocks_per_sm=o.blocks_per_sm, limited_by=" & ".join(o.limited_by)
            )
    return {"n": n, "nbytes": nbytes, "kernel": "copy_stride", "resources": resources, "rows": rows}
