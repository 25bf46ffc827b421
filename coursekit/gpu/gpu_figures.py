"""Notebook 02's GPU figures without a GPU: the published SGEMM ladder on an RTX A6000 against that
GPU's datasheet roofline (predict, then reveal), and published copy figures, each with its tier.

The matmul kernels are placed on the roofline at the intensity of the global-memory traffic their
code *asks for*, with no cache helping (FLOP per byte requested); the roofline then predicts
``min(peak, bandwidth x intensity)``. The published rates come from siboehm/SGEMM_CUDA
(``data/published/siboehm-sgemm-cuda.json``): FP32, ``C = alpha A B + beta C`` with
``M = N = K = 4096`` on an A6000, the mean of 50 launches timed with CUDA events (its
``sgemm.cu``). Nothing here measures anything.

    >>> k = sgemm_ladder_kernels()
    >>> {key: round(kernel.intensity, 3) for key, kernel in k.items()}
    {'uncoalesced': 0.25, 'naive': 0.25, 'tiled': 7.938, 'cublas': 512.0}
    >>> round(float(a6000_ceilings().attainable(k["tiled"].intensity)) / 1e9)
    6096
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coursekit.perf import published
from coursekit.perf.datasheets import OTHER_DEVICES
from coursekit.perf.reference import GPUResult
from coursekit.perf.reveal import Reveal, error_phrase, reveal
from coursekit.perf.roofline import Ceilings, Kernel

A6000 = OTHER_DEVICES["NVIDIA RTX A6000"]  # the GPU that siboehm/SGEMM_CUDA's ladder ran on

SGEMM_N = 4096  # the ladder's M = N = K
SGEMM_TILE = 32  # its kernel 3 stages 32 x 32 tiles (BLOCKSIZE = 32, 1024 threads per block)
FLOAT32 = 4  # bytes


def a6000_ceilings() -> Ceilings:
    """The RTX A6000's FP32 roofline from its datasheet (``source="published"``: a peak, not a
    measurement): 768 GB/s and 38.7 TFLOP/s, ridge about 50 FLOP/byte."""
    method = {"bandwidth": A6000.source, "flops": A6000.source}
    name = f"{A6000.name} FP32, datasheet"
    return Ceilings(name, "cuda", "float32", A6000.bytes_per_s, A6000.flop_per_s, "published", method)


def requested_bytes(traffic: str, n: int, tile: int | None = None, reads_c: bool = False) -> float:
    """Bytes of global memory an ``n x n x n`` float32 matmul asks for, if no cache helped.

    ``"naive"``: each of the ``n^2`` threads loads a row of A and a column of B, ``2n`` numbers;
    ``"tiled"``: each thread loads one number of each ``tile x tile`` tile, ``2n / tile`` numbers;
    ``"minimum"``: A and B read once (what a perfect library approaches). Every kernel writes C
    once, and reads it once more when ``reads_c`` (``C = alpha A B + beta C``).

    >>> requested_bytes("naive", 4) == 16 * (8 + 1) * 4
    True
    >>> requested_bytes("minimum", 4096, reads_c=True) / 4096**2
    16.0
    """
    c_words = 2 if reads_c else 1
    if traffic == "naive":
        return n * n * (2 * n + c_words) * FLOAT32
    if traffic == "tiled":
        if not tile:
            raise ValueError("a tiled kernel's traffic needs its tile size")
        return n * n * (2 * n / tile + c_words) * FLOAT32
    if traffic == "minimum":
        return n * n * (2 + c_words) * FLOAT32
    raise ValueError(f"traffic must be 'naive', 'tiled' or 'minimum', got {traffic!r}")


@dataclass(frozen=True)
class Rung:
    """One published kernel of the SGEMM ladder: ``key`` as the course names the kernel it matches
    (``naive``, ``tiled``, ``cublas``; ``uncoalesced`` has no course twin), its ``entry_id`` in
    ``data/published``, a plot ``name``, its ``traffic`` (see :func:`requested_bytes`) and how it
    differs from the course's kernel."""

    key: str
    entry_id: str
    name: str
    traffic: str
    versus_course: str


SGEMM_LADDER: tuple[Rung, ...] = (
    Rung(
        "uncoalesced",
        "sgemm-a6000-kernel1",
        "naive uncoalesced",
        "naive",
        "threadIdx.x runs down a column of C: a warp reads 32 rows of A (32 sectors per load)",
    ),
    Rung(
        "naive",
        "sgemm-a6000-kernel2",
        "naive coalesced",
        "naive",
        "the course's matmul_naive: threadIdx.x runs along a row of C, a warp reads 32 neighbours of B",
    ),
    Rung(
        "tiled",
        "sgemm-a6000-kernel3",
        "tiled 32x32",
        "tiled",
        "the course's matmul_tiled with 32 x 32 tiles (the course: 16 x 16)",
    ),
    Rung("cublas", "sgemm-a6000-kernel0", "cuBLAS", "minimum", "cuBLAS in FP32 (CUBLAS_COMPUTE_32F, no TF32)"),
)


