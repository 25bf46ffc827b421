"""The student edition: a self-contained folder that can be pushed as the students' repository.

``coursekit publish --out DIR`` (``make student``) writes the released notebooks (nbgrader's
student version: no solutions, no hidden tests, no outputs, no ``.py`` twins), the ``coursekit``
package, ``data/``, ``binder/`` (so the edition's own Binder link launches it), a ``pyproject.toml``
without the instructor's extras, a student README, and the edition's own test
(:mod:`coursekit.grading.edition_check`). :func:`leaks` scans a folder for anything of the instructor's.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat

from coursekit.grading import assignments

ROOT = Path(__file__).resolve().parents[2]
# Optional-dependency groups that stay out of the students' pyproject: nbgrader's instructor
# panels (Create Assignment, formgrader) would otherwise appear in their JupyterLab.
INSTRUCTOR_EXTRAS = ("instructor", "dev")
# Never copied into the edition: caches, and the instructor's room (coursekit/grading: the release,
# grading and publishing tools, which quote nbgrader's solution markers, and the hidden tests'
# checkers, which hold reference answers). The edition's own test is copied from it on its own.
NEVER_COPIED = ("__pycache__", "grading")
# Exercises that re-derive a piece of the course's own library, which the lesson uses and the
# edition must ship: grade_id -> (file, the name of that piece there). Their answers are in that
# file by design (often written differently, which no text scan would find), so the scan reports
# them as known notes, not as leaks. Grade them as practice; an exercise whose answer the library
# does not hold does not belong here (the tests check that every named piece still exists).
LIBRARY_ANSWERS = {
    "nb03_addbias": ("coursekit/edf/framework.py", "AddBias"),
    "nb03_vdot": ("coursekit/edf/framework.py", "VDot"),
    "nb04_softplus": ("coursekit/graph/ops.py", "_np_softplus"),
    "nb05_last_real": ("coursekit/apps/langid.py", "features"),
    "nb05_nb_log_prob": ("coursekit/apps/langid.py", "smoothed_log_prob"),
}
# A solution with at least this many lines of 12 or more characters counts as copied into a file
# that holds this fraction of them (reformatted or renamed around them): a whole-text match misses it.
COPIED_LINES, COPIED_FRACTION = 3, 0.75

STUDENT_README = """# {title} — student edition

Five Jupyter notebooks on *why and how deep learning runs on GPUs*. Every number in them is
measured on your own machine; no GPU is needed (GPU cells show a recorded reference instead).

## Open the course
- **On Binder** (nothing to install): launch this repository on mybinder.org, e.g.
  `https://mybinder.org/v2/gh/<your-course>/<students-repo>/HEAD?urlpath=lab/tree/notebooks/01_gpu_basics.ipynb`.
- **On your laptop** (Python >= 3.10):

  ```bash
  python3 -m venv .venv && . .venv/bin/activate
  pip install --extra-index-url https://download.pytorch.org/whl/cpu .   # CPU build of PyTorch
  coursekit jupyter-kernel   # Jupyter's Python kernel with the course's thread settings
  jupyter lab notebooks/01_gpu_basics.ipynb
  ```

## The notebooks
{notebooks}

## Exercises and how to hand them in
- Each exercise is a cell that says `raise NotImplementedError()`: replace that line with your
  code. Run the locked test cell below it: it prints `PASSED ...` when the visible tests pass.
  Some exercises have **hidden tests** as well; they run when your notebook is graded.
- Do not delete, copy or re-order cells, and do not edit the locked test cells: grading matches
  cells by their ids.
- Hand in the `.ipynb` file itself (File -> Download), with the same name.
- `COURSEKIT_QUICK=1` shrinks every problem size, for a quick run.

