"""LeNet's first convolution as a CUDA kernel: launch it, plug its output into a trained LeNet, time it.

The course does not ship the kernel (notebook 05's capstone asks for it); this module holds what
surrounds it:

- :func:`launch_grid` — the launch every conv1 kernel here gets: blocks of ``(bx, by, 1)``
  threads, grid ``(ceil(OW / bx), ceil(OH / by), N * C)``;
- :func:`apply` — run a kernel ``kernel(x, w, b, out)`` on numpy arrays, on the CPU thread after
  thread (:func:`coursekit.gpu.serial.run`) or through numba-cuda (the simulator or a GPU);
- :func:`agreement` — a trained LeNet with its first layer replaced by the kernel's output,
  against the model itself: same predictions up to ties, and the accuracy of both;
- :func:`time_vs_cudnn` — on a GPU, the kernel against ``torch.nn.functional.conv2d`` (cuDNN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

BLOCK = (8, 8)  # LeNet's 24 x 24 first-layer outputs tile exactly: no idle threads


def output_shape(x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Shape (N, C, OH, OW) of ``conv2d(x, w)`` (stride 1, no padding), as torch infers it
    (on the ``meta`` device: no arithmetic is done)."""
    out = nn.functional.conv2d(torch.empty(x_shape, device="meta"), torch.empty(w_shape, device="meta"))
    return tuple(out.shape)  # type: ignore[return-value]


def launch_grid(out_shape: tuple[int, ...], block: tuple[int, int] = BLOCK) -> tuple[int, int, int]:
    """Blocks per grid for an output ``(N, C, OH, OW)`` with ``block = (bx, by)`` threads:
    ``(ceil(OW / bx), ceil(OH / by), N * C)``."""
    n, c, oh, ow = out_shape
    bx, by = block
    return (-(-ow // bx), -(-oh // by), n * c)


def _as_f32(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.ascontiguousarray(a, dtype=np.float32)


def apply(kernel: Callable, x: Any, w: Any, b: Any, block: tuple[int, int] = BLOCK, on: str = "serial") -> np.ndarray:
    """``out`` (N, C, OH, OW) float32 after ``kernel[launch_grid(...), (bx, by, 1)](x, w, b, out)``.

    ``out`` starts as NaN, so an element no thread writes shows. ``on="serial"`` runs the kernel's
    Python source thread after thread (:mod:`coursekit.gpu.serial`; about 0.1 s per image for
    LeNet's first layer on one idle core of the 2-core EPYC the course was built on; it checks
    nothing: run :func:`coursekit.gpu.contract.check_contract` first); ``on="numba"`` launches it
    through ``numba.cuda.jit`` (a GPU, or numba-cuda's simulator, there tens of times slower).
    """
    x, w, b = _as_f32(x), _as_f32(w), _as_f32(b)
    out = np.full(output_shape(x.shape, w.shape), np.nan, dtype=np.float32)
    grid, threads = launch_grid(out.shape, block), (*block, 1)
    if on == "serial":
        from coursekit.gpu import serial

        serial.run(kernel, grid, threads, x, w, b, out)
    elif on == "numba":
        from coursekit.gpu import sim_switch

        sim_switch.require("coursekit.apps.conv1.apply(on='numba')")
        from numba import cuda

        jitted: Any = kernel if hasattr(kernel, "py_func") else cuda.jit(kernel)
        jitted[grid, threads](x, w, b, out)
    else:
        raise ValueError(f"on must be 'serial' or 'numba', got {on!r}")
    return out


@dataclass(frozen=True)
class Agreement:
    """A LeNet whose first layer is a kernel's output, against the LeNet itself, on ``n`` images."""

    n: int
    same: int  # images with the same predicted class
    ties: int  # images predicted differently where the model's top two scores are within ``tie``
    accuracy_kernel: float  # fraction right with the kernel's first layer
    accuracy_torch: float  # fraction right with torch's
    max_abs_diff: float  # largest |kernel - conv2d| over the first layer's outputs

    @property
    def differ(self) -> int:
        """Images predicted differently other than by a tie."""
        return self.n - self.same - self.ties


def agreement(
    net: nn.Sequential, conv1_out: np.ndarray, X: torch.Tensor, y: np.ndarray, tie: float = 1e-3
) -> Agreement:
    """Compare ``net`` on images ``X`` (N, 1, 28, 28) with ``net[1:]`` fed ``conv1_out`` (the
    kernel's output for ``X`` with ``net[0]``'s weights); ``y`` the true classes."""
    net = net.eval()
    with torch.no_grad():
        ref_first = net[0](X)
        mine = net[1:](torch.from_numpy(conv1_out).to(ref_first.dtype))
        theirs = net[1:](ref_first)
    p_mine, p_theirs = mine.argmax(1).numpy(), theirs.argmax(1).numpy()
    top2 = theirs.topk(2, dim=1).values
    close = (top2[:, 0] - top2[:, 1]).abs().numpy() <= tie
    diff = p_mine != p_theirs
    y = np.asarray(y)
    finite = np.isfinite(conv1_out)
    max_diff = float(np.abs(conv1_out - ref_first.numpy()).max()) if finite.all() else float("inf")
    return Agreement(
        n=len(y),
        same=int((~diff).sum()),
        ties=int((diff & close).sum()),
        accuracy_kernel=float((p_mine == y).mean()),
        accuracy_torch=float((p_theirs == y).mean()),
        max_abs_diff=max_diff,
    )


def time_vs_cudnn(
    kernel: Callable, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, block: tuple[int, int] = BLOCK
) -> dict[str, float]:
    """Seconds per launch on the GPU of ``kernel`` and of ``torch.nn.functional.conv2d`` (cuDNN)
    on the same CUDA tensors, medians of CUDA-event timings after a warm-up; also the largest
    difference between their outputs. Needs a CUDA GPU (numba-cuda reads torch's tensors through
    ``__cuda_array_interface__``)."""
    from numba import cuda

    from coursekit.perf.timing import benchmark

    x, w, b = (t.detach().to("cuda", torch.float32).contiguous() for t in (x, w, b))
    out = torch.empty(output_shape(tuple(x.shape), tuple(w.shape)), device="cuda")
    grid, threads = launch_grid(tuple(out.shape), block), (*block, 1)
    jitted: Any = kernel if hasattr(kernel, "py_func") else cuda.jit(kernel)

    def mine() -> None:
        jitted[grid, threads](x, w, b, out)

    def cudnn() -> torch.Tensor:
        return nn.functional.conv2d(x, w, b)

    mine()  # compile outside the timing
    ref = cudnn()
    torch.cuda.synchronize()
    diff = float((out - ref).abs().max())
    return {
        "kernel_s": benchmark(mine, device="cuda").median,
        "cudnn_s": benchmark(cudnn, device="cuda").median,
        "max_abs_diff": diff,
    }
