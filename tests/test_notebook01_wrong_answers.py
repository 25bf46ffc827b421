"""The graded exercises of notebook 01 bite: plausible wrong answers fail, the instructor's pass.

The roofline exercises (1.2, 1.3) and the crossover (1.4) run the notebook's own locked test cell,
visible and hidden parts together, read from ``notebooks/01_gpu_basics.py``, with the candidate
function in its namespace; the blank release's stub (``raise NotImplementedError()``) fails there
too. The speed-graded Exercise 1.1 calls :func:`coursekit.perf.speed_grade.grade` as its cell does:
a separate process checks, times and judges each candidate. Its wrong answers are the ones CS149's
speed grading must catch: an interpreted loop (too slow), a memoised result and work left running
in a thread (both faster than this machine's memory allows), wrong numbers, a forbidden import.
"""

from __future__ import annotations

import math
import re
import time

import numpy as np
import pytest

import coursekit as ck
from coursekit.grading.hidden import basics
from coursekit.perf import reference, roofline, speed_grade

from conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "01_gpu_basics.py"
# ceilings for the speed grade: this VM's order of magnitude, generous, so the right answer passes anywhere
CEILINGS = roofline.Ceilings("test machine", "cpu", "float32", bytes_per_s=50e9, flop_per_s=1e12)


def cell_source(grade_id: str) -> str:
    """The source of the locked test cell ``{grade_id}_tests`` of notebook 01's ``.py`` twin."""
    text = NOTEBOOK.read_text()
    start = re.search(rf'^# %% nbgrader=.*"grade_id": "{grade_id}_tests".*$', text, re.M)
    assert start, f"no test cell for {grade_id}"
    end = text.find("\n# %%", start.end())
    return text[start.end() : end]


def run_cell(grade_id: str, **names) -> None:
    """Execute the exercise's test cell (visible and hidden tests) with ``names`` defined."""
    here = roofline.Ceilings("this CPU: test", "cpu", "float32", bytes_per_s=20e9, flop_per_s=300e9)
    namespace = {"ck": ck, "np": np, "math": math, "roofline": roofline, "here": here,
                 "h100": reference.PUBLISHED["NVIDIA H100 SXM"], **names}  # fmt: skip
    exec(compile(cell_source(grade_id), f"<{grade_id}_tests>", "exec"), namespace)


def blank(*args, **kwargs):
    raise NotImplementedError()


# ---- Ex 1.1: huber_numpy, speed-graded -----------------------------------------------------------

