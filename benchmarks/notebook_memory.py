"""Peak resident memory of each notebook's kernel, run as Binder runs it (default mode).

mybinder.org gives a pod 2 GB, shared by JupyterLab and every open kernel, so a notebook's kernel
must stay well below it: the target is <= 1.2 GB (10^9 bytes) per notebook in default mode
(``COURSEKIT_QUICK`` unset). Each notebook is executed top to bottom with nbclient in a fresh kernel;
a last cell added to the copy run here reads the kernel's own peak (``getrusage``'s ``ru_maxrss``,
exact). Beside it the script samples the resident memory of the kernel and everything it started
(torch.compile workers, data-parallel processes) every 0.1 s: what a pod's limit counts.

Run: python benchmarks/notebook_memory.py [01 03 ...] [--quick] [--timeout S]
(NOTEBOOK_MEMORY_CELLS=1 also prints every cell's sampled peak, to find what raises the floor.)
One line per notebook as it finishes, then a table; exits 1 when a kernel's peak passes the target.
Default mode takes a while on 2 cores (notebook 05 trains on the full Fashion-MNIST when Debian's
set is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TARGET_BYTES = 1.2e9
MARKER = "COURSEKIT_PEAK_RSS"
PEAK_CELL = (
    "import json as _json, resource as _resource\n"
    f"print('{MARKER}', _json.dumps(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss * 1024))"
)


class TreeSampler(threading.Thread):
    """Samples the resident bytes of the kernel (this process's ``ipykernel`` child) and of all this
    process's descendants (the kernel and what it starts); keeps the kernel's peak per cell too."""

    def __init__(self, period_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.period_s, self.peak_bytes, self._done = period_s, 0, threading.Event()
        self.cell_peak_bytes = 0  # the kernel's, since the current cell started

    def run(self) -> None:
        me = psutil.Process()
        while not self._done.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    rss = child.memory_info().rss
                    if "ipykernel" in " ".join(child.cmdline()):
                        self.cell_peak_bytes = max(self.cell_peak_bytes, rss)
                    total += rss
                except psutil.Error:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            self._done.wait(self.period_s)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_bytes


def run_notebook(path: Path, timeout_s: int) -> dict:
    """Execute ``path`` in a fresh kernel; its kernel's peak RSS, the sampled tree peak, seconds."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    client = NotebookClient(
        nb, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    sampler = TreeSampler()
    cell_peaks: list[tuple[int, int]] = []  # (sampled kernel peak, code cell index)

    def started(cell, cell_index, **_):
        sampler.cell_peak_bytes = 0

    def finished(cell, cell_index, **_):
        cell_peaks.append((sampler.cell_peak_bytes, cell_index))

    client.on_cell_execute, client.on_cell_executed = started, finished
    sampler.start()
    t0 = time.perf_counter()
    try:
        client.execute()
    finally:
        tree_bytes = sampler.stop()
    seconds = time.perf_counter() - t0
    text = "".join(out.get("text", "") for out in nb.cells[-1].outputs if out.output_type == "stream")
    kernel_bytes = int(text.split(MARKER, 1)[1].split()[0])
    if os.environ.get("NOTEBOOK_MEMORY_CELLS"):  # every cell's sampled kernel peak, in order
        print(" ".join(f"{index}:{peak / 1e9:.2f}" for peak, index in cell_peaks), file=sys.stderr)
    top = [f"cell {index}: {peak / 1e9:.2f} GB" for peak, index in sorted(cell_peaks, reverse=True)[:3]]
    return {
        "notebook": path.stem,
        "kernel_peak_bytes": kernel_bytes,
        "tree_peak_bytes": tree_bytes,
        "seconds": seconds,
        "top_cells": top,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="numbers or names (default: all)")
    parser.add_argument("--quick", action="store_true", help="quick mode (COURSEKIT_QUICK=1) instead of default")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.notebooks:
        paths = [p for p in paths if any(p.stem.startswith(n) for n in args.notebooks)]
    if args.quick:
        os.environ["COURSEKIT_QUICK"] = "1"
    else:
        os.environ.pop("COURSEKIT_QUICK", None)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # the course's kernel setting
    mode = "quick" if args.quick else "default"
    print(f"# {len(paths)} notebooks in {mode} mode; target: kernel peak <= {TARGET_BYTES / 1e9:.1f} GB", flush=True)
    rows = []
    for path in paths:
        row = run_notebook(path, args.timeout)
        row["target_met"] = row["kernel_peak_bytes"] <= TARGET_BYTES
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'notebook':<24} {'kernel peak':>12} {'with children':>14} {'time':>8}  {mode} mode")
    for row in rows:
        verdict = "" if row["target_met"] else f"  ABOVE {TARGET_BYTES / 1e9:.1f} GB"
        print(
            f"{row['notebook']:<24} {row['kernel_peak_bytes'] / 1e9:>9.2f} GB {row['tree_peak_bytes'] / 1e9:>11.2f} GB "
            f"{row['seconds']:>7.0f}s{verdict}"
        )
    return 0 if all(row["target_met"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
