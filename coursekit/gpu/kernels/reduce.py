"""Sum reductions: every thread adds into one cell with an atomic, or a shared-memory tree."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import cuda, float32


@cuda.jit
def atomic_sum(x, total):
    """total[0] += x[i] for every i, with an atomic add.  Reference: ``x.sum()``.

    Memory contract: per thread 1 global read and 1 atomic read-modify-write of ``total[0]``
    (all threads contend for that one address); no shared memory, no barrier. ``total`` must be
    zeroed before the launch.
    """
    i = cuda.grid(1)
    if i < x.size:
        cuda.atomic.add(total, 0, x[i])


def make_tree_sum(block: int):
    """Per-block sums by a tree in shared memory: ``partial[b] = sum of block b's elements``.

    Reference: ``numpy.add.reduceat(x, range(0, x.size, block))``. Memory contract: per thread 1
    global read; thread 0 writes 1 partial sum; shared array of ``block`` floats; log2(block) + 1
    barriers. ``block`` must be a power of two. Sum ``partial`` (one number per block) on the host
    or with a second launch.
    """
    B = block
    if B & (B - 1):
        raise ValueError("block must be a power of two")

    def tree_sum(x, partial):
        cache = cuda.shared.array(B, float32)
        t = cuda.threadIdx.x
        i = cuda.blockIdx.x * cuda.blockDim.x + t
        cache[t] = x[i] if i < x.size else float32(0)  # threads past the end add nothing
        cuda.syncthreads()
        stride = B // 2
        while stride > 0:
            if t < stride:
                cache[t] += cache[t + stride]
            cuda.syncthreads()  # a level must finish before the next reads it
            stride //= 2
        if t == 0:
            partial[cuda.blockIdx.x] = cache[0]

    return tree_sum


tree_sum = cuda.jit(make_tree_sum(128))


class SumErrorBound(NamedTuple):
    """A bound on the rounding error of a float sum and the chance that the bound fails."""

    error: float  # largest |computed - exact| the bound allows (units of the data)
    failure_probability: float  # upper bound on P(|error| > error), under the model's assumption
    lam: float  # the bound's lambda: how many "standard deviations" of the random walk it allows


def sum_error_bound(x: np.ndarray, lam: float = 8.0) -> SumErrorBound:
    """Higham and Mary's probabilistic bound on the error of summing ``x`` in its own precision,
    in any order (one by one, atomics, pairwise, a tree).

    Each of the ``n`` terms passes through at most ``n - 1`` roundings, each of relative size at
    most ``u`` (unit roundoff, ``eps / 2``). If those rounding errors are independent random
    variables of mean zero (the model's assumption), then ``|computed - exact| <= g * sum|x|`` with
    ``g = exp(lam * sqrt(n) * u + n * u**2 / (1 - u)) - 1`` (about ``lam * sqrt(n) * u``) for one
    term with probability at least ``1 - 2 exp(-lam**2 (1 - u)**2 / 2)``; for all ``n`` terms at once
    (a union bound) the failure probability is at most ``n`` times that: ``2 n exp(...)``. Source:
    N. J. Higham and T. Mary, "A new approach to probabilistic rounding error analysis", SIAM J.
    Sci. Comput. 41(5), 2019 (their bound for inner products; a sum is an inner product with ones).

    >>> b = sum_error_bound(np.ones(600, np.float32))
    >>> f"{b.error / 600:.2e}", f"{b.failure_probability:.1e}"
    ('1.17e-05', '1.5e-11')
    """
    n = x.size
    u = float(np.finfo(x.dtype).eps) / 2
    gamma = math.expm1(lam * math.sqrt(n) * u + n * u * u / (1 - u))
    magnitude = float(np.abs(x.astype(np.float64)).sum())
    failure = min(1.0, 2 * n * math.exp(-(lam**2) * (1 - u) ** 2 / 2))
    return SumErrorBound(gamma * magnitude, failure, lam)


def time_on_gpu(n: int = 1 << 24, block: int = 128, **options) -> dict[str, float]:
    """Median seconds of summing ``n`` float32 numbers (uniform in [0, 1)) with ``atomic_sum`` and
    with ``tree_sum`` (plus the host's sum of the per-block partials), and each result's error
    against the float64 sum (``*_error``), for the GPU recording script and notebook 02.

    On a GPU the atomic sum is the contended one. Without a GPU the same code runs on the
    simulator (keep ``n`` small): it checks the wiring, and its times mean nothing for a GPU.
    ``options`` go to :func:`coursekit.perf.timing.benchmark` (default ``min_time=0.2``).
    """
    from coursekit.perf import timing

    options = {"min_time": 0.2, **options}
    x = np.random.default_rng(12).random(n, dtype=np.float32)
    exact = float(x.astype(np.float64).sum())
    d_x = cuda.to_device(x)
    d_total = cuda.device_array(1, np.float32)
    blocks = (n + block - 1) // block
    d_partial = cuda.device_array(blocks, np.float32)
    tree = tree_sum if block == 128 else cuda.jit(make_tree_sum(block))

    def atomics():
        d_total.copy_to_device(np.zeros(1, np.float32))
        atomic_sum[blocks, block](d_x, d_total)

    def tree_launch():
        tree[blocks, block](d_x, d_partial)

    atomics()
    tree_launch()
    out: dict[str, float] = {"n": n, "exact": exact}
    out["atomic_sum"] = float(d_total.copy_to_host()[0])
    out["tree_sum"] = float(d_partial.copy_to_host().astype(np.float64).sum())
    out["atomic_error"] = abs(out["atomic_sum"] - exact)
    out["tree_error"] = abs(out["tree_sum"] - exact)
    out["atomic_s"] = timing.benchmark(atomics, device="cuda", **options).median
    out["tree_s"] = timing.benchmark(tree_launch, device="cuda", **options).median
    return out
