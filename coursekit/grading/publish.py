"""The student edition: a self-contained folder that can be pushed as the students' repository.

``coursekit publish --out DIR`` (``make student``) writes the released notebooks (nbgrader's
student version: no solutions, no hidden tests, no outputs, no ``.py`` twins), the ``coursekit``
package, ``data/``, ``binder/`` (so the edition's own Binder link launches it), a ``pyproject.toml``
without the instructor's extras, a student README, and the edition's own test
(:mod:`coursekit.grading.edition_check`). :mod:`coursekit.grading.leak_scan` checks that it holds
nothing of the instructor's.
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

  Notebook 02's Triton section and its Exercise 2.9 need Triton (about 1 GB; Binder has it):
  `pip install '.[triton]'`. Without it those cells print one line and the exercise is not graded
  on your machine.

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
