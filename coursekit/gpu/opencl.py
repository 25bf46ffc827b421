"""OpenCL on this CPU through PoCL, available only when it really works.

OpenCL's model is CUDA's under other names: work-items = threads, work-groups = blocks, local
memory = shared memory, ``barrier(CLK_LOCAL_MEM_FENCE)`` = ``syncthreads``. PoCL compiles
kernels for the CPU and packs work-items into its SIMD lanes: SIMT code on a SIMD machine.

A device that exists is not a device that works: PoCL 3.0 from PyPI lists an AMD Zen 5 CPU but
cannot compile a kernel for it (``unknown target CPU 'generic'``). So :func:`available` builds
and runs a tiny probe kernel on every OpenCL CPU device pyopencl lists, and takes the first whose
answer is right; the verdict is cached for the process. :func:`describe` says which device, or
why none works and what to install. Everything degrades to ``available() == False``; set
``COURSEKIT_NO_OPENCL=1`` to see the course as a machine without OpenCL sees it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from coursekit import settings

SYSTEM_VENDORS_DIR = "/etc/OpenCL/vendors"  # where distributions register ICDs (Debian's pocl-opencl-icd)
FIX = (
    "Debian/Ubuntu: `apt-get install pocl-opencl-icd` (a PoCL that builds kernels for recent AMD and "
    "Intel CPUs); elsewhere `pip install -e '.[opencl]'`. The rest of the course runs without OpenCL"
)

PROBE_SOURCE = """
__kernel void probe(__global float *out, const int n) {
    int i = get_global_id(0);
    if (i < n) out[i] = 2.0f * (float)i + 1.0f;
}
"""
PROBE_N = 37  # odd: not a multiple of any work-group size


@dataclass(frozen=True)
class Verdict:
    """Which OpenCL CPU device works here. ``device``/``context``/``queue`` are None when none does;
    ``reason`` then says why in one line. ``failures`` lists each device that failed, with why."""

    device: Any
    context: Any
    queue: Any
    reason: str
    failures: tuple[str, ...] = ()


def use_system_icds(vendors_dir: str = SYSTEM_VENDORS_DIR) -> bool:
    """Point the OpenCL ICD loader at the system's registered drivers (``OCL_ICD_VENDORS``).

    Only when the variable is unset and ``vendors_dir`` exists; returns whether it was set. The
    loader in pyopencl's wheel already defaults to /etc/OpenCL/vendors; setting it explicitly keeps
    Debian's PoCL visible should a loader built with another default be the one that loads.
    """
    return os.path.isdir(vendors_dir) and settings.set_default("OCL_ICD_VENDORS", vendors_dir)


def _first_error_line(exc: BaseException) -> str:
    """The informative line of an OpenCL error: the build log's first ``error:`` line if any."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line
    first = lines[0] if lines else type(exc).__name__
    return first.split(" - ")[0]  # pyopencl repeats "clBuildProgram failed: ..." three times


def _run_probe(cl, device) -> tuple[Any, Any]:
    """Build and run the probe kernel on ``device``; returns ``(context, queue)``.

    Raises whatever pyopencl raises, or ``ValueError`` when the kernel runs but answers wrong.
    """
    import numpy as np

    ctx = cl.Context([device])
    queue = cl.CommandQueue(ctx)
    program = cl.Program(ctx, PROBE_SOURCE).build()
    out = np.zeros(PROBE_N + 3, dtype=np.float32)
    buf = cl.Buffer(ctx, cl.mem_flags.WRITE_ONLY, out.nbytes)
    program.probe(queue, (PROBE_N + 3,), None, buf, np.int32(PROBE_N))
    cl.enqueue_copy(queue, out, buf)
    queue.finish()
    expected = 2.0 * np.arange(PROBE_N, dtype=np.float32) + 1.0
    if not np.array_equal(out[:PROBE_N], expected):
        raise ValueError("the probe kernel ran but returned wrong values")
    return ctx, queue


