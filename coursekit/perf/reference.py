"""Published device specifications and recorded GPU results, and one answer to "what did a GPU do?".

``PUBLISHED`` holds vendors' peak figures for the lectures' devices and today's (with sources);
``data/reference/`` holds results recorded on real GPUs (``benchmarks/gpu_lane.py``). Without a
GPU the notebooks show those, labelled; :func:`gpu_result` picks "measured on this GPU, else
recorded reference, else published peak" in one place and says which it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursekit.machine import device as _device
from coursekit.perf.roofline import Ceilings, Kernel

if TYPE_CHECKING:
    import pandas as pd


def reference_dir() -> Path:
    """``data/reference/``, wherever the course's data folder is (see ``datasets.data_dir``)."""
    from coursekit.datasets.checksums import data_dir

    return data_dir() / "reference"


@dataclass(frozen=True)
class ReferenceDevice:
    """A device's published specifications. FLOP/s are FP32 peak (vector/CUDA cores, no tensor
    cores), bandwidth in bytes/s, memory in bytes, price in US dollars at launch (None: no list
    price). ``source`` names where the figures come from."""

    name: str
    kind: str
    year: int
    cores: int
    clock_ghz: float
    memory_bytes: float | None
    bytes_per_s: float
    flop_per_s: float
    price_usd: float | None
    source: str

    def ceilings(self) -> Ceilings:
        return Ceilings(
            self.name,
            self.kind.lower(),
            "float32",
            self.bytes_per_s,
            self.flop_per_s,
            source="published",
            method={"bandwidth": self.source, "flops": self.source},
        )


GB = 1e9
TFLOPS = 1e12

