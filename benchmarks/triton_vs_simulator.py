"""Triton's CPU interpreter against numba-cuda's CPU simulator, on the same two kernels.

Notebook 02 runs CUDA kernels on numba-cuda's simulator (every CUDA thread a Python thread) and
Triton kernels on Triton's interpreter (every *program* a Python call, numpy doing the block's
arithmetic). This times both on a vector add of 4,096 floats and a 64 x 64 x 64 tiled matmul, and
the interpreter alone on a 256^3 matmul (the simulator would take minutes): medians of ``--rounds``
interleaved rounds after one warm-up call each, results checked against numpy first.

- add: numba ``add_grid`` (notebook 02, section 2), 256 threads per block, 16 blocks; Triton
  ``add_kernel``, BLOCK = 1024, 4 programs (and BLOCK = 256: 16 programs, numba's grid).
- matmul: numba ``matmul_tiled`` (``coursekit.gpu.kernels.matmul``, 16 x 16 shared tiles, 16 blocks
  of 256 threads); Triton ``matmul_kernel``, 32 x 32 x 32 blocks, 4 programs (and 16^3 blocks: 16
  programs, numba's grid).

Run without a GPU (it compares the two simulators): python benchmarks/triton_vs_simulator.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.gpu import triton_setup
from coursekit.machine import device

cuda: Any = None  # numba.cuda, imported in main() once the simulator switch is decided


def add_grid_source(a, b, out):
    """Notebook 02's ``add_grid``: one thread per element, with a bounds check."""
    i = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    if i < out.size:
        out[i] = a[i] + b[i]


def _rounds(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each contender, timed in interleaved rounds after a warm-up."""
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median taken)")
    args = parser.parse_args(argv)
    if device.gpu_available():
        print("a CUDA GPU is here: this benchmark compares the two CPU simulators; run it on a machine without one")
        return 1
    device.use_simulator_if_no_gpu()
    triton_setup.switch(False)
    if not triton_setup.triton_available():
        print(triton_setup.MISSING)
        return 1
    import torch
    import triton
    from numba import cuda as numba_cuda

    from coursekit.gpu.kernels import matmul
    from coursekit.gpu.kernels import triton_kernels as tk

    globals()["cuda"] = numba_cuda  # the simulator resolves `cuda` in the kernel's module globals
    add_grid = numba_cuda.jit(add_grid_source)

    rng = np.random.default_rng(0)
    n = 4096
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    out = np.zeros(n, np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    A, B = rng.standard_normal((64, 64)).astype(np.float32), rng.standard_normal((64, 64)).astype(np.float32)
    C = np.zeros((64, 64), np.float32)
    tA, tB = torch.from_numpy(A), torch.from_numpy(B)
    tiles = (64 + matmul.TILE - 1) // matmul.TILE

    def sim_add() -> None:
        add_grid[n // 256, 256](a, b, out)

    def sim_mm() -> None:
        matmul.matmul_tiled[(tiles, tiles), (matmul.TILE, matmul.TILE)](A, B, C)

    sim_add()
    sim_mm()
    np.testing.assert_allclose(out, a + b, rtol=1e-6)
    np.testing.assert_allclose(C, A @ B, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tk.add(ta, tb).numpy(), a + b, rtol=1e-6)
    np.testing.assert_allclose(tk.matmul(tA, tB).numpy(), A @ B, rtol=1e-4, atol=1e-4)

    rows = []
    add_t = _rounds(
        {"simulator": sim_add, "interpreter": lambda: tk.add(ta, tb), "same grid": lambda: tk.add(ta, tb, block=256)},
        args.rounds,
    )
    rows.append(("vector add, 4,096 floats", add_t["simulator"], add_t["interpreter"]))
    rows.append(("  Triton BLOCK=256 (16 prog.)", add_t["simulator"], add_t["same grid"]))
    mm_t = _rounds(
        {"simulator": sim_mm, "interpreter": lambda: tk.matmul(tA, tB), "same grid": lambda: tk.matmul(tA, tB, 16)},
        args.rounds,
    )
    rows.append(("tiled matmul 64^3", mm_t["simulator"], mm_t["interpreter"]))
    rows.append(("  Triton 16^3 blocks (16 prog.)", mm_t["simulator"], mm_t["same grid"]))
    big_a, big_b = torch.randn(256, 256), torch.randn(256, 256)
    big = _rounds({"interpreter": lambda: tk.matmul(big_a, big_b)}, args.rounds)
    rows.append(("tiled matmul 256^3", float("nan"), big["interpreter"]))

    print(f"triton {triton.__version__} interpreter vs numba-cuda simulator; medians of {args.rounds} rounds")
    print(f"{'kernel':31s} {'simulator':>12s} {'interpreter':>12s} {'interpreter faster':>20s}")
    for name, sim, interp in rows:
        sim_text = f"{sim * 1e3:10.1f} ms" if sim == sim else f"{'not run':>12s}"
        ratio = f"{sim / interp:18.1f}x" if sim == sim else f"{'-':>19s}"
        print(f"{name:31s} {sim_text} {interp * 1e3:9.1f} ms {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
