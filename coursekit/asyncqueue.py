"""An asynchronous work queue on the CPU: the same contract as a GPU stream, to show why GPU
timings need a synchronisation.

``submit`` returns at once and a background thread does the work in order, as a GPU does with
kernel launches; ``synchronize`` waits until everything submitted has finished. Timing
``submit`` alone measures only the hand-over, not the work: the asynchronous-launch pitfall.
(numpy releases the interpreter lock in large array operations, so the work truly runs beside
the caller.)
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable


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

    def __enter__(self) -> "BackgroundQueue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
