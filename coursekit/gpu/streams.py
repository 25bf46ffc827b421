"""Host <-> device copies: pageable vs pinned memory, and copies overlapped with kernels on streams.

A copy from ordinary (*pageable*) host memory goes through a page-locked staging buffer of the
driver, chunk by chunk; from *pinned* (page-locked) memory, ``cuda.pinned_array``, the GPU's copy
engines read it directly (DMA), faster, and asynchronously: the host can queue a copy, a kernel
and the next copy on different **streams** (``cuda.stream()``), and the GPU runs a copy of one
chunk while it computes on another. :func:`transfer_rates` times the copies; :func:`time_overlap`
runs the chunked pipeline "copy in, :func:`fma_chain`, copy out" on one stream and on several.

numba-cuda's simulator accepts all of it — ``cuda.stream()``, ``cuda.pinned_array`` (a plain
numpy array there), ``stream=`` in ``copy_to_device``/``copy_to_host`` and launches
``kernel[grid, block, stream]`` — but runs everything synchronously, so nothing overlaps; its
``cuda.event()`` takes no ``timing=`` argument and its ``elapsed_time`` returns -1. These
functions therefore time with :func:`coursekit.perf.timing.benchmark` (CUDA events on a GPU, the wall
clock on the simulator), check every result against numpy, and on the simulator only prove that
the code runs: its times mean nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.gpu import sim_switch
from coursekit.perf import timing

sim_switch.require("coursekit.gpu.streams")  # decided before numba is imported (ck.setup())

from numba import cuda, float32  # noqa: E402

THREADS = 256
A, B = 0.999, 0.001  # fma_chain's constants: |v| stays bounded whatever the number of steps


@cuda.jit
def fma_chain(x, out, work):
    """out[i] = v after ``work`` steps of v = v * 0.999 + 0.001 from v = x[i] (a kernel whose cost
    is set by ``work``, to match the copies').

    Reference: ``fma_chain_reference(x, work)`` (numpy, float32, the same steps). Memory contract:
    per thread 1 global read and 1 global write; no shared memory, no barrier.
    """
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        for _ in range(work):
            v = v * float32(A) + float32(B)  # float32 constants: 0.999 alone would be float64
        out[i] = v


def fma_chain_reference(x: np.ndarray, work: int) -> np.ndarray:
    """numpy (float32) version of :func:`fma_chain`."""
    v = np.asarray(x, dtype=np.float32).copy()
    for _ in range(work):
        v = v * np.float32(A) + np.float32(B)
    return v


def transfer_rates(nbytes: int = 1 << 28, **options: Any) -> dict[str, float]:
    """GB/s (1e9 bytes/s) of host->device and device->host copies of ``nbytes`` from pageable
    (``numpy.empty``) and pinned (``cuda.pinned_array``) host memory, into a device array allocated
    once: keys ``h2d_pageable_gbs``, ``h2d_pinned_gbs``, ``d2h_pageable_gbs``, ``d2h_pinned_gbs``
    and ``nbytes``. ``options`` go to :func:`coursekit.perf.timing.benchmark` (default ``min_time=0.2``).
    """
    options = {"min_time": 0.2, **options}
    n = nbytes // 4
    data = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    pageable = data.copy()
    pinned = cuda.pinned_array(n, np.float32)
    pinned[:] = data
    d = cuda.device_array(n, np.float32)
    out: dict[str, float] = {"nbytes": n * 4}
    for name, host in (("pageable", pageable), ("pinned", pinned)):
        h2d = timing.benchmark(d.copy_to_device, host, device="cuda", **options)
        np.testing.assert_array_equal(d.copy_to_host(), data, err_msg=f"host->device from {name} memory")
        host[:] = 0
        d2h = timing.benchmark(d.copy_to_host, host, device="cuda", **options)
        np.testing.assert_array_equal(host, data, err_msg=f"device->host into {name} memory")
        out[f"h2d_{name}_gbs"] = n * 4 / h2d.median / 1e9
        out[f"d2h_{name}_gbs"] = n * 4 / d2h.median / 1e9
    out["pinned_over_pageable_h2d"] = out["h2d_pinned_gbs"] / out["h2d_pageable_gbs"]
    return out


def run_pipeline(h_in, h_out, buffers, streams, chunks: int, work: int, threads: int = THREADS) -> None:
    """Queue the pipeline and wait for it: chunk ``k`` of ``h_in`` is copied into the device
    buffers of stream ``k % len(streams)``, ``fma_chain`` runs on it there, and its result is
    copied back into ``h_out``, all on that stream; then every stream is synchronised. With one
    stream everything runs in order; with several, one chunk's copies overlap another's kernel
    (on a GPU, with pinned ``h_in``/``h_out``)."""
    bounds = [int(b) for b in np.linspace(0, h_in.size, chunks + 1)]
    for k in range(chunks):
        lo, hi = bounds[k], bounds[k + 1]
        s = k % len(streams)
        stream, (d_in, d_out) = streams[s], buffers[s]
        d_in, d_out = d_in[: hi - lo], d_out[: hi - lo]
        d_in.copy_to_device(h_in[lo:hi], stream=stream)
        fma_chain[(hi - lo + threads - 1) // threads, threads, stream](d_in, d_out, work)
        d_out.copy_to_host(h_out[lo:hi], stream=stream)
    for stream in streams:
        stream.synchronize()


def time_overlap(
    n: int = 1 << 26,
    chunks: int = 16,
    n_streams: int = 4,
    work: int = 1000,
    check: int = 4096,
    **options: Any,
) -> dict[str, Any]:
    """End-to-end seconds of the chunked pipeline (see :func:`run_pipeline`) on ``n`` float32 in
    pinned memory: on one stream (``serial_s``) and spread over ``n_streams`` (``overlapped_s``),
    their ratio ``speedup``, and the stages on their own, whole array, one stream (``h2d_s``,
    ``kernel_s``, ``d2h_s``): perfect overlap would bring the pipeline near the longest stage.
    Both pipelines' outputs are first compared with numpy on a sample of ``check`` elements.
    ``options`` go to :func:`coursekit.perf.timing.benchmark` (default ``min_time=0.3``).
    """
    options = {"min_time": 0.3, **options}
    x = np.random.default_rng(4).standard_normal(n).astype(np.float32)
    h_in, h_out = cuda.pinned_array(n, np.float32), cuda.pinned_array(n, np.float32)
    h_in[:] = x
    size = -(-n // chunks)  # the largest chunk
    sample = np.unique(np.linspace(0, n - 1, min(n, check)).astype(np.int64))
    expected = fma_chain_reference(x[sample], work)
    result: dict[str, Any] = {"n": n, "nbytes": 2 * n * 4, "chunks": chunks, "n_streams": n_streams, "work": work}
    for key, count in (("serial_s", 1), ("overlapped_s", n_streams)):
        streams = [cuda.stream() for _ in range(count)]
        buffers = [(cuda.device_array(size, np.float32), cuda.device_array(size, np.float32)) for _ in streams]

        def run(streams=streams, buffers=buffers):
            run_pipeline(h_in, h_out, buffers, streams, chunks, work)

        h_out[:] = np.nan
        run()
        np.testing.assert_allclose(
            h_out[sample], expected, rtol=1e-4, atol=1e-5, err_msg=f"pipeline on {count} stream(s)"
        )
        m = timing.benchmark(run, device="cuda", **options)
        result[key], result[key.replace("_s", "_iqr_s")] = m.median, m.iqr
    result["speedup"] = result["serial_s"] / result["overlapped_s"]
    d_in, d_out = cuda.device_array(n, np.float32), cuda.device_array(n, np.float32)
    blocks = (n + THREADS - 1) // THREADS
    stages = {
        "h2d_s": (d_in.copy_to_device, h_in),
        "kernel_s": (lambda: fma_chain[blocks, THREADS](d_in, d_out, work),),
        "d2h_s": (d_out.copy_to_host, h_out),
    }
    for key, (fn, *args) in stages.items():
        result[key] = timing.benchmark(fn, *args, device="cuda", **options).median
    result["longest_stage_s"] = max(result["h2d_s"], result["kernel_s"], result["d2h_s"])
    return result


def measure(
    n: int = 1 << 26,
    nbytes: int = 1 << 28,
    chunks: int = 16,
    n_streams: int = 4,
    work: int = 1000,
    **options: Any,
) -> dict[str, Any]:
    """Both measurements in one dict, as the GPU recording and notebook 02 use them:
    :func:`transfer_rates` of ``nbytes`` (``h2d_pageable_gbs``, ``h2d_pinned_gbs``, ... and
    ``transfer_nbytes``) and :func:`time_overlap` of ``n`` float32 (``serial_s``,
    ``overlapped_s``, ``speedup``, ``n_streams``, ``nbytes``, the stages' seconds, ...)."""
    rates = transfer_rates(nbytes, **options)
    rates["transfer_nbytes"] = rates.pop("nbytes")
    return {**rates, **time_overlap(n, chunks=chunks, n_streams=n_streams, work=work, **options)}
