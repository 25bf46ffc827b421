"""What hardware is here, which array backends work, and how to wait for a GPU.

Nothing in this module imports numba or pandas at import time. numba-cuda's simulator is switched
on through :func:`use_simulator_if_no_gpu` *before* numba is first imported (see
:mod:`coursekit.gpu.sim_switch`); notebooks do this by calling ``coursekit.setup()`` in their first
code cell.

GPU detection asks the CUDA driver library directly (``libcuda``) through ``ctypes``, so it
needs no framework and never crashes: no driver, no device, or a broken driver all mean
"no GPU". Set ``COURSEKIT_FORCE_CPU=1`` to make a GPU machine behave as a CPU-only one
(useful to check what a student without a GPU sees).
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import importlib.util
import math
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from coursekit import settings
from coursekit.gpu import sim_switch as simulator

if TYPE_CHECKING:
    import pandas as pd

DEVICE_NAMES = {"cpu": "cpu", "cuda": "cuda", "gpu": "cuda", "auto": "auto"}

# CUDA driver API device attributes (cuda.h, CUdevice_attribute).
_ATTR_CLOCK_RATE_KHZ = 13
_ATTR_MULTIPROCESSOR_COUNT = 16
_ATTR_CC_MAJOR = 75
_ATTR_CC_MINOR = 76


@dataclass(frozen=True)
class GPUInfo:
    """One CUDA device as the driver reports it. Memory in bytes, clock in hertz."""

    index: int
    name: str
    multiprocessors: int
    memory_bytes: int
    compute_capability: tuple[int, int]
    clock_hz: float
    driver_version: str


def parse_device(name: str, allow_auto: bool = True, who: str = "device") -> str:
    """``"cpu"``, ``"cuda"`` (also for ``"gpu"``) or ``"auto"`` from a user's device string.

    Case-insensitive. Raises ``ValueError`` naming ``who`` and the accepted names otherwise
    (``"auto"`` only where ``allow_auto``).
    """
    key = str(name).strip().lower()
    parsed = DEVICE_NAMES.get(key)
    if parsed is None or (parsed == "auto" and not allow_auto):
        accepted = "'auto', 'cpu' or 'cuda'" if allow_auto else "'cpu' or 'cuda'"
        raise ValueError(f"{who}: unknown device {name!r}; use {accepted}")
    return parsed


def _load_libcuda() -> ctypes.CDLL | None:
    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so", "libcuda.dylib"]
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


@functools.lru_cache(maxsize=1)
def _probe_cuda_driver() -> tuple[GPUInfo, ...]:
    """Ask the CUDA driver for its devices. Returns () on any failure."""
    lib = _load_libcuda()
    if lib is None:
        return ()
    try:
        if lib.cuInit(0) != 0:
            return ()
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return ()
        version = ctypes.c_int(0)
        lib.cuDriverGetVersion(ctypes.byref(version))
        driver = f"CUDA {version.value // 1000}.{(version.value % 1000) // 10}"
        total_mem = getattr(lib, "cuDeviceTotalMem_v2", None) or lib.cuDeviceTotalMem
        gpus = []
        for i in range(count.value):
            dev = ctypes.c_int(0)
            if lib.cuDeviceGet(ctypes.byref(dev), i) != 0:
                continue
            name = ctypes.create_string_buffer(256)
            lib.cuDeviceGetName(name, 256, dev)
            mem = ctypes.c_size_t(0)
            total_mem(ctypes.byref(mem), dev)

            def attr(code: int, dev: ctypes.c_int = dev) -> int:
                out = ctypes.c_int(0)
                lib.cuDeviceGetAttribute(ctypes.byref(out), code, dev)
                return out.value

            gpus.append(
                GPUInfo(
                    index=i,
                    name=name.value.decode(errors="replace"),
                    multiprocessors=attr(_ATTR_MULTIPROCESSOR_COUNT),
                    memory_bytes=mem.value,
                    compute_capability=(attr(_ATTR_CC_MAJOR), attr(_ATTR_CC_MINOR)),
                    clock_hz=attr(_ATTR_CLOCK_RATE_KHZ) * 1e3,
                    driver_version=driver,
                )
            )
        return tuple(gpus)
    except (AttributeError, OSError):  # an odd or partial driver library
        return ()


def gpus() -> tuple[GPUInfo, ...]:
    """The CUDA GPUs the driver reports (empty without one, or with COURSEKIT_FORCE_CPU=1)."""
    if settings.force_cpu():
        return ()
    return _probe_cuda_driver()


def gpu_available() -> bool:
    """True when at least one CUDA GPU can be used on this machine."""
    return len(gpus()) > 0


# --------------------------------------------------------------------------------------- CPU


def _read_proc_cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _cpu_flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    try:  # not Linux: numpy knows which CPU features it dispatches to
        from numpy._core._multiarray_umath import __cpu_features__ as feats  # type: ignore
    except ImportError:  # pragma: no cover - older numpy
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as feats  # type: ignore
        except ImportError:
            return set()
    return {name.lower() for name, present in feats.items() if present}


def simd_extensions(flags: set[str]) -> tuple[list[str], int]:
    """Named SIMD extensions among CPU ``flags`` (best first) and the widest vector in bits."""
    table = [  # (flag, readable name, vector width in bits)
        ("avx512f", "AVX-512", 512),
        ("avx2", "AVX2", 256),
        ("fma", "FMA", 256),
        ("avx", "AVX", 256),
        ("sve", "SVE", 128),  # SVE length is implementation defined; 128 is its minimum
        ("asimd", "NEON", 128),
        ("neon", "NEON", 128),
        ("sse4_2", "SSE4.2", 128),
        ("sse2", "SSE2", 128),
    ]
    names: list[str] = []
    width = 0
    for flag, name, bits in table:
        if flag in flags and name not in names:
            names.append(name)
            width = max(width, bits)
    return names, width


def _cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


@dataclass(frozen=True)
class CPUInfo:
    """This machine's CPU. Memory in bytes; vector width in bits."""

    name: str
    physical_cores: int
    logical_cores: int
    simd: tuple[str, ...]
    vector_bits: int
    memory_bytes: int


