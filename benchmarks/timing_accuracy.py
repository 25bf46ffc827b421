"""Check coursekit.perf.timing.benchmark against timeit and torch.utils.benchmark on CPU work.

Four workloads from about 1 us to 100 ms: a tiny Python function, np.sum of 1e6 floats, a 256x256
matmul and a 2048x2048 matmul. For each, benchmark()'s median per call must agree within 10 %
with timeit (best of repeats, per call) and with torch.utils.benchmark.Timer.blocked_autorange's
median. torch's Timer runs with torch's current thread count here (it defaults to one thread),
and all three time the same callable. Prints the ratios; exits 1 if any is off by more than 10 %.

Run: python benchmarks/timing_accuracy.py
"""

from __future__ import annotations

import sys
import timeit

import numpy as np
import torch
import torch.utils.benchmark as tb

from coursekit.perf import timing

TOLERANCE = 0.10


def tiny(x=3):
    return x * 2 + 1


def workloads():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(1_000_000)
    a256, b256 = (rng.standard_normal((256, 256)).astype(np.float32) for _ in range(2))
    a2k, b2k = (rng.standard_normal((2048, 2048)).astype(np.float32) for _ in range(2))
    return {
        "tiny Python function": tiny,
        "np.sum of 1e6 floats": lambda: np.sum(v),
        "256x256 float32 matmul": lambda: a256 @ b256,
        "2048x2048 float32 matmul": lambda: a2k @ b2k,
    }


def timeit_best(fn, repeat: int = 7) -> float:
    t = timeit.Timer(fn)
    number, _ = t.autorange()
    return min(t.repeat(repeat=repeat, number=number)) / number


def torch_median(fn) -> float:
    timer = tb.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=1.0).median


def main() -> int:
    ok = True
    print(f"{'workload':<26} {'coursekit':>11} {'timeit':>11} {'torch':>11} {'ck/timeit':>10} {'ck/torch':>9}")
    for name, fn in workloads().items():
        ours = timing.benchmark(fn, min_time=1.0, max_time=20).median
        ti = timeit_best(fn)
        to = torch_median(fn)
        r1, r2 = ours / ti, ours / to
        good = abs(r1 - 1) <= TOLERANCE and abs(r2 - 1) <= TOLERANCE
        ok &= good
        print(
            f"{name:<26} {timing.format_seconds(ours):>11} {timing.format_seconds(ti):>11} "
            f"{timing.format_seconds(to):>11} {r1:>10.3f} {r2:>9.3f} {'' if good else '  <-- off by >10 %'}"
        )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
