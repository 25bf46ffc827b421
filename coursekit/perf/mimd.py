"""MIMD on a CPU: independent processes each running *different* code on different data.

The tasks are pure Python (no numpy, so no hidden BLAS threads): each keeps one core busy for a
while, and they differ in what they do, as the instruction streams of MIMD processors do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor


def count_primes(limit: int) -> int:
    """Primes below ``limit`` by trial division (branchy integer work)."""
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def collatz_longest(limit: int) -> int:
    """Start below ``limit`` with the longest Collatz sequence (data-dependent loops)."""
    best, best_len = 1, 1
    for start in range(1, limit):
        n, length = start, 1
        while n != 1:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            length += 1
        if length > best_len:
            best, best_len = start, length
    return best


def monte_carlo_pi(samples: int) -> float:
    """pi from random points in the unit square (floating point, a simple LCG)."""
    state, inside = 12345, 0
    for _ in range(samples):
        state = (1103515245 * state + 12345) % 2**31
        x = state / 2**31
        state = (1103515245 * state + 12345) % 2**31
        y = state / 2**31
        inside += x * x + y * y <= 1.0
    return 4.0 * inside / samples


def word_histogram(words: int) -> int:
    """Distinct 'words' in generated text (strings and dictionaries)."""
    counts: dict[str, int] = {}
    for i in range(words):
        w = format((i * 2654435761) % 10007, "x")
        counts[w] = counts.get(w, 0) + 1
    return len(counts)


KINDS: list[tuple[Callable[[int], object], int]] = [  # (task, size that takes ~0.1 s on one core)
    (count_primes, 120_000),
    (collatz_longest, 20_000),
    (monte_carlo_pi, 300_000),
    (word_histogram, 400_000),
]


def mixed_tasks(copies: int = 2, scale: float = 1.0) -> list[tuple[Callable[[int], object], int]]:
    """``copies`` of each kind of task, sizes multiplied by ``scale``: a MIMD workload."""
    return [(fn, max(1, int(size * scale))) for _ in range(copies) for fn, size in KINDS]


def run_task(task: tuple[Callable[[int], object], int]) -> object:
    fn, size = task
    return fn(size)


def run_with_workers(tasks: list, workers: int) -> tuple[float, list]:
    """Run ``tasks`` on a pool of ``workers`` processes; returns (wall seconds, results).

    The time includes starting the processes: that cost is part of using MIMD parallelism.
    """
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run_task, tasks))
    return time.perf_counter() - start, results