@functools.lru_cache(maxsize=1)
def cpu() -> CPUInfo:
    """Facts about this machine's CPU and memory (cached)."""
    import psutil

    text = _read_proc_cpuinfo()
    simd, bits = simd_extensions(_cpu_flags(text))
    logical = os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    return CPUInfo(
        name=_cpu_model(text),
        physical_cores=physical,
        logical_cores=logical,
        simd=tuple(simd),
        vector_bits=bits,
        memory_bytes=int(psutil.virtual_memory().total),
    )


def _cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by this process's cgroup quota (cgroup v2 ``cpu.max`` or v1
    ``cpu.cfs_quota_us``/``cpu.cfs_period_us``), e.g. 2.0 on a Binder pod; None when unlimited, and when
    the files are unreadable or hold no positive quota and period (v1 writes -1 for no quota)."""
    try:
        v2 = root / "cpu.max"
        if v2.is_file():
            quota_text, period_text = v2.read_text().split()[:2]
            if quota_text == "max":
                return None
            quota, period = int(quota_text), int(period_text)
        else:
            quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
            period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def affinity_cpus() -> set[int]:
    """Ids of the CPUs this process may run on: its affinity mask where the OS has one, else every
    CPU the machine shows (``os.cpu_count()``). Read afresh on each call (a mask can change). How
    many threads to start is :func:`usable_cpus`, which also counts a cgroup CPU quota."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


@functools.lru_cache(maxsize=1)
def usable_cpus() -> int:
    """How many CPUs this process may really keep busy: the CPUs in its affinity mask
    (:func:`affinity_cpus`), capped by its cgroup CPU quota (rounded up). On Binder the quota is
    often below the visible core count, and thread pools sized by ``os.cpu_count()`` then
    oversubscribe it. Read once per process (cached, like :func:`cpu`): fused kernels ask on every
    call, and the cgroup files cost ~50 us."""
    cpus = len(affinity_cpus())
    limit = _cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, max(1, math.ceil(limit)))
    return max(1, cpus)


def cpu_clock_hz() -> float:
    """This CPU's clock in hertz as the OS reports it (the maximum where known, else the current
    one; turbo clocks can be higher). NaN when unknown."""
    import psutil

    freq = psutil.cpu_freq()
    mhz = (freq.max or freq.current) if freq else 0.0
    return mhz * 1e6 if mhz else float("nan")


def describe() -> pd.DataFrame:
    """One row per device here (the CPU, then each CUDA GPU).

    Columns: ``kind``, ``name``, ``cores`` (physical CPU cores, or GPU streaming
    multiprocessors), ``logical`` (logical CPUs; for GPUs empty), ``simd`` (SIMD extensions, or
    the GPU's compute capability), ``vector_bits`` (widest CPU vector register; for GPUs
    32 threads x 32 bits per warp instruction), ``memory_gib`` and ``driver``.
    """
    import pandas as pd

    c = cpu()
    rows = [
        {
            "kind": "CPU",
            "name": c.name,
            "cores": c.physical_cores,
            "logical": c.logical_cores,
            "simd": ", ".join(c.simd) or "none detected",
            "vector_bits": c.vector_bits,
            "memory_gib": round(c.memory_bytes / 2**30, 1),
            "driver": "",
        }
    ]
    for g in gpus():
        rows.append(
            {
                "kind": f"GPU {g.index}",
                "name": g.name,
                "cores": g.multiprocessors,
                "logical": None,
                "simd": "sm_{}{}".format(*g.compute_capability),
                "vector_bits": 32 * 32,
                "memory_gib": round(g.memory_bytes / 2**30, 1),
                "driver": g.driver_version,
            }
        )
    return pd.DataFrame(rows).set_index("kind")


