"""coursekit.perf.speed_grade: the separate grading process, its checks and its verdicts.

The wrong answers of notebook 01's Exercise 1.1 (a loop, a memoised result, work left running in a
thread, wrong numbers) are proven to fail in tests/test_notebook01_wrong_answers.py; here, the
harness's own parts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from coursekit.perf import roofline, speed_grade

RIGHT = "def huber_numpy(r, delta):\n    a = np.abs(r)\n    m = np.minimum(a, delta)\n    return m * (a - 0.5 * m)\n"
CEILINGS = roofline.Ceilings("test machine", "cpu", "float32", bytes_per_s=50e9, flop_per_s=1e12)


def test_reference_is_the_huber_function():
    r = np.array([[-3.0, -1.0, -0.5], [0.0, 0.25, 2.0]], dtype=np.float32)
    got = speed_grade.huber_reference(r, 1.0)
    expected = np.where(np.abs(r) <= 1.0, 0.5 * r.astype(float) ** 2, np.abs(r) - 0.5)
    assert got.dtype == np.float32 and got.shape == r.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_load_function_refuses_imports_beyond_numpy_and_math():
    fn = speed_grade.load_function(speed_grade.PREAMBLE + RIGHT, "huber_numpy")
    assert fn(np.float32([2.0]), 1.0)[0] == pytest.approx(1.5)
    with pytest.raises(ImportError, match="numba"):
        speed_grade.load_function("import numba\n", "f")
    late = speed_grade.load_function("def f():\n    import torch\n", "f")
    with pytest.raises(ImportError, match="torch"):
        late()  # the guard holds when the function runs, too
    with pytest.raises(ValueError, match="no function"):
        speed_grade.load_function("x = 1\n", "huber_numpy")


def test_run_grading_passes_a_vectorised_answer_and_reports_its_rates():
    result = speed_grade.run_grading(speed_grade.PREAMBLE + RIGHT, "huber_numpy", 50e9, 1e12, quick=True, seed=0)
    assert result.passed and result.reason == "", result.summary()
    assert result.score >= speed_grade.BAR and result.t_reference_s > 0 and result.t_student_s > 0
    assert result.plausible_n == speed_grade.PLAUSIBLE_N["quick"]
    assert result.implied_bytes_per_s == pytest.approx(
        speed_grade.HUBER_BYTES_PER_ELEMENT * result.plausible_n / result.t_plausible_s
    )
    assert "PASSED" in result.summary() and "GB/s" in result.summary()


def test_plausibility_is_judged_against_the_ceilings_given():
    """The same honest function, against a machine that supposedly moves 1 MB/s: implausible."""
    result = speed_grade.run_grading(speed_grade.PREAMBLE + RIGHT, "huber_numpy", 1e6, 1e12, quick=True, seed=0)
    assert not result.passed and result.reason.startswith("implausibly fast")
    assert result.implied_bytes_per_s > speed_grade.PLAUSIBLE_MARGIN * 1e6


def test_errors_in_the_submission_are_verdicts_not_crashes():
    syntax = speed_grade.run_grading("def huber_numpy(r, delta)\n", "huber_numpy", 50e9, 1e12)
    assert not syntax.passed and syntax.reason.startswith("could not load") and "SyntaxError" in syntax.reason
    raises = speed_grade.run_grading("def huber_numpy(r, delta):\n    return 1 / 0\n", "huber_numpy", 50e9, 1e12)
    assert not raises.passed and "ZeroDivisionError" in raises.reason
    shape = speed_grade.run_grading("def huber_numpy(r, delta):\n    return [0.0]\n", "huber_numpy", 50e9, 1e12)
    assert not shape.passed and shape.reason.startswith("wrong numbers") and math.isnan(shape.score)


def test_grade_runs_in_another_process_whose_clock_the_notebook_cannot_touch(monkeypatch):
    """A frozen clock in this process would make every time zero; the grading process has its own."""
    monkeypatch.setattr(speed_grade, "_clock", lambda: 0.0)
    frozen = speed_grade.run_grading(speed_grade.PREAMBLE + RIGHT, "huber_numpy", 50e9, 1e12, quick=True)
    assert not frozen.passed and "ZeroDivisionError" in frozen.reason  # in this process the clock is broken
    result = speed_grade.grade(RIGHT, CEILINGS, name="huber_numpy", quick=True, seed=1)
    assert result.passed, result.summary()
    assert result.t_student_s > 0 and result.t_reference_s > 0


def test_grade_reads_a_function_from_this_process():
    def huber_numpy(r, delta):
        a = np.abs(r)
        m = np.minimum(a, delta)
        return m * (a - 0.5 * m)

    assert speed_grade.function_source(huber_numpy).startswith("def huber_numpy(r, delta):")
    with pytest.raises(ValueError, match="unknown task"):
        speed_grade.grade(huber_numpy, CEILINGS, task="softmax")


def test_grade_gives_up_after_its_time_out():
    result = speed_grade.grade(RIGHT, CEILINGS, name="huber_numpy", timeout_s=0.01)
    assert not result.passed and "ran past" in result.reason


def test_main_prints_one_line_of_json(tmp_path, capsys):
    source = tmp_path / "submission.py"
    source.write_text(speed_grade.PREAMBLE + "def huber_numpy(r, delta):\n    return r\n")
    assert speed_grade.main(["--source", str(source), "--function", "huber_numpy", "--bytes-per-s", "5e10",
                             "--flop-per-s", "1e12", "--quick"]) == 0  # fmt: skip
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["passed"] is False and verdict["reason"].startswith("wrong numbers")
