"""The roofline model: a device's two ceilings, and where the course's kernels sit under them.

A kernel doing ``F`` floating-point operations while moving at least ``B`` bytes to or from
memory has *arithmetic intensity* ``I = F / B`` (FLOP/byte). On a device with memory bandwidth
``W`` (bytes/s) and peak compute ``P`` (FLOP/s) it can reach at most ``min(P, W * I)`` FLOP/s:
below the *ridge point* ``I = P / W`` it is memory-bound, above it compute-bound.

``measure_ceilings`` (from :mod:`coursekit.ceilings`) measures ``W`` with STREAM's triad
``a = b + s * c`` on arrays far larger than the last-level cache, and ``P`` with a large matrix
multiply (GEMM); results are cached per machine and kind of measurement. ``PUBLISHED`` holds
vendors' peak figures for the lectures' devices and today's, and ``load_reference`` the results
recorded on real GPUs in ``data/reference/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import device as _device
from . import session as _session
from . import timing as _timing
from .ceilings import cache_dir, measure_ceilings, triad_elements  # noqa: F401 - the public API

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "data" / "reference"


# ----------------------------------------------------------------------------------- kernels


@dataclass(frozen=True)
class Kernel:
    """One operation's work: ``flops`` (FLOP), minimum ``bytes`` moved, and, once timed,
    ``seconds`` per call on ``device`` (a label matching a :class:`Ceilings` name)."""

    name: str
    flops: float
    bytes: float
    seconds: float | None = None
    device: str = ""

    @property
    def intensity(self) -> float:
        """Arithmetic intensity (FLOP/byte)."""
        return self.flops / self.bytes

    @property
    def flop_rate(self) -> float | None:
        """Achieved FLOP/s, once timed."""
        return None if self.seconds is None else self.flops / self.seconds

    @property
    def byte_rate(self) -> float | None:
        """Achieved bytes/s (of the minimum traffic), once timed."""
        return None if self.seconds is None else self.bytes / self.seconds

    def timed(self, seconds: float, device: str = "") -> Kernel:
        """A copy with its measured time per call (seconds) and device label."""
        return replace(self, seconds=seconds, device=device or self.device)


def _itemsize(dtype: Any) -> int:
    return np.dtype(dtype).itemsize


def elementwise(n: int, dtype: Any = "float32", inputs: int = 2, outputs: int = 1,
                flops_per_element: float = 1, name: str | None = None) -> Kernel:
    """``n`` independent element operations (e.g. ``a + b``: 2 inputs, 1 output, 1 FLOP each).

    Minimum bytes: every input read once and every output written once.
    """
    return Kernel(name or f"elementwise n={n:,}", flops_per_element * n, (inputs + outputs) * n * _itemsize(dtype))


def dot(n: int, dtype: Any = "float32") -> Kernel:
    """Dot product of two length-``n`` vectors: ``2n`` FLOP (multiply + add), ``2n`` elements read."""
    return Kernel(f"dot n={n:,}", 2 * n, 2 * n * _itemsize(dtype))


def matvec(m: int, n: int, dtype: Any = "float32") -> Kernel:
    """(m x n) matrix times length-n vector: ``2mn`` FLOP; reads ``mn + n``, writes ``m`` elements."""
    return Kernel(f"matvec {m}x{n}", 2 * m * n, (m * n + n + m) * _itemsize(dtype))


def matmul(m: int, n: int, k: int, dtype: Any = "float32") -> Kernel:
    """(m x k) times (k x n): ``2mnk`` FLOP; reads ``mk + kn``, writes ``mn`` elements."""
    name = f"matmul n={n}" if m == n == k else f"matmul {m}x{k}x{n}"
    return Kernel(name, 2 * m * n * k, (m * k + k * n + m * n) * _itemsize(dtype))


def softmax(rows: int, cols: int, dtype: Any = "float32") -> Kernel:
    """Row-wise softmax of a (rows x cols) matrix.

    Counted as 5 FLOP per element (max, subtract, exp, sum, divide; ``exp`` counted as one);
    minimum traffic is reading the input once and writing the output once.
    """
    return Kernel(f"softmax {rows}x{cols}", 5 * rows * cols, 2 * rows * cols * _itemsize(dtype))


# --------------------------------------------------------------------------------- ceilings


@dataclass
class Ceilings:
    """A device's roofline: ``bandwidth`` (bytes/s) and ``flops`` (FLOP/s) for ``dtype``.

    ``source`` is ``"measured"`` (here, now), ``"recorded"`` (measured on that device earlier,
    see ``date`` and ``meta``) or ``"published"`` (the vendor's peak, see ``method``).
    """

    name: str
    device: str
    dtype: str
    bandwidth: float
    flops: float
    source: str = "measured"
    method: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    date: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ridge(self) -> float:
        """Ridge point (FLOP/byte): kernels of lower intensity are memory-bound."""
        return self.flops / self.bandwidth

    def attainable(self, intensity: float | np.ndarray) -> float | np.ndarray:
        """The roof: ``min(flops, bandwidth * intensity)`` in FLOP/s."""
        return np.minimum(self.flops, self.bandwidth * np.asarray(intensity, dtype=float))

    def bound(self, kernel: Kernel) -> str:
        """``"memory-bound"`` or ``"compute-bound"`` for ``kernel`` on this device."""
        return "memory-bound" if kernel.intensity < self.ridge else "compute-bound"

    @property
    def label(self) -> str:
        """Legend text: name, and where the numbers come from."""
        when = f", {self.date}" if self.date and self.source != "published" else ""
        return f"{self.name} ({self.source}{when})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ceilings:
        return cls(**data)


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
    bandwidth: float
    flops: float
    price_usd: float | None
    source: str

    def ceilings(self) -> Ceilings:
        return Ceilings(self.name, self.kind.lower(), "float32", self.bandwidth, self.flops, source="published",
                        method={"bandwidth": self.source, "flops": self.source})


GB = 1e9
TFLOPS = 1e12

# Vendors' figures. FP32 peak = cores x boost clock x 2 (one fused multiply-add per cycle).
PUBLISHED: dict[str, ReferenceDevice] = {
    d.name: d
    for d in [
        # Intel ARK, Core i7-7700K: 4 cores, 4.2 GHz base; 2 AVX2 FMA units -> 32 FP32 FLOP/cycle/core;
        # dual-channel DDR4-2400 = 38.4 GB/s. Price as quoted in cs231n 2017 lecture 8.
        ReferenceDevice("Intel Core i7-7700K", "CPU", 2017, 4, 4.2, None, 38.4 * GB, 4 * 4.2e9 * 32, 339,
                        "Intel ARK (i7-7700K); cs231n 2017 lecture 8 price"),
        # Intel ARK, Core i7-6950X: 10 cores, 3.0 GHz base; AVX2, 2 FMA units; quad-channel DDR4-2400 = 76.8 GB/s.
        ReferenceDevice("Intel Core i7-6950X", "CPU", 2016, 10, 3.0, None, 76.8 * GB, 10 * 3.0e9 * 32, 1723,
                        "Intel ARK (i7-6950X); cs231n 2017 lecture 8 price"),
        # NVIDIA TITAN Xp: 3840 CUDA cores, 1582 MHz boost, 12 GB GDDR5X at 547.7 GB/s.
        ReferenceDevice("NVIDIA Titan Xp", "GPU", 2017, 3840, 1.582, 12 * 2**30, 547.7 * GB, 12.15 * TFLOPS, 1200,
                        "NVIDIA TITAN Xp specifications"),
        # NVIDIA GeForce GTX 1070: 1920 CUDA cores, 1683 MHz boost, 8 GB GDDR5 at 256 GB/s.
        ReferenceDevice("NVIDIA GTX 1070", "GPU", 2016, 1920, 1.683, 8 * 2**30, 256 * GB, 6.46 * TFLOPS, 399,
                        "NVIDIA GeForce GTX 1070 specifications; cs231n 2017 lecture 8 price"),
        # NVIDIA TITAN X (Pascal): 3584 CUDA cores, 1531 MHz boost, 12 GB GDDR5X at 480 GB/s; ~11 TFLOPS, $1200.
        ReferenceDevice("NVIDIA TITAN X (Pascal)", "GPU", 2016, 3584, 1.531, 12 * 2**30, 480 * GB, 10.97 * TFLOPS,
                        1200, "NVIDIA TITAN X (Pascal) specifications; TTIC 31230 lecture"),
        # NVIDIA DGX-1 (Pascal): 8 x Tesla P100 SXM2, each 10.6 TFLOPS FP32 (21.2 FP16; 170 FP16 in all)
        # and 732 GB/s HBM2; 28,672 CUDA cores; $129,000 at launch.
        ReferenceDevice("NVIDIA DGX-1 (8x P100)", "GPU", 2016, 28672, 1.48, 8 * 16 * 2**30, 8 * 732 * GB,
                        8 * 10.6 * TFLOPS, 129_000, "NVIDIA DGX-1 datasheet (2016), Tesla P100 datasheet"),
        # NVIDIA Tesla V100 SXM2: 5120 CUDA cores, 15.7 TFLOPS FP32, 900 GB/s HBM2.
        ReferenceDevice("NVIDIA V100 SXM2", "GPU", 2017, 5120, 1.53, 16 * 2**30, 900 * GB, 15.7 * TFLOPS, None,
                        "NVIDIA Tesla V100 datasheet"),
        # NVIDIA A100 80GB SXM: 6912 CUDA cores, 19.5 TFLOPS FP32, 2039 GB/s HBM2e.
        ReferenceDevice("NVIDIA A100 SXM 80GB", "GPU", 2020, 6912, 1.41, 80e9, 2039 * GB, 19.5 * TFLOPS, None,
                        "NVIDIA A100 datasheet"),
        # NVIDIA H100 SXM5: 16896 CUDA cores, 67 TFLOPS FP32 (989 TFLOPS dense BF16 on tensor cores),
        # 80 GB HBM3 at 3.35 TB/s.
        ReferenceDevice("NVIDIA H100 SXM", "GPU", 2022, 16896, 1.98, 80e9, 3350 * GB, 67 * TFLOPS, None,
                        "NVIDIA H100 Tensor Core GPU datasheet"),
        # NVIDIA H200 SXM: same compute as H100 SXM (67 TFLOPS FP32), 141 GB HBM3e at 4.8 TB/s.
        ReferenceDevice("NVIDIA H200 SXM", "GPU", 2024, 16896, 1.98, 141e9, 4800 * GB, 67 * TFLOPS, None,
                        "NVIDIA H200 Tensor Core GPU datasheet"),
    ]
}


def published_peaks() -> pd.DataFrame:  # noqa: F821
    """The reference devices as a table: cores, clock (GHz), memory (GiB), bandwidth (GB/s),
    FP32 peak (TFLOP/s), launch price (USD) and GFLOP/s per dollar."""
    import pandas as pd

    rows = []
    for d in PUBLISHED.values():
        rows.append({
            "device": d.name, "kind": d.kind, "year": d.year, "cores": d.cores, "clock_ghz": d.clock_ghz,
            "memory_gib": None if d.memory_bytes is None else round(d.memory_bytes / 2**30, 1),
            "bandwidth_gbs": d.bandwidth / GB, "fp32_tflops": round(d.flops / TFLOPS, 2),
            "price_usd": d.price_usd,
            "gflops_per_usd": None if d.price_usd is None else round(d.flops / GB / d.price_usd, 2),
        })
    return pd.DataFrame(rows).set_index("device")


def cpu_peak_flops(dtype: Any = "float32", fma_units: int = 2) -> tuple[float, str]:
    """Best-effort theoretical peak of this CPU in FLOP/s, and how it was computed.

    cores x clock x SIMD lanes x 2 (FMA) x ``fma_units`` (2 on most AVX2/AVX-512 cores, which
    is an assumption: the OS does not report it). Clock from /proc/cpuinfo or psutil (GHz).
    """
    cpu = _device.cpu()
    ghz = _device.cpu_clock_hz() / 1e9
    if not ghz > 0:
        return float("nan"), "clock speed unknown"
    lanes = max(cpu.vector_bits, 64) // (8 * _itemsize(dtype))
    peak = cpu.physical_cores * ghz * 1e9 * lanes * 2 * fma_units
    how = (f"{cpu.physical_cores} cores x {ghz:.2f} GHz x {lanes} {np.dtype(dtype).name} lanes "
           f"x 2 (FMA) x {fma_units} FMA units (assumed; nominal clock, turbo can exceed it)")
    return peak, how


# ---------------------------------------------------------------------------- measurement
# Measuring the ceilings (STREAM triad, GEMM, cache probing, the on-disk cache) lives in
# coursekit.ceilings; measure_ceilings, triad_elements and cache_dir are imported above.


# ------------------------------------------------------------------------- course kernels


def course_kernels(device: str = "cpu", dtype: str = "float32", min_time: float = 0.1) -> list[Kernel]:
    """Time the course's kernels (elementwise add, dot, matvec, matmul at several sizes, softmax)
    on ``device`` (numpy on the CPU, torch on CUDA) and return them as timed :class:`Kernel`s.

    Outside quick mode the memory-bound kernels' data exceed the last-level cache (as the triad
    does), so they meet the DRAM roof; in quick mode they are small and may run from cache, above
    it. Outputs are preallocated, so no call pays for fresh pages.
    """
    dev = device.lower()
    beyond_cache = triad_elements(dtype)[0] if dev == "cpu" else 1 << 26
    big = _session.size(small=1 << 20, default=beyond_cache, gpu=beyond_cache)
    mv = int(np.sqrt(big))
    mm_sizes = _session.size(small=[64, 256, 1024], default=[64, 256, 1024, 2048], gpu=[256, 1024, 4096, 8192])
    rows, cols = _session.size(small=(1024, 1000), default=(big // 2000, 1000), gpu=(big // 1000, 1000))
    if dev == "cpu":
        rand = lambda *shape: np.random.default_rng(0).standard_normal(shape).astype(dtype)  # noqa: E731
        empty = lambda *shape: np.empty(shape, dtype=dtype)  # noqa: E731
        add = lambda a, b, out: np.add(a, b, out=out)  # noqa: E731
        mmul = lambda a, b, out: np.matmul(a, b, out=out)  # noqa: E731
        vdot = np.dot

        def soft(z):
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
    else:
        import torch

        rand = lambda *shape: torch.randn(*shape, device="cuda", dtype=getattr(torch, dtype))  # noqa: E731
        empty = lambda *shape: torch.empty(*shape, device="cuda", dtype=getattr(torch, dtype))  # noqa: E731
        add = lambda a, b, out: torch.add(a, b, out=out)  # noqa: E731
        mmul = lambda a, b, out: torch.matmul(a, b, out=out)  # noqa: E731
        vdot = torch.dot
        soft = lambda z: torch.softmax(z, dim=1)  # noqa: E731
    label = "this CPU" if dev == "cpu" else "this GPU"
    bench_dev = "cpu" if dev == "cpu" else "cuda"
    out: list[Kernel] = []

    def run(kernel: Kernel, fn, *args) -> None:
        m = _timing.benchmark(fn, *args, device=bench_dev, min_time=min_time, label=kernel.name)
        out.append(kernel.timed(m.median, label))

    a, b = rand(big), rand(big)
    run(elementwise(big, dtype, name=f"add n={big:,}"), add, a, b, empty(big))
    run(dot(big, dtype), vdot, a, b)
    del a, b
    A, v = rand(mv, mv), rand(mv)
    run(matvec(mv, mv, dtype), mmul, A, v, empty(mv))
    del A
    for n in mm_sizes:
        run(matmul(n, n, n, dtype), mmul, rand(n, n), rand(n, n), empty(n, n))
    run(softmax(rows, cols, dtype), soft, rand(rows, cols))
    return out


# ------------------------------------------------------------------------------ references


def reference_files(directory: Path | None = None) -> list[Path]:
    """Recorded GPU results shipped in ``data/reference/`` (JSON), newest first."""
    directory = directory or REFERENCE_DIR

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
        return Ceilings.from_dict(data["ceilings"]), [Kernel(**k) for k in data.get("kernels", [])]
    wanted = (name or "H100").lower()
    for ref in PUBLISHED.values():
        if wanted in ref.name.lower():
            return ref.ceilings(), []
    raise KeyError(f"no recorded or published device matches {name!r}")


# ------------------------------------------------------------------------------------- plot


def plot(ceilings: Ceilings | Sequence[Ceilings], kernels: Iterable[Kernel] = (), ax=None,
         title: str | None = None, annotate: bool = True):
    """Log-log roofline: each device's bandwidth slope and compute roof (distinct colours), its
    ridge point, and the timed ``kernels`` as labelled points at (intensity, achieved FLOP/s).

    A kernel takes the colour of the device whose ``name`` (or ``"this CPU"``/``"this GPU"``
    for measured ceilings) matches its ``device`` label. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    roofs = [ceilings] if isinstance(ceilings, Ceilings) else list(ceilings)
    kernels = [k for k in kernels if k.seconds is not None]
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.8))
    intensities = [k.intensity for k in kernels] + [r.ridge for r in roofs]
    lo = min([1 / 16, *intensities]) / 2
    hi = max([256, *intensities]) * 2
    x = np.logspace(np.log10(lo), np.log10(hi), 200)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour_of: dict[str, str] = {}
    for i, roof in enumerate(roofs):
        colour = colours[i % len(colours)]
        style = "-" if roof.source == "measured" else ("--" if roof.source == "recorded" else ":")
        ax.plot(x, roof.attainable(x), style, color=colour, lw=2, label=roof.label)
        ax.plot([roof.ridge], [roof.flops], "o", color=colour, ms=5)
        if annotate:
            ax.annotate(f"ridge {roof.ridge:.3g} FLOP/B", (roof.ridge, roof.flops), textcoords="offset points",
                        xytext=(4, -12), fontsize=8, color=colour)
        colour_of[roof.name] = colour
        colour_of.setdefault("this CPU" if roof.device == "cpu" else "this GPU", colour)
    for i, k in enumerate(sorted(kernels, key=lambda k: k.intensity)):
        colour = colour_of.get(k.device, "grey")
        ax.plot(k.intensity, k.flop_rate, "s", color=colour, ms=6, mec="black", mew=0.5)
        if annotate:  # alternate above/below so neighbours' labels do not overlap
            ax.annotate(k.name, (k.intensity, k.flop_rate), textcoords="offset points",
                        xytext=(5, 4 if i % 2 == 0 else -11), fontsize=7, color=colour)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("performance (FLOP/s)")
    top = max([r.flops for r in roofs] + [k.flop_rate for k in kernels])
    ax.set_ylim(top=top * 3)
    ax.set_title(title or "Roofline: solid = measured here, dashed = recorded, dotted = published")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def kernel_table(ceilings: Ceilings | Sequence[Ceilings], kernels: Iterable[Kernel]) -> pd.DataFrame:  # noqa: F821
    """One row per timed kernel: intensity (FLOP/byte), time (seconds), GFLOP/s, GB/s, the
    fraction of its device's roof it reaches, and whether it is memory- or compute-bound."""
    import pandas as pd

    roofs = [ceilings] if isinstance(ceilings, Ceilings) else list(ceilings)
    by_label = {}
    for roof in roofs:
        by_label[roof.name] = roof
        by_label.setdefault("this CPU" if roof.device == "cpu" else "this GPU", roof)
    rows = []
    for k in kernels:
        if k.seconds is None:
            continue
        roof = by_label.get(k.device)
        rows.append({
            "device": k.device, "kernel": k.name, "intensity": round(k.intensity, 3), "seconds": k.seconds,
            "time": _timing.format_seconds(k.seconds), "gflops": k.flop_rate / 1e9, "gbs": k.byte_rate / 1e9,
            "of_roof": None if roof is None else float(k.flop_rate / roof.attainable(k.intensity)),
            "bound": None if roof is None else roof.bound(k),
        })
    return pd.DataFrame(rows)


