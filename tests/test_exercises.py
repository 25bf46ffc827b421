"""The exercise registry (coursekit.grading.exercises) against the notebooks: every graded exercise
is listed, each notebook has enough of them, most of its points need understanding, and every
exercise's wrong answers live in a test file that names it."""

from __future__ import annotations

from collections import defaultdict

import nbformat
import pytest

from coursekit.grading import assignments
from coursekit.grading.exercises import EXERCISES, KINDS, MIN_EXERCISES, MIN_UNDERSTANDING_SHARE, UNDERSTANDING

from conftest import NOTEBOOKS, ROOT


def _graded() -> dict[str, tuple[str, float]]:
    """grade_id of each solution cell -> (notebook stem, points of its test cell)."""
    found = {}
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        points = {
            assignments.nbgrader_meta(c)["grade_id"]: float(assignments.nbgrader_meta(c).get("points", 0))
            for c in assignments.grade_cells(nb)
        }
        for cell in nb.cells:
            meta = assignments.nbgrader_meta(cell)
            if meta.get("solution"):
                found[meta["grade_id"]] = (path.stem, points.get(f"{meta['grade_id']}_tests", 0.0))
    return found


GRADED = _graded()


def test_every_graded_exercise_is_registered_and_nothing_else():
    assert sorted(GRADED) == sorted(EXERCISES)


@pytest.mark.parametrize("grade_id", sorted(EXERCISES))
def test_entry_is_complete(grade_id):
    exercise = EXERCISES[grade_id]
    assert exercise.kind in KINDS
    assert exercise.needs.strip()
    assert GRADED[grade_id][1] > 0, f"{grade_id}: its test cell carries no points"
    wrong = ROOT / exercise.wrong_answers
    assert wrong.is_file(), f"{grade_id}: no file {exercise.wrong_answers}"
    assert grade_id in wrong.read_text(), f"{exercise.wrong_answers} does not name {grade_id}"


def _share_by_notebook() -> dict[str, tuple[int, float, float]]:
    """notebook -> (exercises, points that need understanding, all points)."""
    table: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for grade_id, (notebook, points) in GRADED.items():
        row = table[notebook]
        row[0] += 1
        row[2] += points
        if EXERCISES[grade_id].kind in UNDERSTANDING:
            row[1] += points
    return {nb: (int(n), u, total) for nb, (n, u, total) in table.items()}


@pytest.mark.parametrize("notebook", [p.stem for p in NOTEBOOKS])
def test_each_notebook_grades_understanding(notebook):
    count, understanding, total = _share_by_notebook()[notebook]
    assert count >= MIN_EXERCISES, f"{notebook}: {count} graded exercises, fewer than {MIN_EXERCISES}"
    assert understanding >= MIN_UNDERSTANDING_SHARE * total, (
        f"{notebook}: {understanding:g} of {total:g} points need a derivation, decision or prediction"
    )
