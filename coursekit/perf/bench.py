"""``coursekit bench``: measure this machine's roofline and the course's kernels, write a report.

Writes to the output folder: ``ceilings.csv`` (bandwidth in bytes/s, FLOP/s per device),
``kernels.csv`` (one row per kernel and device) and ``roofline.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from coursekit.machine import device
from coursekit.perf import roofline
from coursekit.perf.ceilings import course_kernels, measure_ceilings

if TYPE_CHECKING:
    import pandas as pd


def run_bench(out: Path, refresh: bool = False, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure CPU (and GPU when present) ceilings and kernels; write CSVs and a PNG into ``out``.

    Returns (ceilings table, kernels table).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from tqdm.auto import tqdm

    devices = ["cpu"] + (["cuda"] if device.gpu_available() else [])
    steps = [(d, what) for d in devices for what in ("ceilings", "kernels")]
    ceilings: list[roofline.Ceilings] = []
    kernels: list[roofline.Kernel] = []
    bar = tqdm(steps, desc="coursekit bench", disable=not progress)
    for dev, what in bar:
        bar.set_postfix_str(f"{dev} {what}")
        if what == "ceilings":
            ceilings.append(measure_ceilings(dev, refresh=refresh))
        else:
            kernels.extend(course_kernels(dev))
    out.mkdir(parents=True, exist_ok=True)
    ceil_table = pd.DataFrame(
        [
            {
                "name": c.name,
                "device": c.device,
                "dtype": c.dtype,
                "bandwidth_bytes_per_s": c.bytes_per_s,
                "flop_per_s": c.flop_per_s,
                "ridge_flop_per_byte": c.ridge,
                "bandwidth_method": c.method.get("bandwidth"),
                "flops_method": c.method.get("flops"),
                "date": c.date,
            }
            for c in ceilings
        ]
    )
    kern_table = roofline.kernel_table(ceilings, kernels)
    ceil_table.to_csv(out / "ceilings.csv", index=False)
    kern_table.to_csv(out / "kernels.csv", index=False)
    ax = roofline.plot(ceilings, kernels)
    ax.figure.savefig(out / "roofline.png", dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
    return ceil_table, kern_table
