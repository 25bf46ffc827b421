"""The student edition's own test (copied there as ``tests/test_notebooks.py`` by ``coursekit publish``).

Every notebook of the edition runs top to bottom on the CPU, in quick mode, with the exercises
unsolved: each graded test cell fails (it needs the student's solution) and no other cell does,
except a solution cell whose stub raises ``NotImplementedError``. A graded cell whose optional
package is missing here (Triton) says it is not graded on this machine instead of failing. Run it
in the edition's folder:

    COURSEKIT_QUICK=1 python -m pytest tests

It needs pytest and nbclient (``pip install pytest nbclient``), nothing of the instructor's.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EDITION = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((EDITION / "notebooks").glob("*.ipynb"))


# A graded cell that needs an optional package this machine lacks (Triton, Exercise 2.9) prints this
# and skips its checks: not a pass (it prints no PASSED line), and its hidden tests refuse to grade.
SKIPPED = "is not graded on this machine"


def _texts(cell: nbformat.NotebookNode) -> list[str]:
    return [o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream"]


def _errors(cell: nbformat.NotebookNode) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.get("outputs", []) if o.output_type == "error"]


def unexpected_failures(nb: nbformat.NotebookNode) -> list[str]:
    """What is wrong with an executed blank notebook: graded cells that passed without a
    solution, and ordinary cells that failed. Empty when the notebook behaves as it should."""
    problems = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        meta = cell.metadata.get("nbgrader", {})
        errors = _errors(cell)
        if meta.get("grade"):
            if not errors and not any(SKIPPED in text for text in _texts(cell)):
                problems.append(f"{meta.get('grade_id')}: passed without a solution")
        elif meta.get("solution"):
            if any(not e.startswith("NotImplementedError") for e in errors):
                problems.append(f"{meta.get('grade_id')}: the unsolved stub failed with {errors}")
        elif errors:
            problems.append(f"code cell {i}: {errors[0][:300]}")
    return problems


def test_the_edition_has_notebooks():
    assert NOTEBOOKS, f"no notebooks in {EDITION / 'notebooks'}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_with_only_its_graded_cells_failing(path):
    os.environ.setdefault("COURSEKIT_QUICK", "1")  # the kernel inherits it
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    problems = unexpected_failures(nb)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
