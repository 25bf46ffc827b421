"""Thread pools: how many threads numpy's BLAS and torch use, and keeping them within the CPUs here.

numpy's OpenBLAS and torch each keep a pool of one thread per visible core. Two pools on a machine
with few cores (and other work) make a thread wait at every barrier for a core another pool holds:
on a 2-core VM a (100, 784) @ (784, 128) float32 product took 47 ms with numpy's two BLAS threads
and 0.2 ms with one. :func:`set_threads` / :func:`limited` pin both, and numba's parallel loops when
numba is loaded; :func:`fit_to_cpus` (called by ``ck.setup()``) keeps pools within a cgroup quota
such as Binder's.

torch's OpenMP workers also *spin* after each parallel region, holding the cores that numpy's
OpenBLAS threads need next: on a 2-core VM, a torch matmul followed by a numpy one took 8.0 ms per
pair with spinning workers and 0.5 ms with ``OMP_WAIT_POLICY=PASSIVE`` (torch alone: 0.16 vs
0.3 ms). OpenMP reads the variable once, when torch loads, so it must be in the kernel's
environment: :data:`KERNEL_ENV`, which ``coursekit jupyter-kernel`` writes into the Jupyter kernel spec.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import Any

from coursekit import settings
from coursekit.machine import device

# Thread-pool sizes read by OpenMP, OpenBLAS, MKL and numexpr when they start.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_MAX_THREADS")

# What the course's Jupyter kernel starts with (``coursekit jupyter-kernel``; `make lab`, Binder's postBuild,
# `make test` and the benchmarks set the same): OpenMP workers sleep instead of spinning when idle.
KERNEL_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}

_OPENBLAS_SYMBOLS = [  # (get, set) in numpy's wheels (scipy-openblas, 64-bit ints) and plain OpenBLAS
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
]


def fit_to_cpus(cpus: int | None = None) -> int:
    """Keep thread pools within the CPUs this process may use (:func:`device.usable_cpus`).

    When that is fewer than the CPUs the machine shows (a cgroup quota, as on Binder, or an
    affinity mask), pools sized by the visible count oversubscribe it: set the thread variables of
    the libraries not yet loaded (unless already set) and torch's pool if torch is loaded.
    Otherwise nothing changes. Before torch loads, also sets :data:`KERNEL_ENV` (unless set).
    Returns the number of usable CPUs."""
    if "torch" not in sys.modules:
        for name, value in KERNEL_ENV.items():
            settings.set_default(name, value)
    cpus = cpus or device.usable_cpus()
    shown_cpus = os.cpu_count() or 1  # what the machine shows, and libraries size their pools by
    if cpus < shown_cpus:
        for name in THREAD_ENV:
            settings.set_default(name, str(cpus))
        torch = sys.modules.get("torch")
        if torch is not None and torch.get_num_threads() > cpus:
            torch.set_num_threads(cpus)
    return cpus


def _openblas() -> tuple[Any, Any] | None:
    """The (get, set) thread-count functions of the OpenBLAS that numpy loaded, or None (MKL, macOS Accelerate...)."""
    import numpy as np

    np.ones((2, 2)) @ np.ones((2, 2))  # numpy loads its BLAS lazily on some builds
    paths: list[str] = []
    try:
        with open("/proc/self/maps") as maps:  # Linux: the libraries this process has loaded
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        pass
    libs_dir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    if not paths and os.path.isdir(libs_dir):
        paths = [os.path.join(libs_dir, f) for f in sorted(os.listdir(libs_dir)) if "openblas" in f.lower()]
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, set_ in _OPENBLAS_SYMBOLS:
            if hasattr(lib, get) and hasattr(lib, set_):
                return getattr(lib, get), getattr(lib, set_)
    return None


def blas_threads() -> int | None:
    """Threads numpy's OpenBLAS may use, or None when numpy's BLAS is not an OpenBLAS found here."""
    found = _openblas()
    return None if found is None else int(found[0]())


def in_effect() -> int:
    """The threads a multithreaded kernel here may use now: the CPUs this process may keep busy
    (:func:`coursekit.machine.device.usable_cpus`), fewer where numpy's BLAS or a loaded torch has
    been limited (e.g. inside :func:`limited`). A library not loaded yet starts with the CPU count."""
    cpus = device.usable_cpus()
    counts = [cpus, blas_threads() or cpus]
    torch = sys.modules.get("torch")
    if torch is not None:
        counts.append(torch.get_num_threads())
    return max(1, min(counts))


def _set(counts: dict[str, int | None]) -> dict[str, int | None]:
    """Set each library's thread count where ``counts`` has a number for it (keys as
    :func:`set_threads` returns); the counts before, None for a library absent or not loaded."""
    found = _openblas()
    before: dict[str, int | None] = {
        "numpy BLAS": None if found is None else int(found[0]()),
        "torch": None,
        "numba": None,
    }
    n_blas, n_torch, n_numba = counts.get("numpy BLAS"), counts.get("torch"), counts.get("numba")
    if found is not None and n_blas is not None:
        found[1](ctypes.c_int(n_blas))
    torch = sys.modules.get("torch")
    if torch is not None:
        before["torch"] = torch.get_num_threads()
        if n_torch is not None:
            torch.set_num_threads(n_torch)
    numba = sys.modules.get("numba")  # never imported here: importing numba decides the simulator switch
    if numba is not None and hasattr(numba, "set_num_threads"):
        before["numba"] = numba.get_num_threads()
        if n_numba is not None:  # numba refuses more than the pool it started with
            numba.set_num_threads(max(1, min(n_numba, numba.config.NUMBA_NUM_THREADS)))
    return before


def set_threads(n: int) -> dict[str, int | None]:
    """Let numpy's BLAS, torch and numba's parallel loops use ``n`` threads each (torch and numba
    only when already imported; numba at most the pool it started with); returns the previous counts
    as ``{"numpy BLAS": ..., "torch": ..., "numba": ...}`` (None where the library is absent)."""
    return _set(dict.fromkeys(("numpy BLAS", "torch", "numba"), n))


@contextlib.contextmanager
def limited(n: int) -> Iterator[dict[str, int | None]]:
    """Inside the block numpy's BLAS, torch and numba use ``n`` threads each (as :func:`set_threads`),
    the counts they had before after it. Yields the previous counts."""
    before = set_threads(n)
    try:
        yield before
    finally:
        _set(before)


def install_kernel(prefix: str | None = None, name: str = "python3") -> str:
    """Install this Python as Jupyter kernel ``name`` with :data:`KERNEL_ENV` in its environment,
    under ``prefix`` (default: this environment, ``sys.prefix``). Returns the kernel spec's folder."""
    from ipykernel import kernelspec

    return kernelspec.install(kernel_name=name, prefix=prefix or sys.prefix, env=dict(KERNEL_ENV))