def devices_table(here: Ceilings | None = None) -> pd.DataFrame:  # noqa: F821
    """The published reference devices plus, when given, this machine's measured row.

    This machine's bandwidth and FP32 FLOP/s are the measured ceilings (not a vendor's peak);
    its ``source`` column says so.
    """
    import pandas as pd

    table = published_peaks()
    table["source"] = "published"
    if here is not None:
        cpu = _device.cpu()
        row = {
            "kind": here.device.upper(), "year": None, "cores": cpu.physical_cores if here.device == "cpu" else None,
            "clock_ghz": round(_device.cpu_clock_hz() / 1e9, 2) if here.device == "cpu" else None,
            "memory_gib": round(cpu.memory_bytes / 2**30, 1) if here.device == "cpu" else None,
            "bandwidth_gbs": round(here.bandwidth / GB, 1), "fp32_tflops": round(here.flops / TFLOPS, 3),
            "price_usd": None, "gflops_per_usd": None, "source": f"measured here ({here.date})",
        }
        table = pd.concat([table, pd.DataFrame([row], index=[here.name])])
    return table


def plot_devices(table: pd.DataFrame, ax=None):  # noqa: F821
    """Peak FP32 FLOP/s against memory bandwidth (log-log), one labelled point per device;
    measured rows drawn as stars. Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    ordered = table.sort_values("bandwidth_gbs")
    for i, (name, row) in enumerate(ordered.iterrows()):
        measured = str(row.get("source", "")).startswith("measured")
        colour = "tab:red" if measured else ("tab:green" if row["kind"] == "GPU" else "tab:blue")
        point = (row["bandwidth_gbs"] * GB, row["fp32_tflops"] * TFLOPS)
        ax.plot(*point, "*" if measured else "o", color=colour, ms=14 if measured else 7)
        # neighbours alternate below/above their point so close devices' labels do not collide
        ax.annotate(name.replace("NVIDIA ", "").replace("Intel Core ", ""), point, textcoords="offset points",
                    xytext=(6, -10 if i % 2 else 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(x=0.25, y=0.1)  # room for the labels of the outermost devices
    ax.set_xlabel("memory bandwidth (bytes/s)")
    ax.set_ylabel("peak FP32 compute (FLOP/s)")
    return ax
