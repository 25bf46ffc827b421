"""How fast one core reads memory, against the size of the data: the cache plateaus of a machine.

:func:`sweep` times a compiled loop (numba) that sums a float32 array of ``size`` bytes many times
over, so the interpreter's per-call cost does not hide the small sizes. While the array fits in
the L1 data cache the rate is highest; it drops to a plateau per level (L1, L2, the last-level
cache) and to the DRAM rate once the array is far larger than the last cache.
:func:`cache_sizes` reads this machine's cache sizes from Linux's sysfs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from coursekit.machine import caches


def cache_sizes() -> dict[str, int]:
    """Data/unified cache sizes of CPU 0 in bytes, e.g. ``{"L1d": 32768, "L2": 1048576, "L3": ...}``
    (empty where sysfs does not say; read by :func:`coursekit.machine.caches.caches`)."""
    return {cache.name: cache.nbytes for cache in caches.caches([0])}


def _kernel():
    import numba

    @numba.njit(fastmath=True, cache=False)
    def sum_repeated(a, repeats):  # fastmath lets LLVM vectorise the float reduction
        acc = np.float32(0)
        for _ in range(repeats):
            for i in range(a.size):
                acc += a[i]
        return acc

    return sum_repeated


_COMPILED = None


def sweep(sizes_bytes: Sequence[int], bytes_per_call: float = 64 * 2**20, samples: int = 3) -> pd.DataFrame:
    """Read rate (bytes/s) of one core summing float32 arrays of each size in ``sizes_bytes``.

    Each call reads about ``bytes_per_call`` bytes (the array, repeated); the best of ``samples``
    calls is kept (the least disturbed by other programs). Returns a frame with ``bytes``,
    ``repeats``, ``seconds`` and ``bytes_per_s``.
    """
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = _kernel()
        _COMPILED(np.ones(16, np.float32), 1)  # compile once
    rows = []
    for size in sizes_bytes:
        a = np.ones(max(16, int(size) // 4), dtype=np.float32)
        repeats = max(1, int(bytes_per_call // a.nbytes))
        _COMPILED(a, 1)  # bring it into the caches (and fault the pages in)
        best = np.inf
        for _ in range(samples):
            start = time.perf_counter()
            total = _COMPILED(a, repeats)
            best = min(best, time.perf_counter() - start)
        if total != np.float32(a.size) * repeats and total < 0:  # keeps the result alive; never true
            raise RuntimeError("unexpected sum")
        rows.append({"bytes": a.nbytes, "repeats": repeats, "seconds": best, "bytes_per_s": a.nbytes * repeats / best})
        del a
    return pd.DataFrame(rows)


def plateau(frame: pd.DataFrame, low: float, high: float) -> float:
    """Median rate (bytes/s) of the sizes in ``[low, high)`` bytes (NaN if none)."""
    inside = frame[(frame["bytes"] >= low) & (frame["bytes"] < high)]
    return float(inside["bytes_per_s"].median()) if len(inside) else float("nan")