# ---------------------------------------------------------------------------------- backends


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def use_simulator_if_no_gpu() -> bool:
    """Turn on numba-cuda's simulator when there is no GPU; returns whether it is on.

    Must run before ``numba`` is imported (see :func:`coursekit.gpu.sim_switch.switch`, which raises
    ``RuntimeError`` when ``numba.cuda`` was imported first the other way).
    """
    return simulator.switch(gpu_present=gpu_available())


def _cupy_usable() -> bool:
    """CuPy imported AND a device usable. CuPy without a GPU counts as absent, not an error."""
    if not _installed("cupy"):
        return False
    try:
        cupy = importlib.import_module("cupy")
        if not cupy.cuda.is_available():
            return False
        cupy.zeros(1).sum().item()  # the first real allocation is where a missing GPU shows
        return True
    except Exception:  # noqa: BLE001 - any CuPy/driver failure means "no usable CuPy"
        return False


def _torch_cuda_usable() -> bool:
    if not _installed("torch"):
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


def backends() -> dict[str, bool]:
    """Which array/kernel backends work here.

    Keys: ``numpy``, ``cupy`` (installed and a GPU usable), ``torch``, ``torch-cuda``,
    ``numba-cuda`` (real GPU kernels), ``numba-cuda-simulator`` (kernels on the CPU simulator).
    """
    numba_cuda = _installed("numba") and _installed("numba.cuda")
    sim = numba_cuda and simulator.enabled()
    return {
        "numpy": _installed("numpy"),
        "cupy": _cupy_usable(),
        "torch": _installed("torch"),
        "torch-cuda": _torch_cuda_usable(),
        "numba-cuda": bool(numba_cuda and not sim and gpu_available()),
        "numba-cuda-simulator": bool(sim),
    }


def get_xp(device: str = "auto") -> ModuleType:
    """The array module for ``device``: numpy for ``"cpu"``, cupy for ``"cuda"``/``"gpu"``.

    ``"auto"`` picks cupy when it is installed and a GPU is usable, numpy otherwise. Asking
    for ``"cuda"`` without a usable CuPy raises ``RuntimeError`` saying why.
    """
    device = parse_device(device, who="get_xp")
    if device == "cpu":
        import numpy

        return numpy
    if device == "cuda":
        if not _cupy_usable():
            reason = "CuPy is not installed" if not _installed("cupy") else "CuPy finds no usable GPU"
            raise RuntimeError(f"get_xp('{device}'): {reason}; use device='cpu' or 'auto'.")
        return importlib.import_module("cupy")
    return get_xp("cuda") if _cupy_usable() else get_xp("cpu")


def sync(device: str = "auto") -> None:
    """Wait until queued GPU work (torch, CuPy, numba-cuda) has finished; no-op on the CPU.

    Only libraries the program has already imported are synchronised, so calling this never
    pays for importing a framework.
    """
    if parse_device(device, who="sync") == "cpu":
        return
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    cupy = sys.modules.get("cupy")
    if cupy is not None and gpu_available():
        cupy.cuda.get_current_stream().synchronize()
    numba_cuda = sys.modules.get("numba.cuda")
    if numba_cuda is not None and not simulator.enabled() and gpu_available():
        numba_cuda.synchronize()


def nvcc_path() -> str | None:
    """Path of NVIDIA's CUDA compiler ``nvcc`` when installed (PATH, $CUDA_HOME, /usr/local/cuda)."""
    import shutil

    found = shutil.which("nvcc")
    if found:
        return found
    for base in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if base and os.path.exists(os.path.join(base, "bin", "nvcc")):
            return os.path.join(base, "bin", "nvcc")
    return None


def summary_line() -> str:
    """One line about this machine, e.g. ``CPU: Xeon, 2 cores, AVX-512 · GPU: none → ...``."""
    c = cpu()
    simd = c.simd[0] if c.simd else "no SIMD detected"
    cpu_part = f"CPU: {c.name}, {c.physical_cores} cores, {simd}"
    found = gpus()
    if found:
        g = found[0]
        extra = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
        gpu_part = f"GPU: {g.name}{extra}, {g.multiprocessors} SMs, {g.memory_bytes / 2**30:.0f} GiB → measured here"
    else:
        gpu_part = "GPU: none → kernels on the simulator, GPU figures from elsewhere (each labelled with its tier)"
    return f"{cpu_part} · {gpu_part}"
