"""Graded exercises in nbgrader's format: build the student version, and grade a submission.

The repository holds the instructor version of each notebook: solution cells with
``### BEGIN SOLUTION`` / ``### END SOLUTION``, and locked test cells that may hide tests between
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``. nbgrader (the ``instructor`` extra) is used
for the release; grading restores the instructor's locked cells into the submission, executes it
and scores each graded cell (full points when it runs without error, as nbgrader does).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def _nbgrader():
    try:
        from nbgrader import preprocessors as pp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("nbgrader is not installed: `pip install -e '.[instructor]'`") from exc
    return pp


def grade_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The cells nbgrader grades (``grade: true``), in order."""
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def solution_blocks(cell: nbformat.NotebookNode) -> list[str]:
    """The instructor's answer in a solution cell, block by block: the code between each
    ``### BEGIN SOLUTION`` and its ``### END SOLUTION``, stripped (a cell may hold several, e.g. a
    forward and a backward; none when it has no such block)."""
    return [block.split("### END SOLUTION")[0].strip() for block in cell.source.split("### BEGIN SOLUTION")[1:]]


def solution_text(cell: nbformat.NotebookNode) -> str:
    """Every block of :func:`solution_blocks`, joined by newlines ("" when the cell has none)."""
    return "\n".join(solution_blocks(cell))


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook: solutions replaced by stubs, hidden tests and outputs removed.

    Runs nbgrader's own preprocessors in the order ``nbgrader generate_assignment`` does (less
    the database, header and autotest steps), so the metadata stays valid for nbgrader.
    """
    pp = _nbgrader()
    nb = copy.deepcopy(nb)
    resources: dict = {}
    chain = [
        pp.LockCells(),
        pp.ClearSolutions(),
        pp.ClearOutput(),
        pp.CheckCellMetadata(),
        pp.ComputeChecksums(),
        pp.ClearHiddenTests(),
        pp.ClearMarkScheme(),
        pp.ComputeChecksums(),
        pp.CheckCellMetadata(),
    ]
    for step in chain:
        nb, resources = step.preprocess(nb, resources)
    nb.metadata.pop("jupytext", None)
    return nb


def release(out: Path, notebooks: list[Path] | None = None) -> list[Path]:
    """Write the student version of each notebook (default: all in notebooks/) into ``out``.

    Only the ``.ipynb`` files are written (never the paired ``.py`` files, which hold the
    solutions). The same input always gives byte-identical output. Returns the paths written.
    """
    notebooks = notebooks or sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        student = student_version(nbformat.read(path, as_version=4))
        target = out / path.name
        target.write_text(nbformat.writes(student) + "\n", encoding="utf-8")
        written.append(target)
    return written


def restore_locked_cells(submission: nbformat.NotebookNode, instructor: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The submission with every locked/graded cell's source replaced by the instructor's.

    This puts the hidden tests back and undoes any edit to a test. Graded cells missing from the
    submission are appended at the end (they will fail, as the solution they test is missing).
    """
    merged = copy.deepcopy(submission)
    originals = {nbgrader_meta(c)["grade_id"]: c for c in instructor.cells if nbgrader_meta(c).get("grade_id")}
    seen = set()
    for cell in merged.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if gid in originals and (meta.get("locked") or meta.get("grade")) and not meta.get("solution"):
            cell.source = originals[gid].source
            cell.metadata["nbgrader"] = copy.deepcopy(originals[gid].metadata["nbgrader"])
        if gid:
            seen.add(gid)
    for gid, cell in originals.items():
        if gid not in seen and nbgrader_meta(cell).get("grade") and not nbgrader_meta(cell).get("solution"):
            merged.cells.append(copy.deepcopy(cell))
    return merged


@dataclass
class Score:
    """One graded cell's result."""

    grade_id: str
    earned: float
    possible: float
    error: str = ""


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Run every cell (continuing past errors) in the current Python environment's kernel."""
    import subprocess

    from nbclient import NotebookClient

    client = NotebookClient(
        nb, timeout=timeout, allow_errors=True, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    # The kernel process's own stderr carries only its start-up chatter (cells' output reaches us
    # through the kernel protocol), so keep it out of the instructor's terminal.
    client.execute(stderr=subprocess.DEVNULL)
    return nb


def score(nb: nbformat.NotebookNode) -> list[Score]:
    """Points per graded cell of an executed notebook: all of a cell's points if it raised no error."""
    scores = []
    for cell in grade_cells(nb):
        meta = nbgrader_meta(cell)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        possible = float(meta.get("points", 0))
        message = f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else ""
        if cell.cell_type == "code" and cell.get("execution_count") is None and not errors:
            message = "not executed"
        scores.append(Score(meta["grade_id"], 0.0 if message else possible, possible, message))
    return scores


def run_graded(
    submission: nbformat.NotebookNode, instructor: nbformat.NotebookNode, cwd: Path, timeout: int = 900
) -> nbformat.NotebookNode:
    """The submission with the instructor's locked cells (hidden tests) restored, every cell run in
    ``cwd``: what :func:`score` reads. Each cell's timing is in its metadata (``execution``)."""
    return execute(restore_locked_cells(submission, instructor), cwd=cwd, timeout=timeout)


def grade(submission: Path, instructor: Path | None = None, timeout: int = 900) -> list[Score]:
    """Grade a student notebook against the instructor version of the same name in notebooks/."""
    instructor = instructor or NOTEBOOKS_DIR / submission.name
    if not instructor.exists():
        raise FileNotFoundError(f"no instructor version {instructor} for {submission.name}; pass --instructor")
    submitted, original = nbformat.read(submission, as_version=4), nbformat.read(instructor, as_version=4)
    return score(run_graded(submitted, original, cwd=instructor.parent, timeout=timeout))


def format_scores(scores: list[Score]) -> str:
    """A plain-text table of scores with a total line."""
    width = max([len(s.grade_id) for s in scores] + [8])
    lines = [f"{'grade_id':<{width}}  points  result"]
    for s in scores:
        lines.append(f"{s.grade_id:<{width}}  {s.earned:g}/{s.possible:g}{'':<3}  {s.error or 'passed'}")
    total, possible = sum(s.earned for s in scores), sum(s.possible for s in scores)
    lines.append(f"{'total':<{width}}  {total:g}/{possible:g}")
    return "\n".join(lines)
