"""The roofline model: a device's two ceilings, and where the course's kernels sit under them.

A kernel doing ``F`` floating-point operations while moving at least ``B`` bytes to or from
memory has *arithmetic intensity* ``I = F / B`` (FLOP/byte). On a device with memory bandwidth
``W`` (bytes/s) and peak compute ``P`` (FLOP/s) it can reach at most ``min(P, W * I)`` FLOP/s:
below the *ridge point* ``I = P / W`` it is memory-bound, above it compute-bound.

``measure_ceilings`` (from :mod:`coursekit.perf.ceilings`) measures ``W`` with STREAM's triad
``a = b + s * c`` on arrays far larger than the last-level cache, and ``P`` with a large matrix
multiply (GEMM); results are cached per machine and kind of measurement. ``PUBLISHED`` holds
vendors' peak figures for the lectures' devices and today's, and ``load_reference`` the results
recorded on real GPUs in ``data/reference/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from coursekit.perf import timing as _timing

if TYPE_CHECKING:
    import pandas as pd

# ----------------------------------------------------------------------------------- kernels


@dataclass(frozen=True)
class Kernel:
    """One operation's work: ``flop`` (FLOP), minimum ``nbytes`` moved (bytes), and, once timed,
    ``seconds`` per call on ``device`` (a label matching a :class:`Ceilings` name). ``tier`` says
    where the time comes from: ``"measured"`` (here), ``"recorded"`` or ``"published measurement"``
    (elsewhere: :func:`plot` draws it as a hollow diamond, never like a point measured here)."""

    name: str
    flop: float
    nbytes: float
    seconds: float | None = None
    device: str = ""
    tier: str = "measured"

    @property
    def intensity(self) -> float:
        """Arithmetic intensity (FLOP/byte)."""
        return self.flop / self.nbytes

    @property
    def flop_per_s(self) -> float | None:
        """Achieved FLOP/s, once timed."""
        return None if self.seconds is None else self.flop / self.seconds

    @property
    def bytes_per_s(self) -> float | None:
        """Achieved bytes/s (of the minimum traffic), once timed."""
        return None if self.seconds is None else self.nbytes / self.seconds

    def timed(self, seconds: float, device: str = "") -> Kernel:
        """A copy with its measured time per call (seconds) and device label."""
        return replace(self, seconds=seconds, device=device or self.device)


def _itemsize(dtype: Any) -> int:
    return np.dtype(dtype).itemsize


def elementwise(
    n: int,
    dtype: Any = "float32",
    inputs: int = 2,
    outputs: int = 1,
    flops_per_element: float = 1,
    name: str | None = None,
) -> Kernel:
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
    """A device's roofline: ``bytes_per_s`` (memory bandwidth) and ``flop_per_s`` (compute) for ``dtype``.

    ``source`` is ``"measured"`` (here, now), ``"recorded"`` (measured on that device earlier,
    see ``date`` and ``meta``) or ``"published"`` (the vendor's peak, see ``method``).
    """

    name: str
    device: str
    dtype: str
    bytes_per_s: float
    flop_per_s: float
    source: str = "measured"
    method: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    date: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ridge(self) -> float:
        """Ridge point (FLOP/byte): kernels of lower intensity are memory-bound."""
        return self.flop_per_s / self.bytes_per_s

    def attainable(self, intensity: float | np.ndarray) -> float | np.ndarray:
        """The roof: ``min(flop_per_s, bytes_per_s * intensity)`` in FLOP/s."""
        return np.minimum(self.flop_per_s, self.bytes_per_s * np.asarray(intensity, dtype=float))

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


# ------------------------------------------------------------------------------------- plot


def plot(
    ceilings: Ceilings | Sequence[Ceilings],
    kernels: Iterable[Kernel] = (),
    ax=None,
    title: str | None = None,
    annotate: bool = True,
):
    """Log-log roofline: each device's bandwidth slope and compute roof (distinct colours), its
    ridge point, and the timed ``kernels`` as labelled points at (intensity, achieved FLOP/s).

    A kernel takes the colour of the device whose ``name`` (or ``"this CPU"``/``"this GPU"``
    for measured ceilings) matches its ``device`` label. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    roofs = [ceilings] if isinstance(ceilings, Ceilings) else list(ceilings)
    # the timed kernels, with their achieved FLOP/s (None exactly when ``seconds`` is None)
    timed = [(k, k.flop_per_s) for k in kernels if k.flop_per_s is not None]
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.8))
    intensities = [k.intensity for k, _ in timed] + [r.ridge for r in roofs]
    lo = min([1 / 16, *intensities]) / 2
    hi = max([256, *intensities]) * 2
    x = np.logspace(np.log10(lo), np.log10(hi), 200)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour_of: dict[str, str] = {}
    for i, roof in enumerate(roofs):
        colour = colours[i % len(colours)]
        style = "-" if roof.source == "measured" else ("--" if roof.source == "recorded" else ":")
        ax.plot(x, roof.attainable(x), style, color=colour, lw=2, label=roof.label)
        ax.plot([roof.ridge], [roof.flop_per_s], "o", color=colour, ms=5)
        if annotate:
            ax.annotate(
                f"ridge {roof.ridge:.3g} FLOP/B",
                (roof.ridge, roof.flop_per_s),
                textcoords="offset points",
                xytext=(-6, 6),  # above and left of the ridge: clear of the roof and of kernels past it
                ha="right",
                fontsize=8,
                color=colour,
            )
        colour_of[roof.name] = colour
        colour_of.setdefault("this CPU" if roof.device == "cpu" else "this GPU", colour)
    for i, (k, achieved) in enumerate(sorted(timed, key=lambda pair: pair[0].intensity)):
        colour = colour_of.get(k.device, "grey")
        if k.tier == "published measurement":  # measured elsewhere: hollow, another shape
            ax.plot(k.intensity, achieved, "D", color=colour, ms=6, mfc="none", mew=1.5)
        else:
            ax.plot(k.intensity, achieved, "s", color=colour, ms=6, mec="black", mew=0.5)
        if annotate:  # alternate above/below so neighbours' labels do not overlap
            ax.annotate(
                k.name,
                (k.intensity, achieved),
                textcoords="offset points",
                xytext=(5, 4 if i % 2 == 0 else -11),
                fontsize=7,
                color=colour,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("performance (FLOP/s)")
    top = max([r.flop_per_s for r in roofs] + [achieved for _, achieved in timed])
    ax.set_ylim(top=top * 3)
    ax.set_title(title or "Roofline: solid = measured here, dashed = recorded, dotted = published")
    ax.legend(fontsize=8, loc="upper left")  # ridge labels sit above-left of their ridge, clear of it
    return ax


def kernel_table(ceilings: Ceilings | Sequence[Ceilings], kernels: Iterable[Kernel]) -> pd.DataFrame:
    """One row per timed kernel: intensity (FLOP/byte), time (seconds), GFLOP/s, GB/s, the
    fraction of its device's roof it reaches, and whether it is memory- or compute-bound."""
    import pandas as pd

    roofs = [ceilings] if isinstance(ceilings, Ceilings) else list(ceilings)
    by_label: dict[str, Ceilings] = {}
    for roof in roofs:
        by_label[roof.name] = roof
        by_label.setdefault("this CPU" if roof.device == "cpu" else "this GPU", roof)
    rows = []
    for k in kernels:
        flop_per_s, bytes_per_s = k.flop_per_s, k.bytes_per_s  # None exactly when seconds is None
        if k.seconds is None or flop_per_s is None or bytes_per_s is None:
            continue
        dev_roof = by_label.get(k.device)
        rows.append(
            {
                "device": k.device,
                "kernel": k.name,
                "intensity": round(k.intensity, 3),
                "seconds": k.seconds,
                "time": _timing.format_seconds(k.seconds),
                "gflops": flop_per_s / 1e9,
                "gbs": bytes_per_s / 1e9,
                "of_roof": None if dev_roof is None else float(flop_per_s / dev_roof.attainable(k.intensity)),
                "bound": None if dev_roof is None else dev_roof.bound(k),
            }
        )
    return pd.DataFrame(rows)
