"""The notebooks' shape: paired with py:percent, warning-free outputs, small, set up first."""

from __future__ import annotations

import json
import re

import jupytext
import nbformat
import pytest

from conftest import NOTEBOOKS

MAX_OUTPUT_BYTES = 200_000
NAME = re.compile(r"(\d\d)_[a-z0-9_]+")


def test_notebooks_are_numbered_in_order_from_01():
    """The course's notebooks are found by name: NN_name.ipynb, numbered 01, 02, ... with no gap."""
    assert len(NOTEBOOKS) >= 5, f"expected the course's five notebooks, found {[p.name for p in NOTEBOOKS]}"
    for i, path in enumerate(NOTEBOOKS, start=1):
        match = NAME.fullmatch(path.stem)
        assert match, f"{path.name}: notebooks are named NN_lowercase_words.ipynb"
        assert int(match.group(1)) == i, f"{path.name}: expected number {i:02d} (no gaps, no duplicates)"


def _cells(nb):
    """What a twin carries of each cell: its type, source, tags and nbgrader metadata (jupytext.toml's filter)."""
    return [
        (c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ())), c.metadata.get("nbgrader")) for c in nb.cells
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_paired_script_is_in_sync(path):
    script = path.with_suffix(".py")
    assert script.exists(), f"{script.name} is missing: run `make sync`"
    from_ipynb, from_script = _cells(jupytext.read(path)), _cells(jupytext.read(script))
    assert len(from_ipynb) == len(from_script), (
        f"{path.name} has {len(from_ipynb)} cells, {script.name} {len(from_script)}: run `make sync`"
    )
    for i, (nb_cell, py_cell) in enumerate(zip(from_ipynb, from_script, strict=True)):
        assert nb_cell == py_cell, f"cell {i} of {path.name} and of {script.name} differ: run `make sync`"


def test_every_twin_has_its_notebook():
    """A notebooks/*.py without its .ipynb is a renamed or deleted notebook's leftover (ruff would still lint it)."""
    twins = sorted(NOTEBOOKS[0].parent.glob("*.py"))
    assert [p.with_suffix(".ipynb") for p in twins] == NOTEBOOKS


# pyproject.toml lets ruff skip E501 in the twins (nbgrader's `# %% nbgrader={...}` cell headers and markdown
# table rows cannot be wrapped); every other line keeps ruff's limit, checked here.
LINE_LENGTH = 120  # [tool.ruff] line-length
UNWRAPPABLE = re.compile(r"# %%|# \|")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_twin_lines_fit_the_line_length(path):
    script = path.with_suffix(".py")
    long = [
        f"{script.name}:{n}: {len(line)} characters"
        for n, line in enumerate(script.read_text(encoding="utf-8").splitlines(), start=1)
        if len(line) > LINE_LENGTH and not UNWRAPPABLE.match(line)
    ]
    assert not long, f"lines over {LINE_LENGTH} characters (wrap them; ruff's E501 is off for twins): {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_shape(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "JupyterLab would ask for a kernel"
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "You will learn" in first.source and "Outline" in first.source
    assert last.cell_type == "markdown" and "## Summary" in last.source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "ck.setup()" in code[0].source, "the first code cell must call ck.setup()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_clean_and_small(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "commit notebooks executed (`make notebooks`)"
    for i, cell in enumerate(code):
        for out in cell.outputs:
            assert out.output_type != "error", f"cell {i} of {path.name} has an error output"
            assert not (out.output_type == "stream" and out.name == "stderr"), (
                f"cell {i} of {path.name} wrote to stderr (a warning?): {out.text[:200]!r}"
            )
        size = len(json.dumps(cell.outputs))
        assert size < MAX_OUTPUT_BYTES, f"cell {i} of {path.name} has {size} bytes of output"
