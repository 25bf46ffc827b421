"""When does the GPU win? Time an operation over sizes on CPU and GPU, with and without the
host<->device copies, to compare the curves (reading off the crossover is Exercise 1.4's).

Without a GPU, the GPU side comes from a recorded run (``data/reference/``) or, failing that,
from a *bound* computed from a device's published peaks: ``max(FLOP / peak, bytes / bandwidth)``,
plus copies over the host link; or from one figure per component (:func:`bound_from_components`:
each a published measurement where one exists, else a datasheet peak or a typical value, named in
its label). A bound is a best case, never a measurement, and is labelled so.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from coursekit.perf import timing
from coursekit.perf.reference import ReferenceDevice

if TYPE_CHECKING:
    from coursekit.perf.published import Entry

# PCI Express 5.0 x16, per direction (PCI-SIG): the host link of H100/H200 boards.
PCIE5_X16_BYTES_PER_S = 64e9

# Latency floors of a GPU call, whatever its size. A kernel launch costs a few microseconds of
# driver work (NVIDIA's CUDA Graphs posts: ~2-4 us per launch; a PyTorch eager op adds framework
# overhead on top, ~5-10 us in all); a cudaMemcpy has ~10 us of fixed cost (driver, DMA set-up and
# the PCIe round trip) before its bytes move. Typical values, not a measurement of any one system.
LAUNCH_LATENCY_S = 5e-6
COPY_LATENCY_S = 10e-6


def cost(op: str, n: int, itemsize: int = 4) -> tuple[float, float, float]:
    """(FLOP, device memory bytes, host<->device bytes) of ``op`` on size ``n``.

    ``"add"``: two length-n vectors; ``"matmul"``: two n x n matrices. Copies move both inputs
    to the device and the result back.
    """
    if op == "add":
        return float(n), 3.0 * n * itemsize, 3.0 * n * itemsize
    if op == "matmul":
        return 2.0 * n**3, 3.0 * n * n * itemsize, 3.0 * n * n * itemsize
    raise ValueError(f"unknown op {op!r}: use 'add' or 'matmul'")


def measure(op: str, sizes: Sequence[int], device: str = "cpu", min_time: float = 0.05) -> pd.DataFrame:
    """Median seconds of ``op`` with torch on ``device`` per size: ``compute_s`` (data already
    there) and ``with_copies_s`` (inputs copied from the host, result copied back; on the CPU
    the same as ``compute_s``)."""
    import torch

    fn = torch.add if op == "add" else torch.matmul
    rows = []
    for n in sizes:
        shape = (n,) if op == "add" else (n, n)
        a_host, b_host = torch.randn(*shape), torch.randn(*shape)
        a, b = a_host.to(device), b_host.to(device)
        compute = timing.benchmark(fn, a, b, device=device, min_time=min_time).median
        if device == "cpu":
            copies = compute
        else:

            def round_trip(a_host=a_host, b_host=b_host):  # copy in, compute, copy out
                return fn(a_host.to(device), b_host.to(device)).cpu()

            copies = timing.benchmark(round_trip, device=device, min_time=min_time).median
        rows.append({"op": op, "n": n, "compute_s": compute, "with_copies_s": copies})
    return pd.DataFrame(rows)


def measure_cpu(
    op: str, sizes: Sequence[int], thread_counts: Sequence[int] | None = None, rounds: int = 3, min_time: float = 0.02
) -> pd.DataFrame:
    """Seconds per call of ``op`` with torch on the CPU at each size: the best of ``rounds``
    interleaved rounds, each timing every count in ``thread_counts`` (default 1 and the threads in
    effect, :func:`coursekit.machine.threads.in_effect`) inside ``threads.limited``, a median of
    ``min_time`` seconds of calls each. A thread pool's wake-up on a busy machine can make one
    round's multi-threaded call of a tiny matrix 50x slower than the arithmetic; a single thread, or
    a quieter round, is then the CPU's real time. Columns: ``op``, ``n``, ``compute_s`` (the best),
    ``with_copies_s`` (the same: no copies on the CPU), ``threads`` (the count that gave the best)."""
    import torch

    from coursekit.machine import threads

    counts = sorted(set(thread_counts or (1, threads.in_effect())))
    fn = torch.add if op == "add" else torch.matmul
    rows = []
    for n in sizes:
        shape = (n,) if op == "add" else (n, n)
        a, b = torch.randn(*shape), torch.randn(*shape)
        best, best_threads = float("inf"), counts[0]
        for _ in range(rounds):  # each round times every thread count: a busy spell hits them alike
            for count in counts:
                with threads.limited(count):
                    seconds = timing.benchmark(fn, a, b, device="cpu", min_time=min_time).median
                if seconds < best:
                    best, best_threads = seconds, count
        rows.append({"op": op, "n": n, "compute_s": best, "with_copies_s": best, "threads": best_threads})
    return pd.DataFrame(rows)


def from_recorded(rows: list[dict], op: str) -> pd.DataFrame:
    """The crossover rows of a recorded reference (``reference.reference_data(...)["crossover"]``) for ``op``."""
    frame = pd.DataFrame(rows)
    return frame[frame["op"] == op].reset_index(drop=True)


def bound_from_published(
    ref: ReferenceDevice,
    op: str,
    sizes: Sequence[int],
    link_bytes_per_s: float = PCIE5_X16_BYTES_PER_S,
    launch_s: float = LAUNCH_LATENCY_S,
    copy_latency_s: float = COPY_LATENCY_S,
) -> pd.DataFrame:
    """Best-case seconds on ``ref`` from its published peaks, perfect efficiency: NOT a measurement.

    ``compute_s`` = one launch (``launch_s``) + ``max(FLOP / peak, bytes / bandwidth)``;
    ``with_copies_s`` adds three copies over the host link (two inputs in, the result out), each
    ``copy_latency_s`` + bytes / ``link_bytes_per_s``. Pass 0 latencies for the bare peaks.
    """
    rows = []
    for n in sizes:
        flops, dev_bytes, link_bytes = cost(op, n)
        compute = launch_s + max(flops / ref.flop_per_s, dev_bytes / ref.bytes_per_s)
        copies = 3 * copy_latency_s + link_bytes / link_bytes_per_s
        rows.append({"op": op, "n": n, "compute_s": compute, "with_copies_s": compute + copies})
    return pd.DataFrame(rows)


# The components of a bound built piece by piece (:func:`bound_from_components`): key -> (what it
# is, its short name for a legend, the unit it is printed in, that unit's SI factor).
COMPONENTS: dict[str, tuple[str, str, str, float]] = {
    "flop_per_s": ("FP32 compute", "FP32 peak", "TFLOP/s", 1e12),
    "bytes_per_s": ("device memory bandwidth", "memory", "TB/s", 1e12),
    "h2d_bytes_per_s": ("host-to-device copies", "copy in", "GB/s", 1e9),
    "d2h_bytes_per_s": ("device-to-host copies", "copy out", "GB/s", 1e9),
    "launch_s": ("kernel launch", "launch", "us", 1e-6),
    "copy_latency_s": ("fixed cost per copy", "copy latency", "us", 1e-6),
}


@dataclass(frozen=True)
class Part:
    """One component of a bound: ``value`` in SI units (FLOP/s, bytes/s or seconds), its ``basis``
    (``"published measurement"``, ``"datasheet peak"``, ``"typical value"`` ...) and ``source``
    (which device, benchmark and reference: the text after the basis in a printed line)."""

    value: float
    basis: str
    source: str

    @classmethod
    def from_entry(cls, entry: Entry, note: str = "") -> Part:
        """A published measurement (:mod:`coursekit.perf.published`) as a part, its value in SI
        units; ``note`` is appended to the source (e.g. ``"another GPU"``)."""
        from coursekit.perf import published

        source = f"{entry.device}, {entry.what}, {entry.source.cite()}" + (f"; {note}" if note else "")
        return cls(published.si_value(entry), published.TIER, source)


def bound_from_components(op: str, sizes: Sequence[int], parts: Mapping[str, Part]) -> pd.DataFrame:
    """Best-case seconds of ``op`` from one value per component (``parts``, keyed as
    :data:`COMPONENTS`), each from wherever the best figure for it comes: NOT a measurement of
    ``op``. ``compute_s`` = ``launch_s`` + ``max(FLOP / flop_per_s, bytes / bytes_per_s)``;
    ``with_copies_s`` adds the inputs copied in at ``h2d_bytes_per_s`` and the result copied back
    at ``d2h_bytes_per_s``, each of the three copies ``copy_latency_s`` more.

    >>> rates = ("flop_per_s", "bytes_per_s", "h2d_bytes_per_s", "d2h_bytes_per_s")
    >>> parts = {key: Part(1e9, "made up", "") for key in rates}
    >>> parts |= {key: Part(0.0, "made up", "") for key in ("launch_s", "copy_latency_s")}
    >>> bound_from_components("add", [1000], parts)[["compute_s", "with_copies_s"]].values.tolist()
    [[1.2e-05, 2.4e-05]]
    """
    missing = sorted(set(COMPONENTS) - set(parts))
    if missing:
        raise KeyError(f"bound_from_components needs a value for {missing}")
    value = {key: parts[key].value for key in COMPONENTS}
    rows = []
    for n in sizes:
        flops, dev_bytes, link_bytes = cost(op, n)
        compute = value["launch_s"] + max(flops / value["flop_per_s"], dev_bytes / value["bytes_per_s"])
        inputs, result = 2 * link_bytes / 3, link_bytes / 3  # two inputs in, one result out
        copies = 3 * value["copy_latency_s"] + inputs / value["h2d_bytes_per_s"] + result / value["d2h_bytes_per_s"]
        rows.append({"op": op, "n": n, "compute_s": compute, "with_copies_s": compute + copies})
    return pd.DataFrame(rows)


def parts_lines(parts: Mapping[str, Part]) -> list[str]:
    """One line per component: what it is, its value in its unit, its basis and source."""
    lines = []
    for key, (what, _, unit, scale) in COMPONENTS.items():
        if key in parts:
            part = parts[key]
            lines.append(f"{what}: {part.value / scale:.3g} {unit} ({part.basis}: {part.source})")
    return lines


def parts_legend(device: str, parts: Mapping[str, Part]) -> str:
    """A legend label naming the basis of each component (short names), grouped: ``'H100 bound:
    memory, copy in, ... = published measurement; FP32 peak = datasheet peak; ...'``."""
    by_basis: dict[str, list[str]] = {}
    for key, (_, short, _, _) in COMPONENTS.items():
        if key in parts:
            by_basis.setdefault(parts[key].basis, []).append(short)
    return f"{device} bound: " + "; ".join(f"{', '.join(whats)} = {basis}" for basis, whats in by_basis.items())