HUBER_RIGHT = """def huber_numpy(r, delta):
    a = np.abs(r)
    m = np.minimum(a, delta)
    return m * (a - 0.5 * m)
"""
HUBER_WHERE = """def huber_numpy(r, delta):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
"""
HUBER_WRONG = {
    "element_loop": """def huber_numpy(r, delta):
    out = np.empty_like(r)
    flat, res = r.reshape(-1), out.reshape(-1)
    for i in range(flat.size):
        a = abs(flat[i])
        res[i] = 0.5 * flat[i] * flat[i] if a <= delta else delta * (a - 0.5 * delta)
    return out
""",
    "list_comprehension": """def huber_numpy(r, delta):
    values = r.reshape(-1).tolist()
    out = [0.5 * v * v if abs(v) <= delta else delta * (abs(v) - 0.5 * delta) for v in values]
    return np.array(out, dtype=np.float32).reshape(r.shape)
""",
    "np_vectorize": """def huber_numpy(r, delta):
    one = lambda v: 0.5 * v * v if abs(v) <= delta else delta * (abs(v) - 0.5 * delta)
    return np.vectorize(one, otypes=[np.float32])(r)
""",
    "memoised": """_seen = {}


def huber_numpy(r, delta):
    key = (id(r), r.shape, delta, r.reshape(-1)[:8].tobytes())
    if key not in _seen:
        a = np.abs(r)
        m = np.minimum(a, delta)
        _seen[key] = m * (a - 0.5 * m)
    return _seen[key]
""",
    "no_sync_thread": """threading = np.__builtins__["__import__"]("threading")  # around the import guard


def huber_numpy(r, delta):
    out = np.empty_like(r)

    def work():
        a = np.abs(r)
        m = np.minimum(a, delta)
        out[...] = m * (a - 0.5 * m)

    threading.Thread(target=work).start()
    return out  # before the work is done
""",
    "no_sync_thread_on_large_arrays": """threading = np.__builtins__["__import__"]("threading")


def huber_numpy(r, delta):
    out = np.empty_like(r)

    def work():
        a = np.abs(r)
        m = np.minimum(a, delta)
        out[...] = m * (a - 0.5 * m)

    if r.size <= 2**17:  # honest where the numbers are checked and the score is timed
        work()
        return out
    threading.Thread(target=work).start()
    return out  # on the large arrays, before the work is done
""",
    "no_half": """def huber_numpy(r, delta):
    a = np.abs(r)
    return np.where(a <= delta, r * r, delta * (a - 0.5 * delta))
""",
    "signed_linear_part": """def huber_numpy(r, delta):
    return np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))
""",
    "float64_result": """def huber_numpy(r, delta):
    a = np.abs(r.astype(np.float64))
    m = np.minimum(a, delta)
    return m * (a - 0.5 * m)
""",
    "changes_its_input": """def huber_numpy(r, delta):
    a = np.abs(r, out=r)
    m = np.minimum(a, delta)
    return m * (a - 0.5 * m)
""",
    "imports_numba": """import numba


def huber_numpy(r, delta):
    return r
""",
}
HUBER_REASON = {  # how each wrong answer must fail
    "element_loop": ("too slow",),
    "list_comprehension": ("too slow",),
    "np_vectorize": ("too slow",),
    "memoised": ("implausibly fast",),
    "no_sync_thread": ("implausibly fast", "wrong numbers"),  # whichever the race meets first
    "no_sync_thread_on_large_arrays": ("wrong numbers when the call returned", "implausibly fast"),
    "no_half": ("wrong numbers",),
    "signed_linear_part": ("wrong numbers",),
    "float64_result": ("wrong numbers: expected a float32",),
    "changes_its_input": ("wrong numbers: the function changed its input",),
    "imports_numba": ("could not load",),
}


@pytest.mark.parametrize("source", [HUBER_RIGHT, HUBER_WHERE], ids=["minimum", "where"])
def test_huber_right_answers_pass_the_speed_grade(source):
    result = speed_grade.grade(source, CEILINGS, name="huber_numpy", quick=True)
    assert result.passed, result.summary()
    assert result.score >= speed_grade.BAR and result.implied_bytes_per_s < CEILINGS.bytes_per_s


@pytest.mark.parametrize("wrong", sorted(HUBER_WRONG))
def test_huber_wrong_answers_fail_the_speed_grade(wrong):
    start = time.perf_counter()
    result = speed_grade.grade(HUBER_WRONG[wrong], CEILINGS, name="huber_numpy", quick=True)
    assert not result.passed, f"{wrong} passed: {result.summary()}"
    assert result.reason.startswith(HUBER_REASON[wrong]), f"{wrong}: {result.reason}"
    assert time.perf_counter() - start < 60, "a wrong answer is judged within a minute"


def test_huber_blank_fails():
    result = speed_grade.grade("def huber_numpy(r, delta):\n    raise NotImplementedError()\n", CEILINGS, quick=True)
    assert not result.passed and "NotImplementedError" in result.reason


def test_huber_cell_checks_the_numbers_before_the_speed(monkeypatch):
    """The test cell's visible part compares with huber_loop before it starts the grading process."""
    graded = []
    monkeypatch.setattr(speed_grade, "grade", lambda *a, **k: graded.append(a) or None)
    r = np.linspace(-3, 3, 11, dtype=np.float32)
    loop = lambda r, delta: [0.5 * v * v if abs(v) <= delta else delta * (abs(v) - 0.5 * delta) for v in r.tolist()]  # noqa: E731
    wrong = lambda r, delta: np.where(np.abs(r) <= delta, r * r, delta * (np.abs(r) - 0.5 * delta))  # noqa: E731
    with pytest.raises(AssertionError, match="huber_numpy"):
        run_cell("nb01_huber", huber_numpy=wrong, huber_loop=loop)
    assert graded == [] and len(loop(r, 1.0)) == 11


# ---- Ex 1.2: predict, then measure ---------------------------------------------------------------


def predict_right(n, ceilings):
    nbytes = 5 * n * 4
    return max(nbytes / ceilings.bytes_per_s, 2 * n / ceilings.flop_per_s)