def _cpu_devices(cl) -> list:
    """Every OpenCL CPU device of every platform, in the ICD loader's order."""
    found = []
    for platform in cl.get_platforms():
        try:
            found.extend(platform.get_devices(device_type=cl.device_type.CPU))
        except Exception:  # noqa: BLE001 - a platform without CPU devices raises DEVICE_NOT_FOUND
            continue
    return found


def _label(device) -> str:
    """``Portable Computing Language (PoCL 3.1+debian) on pthread-AMD EPYC``."""
    return f"{device.platform.name.strip()} ({_pocl_version(device)}) on {device.name.strip()}"


def _pocl_version(device) -> str:
    """``PoCL 3.1+debian`` from ``OpenCL 3.0 PoCL 3.1+debian  Linux, ...``; the version string otherwise."""
    words = device.platform.version.split()
    if "PoCL" in words:
        i = words.index("PoCL")
        return " ".join(words[i : i + 2])
    return " ".join(words[:2])


@functools.lru_cache(maxsize=1)
def verdict() -> Verdict:
    """Find the first OpenCL CPU device that builds and runs the probe kernel (cached per process)."""
    if settings.no_opencl():
        return Verdict(None, None, None, f"switched off by {settings.NO_OPENCL_ENV}=1")
    use_system_icds()
    try:
        import pyopencl as cl
    except ImportError:
        return Verdict(None, None, None, f"pyopencl is not installed. Fix: {FIX}")
    try:
        devices = _cpu_devices(cl)
    except Exception as exc:  # noqa: BLE001 - no ICD loader or no platform at all
        return Verdict(None, None, None, f"no OpenCL platform ({_first_error_line(exc)}). Fix: {FIX}")
    if not devices:
        return Verdict(None, None, None, f"no OpenCL CPU device. Fix: {FIX}")
    failures = []
    for dev in devices:
        try:
            ctx, queue = _run_probe(cl, dev)
        except Exception as exc:  # noqa: BLE001 - any failure of a driver means "this one does not work"
            failures.append(f"{_label(dev)}: {_first_error_line(exc)}")
            continue
        return Verdict(dev, ctx, queue, "", tuple(failures))
    return Verdict(
        None, None, None, f"no OpenCL CPU device can build a kernel ({failures[0]}). Fix: {FIX}", tuple(failures)
    )


def available() -> bool:
    """True when an OpenCL CPU device here builds and runs a probe kernel correctly."""
    return verdict().device is not None


def describe() -> str:
    """One line: the OpenCL device the course uses, or why there is none and how to get one."""
    v = verdict()
    if v.device is None:
        return f"OpenCL: not available: {v.reason}."
    skipped = f" (skipped {len(v.failures)} that cannot build kernels)" if v.failures else ""
    return f"OpenCL: {_label(v.device)}, {v.device.max_compute_units} compute units{skipped}"


def context():
    """``(context, queue)`` on the working CPU device; ``RuntimeError`` saying why when there is none."""
    v = verdict()
    if v.device is None:
        raise RuntimeError(describe())
    return v.context, v.queue


def build(source: str):
    """Compile OpenCL C ``source`` for the working CPU device; returns the program."""
    import pyopencl as cl

    ctx, _ = context()
    return cl.Program(ctx, source).build()


def to_device(array):
    """A read-only device buffer holding a copy of ``array`` (``cudaMalloc`` + ``cudaMemcpy`` host->device)."""
    import pyopencl as cl

    ctx, _ = context()
    return cl.Buffer(ctx, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR, hostbuf=array)


def device_empty(nbytes: int):
    """An uninitialised write-only device buffer of ``nbytes`` bytes (``cudaMalloc``)."""
    import pyopencl as cl

    ctx, _ = context()
    return cl.Buffer(ctx, cl.mem_flags.WRITE_ONLY, nbytes)


def to_host(buffer, out):
    """Copy ``buffer`` into the numpy array ``out`` (``cudaMemcpy`` device->host), wait, return ``out``."""
    import pyopencl as cl

    _, queue = context()
    cl.enqueue_copy(queue, out, buffer)
    queue.finish()
    return out