def plot(
    curves: dict[str, pd.DataFrame],
    op: str,
    ax=None,
    title: str | None = None,
    bounds: Collection[str] = (),
):
    """Time per call against size (log-log) for each labelled curve: solid = compute only,
    dashed = with copies (where it differs). Curves whose label is in ``bounds`` are bounds, not
    measurements: drawn without markers, dotted (compute only) and dash-dotted (with copies), and
    their legend entries say "bound". Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    for label, frame in curves.items():
        bound = label in bounds
        solid, dashed = (":", "-.") if bound else ("o-", "--")
        suffix = " (bound, not measured)" if bound and "bound" not in label else ""
        (line,) = ax.plot(frame["n"], frame["compute_s"], solid, ms=4, lw=2 if bound else 1.5, label=f"{label}{suffix}")
        if not np.allclose(frame["with_copies_s"], frame["compute_s"]):
            copies = "the same bound + copies" if bound else f"{label} + copies"
            ax.plot(frame["n"], frame["with_copies_s"], dashed, color=line.get_color(), label=copies)
    ax.set_xscale("log", base=2)  # sizes are powers of two: label them so
    ax.set_yscale("log")
    ax.set_xlabel("vector length n (elements)" if op == "add" else "matrix side n (n x n elements)")
    ax.set_ylabel("time per call (seconds)")
    ax.set_title(title or f"{op}: CPU vs GPU")
    ax.legend(fontsize=8)
    return ax
