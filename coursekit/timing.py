"""Timing that tells the truth: warm-up, adaptive repeats, medians with spread, GPU sync.

``benchmark(fn, *args)`` calls ``fn`` once cold, warms up, then collects samples until
``min_time`` seconds of them exist. When one call is too short to time well against the
clock's resolution, each sample times a batch of calls (as ``timeit.Timer.autorange`` does),
and reports per-call times. On a GPU device every sample ends with a synchronisation, so the
time includes the work, not only its launch.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import device as _device

if TYPE_CHECKING:
    import pandas as pd

# One sample should last at least this long so the clock's resolution and the loop's own
# overhead are negligible (perf_counter resolves ~100 ns; 200 us is 2000x that).
_MIN_SAMPLE_SECONDS = 2e-4


def format_seconds(seconds: float) -> str:
    """``1.5e-6`` -> ``'1.50 us'``: seconds with an automatic unit (ns, us, ms, s)."""
    if not math.isfinite(seconds):
        return str(seconds)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


@dataclass
class Measurement:
    """Per-call timings of one function, in seconds.

    ``times`` holds one per-call time per sample (a sample may have timed a batch of
    ``batch`` calls and divided); ``n`` is the total number of calls timed; ``cold`` the time
    of the very first call (compilation, caches and allocation included).
    """

    label: str
    times: np.ndarray
    n: int
    batch: int
    cold: float
    device: str = "cpu"
    simulator: bool = False
    flops: float | None = None
    bytes: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        """Median per-call time (seconds)."""
        return float(np.median(self.times))

    @property
    def mean(self) -> float:
        """Mean per-call time (seconds)."""
        return float(np.mean(self.times))

    @property
    def iqr(self) -> float:
        """Interquartile range of the per-call times (seconds): the spread."""
        q1, q3 = np.percentile(self.times, [25, 75])
        return float(q3 - q1)

    @property
    def flop_rate(self) -> float | None:
        """FLOP/s at the median time, when ``flops`` (per call) was given."""
        return None if self.flops is None else self.flops / self.median

    @property
    def byte_rate(self) -> float | None:
        """Bytes/s at the median time, when ``bytes`` (per call) was given."""
        return None if self.bytes is None else self.bytes / self.median

    def __repr__(self) -> str:
        where = self.device + (" (simulator: not a GPU time)" if self.simulator else "")
        text = (
            f"{self.label}: median {format_seconds(self.median)} ± {format_seconds(self.iqr)} (IQR) "
            f"per call, {self.n} calls in {len(self.times)} samples, cold {format_seconds(self.cold)}, {where}"
        )
        if self.flop_rate is not None:
            text += f", {self.flop_rate / 1e9:.3g} GFLOP/s"
        if self.byte_rate is not None:
            text += f", {self.byte_rate / 1e9:.3g} GB/s"
        return text

    def _repr_html_(self) -> str:
        return f"<code>{repr(self)}</code>"


def benchmark(
    fn: Callable[..., Any],
    *args: Any,
    device: str = "cpu",
    warmup: int = 1,
    min_time: float = 0.2,
    max_time: float = 5.0,
    min_samples: int = 5,
    label: str | None = None,
    flops: float | None = None,
    bytes: float | None = None,  # noqa: A002 - the unit is the point
    **kwargs: Any,
) -> Measurement:
    """Time ``fn(*args, **kwargs)``; per-call seconds in the returned :class:`Measurement`.

    ``device``: ``"cpu"`` or ``"cuda"`` (then every sample is synchronised, see
    :func:`coursekit.device.sync`; without a GPU, CUDA kernels run on numba-cuda's simulator and
    the result says so). ``warmup``: calls after the cold one before timing.
    Samples are collected until ``min_time`` seconds and ``min_samples`` samples exist, or
    ``max_time`` seconds have passed (at least ``min_samples`` are taken regardless).
    ``flops``/``bytes``: work per call, to report FLOP/s and bytes/s.
    """
    on_gpu = device.lower() in ("cuda", "gpu")

    def sync() -> None:
        if on_gpu:
            _device.sync("cuda")

    # Bind the arguments once: a Python-level *args/**kwargs call in the loop costs ~30 ns,
    # as much as a tiny function itself. partial's call happens in C.
    call = functools.partial(fn, *args, **kwargs) if (args or kwargs) else fn
    repeat = itertools.repeat
    clock = time.perf_counter
    sync()
    t0 = clock()
    call()
    sync()
    cold = clock() - t0
    for _ in range(warmup):
        call()
    sync()

    # Find a batch size that makes one sample last long enough (timeit's autorange idea).
    batch = 1
    while True:
        t0 = clock()
        for _ in repeat(None, batch):
            call()
        sync()
        elapsed = clock() - t0
        if elapsed >= _MIN_SAMPLE_SECONDS or batch >= 1_000_000:
            break
        batch *= 10 if elapsed < _MIN_SAMPLE_SECONDS / 20 else 2

    samples = [elapsed / batch]
    start = clock()
    while True:
        spent = clock() - start
        enough = spent >= min_time and len(samples) >= min_samples
        if enough or (spent >= max_time and len(samples) >= min_samples):
            break
        t0 = clock()
        for _ in repeat(None, batch):
            call()
        sync()
        samples.append((clock() - t0) / batch)

    return Measurement(
        label=label or getattr(fn, "__name__", "fn"),
        times=np.asarray(samples, dtype=float),
        n=len(samples) * batch,
        batch=batch,
        cold=cold,
        device="cuda" if on_gpu else "cpu",
        # CUDA work without a GPU can only have run on numba-cuda's CPU simulator.
        simulator=on_gpu and not _device.gpu_available() and _device.simulator_enabled(),
        flops=flops,
        bytes=bytes,
    )


def compare(measurements: list[Measurement], baseline: str | None = None) -> "pd.DataFrame":
    """A table of measurements: median and IQR (seconds) and speed-up vs ``baseline``.

    ``baseline`` is a label among ``measurements`` (default: the first). Speed-up is
    ``baseline median / median``, so bigger is faster.
    """
    import pandas as pd

    if not measurements:
        raise ValueError("compare: no measurements given")
    by_label = {m.label: m for m in measurements}
    if len(by_label) != len(measurements):
        raise ValueError("compare: labels must be distinct")
    if baseline is not None and baseline not in by_label:
        raise ValueError(f"compare: baseline {baseline!r} is not among {list(by_label)}")
    base = by_label[baseline] if baseline is not None else measurements[0]
    rows = [
        {
            "label": m.label,
            "median": format_seconds(m.median),
            "iqr": format_seconds(m.iqr),
            "median_s": m.median,
            "speedup": base.median / m.median,
            "device": m.device + (" (simulator)" if m.simulator else ""),
        }
        for m in measurements
    ]
    return pd.DataFrame(rows).set_index("label")


def plot_comparison(measurements: list[Measurement], baseline: str | None = None, ax=None, title: str | None = None):
    """Horizontal bars of median time per call (log seconds axis), IQR as error bars.

    Each bar is annotated with its speed-up vs ``baseline``. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    table = compare(measurements, baseline)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 0.6 + 0.5 * len(table)))
    medians = table["median_s"].to_numpy()
    spreads = np.array([m.iqr for m in measurements])
    y = np.arange(len(table))
    ax.barh(y, medians, xerr=spreads, color="tab:blue", alpha=0.8)
    ax.set_yticks(y, table.index)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median time per call (seconds, log scale)")
    for yi, (med, sp) in enumerate(zip(medians, table["speedup"])):
        ax.annotate(f" {format_seconds(med)} ({sp:.3g}x)", (med, yi), va="center", fontsize=9)
    ax.set_xlim(right=medians.max() * 30)
    ax.set_title(title or "Median time per call (shorter is faster)")
    return ax
