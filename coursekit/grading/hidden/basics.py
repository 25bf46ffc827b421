"""Checkers for the graded exercises of notebook 01 (CPU vs GPU, the roofline).

Each raises ``AssertionError`` saying what was expected and what the student's function gave. The
reference answers live here, on the instructor's side, and nowhere in the student edition:

- Ex 1.1 (:func:`check_huber_speed`): the speed grade, run again by
  :func:`coursekit.perf.speed_grade.grade` with ceilings the grading process loads itself;
- Ex 1.2 (:func:`check_saxpy_prediction`): the roofline time of numpy's ``a * x + y``, graded
  against toy ceilings within :data:`PREDICTION_RTOL`, never against a noisy timing;
- Ex 1.3 (:func:`check_layer`): a dense layer's intensity, and the smallest batch that makes it
  compute-bound;
- Ex 1.4 (:func:`check_crossover`): the size from which on the GPU wins, robust to a lucky dip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from coursekit.checks import check_close, check_equal, check_true
from coursekit.perf import speed_grade
from coursekit.perf.roofline import Ceilings

PREDICTION_RTOL = 0.02  # a prediction within 2 % of the roofline's time earns the points
SAXPY_ARRAY_PASSES = 5  # numpy's a * x + y: tmp = a * x (read x, write tmp), tmp + y (read tmp and y, write)
SAXPY_FLOP_PER_ELEMENT = 2


def _toy(bytes_per_s: float, flop_per_s: float) -> Ceilings:
    return Ceilings(f"toy {bytes_per_s:g} B/s, {flop_per_s:g} FLOP/s", "cpu", "float32", bytes_per_s, flop_per_s)


# ---- Ex 1.1: the speed grade ---------------------------------------------------------------------


def check_huber_speed(fn: Callable[..., Any]) -> speed_grade.SpeedResult:
    """Grade ``fn`` again in a fresh process that loads this machine's ceilings itself (a student's
    cell that replaced the notebook's ``here`` gains nothing); fails unless it passes."""
    result = speed_grade.grade(fn, ceilings=None)
    check_true(result.passed, f"huber_numpy, graded in a separate process: {result.summary()}")
    return result


# ---- Ex 1.2: predict, then measure ---------------------------------------------------------------


def saxpy_seconds(n: int, ceilings: Ceilings, itemsize: int = 4) -> float:
    """The roofline's time (seconds) of numpy's ``a * x + y`` on ``n`` elements: 5 array passes of
    ``n * itemsize`` bytes (the temporary ``a * x`` is written, then read again) and ``2n`` FLOP."""
    nbytes = SAXPY_ARRAY_PASSES * n * itemsize
    return max(nbytes / ceilings.bytes_per_s, SAXPY_FLOP_PER_ELEMENT * n / ceilings.flop_per_s)


PREDICTION_CASES = (
    (1_000_000, _toy(10e9, 100e9), "a memory-bound device (ridge 10 FLOP/byte)"),
    (12_345, _toy(25e9, 400e9), "another size and bandwidth"),
    (1_000_000, _toy(1e12, 1e9), "a device whose compute is the limit (ridge 0.001 FLOP/byte)"),
    (1_000_000, _toy(10e9, 1e9), "a device on which both ceilings take the same time"),
)


def check_saxpy_prediction(predict: Callable[[int, Ceilings], float]) -> None:
    """``predict(n, ceilings)`` is the roofline's time of numpy's ``a * x + y`` within 2 %."""
    for n, ceilings, what in PREDICTION_CASES:
        check_close(
            predict(n, ceilings), saxpy_seconds(n, ceilings), rtol=PREDICTION_RTOL, atol=0,
            what=f"predict_saxpy_seconds({n:,}, ...) on {what}",
        )  # fmt: skip


# ---- Ex 1.3: the batch that makes a layer compute-bound ------------------------------------------


def layer_intensity(m: int, n: int, batch: int, itemsize: int = 4) -> float:
    """FLOP/byte of ``W @ X`` (W: m x n, X: n x batch): ``2 m n batch`` FLOP; W and X read once,
    the (m x batch) result written once."""
    return 2 * m * n * batch / ((m * n + n * batch + m * batch) * itemsize)


def smallest_compute_bound_batch(m: int, n: int, ceilings: Ceilings, itemsize: int = 4) -> int | None:
    """The smallest batch whose :func:`layer_intensity` reaches the ridge point, or None when even
    an unbounded batch stays below it (the intensity tends to ``2mn / ((m + n) itemsize)``)."""
    ridge = ceilings.ridge
    denominator = 2 * m * n - ridge * itemsize * (m + n)
    if denominator <= 0:
        return None
    batch = max(1, math.ceil(ridge * itemsize * m * n / denominator))
    while batch > 1 and layer_intensity(m, n, batch - 1, itemsize) >= ridge:  # rounding of the ceil
        batch -= 1
    while layer_intensity(m, n, batch, itemsize) < ridge:
        batch += 1
    return batch


