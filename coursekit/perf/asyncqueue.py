"""An asynchronous work queue on the CPU: the same contract as a GPU stream, to show why GPU
timings need a synchronisation.

``submit`` returns at once and a background thread does the work in order, as a GPU does with
kernel launches; ``synchronize`` waits until everything submitted has finished. Timing
``submit`` alone measures only the hand-over, not the work: the asynchronous-launch pitfall.
(numpy releases the interpreter lock in large array operations, so the work truly runs beside
the caller.) :func:`time_launches` measures the pitfall properly, for this queue or a GPU.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from coursekit.perf.timing import format_seconds, iqr


class BackgroundQueue:
    """A FIFO of calls executed by one background thread. Use as a context manager."""

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._worker, daemon=True)
        self._thread.start()

    def _worker(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                self._jobs.task_done()
                return
            fn, args = job
            try:
                fn(*args)
            finally:
                self._jobs.task_done()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` and return immediately (like a kernel launch)."""
        self._jobs.put((fn, args))

    def synchronize(self) -> None:
        """Wait until every submitted call has finished (like ``cudaDeviceSynchronize``)."""
        self._jobs.join()

    def close(self) -> None:
        self.synchronize()
        self._jobs.put(None)
        self._thread.join()

    def __enter__(self) -> BackgroundQueue:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass(frozen=True)
class LaunchTimes:
    """The same launches read two ways (seconds per launch): ``unsynchronised`` is the clock read
    when the launch call returned (what a timer around the call alone reports: the wrong way),
    ``synchronised`` the clock read after waiting for the work (the right way)."""

    unsynchronised: tuple[float, ...]
    synchronised: tuple[float, ...]

    @property
    def wrong_median(self) -> float:
        return float(np.median(self.unsynchronised))

    @property
    def wrong_iqr(self) -> float:
        return iqr(self.unsynchronised)

    @property
    def right_median(self) -> float:
        return float(np.median(self.synchronised))

    @property
    def right_iqr(self) -> float:
        return iqr(self.synchronised)

    @property
    def ratio(self) -> float:
        """How many times longer the real duration is than the launch alone (medians)."""
        return self.right_median / self.wrong_median

    def summary(self) -> str:
        f = format_seconds
        return (
            f"without synchronising {f(self.wrong_median)} (IQR {f(self.wrong_iqr)}), "
            f"with {f(self.right_median)} (IQR {f(self.right_iqr)}): {self.ratio:,.0f}x, "
            f"median of {len(self.synchronised)} launches"
        )

    def to_dict(self) -> dict[str, float]:
        return {
            "unsynchronised_s": self.wrong_median,
            "unsynchronised_iqr_s": self.wrong_iqr,
            "synchronised_s": self.right_median,
            "synchronised_iqr_s": self.right_iqr,
            "repeats": len(self.synchronised),
        }


def time_launches(
    launch: Callable[[], Any], synchronize: Callable[[], Any], repeats: int = 5, warmup: int = 1
) -> LaunchTimes:
    """Time ``launch()`` the wrong way and the right way, on the same launches.

    First ``warmup`` launches, each waited for (a first launch pays one-off costs: compilation,
    allocation, library start-up). Then ``repeats`` (at least 3) launches, each started on an
    idle queue (``synchronize()`` before it, so no earlier work is still running) and read twice:
    when ``launch()`` returns, and after ``synchronize()``. Works for a GPU (``synchronize`` =
    ``torch.cuda.synchronize``) and for :class:`BackgroundQueue`.
    """
    if repeats < 3:
        raise ValueError("time_launches: repeats must be at least 3, for a median and a spread")
    for _ in range(warmup):
        launch()
        synchronize()
    wrong, right = [], []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        launch()
        returned = time.perf_counter()
        synchronize()
        finished = time.perf_counter()
        wrong.append(returned - start)
        right.append(finished - start)
    return LaunchTimes(tuple(wrong), tuple(right))