# Vendors' figures. FP32 peak = cores x clock x FP32 FLOP per cycle per core: 2 on a GPU's "CUDA
# core" (one FP32 lane doing one fused multiply-add per cycle), 32 on an AVX2/AVX-512 CPU core with
# two 256-bit FMA pipes (2 pipes x 8 lanes x 2). GPU memory: "80GB" of HBM is 80 GiB (nvidia-smi
# shows 81,559 MiB usable on an H100 80GB); stored in bytes, shown in GiB. Each row is ONE device:
# the lectures' DGX-1 is 8 P100s (8x the P100 row's FLOP/s and bandwidth, $129,000 in 2016).
PUBLISHED: dict[str, ReferenceDevice] = {
    d.name: d
    for d in [
        # Intel ARK, Core i7-7700K: 4 cores, 4.2 GHz base; 2 AVX2 FMA units -> 32 FP32 FLOP/cycle/core;
        # dual-channel DDR4-2400 = 38.4 GB/s. Price as quoted in cs231n 2017 lecture 8.
        ReferenceDevice(
            "Intel Core i7-7700K",
            "CPU",
            2017,
            4,
            4.2,
            None,
            38.4 * GB,
            4 * 4.2e9 * 32,
            339,
            "Intel ARK (i7-7700K); cs231n 2017 lecture 8 price",
        ),
        # Intel ARK, Core i7-6950X: 10 cores, 3.0 GHz base; AVX2, 2 FMA units; quad-channel DDR4-2400 = 76.8 GB/s.
        ReferenceDevice(
            "Intel Core i7-6950X",
            "CPU",
            2016,
            10,
            3.0,
            None,
            76.8 * GB,
            10 * 3.0e9 * 32,
            1723,
            "Intel ARK (i7-6950X); cs231n 2017 lecture 8 price",
        ),
        # AMD EPYC 9654 (Zen 4, 2022), a current server CPU: 96 cores, 2.4 GHz base; AVX-512 on two
        # 256-bit FMA pipes -> 32 FP32 FLOP/cycle/core; 12 channels of DDR5-4800 = 460.8 GB/s.
        ReferenceDevice(
            "AMD EPYC 9654",
            "CPU",
            2022,
            96,
            2.4,
            None,
            460.8 * GB,
            96 * 2.4e9 * 32,
            11_805,
            "AMD EPYC 9654 product page (launch price $11,805)",
        ),
        # NVIDIA TITAN Xp: 3840 CUDA cores, 1582 MHz boost, 12 GB GDDR5X at 547.7 GB/s.
        ReferenceDevice(
            "NVIDIA Titan Xp",
            "GPU",
            2017,
            3840,
            1.582,
            12 * 2**30,
            547.7 * GB,
            12.15 * TFLOPS,
            1200,
            "NVIDIA TITAN Xp specifications",
        ),
        # NVIDIA GeForce GTX 1070: 1920 CUDA cores, 1683 MHz boost, 8 GB GDDR5 at 256 GB/s.
        ReferenceDevice(
            "NVIDIA GTX 1070",
            "GPU",
            2016,
            1920,
            1.683,
            8 * 2**30,
            256 * GB,
            6.46 * TFLOPS,
            399,
            "NVIDIA GeForce GTX 1070 specifications; cs231n 2017 lecture 8 price",
        ),
        # NVIDIA TITAN X (Pascal): 3584 CUDA cores, 1531 MHz boost, 12 GB GDDR5X at 480 GB/s; ~11 TFLOPS, $1200.
        ReferenceDevice(
            "NVIDIA TITAN X (Pascal)",
            "GPU",
            2016,
            3584,
            1.531,
            12 * 2**30,
            480 * GB,
            10.97 * TFLOPS,
            1200,
            "NVIDIA TITAN X (Pascal) specifications; TTIC 31230 lecture",
        ),
        # NVIDIA Tesla P100 SXM2 (the GPU of the lectures' DGX-1, which holds 8 of them): 3584 CUDA
        # cores, 1480 MHz boost, 10.6 TFLOPS FP32, 16 GiB HBM2 at 732 GB/s; no separate list price.
        ReferenceDevice(
            "NVIDIA P100 SXM2 (1/8 of a DGX-1)",
            "GPU",
            2016,
            3584,
            1.48,
            16 * 2**30,
            732 * GB,
            10.6 * TFLOPS,
            None,
            "NVIDIA Tesla P100 datasheet; DGX-1 datasheet (2016): 8 x P100, $129,000",
        ),
        # NVIDIA Tesla V100 SXM2: 5120 CUDA cores, 15.7 TFLOPS FP32, 900 GB/s HBM2.
        ReferenceDevice(
            "NVIDIA V100 SXM2",
            "GPU",
            2017,
            5120,
            1.53,
            16 * 2**30,
            900 * GB,
            15.7 * TFLOPS,
            None,
            "NVIDIA Tesla V100 datasheet",
        ),
        # NVIDIA A100 80GB SXM: 6912 CUDA cores, 19.5 TFLOPS FP32, 2039 GB/s HBM2e.
        ReferenceDevice(
            "NVIDIA A100 SXM 80GB",
            "GPU",
            2020,
            6912,
            1.41,
            80 * 2**30,
            2039 * GB,
            19.5 * TFLOPS,
            None,
            "NVIDIA A100 datasheet",
        ),
        # NVIDIA H100 SXM5: 16896 CUDA cores, 67 TFLOPS FP32 (989 TFLOPS dense BF16 on tensor cores),
        # 80 GB HBM3 at 3.35 TB/s.
        ReferenceDevice(
            "NVIDIA H100 SXM",
            "GPU",
            2022,
            16896,
            1.98,
            80 * 2**30,
            3350 * GB,
            67 * TFLOPS,
            None,
            "NVIDIA H100 Tensor Core GPU datasheet",
        ),
        # NVIDIA H200 SXM: same compute as H100 SXM (67 TFLOPS FP32), "141GB" HBM3e at 4.8 TB/s
        # (nvidia-smi: 143,771 MiB = 140.4 GiB usable; entered as the vendor's 141 GiB).
        ReferenceDevice(
            "NVIDIA H200 SXM",
            "GPU",
            2024,
            16896,
            1.98,
            141 * 2**30,
            4800 * GB,
            67 * TFLOPS,
            None,
            "NVIDIA H200 Tensor Core GPU datasheet",
        ),
    ]
}

# The lectures' DGX-1 figure, "170 teraflops", is half precision: NVIDIA's DGX-1 (P100) datasheet gives
# 170 TFLOPS FP16 for 8 Tesla P100 SXM2, each 21.2 TFLOPS FP16 (10.6 FP32, 5.3 FP64; P100 datasheet).
P100_SXM2_FP16_FLOP_PER_S = 21.2 * TFLOPS
DGX1_GPUS = 8
# NVIDIA H100 Tensor Core GPU datasheet, SXM: 989 TFLOPS dense BF16 on tensor cores (1,979 with sparsity).
H100_BF16_DENSE_FLOP_PER_S = 989 * TFLOPS
# NVIDIA H100 and H200 Tensor Core GPU datasheets, SXM: NVLink 900 GB/s per GPU, both directions
# together (NVLink 4: 18 links); 450 GB/s each way, the figure ml-engineering's network README
# rates its nccl-tests bus bandwidths against ("% of 450GBps").
H100_NVLINK_BYTES_PER_S_PER_DIRECTION = 450 * GB