LAYER_CASES = (
    (4096, 4096, _toy(20e9, 200e9)),  # ridge 10: batch 21 (41 in float64)
    (1024, 256, _toy(10e9, 500e9)),  # ridge 50: batch 196 (8534 in float64)
    (512, 512, _toy(100e9, 100e9)),  # ridge 1: batch 3
    (64, 64, _toy(10e9, 1e12)),  # ridge 100: never (at most 8 FLOP/byte)
    (100, 100, _toy(10e9, 25e10)),  # ridge 25 > 12.5: never
    (1000, 10, _toy(10e9, 20e9)),  # ridge 2: a thin layer, batch 7 (42 in float64)
)


def check_layer(intensity: Callable[..., float], smallest_batch: Callable[..., int | None]) -> None:
    """``intensity(m, n, batch, itemsize)`` and ``smallest_batch(m, n, ceilings, itemsize)`` match
    the references on every case of :data:`LAYER_CASES`, in float32 and float64."""
    for m, n, batch, itemsize in ((1000, 1000, 1, 4), (4096, 1024, 64, 4), (10, 20, 3, 8), (1, 1, 1, 2)):
        check_close(
            intensity(m, n, batch, itemsize), layer_intensity(m, n, batch, itemsize),
            what=f"layer_intensity({m}, {n}, {batch}, itemsize={itemsize})",
        )  # fmt: skip
    check_equal(
        smallest_batch(2, 2, _toy(10e9, 10e9), 1), 1, what="smallest_compute_bound_batch(2, 2, ridge 1, itemsize=1): "
        "exactly at the ridge (intensity 1.0 at batch 1) counts as reaching it",
    )  # fmt: skip
    for m, n, ceilings in LAYER_CASES:
        for itemsize in (4, 8):
            check_equal(
                smallest_batch(m, n, ceilings, itemsize), smallest_compute_bound_batch(m, n, ceilings, itemsize),
                what=f"smallest_compute_bound_batch({m}, {n}, ridge {ceilings.ridge:g}, itemsize={itemsize})",
            )  # fmt: skip


# ---- Ex 1.4: the crossover -----------------------------------------------------------------------


def crossover_size(sizes: Sequence[int], t_cpu: Sequence[float], t_gpu: Sequence[float]) -> int | None:
    """The smallest size from which on the GPU is faster, at that size and every larger one
    (None if it is not faster at the largest): robust to a lucky dip."""
    answer = None
    for size, cpu, gpu in sorted(zip(sizes, t_cpu, t_gpu, strict=True), reverse=True):
        if gpu < cpu:
            answer = int(size)
        else:
            break
    return answer


CROSSOVER_CASES = (
    ([10, 100, 1000, 10_000], [1, 2, 3, 4], [5, 5, 1, 1], "a clean crossover"),
    ([10, 100, 1000, 10_000], [1, 2, 3, 4], [5, 1, 9, 1], "a lucky dip at n = 100"),
    ([10, 100, 1000, 10_000], [1, 2, 3, 4], [5, 5, 5, 5], "the GPU never wins"),
    ([10, 100, 1000, 10_000], [5, 5, 5, 5], [1, 1, 1, 1], "the GPU always wins"),
    ([1000, 10, 10_000, 100], [3, 1, 4, 2], [1, 5, 1, 5], "unsorted sizes"),
    ([10, 100, 1000, 10_000], [1, 2, 3, 4], [1, 2, 3, 4], "ties are not wins"),
    ([10, 100, 1000, 10_000], [1, 2, 3, 4], [0, 1, 9, 1], "a win at the smallest sizes, then a loss"),
    ([10, 100, 1000, 10_000], [1, 2, 3, 4], [5, 5, 1, 9], "a win that does not last to the largest size"),
    ([64], [2.0], [1.0], "one size"),
)


def check_crossover(fn: Callable[..., int | None]) -> None:
    """``fn(sizes, t_cpu, t_gpu)`` gives :func:`crossover_size`'s answer on every case."""
    for sizes, t_cpu, t_gpu, what in CROSSOVER_CASES:
        check_equal(fn(list(sizes), list(t_cpu), list(t_gpu)), crossover_size(sizes, t_cpu, t_gpu), what=what)