def sgemm_ladder_kernels(entries: Any = None) -> dict[str, Kernel]:
    """The ladder's four kernels (untimed) at their requested-traffic intensities, for an
    ``SGEMM_N``-cubed FP32 GEMM that reads C (its beta is 3). Checks that each published entry is
    that size and precision (``entries``: default :func:`published.load`)."""
    out = {}
    for rung in SGEMM_LADDER:
        entry = published.get(rung.entry_id, entries)
        if entry.precision != "fp32" or entry.size != f"{SGEMM_N}x{SGEMM_N}x{SGEMM_N}":
            raise ValueError(f"{rung.entry_id}: expected an fp32 {SGEMM_N}^3 GEMM, got {entry.precision} {entry.size}")
        nbytes = requested_bytes(rung.traffic, SGEMM_N, SGEMM_TILE, reads_c=True)
        out[rung.key] = Kernel(rung.name, 2 * SGEMM_N**3, nbytes, device=a6000_ceilings().name)
    return out


def course_matmul_kernels(n: int, tile: int, device: str = "this GPU") -> dict[str, Kernel]:
    """The course's naive, tiled and cuBLAS kernels (untimed) for ``C = A @ B``, ``n`` cubed, at
    their requested-traffic intensities (1/4, about ``tile / 4``, about ``n / 6`` FLOP/byte)."""
    kinds = {"naive": ("naive", "naive"), "tiled": (f"tiled {tile}x{tile}", "tiled"), "cublas": ("cuBLAS", "minimum")}
    return {
        key: Kernel(f"{name} n={n}", 2 * n**3, requested_bytes(traffic, n, tile), device=device)
        for key, (name, traffic) in kinds.items()
    }


def published_sgemm_ladder(entries: Any = None) -> GPUResult:
    """The ladder as the third tier of ``gpu_result``: ``value`` maps each :data:`SGEMM_LADDER`
    key to its :class:`published.Entry`; the label names the source."""
    found = {rung.key: published.get(rung.entry_id, entries) for rung in SGEMM_LADDER}
    first = found["cublas"]
    label = (
        f"{published.TIER}: {first.device}, FP32 SGEMM {SGEMM_N}^3, {first.source.cite()}, "
        f"{'published ' if first.date_kind == 'published' else ''}{first.date}"
    )
    return GPUResult(found, published.TIER, label)


def matmul_rates(result: GPUResult, kernels: Mapping[str, Kernel]) -> dict[str, float]:
    """FLOP/s of each kernel in ``kernels`` that ``result`` holds: a published ladder's entries
    (:func:`published_sgemm_ladder`), or a measured or recorded ``{"naive_s": ..., ...}`` timing
    (seconds per call, as ``matmul.time_on_gpu`` returns) of kernels of ``kernels``' size."""
    if not result:
        return {}
    if result.source == published.TIER:
        return {key: published.si_value(result.value[key]) for key in kernels if key in result.value}
    return {key: k.flop / float(result.value[f"{key}_s"]) for key, k in kernels.items() if f"{key}_s" in result.value}


def kernel_label(result: GPUResult, key: str) -> str:
    """The label of one kernel's figure: its published entry's label, else the result's."""
    if result.source == published.TIER and key in result.value:
        return published.label(result.value[key])
    return result.label


def matmul_reveals(
    result: GPUResult,
    kernels: Mapping[str, Kernel],
    roof: Ceilings,
    guesses: Mapping[str, Any] | None = None,
    basis: str = "datasheet peaks",
    unit: str = "TFLOP/s",
) -> dict[str, Reveal]:
    """One :class:`Reveal` per kernel ``result`` holds: its rate against the roofline's prediction
    ``roof.attainable(intensity)`` and the student's guess (in ``unit``) for that kernel, if any."""
    guesses = guesses or {}
    out = {}
    for key, rate in matmul_rates(result, kernels).items():
        k = kernels[key]
        actual = GPUResult(rate, result.source, kernel_label(result, key))
        predicted = float(roof.attainable(k.intensity))
        out[key] = reveal(f"the {k.name} kernel's rate", unit, actual, predicted, guesses.get(key), basis)
    return out


