"""SIMT kernels of notebook 01: one thread per element, and what warps do with branches."""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32

WARP_SIZE = 32


@cuda.jit
def relu(x, out):
    """out[i] = max(x[i], 0).  Reference: ``numpy.maximum(x, 0)``.

    Memory contract: per thread 1 global read and 1 global write; no shared memory, no barrier.
    """
    i = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    if i < x.size:
        out[i] = max(x[i], float32(0))  # max(x[i], 0.0) would be float64


@cuda.jit
def branch_record(x, branch):
    """branch[i] = 1 where x[i] > 0 else 2: which path each thread took.

    Reference: ``numpy.where(x > 0, 1, 2)``. Memory contract: per thread 1 global read and 1
    global write; no shared memory, no barrier. Threads of one warp that disagree make the warp
    run both paths, one after the other, each with the other lanes masked off.
    """
    i = cuda.grid(1)
    if i < x.size:
        if x[i] > float32(0):  # x[i] > 0 would compare in float64
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
        if v > float32(0):
            for _ in range(work):
                v = math.sin(v) + float32(1)  # + 1.0 would turn v into a float64
        else:
            for _ in range(work):
                v = math.cos(v) - float32(1)
        out[i] = v


def heavy_branches_reference(x: np.ndarray, work: int) -> np.ndarray:
    """float64 numpy version of :func:`heavy_branches`: ``work`` steps of ``sin(v) + 1`` where
    ``x > 0``, else of ``cos(v) - 1``, from ``v = x``."""
    v = np.asarray(x, dtype=np.float64)
    positive = v > 0
    for _ in range(work):
        v = np.where(positive, np.sin(v) + 1, np.cos(v) - 1)
    return v


def divergence_data(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 inputs of ``n`` (even) elements with the same magnitudes: ``agree`` sorted, so
    every warp but one takes a single branch, and ``alternate``, whose signs alternate lane by lane,
    so every warp takes both."""
    agree = np.sort(np.random.default_rng(seed).standard_normal(n)).astype(np.float32)
    alternate = (np.abs(agree) * np.tile(np.array([1, -1], np.float32), n // 2)).astype(np.float32)
    return agree, alternate


def time_divergence(n: int = 1 << 22, work: int = 200, threads: int = 256, **options) -> dict[str, float]:
    """Median seconds (and IQR) of ``heavy_branches`` on data whose warps agree and on data whose
    lanes alternate, and their ratio; each result is first checked against numpy (float64).

    On a GPU the ratio is the cost of divergence (about 2: both paths run). On the simulator,
    which runs one thread at a time and has no warps, it only shows that the code runs.
    ``options`` go to :func:`coursekit.perf.timing.benchmark` (default ``min_time=0.3``).
    """
    from coursekit.perf import timing

    options = {"min_time": 0.3, **options}
    agree, alternate = divergence_data(n)
    d_out = cuda.device_array(n, np.float32)
    blocks = (n + threads - 1) // threads
    out: dict[str, float] = {"n": n, "work": work}
    for name, data in (("agree", agree), ("alternate", alternate)):
        d_in = cuda.to_device(data)

        def launch(d_in=d_in):
            heavy_branches[blocks, threads](d_in, d_out, work)

        launch()
        check = slice(0, min(n, 512))
        expected = heavy_branches_reference(data[check], work)
        np.testing.assert_allclose(d_out.copy_to_host()[check], expected, atol=1e-3, err_msg=f"heavy_branches ({name})")
        m = timing.benchmark(launch, device="cuda", **options)
        out[f"{name}_s"], out[f"{name}_iqr_s"] = m.median, m.iqr
    out["ratio"] = out["alternate_s"] / out["agree_s"]
    return out
