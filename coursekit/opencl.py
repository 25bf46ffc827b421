"""OpenCL on this CPU through PoCL (the ``opencl`` extra: pyopencl + pocl-binary-distribution).

OpenCL's model is CUDA's under other names: work-items = threads, work-groups = blocks, local
memory = shared memory, ``barrier(CLK_LOCAL_MEM_FENCE)`` = ``syncthreads``. PoCL compiles
kernels for the CPU and packs work-items into its SIMD lanes: SIMT code on a SIMD machine.
Everything here degrades to ``available() == False`` when OpenCL is absent.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def _cpu_device():
    try:
        import pyopencl as cl
    except ImportError:
        return None
    try:
        platforms = cl.get_platforms()
    except Exception:  # noqa: BLE001 - no ICD loader or no platform: OpenCL is absent
        return None
    for platform in platforms:
        try:
            devices = platform.get_devices(device_type=cl.device_type.CPU)
        except Exception:  # noqa: BLE001
            continue
        if devices:
            return devices[0]
    return None


def available() -> bool:
    """True when pyopencl finds an OpenCL CPU device (e.g. PoCL)."""
    return _cpu_device() is not None


def describe() -> str:
    """One line: the OpenCL platform and CPU device, or why there is none."""
    dev = _cpu_device()
    if dev is None:
        return "OpenCL: not available (pip install -e '.[opencl]' installs pyopencl and PoCL)"
    return f"OpenCL: {dev.platform.name} on {dev.name.strip()}, {dev.max_compute_units} compute units"


@functools.lru_cache(maxsize=1)
def context():
    """``(context, queue)`` on the CPU device; ``RuntimeError`` when OpenCL is absent."""
    import pyopencl as cl

    dev = _cpu_device()
    if dev is None:
        raise RuntimeError(describe())
    ctx = cl.Context([dev])
    return ctx, cl.CommandQueue(ctx)


def build(source: str):
    """Compile OpenCL C ``source`` for the CPU device; returns the program."""
    import pyopencl as cl

    ctx, _ = context()
    return cl.Program(ctx, source).build()