def published_peaks() -> pd.DataFrame:
    """The reference devices as a table: cores, clock (GHz), memory (GiB), bandwidth (GB/s),
    FP32 peak (TFLOP/s), FP32 FLOP per cycle per core (from the unrounded peak), launch price (USD)
    and GFLOP/s per dollar."""
    import pandas as pd

    rows = []
    for d in PUBLISHED.values():
        rows.append(
            {
                "device": d.name,
                "kind": d.kind,
                "year": d.year,
                "cores": d.cores,
                "clock_ghz": d.clock_ghz,
                "memory_gib": None if d.memory_bytes is None else round(d.memory_bytes / 2**30, 1),
                "bandwidth_gbs": d.bytes_per_s / GB,
                "fp32_tflops": round(d.flop_per_s / TFLOPS, 2),
                "flop_per_cycle_per_core": d.flop_per_s / (d.cores * d.clock_ghz * 1e9),
                "price_usd": d.price_usd,
                "gflops_per_usd": None if d.price_usd is None else round(d.flop_per_s / GB / d.price_usd, 2),
            }
        )
    return pd.DataFrame(rows).set_index("device")


# ------------------------------------------------------------------------------ references


def reference_files(directory: Path | None = None) -> list[Path]:
    """Recorded GPU results shipped in ``data/reference/`` (JSON), newest first."""
    directory = directory or reference_dir()

    def recorded_date(path: Path) -> str:  # ISO dates sort as text; file times mean nothing in a clone
        try:
            return json.loads(path.read_text()).get("recorded", {}).get("date", "")
        except (OSError, json.JSONDecodeError):
            return ""

    return sorted(directory.glob("*.json"), key=recorded_date, reverse=True)


def reference_data(name: str | None = "H100", directory: Path | None = None) -> dict[str, Any] | None:
    """The whole recorded JSON of the newest reference whose device name contains ``name``
    (case-insensitive; None: any device) — ceilings, kernels, async pitfall, crossover, ...; see
    benchmarks/record_reference.py — or None when none is recorded."""
    for path in reference_files(directory):
        data = json.loads(path.read_text())
        if name is None or name.lower() in data["ceilings"]["name"].lower():
            return data
    return None


def load_reference(name: str | None = None, directory: Path | None = None) -> tuple[Ceilings, list[Kernel]]:
    """A GPU's recorded ceilings and kernels from ``data/reference/`` (``source="recorded"``).

    ``name`` picks a file whose device name contains it (case-insensitive), e.g. ``"H100"``.
    Where nothing is recorded, returns the published peaks of the matching reference device
    (``source="published"``, no kernels) — default ``"H100"``.
    """
    data = reference_data(name, directory)
    if data is not None:
        kernels = [Kernel(**{**k, "tier": "recorded"}) for k in data.get("kernels", [])]
        return Ceilings.from_dict(data["ceilings"]), kernels
    wanted = (name or "H100").lower()
    for ref in PUBLISHED.values():
        if wanted in ref.name.lower():
            return ref.ceilings(), []
    raise KeyError(f"no recorded or published device matches {name!r}")


def devices_table(here: Ceilings | None = None) -> pd.DataFrame:
    """The published reference devices plus, when given, this machine's measured row.

    This machine's bandwidth and FP32 FLOP/s are the measured ceilings (not a vendor's peak);
    its ``source`` column says so. Its ``flop_per_cycle_per_core`` is the hardware's, derived from
    the microarchitecture (:mod:`coursekit.machine.cpu_peak`; NaN where unknown), not the measured
    FLOP/s divided by the reported clock (which a turbo clock can push above it).
    """
    import pandas as pd

    from coursekit.machine import cpu_peak

    table = published_peaks()
    table["source"] = "published"
    if here is not None:
        cpu = _device.cpu()
        row = {
            "kind": here.device.upper(),
            "year": None,
            "cores": cpu.physical_cores if here.device == "cpu" else None,
            "clock_ghz": round(_device.cpu_clock_hz() / 1e9, 2) if here.device == "cpu" else None,
            "memory_gib": round(cpu.memory_bytes / 2**30, 1) if here.device == "cpu" else None,
            "bandwidth_gbs": round(here.bytes_per_s / GB, 1),
            "fp32_tflops": round(here.flop_per_s / TFLOPS, 3),
            "flop_per_cycle_per_core": (cpu_peak.fp32_flop_per_cycle()[0] or float("nan"))
            if here.device == "cpu"
            else None,
            "price_usd": None,
            "gflops_per_usd": None,
            "source": f"measured here ({here.date})",
        }
        table = pd.concat([table, pd.DataFrame([row], index=[here.name])])
    return table


