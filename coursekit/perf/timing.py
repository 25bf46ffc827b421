"""Timing that tells the truth: warm-up, adaptive repeats, medians with spread, GPU sync.

``benchmark(fn, *args)`` calls ``fn`` once cold, warms up, then collects samples until
``min_time`` seconds of them exist. When one call is too short to time well against the
clock's resolution, each sample times a batch of calls (as ``timeit.Timer.autorange`` does),
and reports per-call times. Its steps are public for callers that schedule samples themselves,
as :func:`coursekit.perf.compare.interleaved` does: :class:`Sampler`, :func:`enough_samples`
and :func:`is_gpu_work`.

GPU work is asynchronous: a launch returns as soon as the work is *queued*. On a CUDA device
each sample is bracketed by CUDA events and ends with a synchronisation, so ``times`` is the
device's time for the work, and ``host_times`` the time the host needed to enqueue it. The
gap between the two is the asynchronous-launch pitfall::

    >>> import time, threading
    >>> work = []                                       # a stand-in for a GPU queue
    >>> def launch():                                   # returns at once, like a kernel launch
    ...     t = threading.Thread(target=time.sleep, args=(0.05,)); t.start(); work.append(t)
    >>> with Timer("cpu") as naive:                     # no synchronisation: times the launch only
    ...     launch()
    >>> naive.elapsed < 0.01
    True
    >>> for t in work: t.join()                         # what device.sync() does for a real GPU

Thread counts are recorded, never changed (``torch.utils.benchmark`` times torch with one
thread unless told otherwise). Measurements of CUDA kernels on numba-cuda's simulator say so:
they are CPU emulation times, not GPU times.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coursekit.gpu import sim_switch as _sim_switch
from coursekit.machine import device as _device

# One sample should last at least this long so the clock's resolution and the loop's own
# overhead are negligible (perf_counter resolves ~100 ns; 200 us is 2000x that).
_MIN_SAMPLE_SECONDS = 2e-4
_MAX_BATCH = 1_000_000


def format_seconds(seconds: float) -> str:
    """``1.5e-6`` -> ``'1.5 us'``: seconds with an automatic unit (ns, us, ms, s)."""
    if not math.isfinite(seconds):
        return str(seconds)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def iqr(values: Any) -> float:
    """Interquartile range of ``values`` (same unit): the spread the course reports beside a median."""
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)


def thread_counts() -> dict[str, int]:
    """Threads each loaded library may use: ``cpus`` (the CPUs this process may keep busy, a cgroup
    quota counted: :func:`coursekit.machine.device.usable_cpus`), ``torch`` when imported."""
    counts = {"cpus": _device.usable_cpus()}
    torch = sys.modules.get("torch")
    if torch is not None:
        counts["torch"] = torch.get_num_threads()
    return counts


@dataclass
class Measurement:
    """Per-call timings of one function, in seconds.

    ``times`` holds one per-call time per sample (a sample may have timed a batch of
    ``batch`` calls and divided); on a GPU these are device times from CUDA events and
    ``host_times`` the host's time to enqueue the same calls. ``n`` is the number of calls
    timed; ``cold`` the time of the very first call (compilation, caches, allocation included).
    ``flop``/``nbytes`` are the work of one call (FLOP, bytes), for rates.
    """

    label: str
    times: np.ndarray
    n: int
    batch: int
    cold: float
    device: str = "cpu"
    simulator: bool = False
    host_times: np.ndarray | None = None
    flop: float | None = None
    nbytes: float | None = None
    threads: dict[str, int] = field(default_factory=dict)

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
        return iqr(self.times)

    @property
    def best(self) -> float:
        """Fastest per-call sample (seconds)."""
        return float(np.min(self.times))

    @property
    def host_median(self) -> float | None:
        """Median host time to enqueue one call on a GPU (seconds); None on the CPU."""
        return None if self.host_times is None else float(np.median(self.host_times))

    @property
    def flop_per_s(self) -> float | None:
        """FLOP/s at the median time, when ``flop`` (per call) was given."""
        return None if self.flop is None else self.flop / self.median

    @property
    def bytes_per_s(self) -> float | None:
        """Bytes/s at the median time, when ``nbytes`` (per call) was given."""
        return None if self.nbytes is None else self.nbytes / self.median

    @property
    def where(self) -> str:
        """Where it ran, e.g. ``'cpu'``, ``'cuda'`` or ``'cuda (simulator)'``."""
        return self.device + (" (simulator)" if self.simulator else "")

    def __repr__(self) -> str:
        where = "cuda (simulator: CPU emulation, not a GPU time)" if self.simulator else self.device
        text = (
            f"{self.label}: median {format_seconds(self.median)} ± {format_seconds(self.iqr)} (IQR) "
            f"per call, {self.n} calls in {len(self.times)} samples, cold {format_seconds(self.cold)}, {where}"
        )
        host = self.host_median  # None exactly when host_times is None (a CPU measurement)
        if host is not None:
            text += f", host enqueue {format_seconds(host)}"
        if self.flop_per_s is not None:
            text += f", {self.flop_per_s / 1e9:.3g} GFLOP/s"
        if self.bytes_per_s is not None:
            text += f", {self.bytes_per_s / 1e9:.3g} GB/s"
        return text

    def _repr_html_(self) -> str:
        return f"<code>{repr(self)}</code>"


# ------------------------------------------------------------------------------ GPU helpers


def _is_gpu_array(value: Any) -> bool:
    module = type(value).__module__ or ""
    if module.startswith("torch") and getattr(value, "is_cuda", False):
        return True
    if module.startswith("cupy"):
        return True
    return module.startswith("numba") and hasattr(value, "__cuda_array_interface__")


def infer_device(*values: Any) -> str:
    """``"cuda"`` when any value is a GPU array (torch CUDA tensor, CuPy or numba device array)."""
    return "cuda" if any(_is_gpu_array(v) for v in values) else "cpu"


def _event_api() -> tuple[Callable[[], Any], Callable[[Any, Any], float]] | None:
    """``(new_event, elapsed_ms)`` of a loaded GPU library's CUDA events, or None.

    Every event here has ``record()`` and ``synchronize()``; ``elapsed_ms(start, end)`` is in
    milliseconds. All three libraries record on the legacy default stream, so their events
    bracket work queued by any of them. None without a real GPU library loaded.
    """
    if not _device.gpu_available() or _sim_switch.enabled():
        return None
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return (lambda: torch.cuda.Event(enable_timing=True)), (lambda start, end: start.elapsed_time(end))
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        return cupy.cuda.Event, cupy.cuda.get_elapsed_time
    numba_cuda = sys.modules.get("numba.cuda")
    if numba_cuda is not None:
        return (lambda: numba_cuda.event(timing=True)), numba_cuda.event_elapsed_time
    return None


# ------------------------------------------------------------------------------ benchmark


def _bind(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Callable[[], Any]:
    # Bind the arguments once: a Python-level *args/**kwargs call in the loop costs ~30 ns,
    # as much as a tiny function itself. partial's call happens in C.
    return functools.partial(fn, *args, **kwargs) if (args or kwargs) else fn


def is_gpu_work(device: str, values: Sequence[Any]) -> bool:
    """True when timing should treat the work as GPU work: ``device`` is ``"cuda"``/``"gpu"``, or
    ``"auto"`` and one of ``values`` (the arguments) is a GPU array (see :func:`benchmark`)."""
    device = _device.parse_device(device, who="benchmark")
    if device == "auto":
        device = infer_device(*values)
    return device == "cuda"


def enough_samples(samples: int, spent: float, min_samples: int, min_time: float, max_time: float) -> bool:
    """Whether to stop sampling after ``samples`` samples and ``spent`` seconds: at least
    ``min_samples`` samples and ``min_time`` seconds, or past ``max_time`` seconds with the 3
    samples a median and IQR need."""
    return (samples >= min_samples and spent >= min_time) or (spent >= max_time and samples >= 3)


class Sampler:
    """Times samples of calls of ``fn(*args, **kwargs)``, synchronising a GPU when ``on_gpu``.

    The steps of :func:`benchmark`, for callers that schedule samples themselves (such as
    :func:`coursekit.perf.compare.interleaved`, which takes turns between several samplers):
    :meth:`cold` (the first call, its result kept in ``result``), :meth:`warm`, :meth:`autorange`
    (picks ``batch``, the calls per sample), then :meth:`sample` as often as wanted, and
    :meth:`measurement`. Per-call seconds collect in ``times`` (on a GPU device times from CUDA
    events) and ``host_times`` (the host's enqueue time on a GPU, else None each).
    """

    def __init__(self, fn: Callable[..., Any], args: tuple = (), kwargs: dict | None = None, on_gpu: bool = False):
        self.call = _bind(fn, args, kwargs or {})
        self.on_gpu = on_gpu
        self.events = _event_api() if on_gpu else None
        self.result: Any = None
        self.cold_s = float("nan")
        self.batch = 1
        self.times: list[float] = []
        self.host_times: list[float | None] = []

    def sync(self) -> None:
        """Wait for queued GPU work (no-op off the GPU)."""
        if self.on_gpu:
            _device.sync("cuda")

    def cold(self) -> float:
        """Seconds of the first call (compilation, caches, allocation included); keeps its result."""
        self.sync()
        t0 = time.perf_counter()
        self.result = self.call()
        self.sync()
        self.cold_s = time.perf_counter() - t0
        return self.cold_s

    def warm(self, calls: int) -> None:
        """``calls`` untimed calls."""
        for _ in itertools.repeat(None, calls):
            self.call()
        self.sync()

    def time_batch(self, batch: int) -> tuple[float, float | None]:
        """Per-call (seconds, host enqueue seconds or None) of ``batch`` calls timed together; not recorded."""
        call, repeat, clock = self.call, itertools.repeat, time.perf_counter
        if self.events is not None:
            new_event, elapsed_ms = self.events
            start, end = new_event(), new_event()
            start.record()
            t0 = clock()
            for _ in repeat(None, batch):
                call()
            host = clock() - t0
            end.record()
            self.sync()
            end.synchronize()
            return elapsed_ms(start, end) / 1e3 / batch, host / batch
        t0 = clock()
        for _ in repeat(None, batch):
            call()
        self.sync()
        return (clock() - t0) / batch, None

    def autorange(self) -> int:
        """Set ``batch`` to the calls that make one sample last >= 200 us (as
        ``timeit.Timer.autorange``) and record that first sample. Returns ``batch``."""
        batch = 1
        while True:
            per_call, host = self.time_batch(batch)
            elapsed = per_call * batch
            if elapsed >= _MIN_SAMPLE_SECONDS or batch >= _MAX_BATCH:
                break
            batch *= 10 if elapsed < _MIN_SAMPLE_SECONDS / 20 else 2
        self.batch = batch
        self.times.append(per_call)
        self.host_times.append(host)
        return batch

    def sample(self) -> float:
        """Record one sample of ``batch`` calls; returns its per-call seconds."""
        per_call, host = self.time_batch(self.batch)
        self.times.append(per_call)
        self.host_times.append(host)
        return per_call

    def measurement(self, label: str, flop: float | None = None, nbytes: float | None = None) -> Measurement:
        """The samples so far as a :class:`Measurement` (``flop``/``nbytes``: work per call)."""
        return Measurement(
            label=label,
            times=np.asarray(self.times, dtype=float),
            n=len(self.times) * self.batch,
            batch=self.batch,
            cold=self.cold_s,
            device="cuda" if self.on_gpu else "cpu",
            # CUDA work without a GPU can only have run on numba-cuda's CPU simulator.
            simulator=self.on_gpu and not _device.gpu_available() and _sim_switch.enabled(),
            host_times=None if self.host_times[0] is None else np.asarray(self.host_times, dtype=float),
            flop=flop,
            nbytes=nbytes,
            threads=thread_counts(),
        )


def benchmark(
    fn: Callable[..., Any],
    *args: Any,
    device: str = "auto",
    warmup: int = 1,
    min_time: float = 0.2,
    max_time: float = 5.0,
    min_samples: int = 5,
    label: str | None = None,
    flop: float | None = None,
    nbytes: float | None = None,
    **kwargs: Any,
) -> Measurement:
    """Time ``fn(*args, **kwargs)``; per-call seconds in the returned :class:`Measurement`.

    ``device``: ``"cpu"``, ``"cuda"`` (every sample is bracketed by CUDA events and
    synchronised, see :func:`coursekit.machine.device.sync`; without a GPU, CUDA kernels run on
    numba-cuda's simulator and the result says so), or ``"auto"``: ``"cuda"`` when an argument
    is a GPU array, else ``"cpu"``. For closures over GPU data, say ``device="cuda"``.
    ``warmup``: calls after the cold one before timing. Samples are collected until
    ``min_time`` seconds and ``min_samples`` samples exist; ``max_time`` seconds cut that short
    (keeping at least 3 samples, for a median and a spread). ``flop``/``nbytes``: work per call (FLOP, bytes).
    """
    sampler = Sampler(fn, args, kwargs, on_gpu=is_gpu_work(device, [*args, *kwargs.values()]))
    sampler.cold()
    sampler.warm(warmup)
    sampler.autorange()
    start = time.perf_counter()
    while not enough_samples(len(sampler.times), time.perf_counter() - start, min_samples, min_time, max_time):
        sampler.sample()
    name: str = label if label else getattr(fn, "__name__", "fn")
    return sampler.measurement(name, flop, nbytes)


class Timer:
    """Time one block of code (wall-clock seconds). With ``device="cuda"`` it synchronises the GPU
    before and after; with the default ``"cpu"`` it does not, so queued GPU work is not counted.

    >>> with Timer("cpu") as t:
    ...     _ = sum(range(1000))
    >>> t.elapsed > 0
    True

    ``elapsed`` is in seconds. Use :func:`benchmark` for anything you want to compare: a single
    run has no warm-up and no spread.
    """

    def __init__(self, device: str = "cpu"):
        self.device = _device.parse_device(device, allow_auto=False, who="Timer")
        self.elapsed: float | None = None

    def __enter__(self) -> Timer:
        if self.device != "cpu":
            _device.sync("cuda")
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.device != "cpu":
            _device.sync("cuda")
        self.elapsed = time.perf_counter() - self._t0
