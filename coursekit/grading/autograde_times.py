"""How long autograding one submission takes, and the per-cell time-out that fits it.

``benchmarks/autograde_times.py`` measures it: for each notebook it grades a solved release (the
student version with the instructor's answers pasted in, hidden tests restored, as ``nbgrader
autograde`` runs it) in quick mode, with an empty cache of measured ceilings (a grader's fresh
machine), and records each notebook's wall time and its heaviest cell in
:data:`TIMES_FILE` with the machine and the date. :func:`fitting_timeout_s` turns that into the
per-cell time-out ``coursekit nbgrader-course`` writes; the README's grading table is that file.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import nbformat

from coursekit.grading.assignments import nbgrader_meta

TIMES_FILE = Path(__file__).with_name("autograde_times.json")
# The heaviest cell measured here times this factor: room for a slower or busier grading machine.
SAFETY_FACTOR = 5
FLOOR_S = 120  # never below two minutes per cell
DEFAULT_TIMEOUT_S = 900  # when nothing has been measured


def _stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def cell_seconds(nb: nbformat.NotebookNode) -> list[tuple[int, str | None, float]]:
    """(code cell number from 1, grade_id or None, seconds) for each executed code cell of ``nb``,
    from the timing nbclient records in each cell's metadata (``execution``)."""
    found = []
    number = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        number += 1
        timing = cell.metadata.get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            seconds = (_stamp(end) - _stamp(start)).total_seconds()
            found.append((number, nbgrader_meta(cell).get("grade_id"), seconds))
    return found


def summary(nb: nbformat.NotebookNode, wall_s: float) -> dict[str, Any]:
    """One notebook's row: wall time (s), the heaviest cell and the heaviest graded cell (s)."""
    cells = cell_seconds(nb)
    heaviest = max(cells, key=lambda c: c[2])
    graded = [c for c in cells if c[1] and c[1].endswith("_tests")]  # the test cells (notebooks/README)
    heaviest_graded = max(graded, key=lambda c: c[2]) if graded else (0, None, 0.0)
    return {
        "wall_s": round(wall_s, 1),
        "cells_s": round(sum(c[2] for c in cells), 1),
        "heaviest_cell": {"cell": heaviest[0], "seconds": round(heaviest[2], 1)},
        "heaviest_graded_cell": {"grade_id": heaviest_graded[1], "seconds": round(heaviest_graded[2], 1)},
    }


def load(path: Path = TIMES_FILE) -> dict[str, Any] | None:
    """The recorded measurement, or None when none has been made."""
    return json.loads(path.read_text()) if path.is_file() else None


def fitting_timeout_s(times: dict[str, Any] | None) -> int:
    """The per-cell time-out (s) for autograding: the heaviest cell of any notebook (graded or not:
    autograding runs every cell) times :data:`SAFETY_FACTOR`, rounded up to a whole minute, at least
    :data:`FLOOR_S`; :data:`DEFAULT_TIMEOUT_S` when nothing was measured.

    >>> fitting_timeout_s({"notebooks": {"a": {"heaviest_cell": {"seconds": 31.0}}}})
    180
    >>> fitting_timeout_s(None)
    900
    """
    if not times:
        return DEFAULT_TIMEOUT_S
    heaviest = max(row["heaviest_cell"]["seconds"] for row in times["notebooks"].values())
    return max(FLOOR_S, 60 * math.ceil(heaviest * SAFETY_FACTOR / 60))


def readme_table(times: dict[str, Any]) -> str:
    """The README's table of autograding times (markdown), from the recorded measurement."""
    rows = [
        "| notebook | one submission (s) | heaviest cell (s) | heaviest graded cell (s) |",
        "|---|---|---|---|",
    ]
    for name, row in times["notebooks"].items():
        graded = row["heaviest_graded_cell"]
        rows.append(
            f"| {name} | {row['wall_s']:.0f} | {row['heaviest_cell']['seconds']:.1f} "
            f"| {graded['seconds']:.1f} (`{graded['grade_id']}`) |"
        )
    return "\n".join(rows)
