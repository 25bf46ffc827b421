"""benchmarks/notebook_memory.py reads a notebook kernel's peak resident memory (Binder's 2 GB)."""

from __future__ import annotations

import sys

import nbformat

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import notebook_memory  # a sibling script


def test_a_kernel_that_holds_200_mb_reports_a_peak_above_it(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np"),
        nbformat.v4.new_code_cell("import time\na = np.ones(25_000_000)  # 200 MB, touched\ntime.sleep(0.5)"),
        nbformat.v4.new_code_cell("del a"),
    ]
    path = tmp_path / "big.ipynb"
    nbformat.write(nb, path)
    row = notebook_memory.run_notebook(path, timeout_s=120)
    assert row["notebook"] == "big"
    assert 200e6 < row["kernel_peak_bytes"] < 2e9
    assert row["tree_peak_bytes"] > 100e6, "the sampler saw the kernel"
    # cell 1 allocates; cell 2 (del a) starts with the array still alive and may sample a few kB more
    peaks = {cell.split(":")[0]: float(cell.split()[2]) for cell in row["top_cells"]}
    assert peaks.get("cell 1", 0.0) >= 0.95 * max(peaks.values()), row["top_cells"]
