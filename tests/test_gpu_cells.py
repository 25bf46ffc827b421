"""Every GPU cell's stored output says which tier its GPU figure comes from (issue 26).

A GPU cell is a code cell that asks for a GPU figure (``reference.gpu_result(...)``) or reveals one
(``reveal.reveal(...)``). Run without a GPU, its output must name the tier it shows: measured
here, recorded on a GPU, a published measurement (with its source), a datasheet prediction, or
the one line that no tier holds the figure (``reveal.no_figure_line``). It must not fall back on
"no recorded reference" wording, which hides the published tier.
"""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted(Path(__file__).resolve().parents[1].glob("notebooks/[0-9][0-9]_*.ipynb"))
TIER_WORDS = ("measured here", "recorded", "published measurement", "datasheet", "no tier holds")
OLD_WORDING = ("no recorded reference", "no recorded gpu run yet", "no recorded gpu")


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out and "text/plain" in out["data"]:
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def _gpu_cells(path: Path):
    nb = nbformat.read(path, as_version=4)
    return [
        (i, cell)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and ("reference.gpu_result(" in cell.source or "reveal.reveal(" in cell.source)
    ]


def test_every_notebook_has_gpu_cells():
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        assert _gpu_cells(path), f"{path.name}: no GPU cell (reference.gpu_result / reveal.reveal)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_gpu_cells_name_their_tier(path):
    for i, cell in _gpu_cells(path):
        text = _text(cell).lower()
        assert text.strip(), f"{path.name} cell {i}: a GPU cell printed nothing"
        assert any(w in text for w in TIER_WORDS), f"{path.name} cell {i}: output names no tier:\n{text[:400]}"
        assert not any(w in text for w in OLD_WORDING), f"{path.name} cell {i}: 'no recorded ...' hides other tiers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_predicts_then_reveals(path):
    """A cell asks for the student's estimate (``my_guess... = None``) and a later cell prints what
    :class:`coursekit.perf.reveal.Reveal` prints: ``<what>, revealed: <figure> (<tier: source>)``."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    asks = [i for i, c in enumerate(cells) if "my_guess" in c.source and "= None" in c.source]
    reveals = [i for i, c in enumerate(cells) if ", revealed: " in _text(c)]
    assert asks, f"{path.name}: no cell asks for the student's estimate (my_guess = None)"
    assert reveals and max(reveals) > min(asks), f"{path.name}: no reveal after the estimate"
    for i in reveals:
        text = _text(cells[i])
        assert "your prediction" in text, f"{path.name} cell {i}: the reveal does not report the student's estimate"