def measure_instead(n, ceilings):
    x, y = np.ones(n, np.float32), np.ones(n, np.float32)
    start = time.perf_counter()
    _ = 2.5 * x + y
    return time.perf_counter() - start


PREDICT_WRONG = {
    "fused_minimum_traffic": lambda n, c: max(12 * n / c.bytes_per_s, 2 * n / c.flop_per_s),
    "temporary_written_not_read": lambda n, c: max(16 * n / c.bytes_per_s, 2 * n / c.flop_per_s),
    "elements_not_bytes": lambda n, c: max(5 * n / c.bytes_per_s, 2 * n / c.flop_per_s),
    "float64_bytes": lambda n, c: max(40 * n / c.bytes_per_s, 2 * n / c.flop_per_s),
    "memory_roof_only": lambda n, c: 20 * n / c.bytes_per_s,
    "compute_roof_only": lambda n, c: 2 * n / c.flop_per_s,
    "sum_of_both_roofs": lambda n, c: 20 * n / c.bytes_per_s + 2 * n / c.flop_per_s,
    "one_flop_per_element": lambda n, c: max(20 * n / c.bytes_per_s, n / c.flop_per_s),
    "measured_not_predicted": measure_instead,
}


def test_predict_right_answer_passes():
    run_cell("nb01_predict", predict_saxpy_seconds=predict_right)
    basics.check_saxpy_prediction(predict_right)


@pytest.mark.parametrize("wrong", sorted(PREDICT_WRONG))
def test_predict_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError):
        basics.check_saxpy_prediction(PREDICT_WRONG[wrong])
    with pytest.raises(AssertionError):
        run_cell("nb01_predict", predict_saxpy_seconds=PREDICT_WRONG[wrong])


def test_predict_blank_fails():
    with pytest.raises(NotImplementedError):
        run_cell("nb01_predict", predict_saxpy_seconds=blank)


# ---- Ex 1.3: the batch that makes a layer compute-bound ------------------------------------------


def intensity_right(m, n, batch, itemsize=4):
    return 2 * m * n * batch / ((m * n + n * batch + m * batch) * itemsize)


def batch_search(intensity, reach=lambda value, ridge: value >= ridge, limit=10**7):
    """A smallest batch by search over batches, with a given intensity and idea of 'reaching'."""

    def smallest(m, n, ceilings, itemsize=4):
        ridge = ceilings.flop_per_s / ceilings.bytes_per_s
        if 2 * m * n <= ridge * itemsize * (m + n):
            return None
        batch = 1
        while not reach(intensity(m, n, batch, itemsize), ridge) and batch < limit:
            batch *= 2
        low = batch // 2 + 1 if batch > 1 else 1
        return next(b for b in range(low, batch + 1) if reach(intensity(m, n, b, itemsize), ridge))

    return smallest


def batch_closed_form(rounding):
    def smallest(m, n, ceilings, itemsize=4):
        ridge = ceilings.flop_per_s / ceilings.bytes_per_s
        spare = 2 * m * n - ridge * itemsize * (m + n)
        return None if spare <= 0 else max(1, rounding(ridge * itemsize * m * n / spare))

    return smallest


def batch_never_none(m, n, ceilings, itemsize=4):
    batch = 1
    ridge = ceilings.flop_per_s / ceilings.bytes_per_s
    while intensity_right(m, n, batch, itemsize) < ridge and batch < 10**6:
        batch += 1 if batch < 1000 else batch
    return batch


INTENSITY_WRONG = {  # (layer_intensity, smallest_compute_bound_batch)
    "forgets_the_output": (lambda m, n, b, s=4: 2 * m * n * b / ((m * n + n * b) * s), batch_search(intensity_right)),
    "one_flop_per_multiply_add": (lambda m, n, b, s=4: m * n * b / ((m * n + n * b + m * b) * s),
                                  batch_search(intensity_right)),
    "ignores_the_batch": (lambda m, n, b, s=4: 2 * m * n / ((m * n + n + m) * s), batch_search(intensity_right)),
    "ignores_itemsize": (lambda m, n, b, s=4: 2 * m * n * b / ((m * n + n * b + m * b) * 4),
                         batch_search(intensity_right)),
    "batch_rounded_down": (intensity_right, batch_closed_form(math.floor)),
    "batch_one_too_many": (intensity_right, batch_closed_form(lambda x: math.floor(x) + 1)),
    "strictly_above_the_ridge": (intensity_right, batch_search(intensity_right, lambda v, r: v > r)),
    "never_none": (intensity_right, batch_never_none),
    "ridge_upside_down": (intensity_right, lambda m, n, c, s=4: batch_search(intensity_right)(
        m, n, roofline.Ceilings("flipped", "cpu", "float32", c.flop_per_s, c.bytes_per_s), s)),
}  # fmt: skip


