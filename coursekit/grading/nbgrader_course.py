"""An nbgrader course directory for the course's notebooks (``coursekit nbgrader-course DIR``).

Writes what nbgrader's quickstart would, filled in for this course: ``nbgrader_config.py``
(course id, root, a per-cell time-out that fits the heaviest cell measured in quick mode, quick mode
for grading) and
``source/<NN_name>/<NN_name>.ipynb`` for each notebook: the instructor version with its outputs
cleared and its ``jupytext`` metadata removed (otherwise a released notebook, saved inside a
clone, would be paired with a new ``.py`` by the repository's ``jupytext.toml``). Then the usual
nbgrader cycle applies: ``nbgrader generate_assignment``, collect, ``nbgrader autograde``,
``nbgrader export``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from coursekit.grading import autograde_times
from coursekit.grading.assignments import NOTEBOOKS_DIR, nbgrader_meta

CONFIG = '''"""nbgrader configuration for the coursekit course (written by `coursekit nbgrader-course`)."""

c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "{course_id}"
c.CourseDirectory.root = "{root}"

# nbgrader's default is 30 s per cell; some of the course's cells measure or train for longer.
# {timeout_note}
c.Execute.timeout = {timeout_s}
# Grading runs every cell of a submission. Quick mode (COURSEKIT_QUICK=1, set in the shell that
# runs `nbgrader autograde`) shrinks problem sizes; the graded tests hold in both modes.
# The grading environment needs coursekit and its data: `pip install .` from the course's
# repository (the student edition's coursekit works too).
'''


def instructor_source(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The instructor notebook as nbgrader's ``source/`` wants it: no outputs, no jupytext metadata."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("jupytext", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    return nb


def timeout_note(times: dict | None) -> str:
    """The config's comment on where its per-cell time-out comes from."""
    if not times:
        return "Nothing measured yet (benchmarks/autograde_times.py): a generous default."
    heaviest = max(times["notebooks"].items(), key=lambda item: item[1]["heaviest_cell"]["seconds"])
    return (
        f"The heaviest cell measured in quick mode ({heaviest[0]}, cell {heaviest[1]['heaviest_cell']['cell']}: "
        f"{heaviest[1]['heaviest_cell']['seconds']:.0f} s on {times['measured_on']}) times "
        f"{autograde_times.SAFETY_FACTOR}, in whole minutes."
    )


def make_course(
    root: Path, notebooks: list[Path] | None = None, course_id: str = "coursekit", timeout_s: int | None = None
) -> list[str]:
    """Write ``nbgrader_config.py`` and ``source/`` for ``notebooks`` (default: all) under ``root``;
    returns the assignment names (one per notebook: its file stem). The per-cell time-out (s)
    defaults to :func:`coursekit.grading.autograde_times.fitting_timeout_s` of the recorded times."""
    root = Path(root).resolve()
    notebooks = notebooks or sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    root.mkdir(parents=True, exist_ok=True)
    times = autograde_times.load()
    note = timeout_note(times) if timeout_s is None else "Set by the instructor."
    timeout_s = autograde_times.fitting_timeout_s(times) if timeout_s is None else timeout_s
    config = CONFIG.format(course_id=course_id, root=root, timeout_s=timeout_s, timeout_note=note)
    (root / "nbgrader_config.py").write_text(config)
    names = []
    for path in notebooks:
        target = root / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(instructor_source(nbformat.read(path, as_version=4)), target)
        names.append(path.stem)
    return names


def paste_solutions(student: nbformat.NotebookNode, instructor: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A student notebook whose solution cells hold the instructor's answers (markers removed), as a
    student who solved everything would hand in. For testing a grading set-up."""
    answers = {}
    for cell in instructor.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            lines = [
                ln for ln in cell.source.splitlines() if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            ]
            answers[meta["grade_id"]] = "\n".join(lines)
    solved = copy.deepcopy(student)
    for cell in solved.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return solved