def plot_devices(table: pd.DataFrame, ax=None, title: str = ""):
    """Peak FP32 FLOP/s against memory bandwidth (log-log), one labelled point per device (labels
    placed so that none collide, :func:`coursekit.plot_labels.place_labels`); measured rows drawn
    as red stars; a legend for the colours; ``title`` set before the labels are placed (it changes
    the axes' size). Returns the Axes."""
    import matplotlib.pyplot as plt

    from coursekit.plot_labels import place_labels

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    ordered = table.sort_values("bandwidth_gbs")
    points, labels = [], []
    for name, row in ordered.iterrows():
        measured = str(row.get("source", "")).startswith("measured")
        colour = "tab:red" if measured else ("tab:green" if row["kind"] == "GPU" else "tab:blue")
        point = (row["bandwidth_gbs"] * GB, row["fp32_tflops"] * TFLOPS)
        ax.plot(*point, "*" if measured else "o", color=colour, ms=14 if measured else 7)
        points.append(point)
        labels.append(str(name).replace("NVIDIA ", "").replace("Intel Core ", ""))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(x=0.3, y=0.15)  # room for the labels of the outermost devices
    ax.set_xlabel("memory bandwidth (bytes/s)")
    ax.set_ylabel("peak FP32 compute (FLOP/s)")
    kinds = [("o", "tab:blue", 7, "CPU (published)"), ("o", "tab:green", 7, "GPU (published)")]
    if any(str(s).startswith("measured") for s in table.get("source", [])):
        kinds.append(("*", "tab:red", 12, "this machine (measured)"))
    handles = [plt.Line2D([], [], marker=m, ls="", color=c, ms=ms, label=lab) for m, c, ms, lab in kinds]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    place_labels(ax, points, labels)
    return ax


# ------------------------------------------------------------------------- one GPU answer


@dataclass(frozen=True)
class GPUResult:
    """A GPU figure and where it came from.

    ``source`` is ``"measured"`` (on this machine's GPU, now), ``"recorded"`` (the section of a
    file in ``data/reference/``), ``"published measurement"`` (what a named benchmark reached on a
    named GPU, from ``data/published/``: :mod:`coursekit.perf.published`), ``"published"`` (a
    vendor's datasheet peak) or ``"none"`` (nothing to show: ``value`` is None). ``label`` says
    which device, when and with what, for a legend or a printed line.
    """

    value: Any
    source: str
    label: str

    def __bool__(self) -> bool:
        return self.source != "none"


def recorded_label(data: dict[str, Any]) -> str:
    """``NVIDIA H100 80GB HBM3, recorded 2026-12-01 (torch 2.13.0, CUDA 12.8)`` from a reference file."""
    rec = data.get("recorded", {})
    versions = rec.get("versions", {})
    extra = ", ".join(f"{k} {versions[k]}" for k in ("torch", "numba-cuda", "cupy") if versions.get(k))
    cuda = (rec.get("cuda") or {}).get("torch built for")
    if cuda:
        extra += f", CUDA {cuda}"
    when = str(rec.get("date", ""))[:10]
    return f"{rec.get('device', 'a GPU')}, recorded {when}" + (f" ({extra})" if extra else "")


def gpu_result(
    section: str,
    measure: Callable[[], Any] | None = None,
    gpu: bool | None = None,
    published: Callable[[ReferenceDevice], Any] | None = None,
    name: str = "H100",
    directory: Path | None = None,
    published_measurement: Callable[[], GPUResult] | None = None,
) -> GPUResult:
    """Measured on this GPU, else the recorded reference, else a published measurement, else the
    datasheet peak — labelled, best tier first.

    With a GPU (``gpu``: default :func:`coursekit.machine.device.gpu_available`) and a ``measure``
    function, returns ``measure()``. Otherwise returns ``section`` of the newest reference file
    whose device contains ``name``; failing that, ``published_measurement()`` when given and it
    finds one (e.g. ``lambda: published.published_result("triad_bandwidth", "H200")``: its value
    has that tier's shape, not the recorded section's); failing that, ``published(device)`` of the
    matching datasheet device when given; else a result with ``source="none"`` (falsy).
    """
    gpu = _device.gpu_available() if gpu is None else gpu
    if gpu and measure is not None:
        here = _device.gpus()[0].name if _device.gpus() else "this GPU"
        return GPUResult(measure(), "measured", f"{here}, measured here")
    data = reference_data(name, directory)
    if data is not None and data.get(section) is not None:
        return GPUResult(data[section], "recorded", recorded_label(data))
    if published_measurement is not None:
        elsewhere = published_measurement()
        if elsewhere:
            return elsewhere
    if published is not None:
        for ref in PUBLISHED.values():
            if name.lower() in ref.name.lower():
                return GPUResult(published(ref), "published", f"{ref.name}, published peak ({ref.source})")
    return GPUResult(None, "none", f"no {section!r} result for a {name} GPU: none measured, recorded or published")