def test_intensity_right_answer_passes():
    run_cell(
        "nb01_intensity", layer_intensity=intensity_right, smallest_compute_bound_batch=batch_search(intensity_right)
    )
    basics.check_layer(intensity_right, batch_search(intensity_right))
    basics.check_layer(basics.layer_intensity, basics.smallest_compute_bound_batch)


@pytest.mark.parametrize("wrong", sorted(INTENSITY_WRONG))
def test_intensity_wrong_answers_fail(wrong):
    intensity, smallest = INTENSITY_WRONG[wrong]
    with pytest.raises(AssertionError):
        basics.check_layer(intensity, smallest)
    with pytest.raises(AssertionError):
        run_cell("nb01_intensity", layer_intensity=intensity, smallest_compute_bound_batch=smallest)


def test_intensity_blank_fails():
    with pytest.raises(NotImplementedError):
        run_cell("nb01_intensity", layer_intensity=blank, smallest_compute_bound_batch=blank)


# ---- Ex 1.4: the crossover -----------------------------------------------------------------------


def crossover_right(sizes, t_cpu, t_gpu):
    answer = None
    for s, c, g in sorted(zip(sizes, t_cpu, t_gpu, strict=True), reverse=True):
        if g < c:
            answer = s
        else:
            break
    return answer


def first_win(sizes, t_cpu, t_gpu):
    return next((s for s, c, g in sorted(zip(sizes, t_cpu, t_gpu, strict=True)) if g < c), None)


def first_win_unsorted(sizes, t_cpu, t_gpu):
    answer = None
    for s, c, g in zip(reversed(sizes), reversed(t_cpu), reversed(t_gpu), strict=True):
        if g < c:
            answer = s
        else:
            break
    return answer


def ties_win(sizes, t_cpu, t_gpu):
    answer = None
    for s, c, g in sorted(zip(sizes, t_cpu, t_gpu, strict=True), reverse=True):
        if g <= c:
            answer = s
        else:
            break
    return answer


def after_last_loss(sizes, t_cpu, t_gpu):
    """The first size after the last loss, even when the GPU loses at the largest size."""
    rows = sorted(zip(sizes, t_cpu, t_gpu, strict=True))
    losses = [i for i, (_, c, g) in enumerate(rows) if g >= c]
    start = losses[-1] + 1 if losses else 0
    return rows[start][0] if start < len(rows) else rows[-1][0]


def largest_win(sizes, t_cpu, t_gpu):
    wins = [s for s, c, g in zip(sizes, t_cpu, t_gpu, strict=True) if g < c]
    return max(wins) if wins else None


def most_wins(sizes, t_cpu, t_gpu):
    """The first size at which the GPU wins, if it wins at more than half the sizes."""
    rows = sorted(zip(sizes, t_cpu, t_gpu, strict=True))
    wins = [s for s, c, g in rows if g < c]
    return wins[0] if 2 * len(wins) > len(rows) else None


CROSSOVER_WRONG = {f.__name__: f for f in (first_win, first_win_unsorted, ties_win, after_last_loss, largest_win,
                                           most_wins)}  # fmt: skip


def test_crossover_right_answer_passes():
    run_cell("nb01_crossover", crossover_size=crossover_right)


@pytest.mark.parametrize("wrong", sorted(CROSSOVER_WRONG))
def test_crossover_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError):
        basics.check_crossover(CROSSOVER_WRONG[wrong])
    with pytest.raises(AssertionError):
        run_cell("nb01_crossover", crossover_size=CROSSOVER_WRONG[wrong])


def test_crossover_blank_fails():
    with pytest.raises(NotImplementedError):
        run_cell("nb01_crossover", crossover_size=blank)