def reveal_table(reveals: Mapping[str, Reveal], kernels: Mapping[str, Kernel]) -> Any:
    """The reveals as a table (pandas): intensity (FLOP/B), the roofline's prediction and the
    revealed rate (TFLOP/s, 4 significant digits), and how far the prediction was off."""
    import pandas as pd

    rows = []
    for key, r in reveals.items():
        rows.append(
            {
                "kernel": kernels[key].name,
                "intensity (FLOP/B)": float(f"{kernels[key].intensity:.4g}"),
                "roofline (TFLOP/s)": float(f"{(r.roofline_prediction or 0) / 1e12:.4g}"),
                "revealed (TFLOP/s)": float(f"{(r.revealed or 0) / 1e12:.4g}"),
                "roofline was": error_phrase(r.roofline_error or 0.0),
            }
        )
    return pd.DataFrame(rows).set_index("kernel")


def timed_kernels(kernels: Mapping[str, Kernel], rates: Mapping[str, float], tier: str) -> list[Kernel]:
    """The kernels with the time each rate implies (``flop / rate``) and ``tier`` (``"measured"``,
    ``"recorded"`` or ``"published measurement"``: :func:`roofline.plot` draws the last hollow)."""
    from dataclasses import replace

    return [replace(kernels[key], seconds=kernels[key].flop / rate, tier=tier) for key, rate in rates.items()]


# ----------------------------------------------------------------------- copies: pinned vs pageable

COPY_QUANTITIES = {"h2d_bandwidth": "host->device", "d2h_bandwidth": "device->host"}


def pinned_vs_pageable(entries: Any = None) -> Any:
    """Published host<->device copy rates (GB/s) of every device that has a *pageable* figure,
    beside the pinned figure of the same source file (same tool, same host), as a table (pandas):
    one row per device, columns ``host->device pageable`` ... ``device->host pinned`` and the
    entry ids. Empty when no published entry is pageable."""
    import pandas as pd

    pool = published.load() if entries is None else list(entries)
    pageable = [e for q in COPY_QUANTITIES for e in published.find(q, entries=pool, host_memory="pageable")]
    files = {e.file for e in pageable}
    devices = sorted({e.device for e in pageable})
    rows = []
    for device in devices:
        row: dict[str, Any] = {"device": device}
        ids = []
        for quantity, direction in COPY_QUANTITIES.items():
            for memory in ("pageable", "pinned"):
                hits = [e for e in published.find(quantity, entries=pool, host_memory=memory) if e.device == device]
                hits = [e for e in hits if e.file in files]
                if hits:
                    row[f"{direction} {memory} (GB/s)"] = published.si_value(hits[0]) / 1e9
                    ids.append(hits[0].id)
        row["entries"] = ", ".join(ids)
        rows.append(row)
    return pd.DataFrame(rows).set_index("device") if rows else pd.DataFrame(rows)


def sgemm_full_ladder(entries: Any = None) -> Any:
    """Every published kernel of siboehm/SGEMM_CUDA's ladder on the A6000 (FP32, 4096^3) as a table
    (pandas), slowest first: its name in the source, GFLOP/s as published, and its share of cuBLAS's
    rate (per cent, 3 significant digits)."""
    import pandas as pd

    pool = published.load() if entries is None else list(entries)
    ladder = [e for e in pool if e.file == "siboehm-sgemm-cuda.json" and e.quantity == "matmul_flops"]
    cublas = published.get(SGEMM_LADDER[-1].entry_id, pool)
    rows = [
        {
            "kernel (siboehm/SGEMM_CUDA)": e.conditions.get("kernel", e.id),
            "GFLOP/s": e.value,
            "of cuBLAS (%)": float(f"{100 * published.si_value(e) / published.si_value(cublas):.3g}"),
        }
        for e in sorted(ladder, key=published.si_value)
    ]
    return pd.DataFrame(rows).set_index("kernel (siboehm/SGEMM_CUDA)")


def tier_legend(result: GPUResult) -> str:
    """A short legend entry for a plot's points: ``published measurement: <source>`` for the
    published ladder, else the tier and the result's label (``measured: H100 ..., measured here``)."""
    if result.source == published.TIER and isinstance(result.value, Mapping) and result.value:
        entry = next(iter(result.value.values()))
        return f"{published.TIER}: {entry.source.cite()}"
    return f"{result.source}: {result.label}"


def tier_row(what: str, result: GPUResult, related: tuple[str, ...] = ()) -> dict[str, str]:
    """One row of the closing note's table of GPU cells: ``what`` the cell shows, the tier shown
    and its source. A result of no tier with ``related`` entry ids shows them as a related
    published figure (not the cell's own quantity); with neither, the tier is ``none``."""
    if result:
        source = tier_legend(result).split(": ", 1)[1] if result.source == published.TIER else result.label
        return {"GPU cell": what, "tier shown": result.source, "source": source}
    if related:
        return {"GPU cell": what, "tier shown": "published measurement (related)", "source": ", ".join(related)}
    return {"GPU cell": what, "tier shown": "none", "source": "no tier holds it"}
