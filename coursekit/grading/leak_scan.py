"""The student edition's leak scan: nothing of an exercise's answer may reach a student.

:func:`leaks` reports, with no exceptions list:

- instructor files in the edition (``.py`` twins of notebooks, which hold the solutions; the
  instructor's test files; ``benchmarks/``, ``.ci/``);
- nbgrader's solution and hidden-test markers, any solution's text, any hidden test line, and most
  lines of a solution reformatted into another file;
- a module of the edition that defines (``def``/``class``) a name an exercise asks the student to
  write (:mod:`coursekit.grading.exercises`: ``writes``), since re-deriving a piece of the shipped
  library is copying it;
- an answer shown above its exercise (:func:`shown_above`): a cell before the solution cell whose
  source or stored output holds the solution's lines, e.g. ``ck.show`` of the library's version.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from coursekit.grading import assignments
from coursekit.grading.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[2]
# A solution with at least this many lines of 12 or more characters counts as copied into a file
# that holds this fraction of them (reformatted or renamed around them): a whole-text match misses it.
COPIED_LINES, COPIED_FRACTION = 3, 0.75
# A line of a solution this long or longer, seen in a cell above the exercise, shows the answer
# (shorter ones, such as `return out` or `i = cuda.grid(1)`, are the lesson's common vocabulary).
SHOWN_LINE_CHARS = 24
MARKERS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
SCANNED_SUFFIXES = (".py", ".ipynb", ".md", ".txt", ".toml", ".cfg", ".json")


def _instructor_only_text(root: Path) -> list[tuple[str, str, str]]:
    """(what, grade_id, text) of what must never appear in the edition: each solution's code and
    each hidden test line (longer than 20 characters, not also a visible line of the notebook)."""
    found = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        visible: set[str] = set()
        hidden = []
        for cell in nb.cells:
            meta = assignments.nbgrader_meta(cell)
            source = cell.source
            if meta.get("solution"):
                found += [
                    (f"the solution of {meta['grade_id']}", meta["grade_id"], block)
                    for block in assignments.solution_blocks(cell)
                    if block
                ]
            if "### BEGIN HIDDEN TESTS" in source:
                before, rest = source.split("### BEGIN HIDDEN TESTS", 1)
                block, after = rest.split("### END HIDDEN TESTS", 1)
                hidden += [(meta.get("grade_id", "?"), line.strip()) for line in block.splitlines()]
                visible.update(line.strip() for line in (before + after).splitlines())
            else:
                visible.update(line.strip() for line in source.splitlines())
        found += [
            (f"a hidden test of {gid}", gid, line) for gid, line in hidden if len(line) > 20 and line not in visible
        ]
    return found


def _mostly_copied(solution: str, lines: set[str]) -> bool:
    """Whether ``lines`` (a file's stripped lines) hold :data:`COPIED_FRACTION` of the solution's
    lines of 12 or more characters, when it has at least :data:`COPIED_LINES` of them."""
    wanted = [line for line in (raw.strip() for raw in solution.splitlines()) if len(line) >= 12]
    return len(wanted) >= COPIED_LINES and sum(line in lines for line in wanted) >= COPIED_FRACTION * len(wanted)


def _code_lines(solution: str) -> list[str]:
    """The solution's stripped lines of :data:`SHOWN_LINE_CHARS` or more, comments and docstrings left out."""
    lines = []
    for raw in solution.splitlines():
        line = raw.split("  #")[0].strip()
        if len(line) >= SHOWN_LINE_CHARS and not line.startswith(("#", '"', "'")):
            lines.append(line)
    return lines


def _cell_text(cell: nbformat.NotebookNode) -> str:
    """A cell's source and the text of its stored outputs (streams, text/plain, text/html, markdown)."""
    parts = [cell.source]
    for output in cell.get("outputs", []):
        parts.append(str(output.get("text", "")))
        data = output.get("data", {})
        parts += [str(data.get(kind, "")) for kind in ("text/plain", "text/html", "text/markdown")]
    return "\n".join(parts)


def _html_unescaped(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def shown_above(nb: nbformat.NotebookNode) -> list[tuple[str, int]]:
    """(grade_id, cell index) for each exercise whose answer a cell above its solution cell shows:
    every one of the solution's long code lines (:func:`_code_lines`) in that cell's source or
    stored output. The exercise's own cells and the cells after it do not count."""
    found = []
    for index, cell in enumerate(nb.cells):
        meta = assignments.nbgrader_meta(cell)
        if not meta.get("solution"):
            continue
        wanted = _code_lines(assignments.solution_text(cell))
        if not wanted:
            continue
        for above in range(index):
            text = _html_unescaped(_cell_text(nb.cells[above]))
            lines = {re.sub(r"\s+", " ", line.strip()) for line in text.splitlines()}
            if all(re.sub(r"\s+", " ", line) in lines for line in wanted):
                found.append((meta["grade_id"], above))
                break
    return found


def defines(text: str, name: str) -> bool:
    """Whether Python source ``text`` defines ``name`` with ``def`` or ``class`` (at any depth)."""
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", text, re.MULTILINE) is not None


def leaks(edition: Path, root: Path = ROOT) -> list[str]:
    """Everything of the instructor's found in ``edition`` or shown above an exercise in the
    notebooks of ``root`` (see the module's docstring). Empty when clean."""
    edition = Path(edition)
    problems = []
    files = [p for p in edition.rglob("*") if p.is_file()]
    names = {p.name for p in (root / "tests").glob("test_*.py")} - {"test_notebooks.py"}
    for path in files:
        rel = path.relative_to(edition)
        if path.name in names or rel.parts[0] in ("benchmarks", ".ci"):
            problems.append(f"{rel}: an instructor's file")
        if path.suffix == ".py" and (edition / "notebooks" / f"{path.stem}.ipynb").exists():
            problems.append(f"{rel}: the .py twin of a notebook (it holds the solutions)")
    secrets = _instructor_only_text(root)
    for path in files:
        if path.suffix not in SCANNED_SUFFIXES:
            continue
        text = path.read_text(errors="replace")
        rel = path.relative_to(edition)
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        problems += [f"{rel}: contains {m!r}" for m in MARKERS if m in text]
        lines = {line.strip() for line in text.splitlines()}
        for what, _, secret in secrets:
            if not secret:
                continue
            if secret in text:
                problems.append(f"{rel}: contains {what}")
            elif what.startswith("the solution") and _mostly_copied(secret, lines):
                problems.append(f"{rel}: contains most lines of {what}")
        if path.suffix == ".py" and rel.parts[0] == "coursekit":
            for exercise in EXERCISES.values():
                problems += [
                    f"{rel}: defines {name}, which {exercise.grade_id} asks the student to write"
                    for name in exercise.writes
                    if defines(text, name)
                ]
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        for grade_id, cell in shown_above(nbformat.read(path, as_version=4)):
            problems.append(f"notebooks/{path.name}: cell {cell} shows the answer of {grade_id} above it")
    return problems