## Checking this edition
`COURSEKIT_QUICK=1 python -m pytest tests` (needs `pip install pytest nbclient`) runs every notebook
top to bottom with the exercises unsolved: each graded cell must fail and no other cell may.
"""


def _title(nb: nbformat.NotebookNode) -> str:
    first = nb.cells[0].source.splitlines()[0] if nb.cells else ""
    return first.lstrip("# ").strip()


def student_pyproject(text: str) -> str:
    """The instructor's pyproject.toml less the optional-dependency groups of
    :data:`INSTRUCTOR_EXTRAS` (each a one-line or multi-line list)."""
    lines: list[str] = []
    skipping = False
    for line in text.splitlines():
        name = line.split("=", 1)[0].strip()
        if re.match(r"^\[.*\]$", line.strip()):
            skipping = False
        elif name in INSTRUCTOR_EXTRAS and "=" in line:
            skipping = not line.rstrip().endswith("]")  # a multi-line list continues
            while lines and lines[-1].lstrip().startswith("#"):  # the group's comment goes too
                lines.pop()
            continue
        elif skipping:
            skipping = not line.strip().startswith("]")
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def publish(out: Path, root: Path = ROOT) -> list[Path]:
    """Write the student edition into ``out`` (emptied first if it exists); returns the
    released notebooks' paths."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    released = assignments.release(out / "notebooks", sorted((root / "notebooks").glob("*.ipynb")))
    ignore = shutil.ignore_patterns(*NEVER_COPIED, "*.pyc")
    shutil.copytree(root / "coursekit", out / "coursekit", ignore=ignore)
    shutil.copytree(root / "data", out / "data", ignore=ignore)
    shutil.copytree(root / "binder", out / "binder", ignore=ignore)
    (out / "pyproject.toml").write_text(student_pyproject((root / "pyproject.toml").read_text()))
    (out / "tests").mkdir()
    shutil.copy(root / "coursekit" / "grading" / "edition_check.py", out / "tests" / "test_notebooks.py")
    rows = []
    for path in released:
        nb = nbformat.read(path, as_version=4)
        rows.append(f"- [`{path.stem}`](notebooks/{path.name}): {_title(nb)}")
    title = "coursekit"
    (out / "README.md").write_text(STUDENT_README.format(title=title, notebooks="\n".join(rows)))
    return released


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
            answer = assignments.solution_text(cell) if meta.get("solution") else ""
            if answer:
                found.append((f"the solution of {meta['grade_id']}", meta["grade_id"], answer))
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


def leaks(edition: Path, root: Path = ROOT) -> list[str]:
    """Everything of the instructor's found in ``edition``: solution text, hidden tests, the
    markers nbgrader uses, ``.py`` twins of notebooks, the instructor's test files. Empty when clean."""
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
    markers = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
    for path in files:
        if path.suffix not in (".py", ".ipynb", ".md", ".txt", ".toml", ".cfg", ".json"):
            continue
        text = path.read_text(errors="replace")
        rel = path.relative_to(edition)
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        problems += [f"{rel}: contains {m!r}" for m in markers if m in text]
        known = {grade_id for grade_id, (file, _) in LIBRARY_ANSWERS.items() if file == rel.as_posix()}
        lines = {line.strip() for line in text.splitlines()}
        for what, grade_id, secret in secrets:
            if not secret or grade_id in known:
                continue
            if secret in text:
                problems.append(f"{rel}: contains {what}")
            elif what.startswith("the solution") and _mostly_copied(secret, lines):
                problems.append(f"{rel}: contains most lines of {what}")
    return problems


def _mostly_copied(solution: str, lines: set[str]) -> bool:
    """Whether ``lines`` (a file's stripped lines) hold :data:`COPIED_FRACTION` of the solution's
    lines of 12 or more characters, when it has at least :data:`COPIED_LINES` of them."""
    wanted = [line for line in (raw.strip() for raw in solution.splitlines()) if len(line) >= 12]
    return len(wanted) >= COPIED_LINES and sum(line in lines for line in wanted) >= COPIED_FRACTION * len(wanted)


def library_answers(edition: Path) -> list[str]:
    """The known notes: exercises of :data:`LIBRARY_ANSWERS` whose piece is defined in its file."""
    found = []
    for grade_id, (rel, name) in sorted(LIBRARY_ANSWERS.items()):
        path = Path(edition) / rel
        text = path.read_text() if path.is_file() else ""
        if f"def {name}(" in text or f"class {name}(" in text:
            found.append(f"{grade_id}: its answer is {name} in {rel}, which the lesson uses (by design)")
    return found
