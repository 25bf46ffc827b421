"""Run a barrier-free CUDA kernel on the CPU, one thread after another, without recording anything.

:func:`coursekit.gpu.tracer.trace` runs every CUDA thread as a Python thread and records every
access: the right tool to *check* a kernel, but for LeNet's first layer (25 taps per thread) it
took about 0.4 ms per CUDA thread on the 2-core EPYC the course was built on, and numba-cuda's
simulator about 0.2 ms. A kernel that uses no barrier needs no concurrency at all, so :func:`run`
calls its Python source once per thread, in order, with ``cuda`` bound to a stand-in that answers
``cuda.grid``, ``cuda.threadIdx`` and friends: about 10 µs per thread there, fast enough to push
dozens of images through one layer of LeNet in seconds.

It checks nothing: indices are numpy's (a negative one wraps), and ``cuda.syncthreads``, shared
memory, warp shuffles and votes raise ``RuntimeError``. Check a kernel with
:func:`coursekit.gpu.contract.check_contract` first, then run it at scale here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coursekit.gpu.tracer import Dim3, bind_cuda, dim3
from coursekit.gpu.warp_sync import SHUFFLES


class SerialCuda:
    """What a kernel run by :func:`run` sees as ``cuda``: the current thread's indices, no barriers."""

    def __init__(self, grid: Dim3, block: Dim3):
        self.gridDim, self.blockDim = grid, block
        self.threadIdx, self.blockIdx = Dim3(0, 0, 0), Dim3(0, 0, 0)
        self._global = (0, 0, 0)

    def grid(self, ndim: int) -> Any:
        return self._global[0] if ndim == 1 else self._global[:ndim]

    def gridsize(self, ndim: int) -> Any:
        g, b = self.gridDim, self.blockDim
        sizes = (g.x * b.x, g.y * b.y, g.z * b.z)
        return sizes[0] if ndim == 1 else sizes[:ndim]

    def syncthreads(self) -> None:
        raise RuntimeError("serial.run runs threads one after another: a kernel with barriers needs tracer.trace")

    @property
    def shared(self) -> Any:
        raise RuntimeError("serial.run has no shared memory: a kernel that uses it needs tracer.trace")

    def __getattr__(self, name: str) -> Any:
        if name in (*SHUFFLES, "ballot_sync", "activemask"):
            raise RuntimeError(f"serial.run runs threads one after another: cuda.{name} needs tracer.trace (warps)")
        raise AttributeError(name)


def run(kernel: Callable, grid: int | tuple, block: int | tuple, *args: Any) -> None:
    """Run ``kernel[grid, block](*args)`` on the CPU, thread after thread (x fastest, then y, z;
    block after block). numpy arrays are updated in place, as a launch updates device memory.
    For kernels without barriers or shared memory (:class:`SerialCuda` raises otherwise)."""
    grid_d, block_d = dim3(grid), dim3(block)
    (gx, gy, gz), (bx, by, bz) = (grid_d.x, grid_d.y, grid_d.z), (block_d.x, block_d.y, block_d.z)
    fake = SerialCuda(grid_d, block_d)
    body = bind_cuda(kernel, fake)
    t, b = fake.threadIdx, fake.blockIdx
    for kz in range(gz):
        for ky in range(gy):
            for kx in range(gx):
                b.x, b.y, b.z = kx, ky, kz
                for tz in range(bz):
                    for ty in range(by):
                        for tx in range(bx):
                            t.x, t.y, t.z = tx, ty, tz
                            fake._global = (tx + kx * bx, ty + ky * by, tz + kz * bz)
                            body(*args)
