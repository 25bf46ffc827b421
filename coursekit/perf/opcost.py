"""What one elementwise operation costs on this machine: elements per second from cache.

A roofline counts FLOPs, and counting ``exp`` or ``tanh`` as one FLOP hides what they cost: a
float32 ``tanh`` is a few dozen instructions (a polynomial or rational approximation after range
reduction), not one. :func:`elementwise_rates` measures each operation's throughput on an array
small enough to stay in the L1/L2 cache, so memory does not limit it; what remains is the cost of
the arithmetic itself, on the threads in effect (numpy's ufuncs run on one thread).

:func:`serial_rate` turns several steps into the rate of a loop that does them one after the other,
and :func:`flop_equivalent` expresses a rate in FLOPs of a compute roof (how many FLOPs of a GEMM
one element of the operation costs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from coursekit.perf import compare

# 128 KiB of float32: with the output, within the L2 cache of the CPUs the course meets, and large
# enough that numpy's call overhead (about a microsecond) is a few % of a call
CACHE_RESIDENT_ELEMENTS = 32768


def elementwise_rates(
    fns: Mapping[str, Callable[[np.ndarray], Any]],
    n: int = CACHE_RESIDENT_ELEMENTS,
    dtype: Any = "float32",
    low: float = 0.1,
    high: float = 4.0,
    min_time: float = 0.1,
    max_time: float = 2.0,
) -> dict[str, float]:
    """Elements per second of each ``fns[name](x)`` on one cache-resident array ``x`` of ``n``
    elements of ``dtype``, uniform in ``[low, high)`` (positive: ``log`` is defined).

    The functions are timed in interleaved rounds (:func:`coursekit.perf.compare.interleaved`) and
    each rate is ``n / best time per call``: the best sample is the machine's cost of the operation,
    the others add interruptions. Returns ``{name: elements/s}``.
    """
    x = np.random.default_rng(0).uniform(low, high, n).astype(dtype)
    ms = compare.interleaved(
        {name: (lambda f=f: f(x)) for name, f in fns.items()}, check=False, min_time=min_time, max_time=max_time
    )
    return {m.label: n / m.best for m in ms}


def serial_rate(rates: Iterable[float]) -> float:
    """Elements per second of a loop doing steps of these ``rates`` (elements/s) one after the other:
    ``1 / sum(1 / r)``. ``inf`` for no steps."""
    inverse = sum(1.0 / r for r in rates)
    return float("inf") if inverse == 0 else 1.0 / inverse


def flop_equivalent(rate: float, flop_per_s: float) -> float:
    """FLOPs of a roof of ``flop_per_s`` (FLOP/s) that one element at ``rate`` (elements/s) costs in
    time: ``flop_per_s / rate``."""
    return flop_per_s / rate
