"""The README's nbgrader guide, run for real: a course directory from `coursekit nbgrader-course`,
nbgrader's own generate_assignment, two submissions (untouched, and every solution pasted in),
autograde and export. Keeps the instructor guide true."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.grading import autograde_times, nbgrader_course

from conftest import ROOT

pytest.importorskip("nbgrader")
pytestmark = pytest.mark.slow

# One of the course's notebooks, with hidden tests, is enough to prove the guide's steps: nbval runs
# every instructor notebook (each graded cell ends with its PASSED line) and the student edition's own
# test runs every blank one (only graded cells fail). Each extra notebook here cost ~60 s of autograding.
NOTEBOOKS = [ROOT / "notebooks" / "02_cuda_kernels.ipynb"]


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    # nbgrader runs `alembic` from PATH: the environment's bin/ must be on it, as in an activated venv.
    env = {
        **os.environ,
        "COURSEKIT_QUICK": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True, timeout=1800
    )
    assert run.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    names = nbgrader_course.make_course(root, NOTEBOOKS)
    for name in names:
        _nbgrader(root, "generate_assignment", name, "--force")
        released = root / "release" / name / f"{name}.ipynb"
        instructor = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        student = nbformat.read(released, as_version=4)
        for who, nb in (("alice", student), ("bob", nbgrader_course.paste_solutions(student, instructor))):
            target = root / "submitted" / who / name / f"{name}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, target)
        _nbgrader(root, "autograde", name, "--create")
    _nbgrader(root, "export", "--to", str(root / "grades.csv"))
    return root, names


def test_config_sets_what_the_guide_says(course):
    root, _ = course
    text = (root / "nbgrader_config.py").read_text()
    timeout_s = autograde_times.fitting_timeout_s(autograde_times.load())
    assert 'course_id = "coursekit"' in text and f'root = "{root}"' in text
    assert f"c.Execute.timeout = {timeout_s}\n" in text


def test_released_notebooks_carry_no_jupytext_metadata(course):
    root, names = course
    for name in names:
        nb = nbformat.read(root / "release" / name / f"{name}.ipynb", as_version=4)
        assert "jupytext" not in nb.metadata
        assert "BEGIN SOLUTION" not in nbformat.writes(nb) and "HIDDEN TESTS" not in nbformat.writes(nb)


def test_untouched_scores_zero_and_solved_scores_full(course):
    root, names = course
    with open(root / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    scores = {(r["student_id"], r["assignment"]): (float(r["raw_score"]), float(r["max_score"])) for r in rows}
    for name in names:
        untouched, possible = scores[("alice", name)]
        solved, _ = scores[("bob", name)]
        assert possible > 0
        assert untouched == 0, f"{name}: the untouched release scored {untouched}/{possible}"
        assert solved == possible, f"{name}: the pasted solutions scored {solved}/{possible}"


def test_autograded_notebooks_exist(course):
    root, names = course
    for name in names:
        for who in ("alice", "bob"):
            assert (root / "autograded" / who / name / f"{name}.ipynb").is_file()
    shutil.rmtree(root / "autograded", ignore_errors=True)
