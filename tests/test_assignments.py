"""Graded exercises: nbgrader-valid metadata, a leak-free deterministic release, graders that bite."""

from __future__ import annotations

import copy
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from coursekit import checks
from coursekit.grading import assignments

from conftest import NOTEBOOKS

pytest.importorskip("nbgrader")
from nbgrader.nbgraderformat import MetadataValidator


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    assignments.release(out)
    return out


def _instructor(path):
    return nbformat.read(path, as_version=4)


def test_every_notebook_has_graded_exercises_and_some_hide_tests():
    with_hidden = 0
    for path in NOTEBOOKS:
        nb = _instructor(path)
        graded = assignments.grade_cells(nb)
        assert graded, f"{path.name} has no graded exercise"
        assert all(assignments.nbgrader_meta(c).get("points", 0) > 0 for c in graded)
        prefix = f"nb{path.name[:2]}_"
        ids = [assignments.nbgrader_meta(c)["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
        assert all(i.startswith(prefix) for i in ids), f"grade_ids in {path.name} should start with {prefix}"
        solutions = [c for c in nb.cells if assignments.nbgrader_meta(c).get("solution")]
        assert all("### BEGIN SOLUTION" in c.source for c in solutions)
        for sol in solutions:
            assert f"{assignments.nbgrader_meta(sol)['grade_id']}_tests" in ids, "each solution has its tests"
        with_hidden += any("### BEGIN HIDDEN TESTS" in c.source for c in graded)
        MetadataValidator().validate_nb(nb)
    assert with_hidden >= 2


def test_release_has_no_solutions_hidden_tests_outputs_or_scripts(released):
    files = sorted(p.name for p in released.iterdir())
    assert files == [p.name for p in NOTEBOOKS], "only the .ipynb files are released"
    for path in NOTEBOOKS:
        student = nbformat.read(released / path.name, as_version=4)
        text = (released / path.name).read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        instructor = _instructor(path)
        for cell in instructor.cells:
            if assignments.nbgrader_meta(cell).get("solution"):
                for answer in assignments.solution_blocks(cell):
                    assert answer not in text, f"the solution of {assignments.nbgrader_meta(cell)['grade_id']} leaked"
        assert all(
            not c.get("outputs") and c.get("execution_count") is None for c in student.cells if c.cell_type == "code"
        )
        assert [assignments.nbgrader_meta(c).get("grade_id") for c in student.cells] == [
            assignments.nbgrader_meta(c).get("grade_id") for c in instructor.cells
        ], "nbgrader metadata kept"
        assert all("checksum" in assignments.nbgrader_meta(c) for c in assignments.grade_cells(student))
        MetadataValidator().validate_nb(student)


def test_release_is_deterministic(released, tmp_path):
    again = tmp_path / "again"
    assignments.release(again)
    for path in NOTEBOOKS:
        assert (again / path.name).read_bytes() == (released / path.name).read_bytes()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_instructor_version_earns_full_points(path):
    """Every graded cell of the committed (executed) instructor notebook ran without error and ended
    with its ``checks.passed`` line, whose id, points and hidden flag match the cell's metadata.
    (nbval re-executes the same notebook and fails on any error, so this needs no third run.)"""
    nb = _instructor(path)
    for cell in assignments.grade_cells(nb):
        meta = assignments.nbgrader_meta(cell)
        exercise = meta["grade_id"].removesuffix("_tests")
        hidden = "### BEGIN HIDDEN TESTS" in cell.source
        last = cell.source.strip().splitlines()[-1]
        expected = f'passed("{exercise}", {meta["points"]:g}, hidden={hidden})'
        assert last.endswith(expected), f"{meta['grade_id']}: the cell should end with checks.{expected}"
        assert not [o for o in cell.outputs if o.output_type == "error"], f"{meta['grade_id']} failed"
        printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert f"PASSED {exercise}" in printed, f"{meta['grade_id']}: the committed output lacks its PASSED line"
        shown = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert not shown, f"{meta['grade_id']}: the cell shows a value after its PASSED line: {shown}"


def test_restore_undoes_edited_tests_and_adds_missing_ones(tmp_path):
    instructor = _instructor(_tiny_course(tmp_path)[0])
    student = assignments.student_version(instructor)
    tests = [c for c in student.cells if assignments.nbgrader_meta(c).get("grade")]
    tests[0].source = "pass  # the student deleted the tests"
    merged = assignments.restore_locked_cells(student, instructor)
    restored = [c for c in merged.cells if assignments.nbgrader_meta(c).get("grade")]
    assert "BEGIN HIDDEN TESTS" in restored[0].source
    trimmed = copy.deepcopy(student)
    trimmed.cells = [c for c in trimmed.cells if not assignments.nbgrader_meta(c).get("grade")]
    merged = assignments.restore_locked_cells(trimmed, instructor)
    assert len(assignments.grade_cells(merged)) == len(assignments.grade_cells(instructor))


def test_score_counts_points_of_cells_without_errors():
    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade": True, "grade_id": "a", "points": 2}})
    ok.execution_count = 1
    bad = nbformat.v4.new_code_cell("1/0", metadata={"nbgrader": {"grade": True, "grade_id": "b", "points": 3}})
    bad.execution_count = 2
    bad.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    nb.cells = [ok, bad]
    scores = assignments.score(nb)
    assert [(s.grade_id, s.earned, s.possible) for s in scores] == [("a", 2, 2), ("b", 0, 3)]
    assert "ZeroDivisionError" in scores[1].error
    table = assignments.format_scores(scores)
    assert "2/5" in table.splitlines()[-1]


def _tiny_course(folder):
    """An instructor notebook with one exercise (a solution cell, a test cell with hidden tests)."""
    solution = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    tests = (
        "from coursekit.checks import check_equal, passed\n"
        "check_equal(double(2), 4, what='double(2)')\n"
        "### BEGIN HIDDEN TESTS\ncheck_equal(double(-3), -6, what='double(-3)')\n### END HIDDEN TESTS\n"
        'passed("nb09_double", 2, hidden=True)\n'
    )
    meta = {"schema_version": 3, "locked": False, "solution": True, "grade": False, "grade_id": "nb09_double"}
    test_meta = {"schema_version": 3, "locked": True, "solution": False, "grade": True, "points": 2}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    nb.cells = [
        nbformat.v4.new_code_cell(solution, metadata={"nbgrader": meta}),
        nbformat.v4.new_code_cell(tests, metadata={"nbgrader": {**test_meta, "grade_id": "nb09_double_tests"}}),
    ]
    instructor = folder / "instructor" / "09_tiny.ipynb"
    instructor.parent.mkdir()
    nbformat.write(nb, instructor)
    student = folder / "09_tiny.ipynb"
    nbformat.write(assignments.student_version(nb), student)
    return instructor, student


def test_grade_cli_exit_status(tmp_path):
    instructor, student = _tiny_course(tmp_path)
    command = [sys.executable, "-m", "coursekit.cli", "grade"]
    fail = subprocess.run([*command, str(student), "--instructor", str(instructor)], capture_output=True, text=True)
    assert fail.returncode == 1 and "0/2" in fail.stdout and "NotImplementedError" in fail.stdout, fail.stdout
    solved = tmp_path / "solved" / student.name
    solved.parent.mkdir()
    solved.write_text(student.read_text().replace("raise NotImplementedError()", "return x + x"))
    ok = subprocess.run([*command, str(solved), "--instructor", str(instructor)], capture_output=True, text=True)
    assert ok.returncode == 0 and "2/2" in ok.stdout, ok.stdout + ok.stderr
    wrong = tmp_path / "wrong" / student.name
    wrong.parent.mkdir()
    wrong.write_text(student.read_text().replace("raise NotImplementedError()", "return 4"))  # passes the visible test
    out = subprocess.run([*command, str(wrong), "--instructor", str(instructor)], capture_output=True, text=True)
    assert out.returncode == 1 and "0/2" in out.stdout and "double(-3)" in out.stdout, "hidden tests run at grading"


@pytest.mark.parametrize(
    "check, args, message",
    [
        (checks.check_close, ([1.0, 2.0], [1.0, 2.5]), "expected .*2.5.*1 of 2 elements differ"),
        (checks.check_close, (None, 1.0), "forget to `return`"),
        (checks.check_close, (1.0, [1.0]), "expected shape"),
        (checks.check_equal, (3, 4), "expected 4, got 3"),
        (checks.check_true, (False, "measured 2x"), "measured 2x"),
    ],
)
def test_grading_messages_say_expected_and_got(check, args, message):
    with pytest.raises(AssertionError, match=message):
        check(*args, what="x") if check is not checks.check_true else check(*args)


def test_grading_checks_pass_on_right_answers():
    checks.check_close([1.0, 2.0], [1.0, 2.0 + 1e-9])
    checks.check_equal((2, 3), (2, 3))
    checks.check_true(True, "never shown")


def test_check_close_nan_rule():
    """A NaN counts as equal only where the expected value is NaN too; a NaN where a number was
    expected fails and the message says so (its count, and the first wrong element)."""
    nan = float("nan")
    checks.check_close([1.0, nan, np.inf], [1.0, nan, np.inf], what="log of [e, -1] and 1/0")
    checks.check_close(np.float32(nan), nan)
    with pytest.raises(AssertionError, match=r"x: expected 2\.0, got nan \(NaN where a number was expected\)"):
        checks.check_close(nan, 2.0, what="x")
    with pytest.raises(
        AssertionError, match=r"2 of 3 elements differ, first at index \(1,\): expected 2, got nan; 2 NaN where numbers"
    ):
        checks.check_close(np.array([1.0, nan, nan]), [1.0, 2.0, 3.0], what="x")
    with pytest.raises(AssertionError, match=r"first at index \(0, 1\): expected nan, got 5"):
        checks.check_close([[1.0, 5.0]], [[1.0, nan]], what="a number where NaN was expected")


def test_check_close_reads_torch_tensors():
    torch = pytest.importorskip("torch")
    checks.check_close(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]))
    with pytest.raises(AssertionError, match="expected 3, got 2"):
        checks.check_close(torch.tensor([1.0, 2.0]), [1.0, 3.0], what="x")


def test_passed_tells_the_student_what_the_points_depend_on(capsys):
    assert checks.passed("nb03_tanh", 2, hidden=True) is None, "a returned text would be shown twice in the cell"
    text = capsys.readouterr().out.strip()
    assert "nb03_tanh" in text and "2 points" in text and "hidden tests" in text and "graded" in text
    checks.passed("nb01_relu", 1)
    assert capsys.readouterr().out == "PASSED nb01_relu: every test passes (1 point).\n"
