"""Checker for notebook 05's capstone: LeNet's first convolution as a CUDA kernel.

``kernel(x, w, b, out)`` must compute ``out = torch.nn.functional.conv2d(x, w, b)`` for
``x`` (N, 1, H, W), ``w`` (C, 1, K, K), ``b`` (C,), launched as
:func:`coursekit.apps.conv1.launch_grid` says: one thread per output pixel, ``cuda.grid(3)`` =
(column, row, n * C + c). :func:`check_conv1_kernel` runs it in the tracer on small batches whose
sizes are not multiples of the block (so the edge blocks hold idle threads) and checks its memory
contract there: every index in bounds, at most 2 K^2 + 1 global reads and 1 write per thread,
no shared memory, reads of ``x`` and writes of ``out`` coalesced, values exact (the inputs are
small integers, so every summation order gives the same float32). :func:`check_conv1_lenet`
then plugs it into a trained LeNet: the same predictions as the model, up to ties.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from coursekit.apps import conv1
from coursekit.checks import check_true
from coursekit.gpu.contract import check_contract

# (N, C, H, W, K, block): none of the outputs is a multiple of its block; one is square (a kernel
# that swaps rows and columns is right there, but its writes are not coalesced), the others are
# not (there it leaves pixels unwritten or reads past an edge); K = 3 and 4 catch a hard-coded 5.
CASES = (
    (2, 3, 13, 11, 5, (8, 8)),
    (1, 4, 12, 12, 3, (4, 4)),
    (3, 2, 7, 12, 4, (4, 2)),
)


def _case(n: int, c: int, h: int, w: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small-integer inputs (exact in float32 whatever the order of the sum), biases never 0."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (n, 1, h, w)).astype(np.float32)
    wt = rng.integers(-2, 3, (c, 1, k, k)).astype(np.float32)
    b = (rng.integers(1, 5, c) * rng.choice([-1, 1], c)).astype(np.float32)
    return x, wt, b


def check_conv1_kernel(kernel: Callable, seed: int = 24) -> None:
    """The kernel's values against ``conv2d`` and its memory contract, in the tracer."""
    for i, (n, c, h, w, k, block) in enumerate(CASES):
        x, wt, b = _case(n, c, h, w, k, seed + i)
        ref = nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(wt), torch.from_numpy(b)).numpy()
        out = np.full(ref.shape, np.nan, dtype=np.float32)
        check_contract(
            kernel, conv1.launch_grid(ref.shape, block), (*block, 1), x, wt, b, out,
            reads=2 * k * k + 1, writes=1, shared_writes=0, barriers=0, coalesced=("x", "out"),
            expect={"out": ref}, rtol=0,
            what=f"conv1_kernel (x {x.shape}, w {wt.shape}, blocks of {block[0]} x {block[1]} threads)",
        )  # fmt: skip


def check_conv1_lenet(kernel: Callable, net: nn.Sequential, X: torch.Tensor, y: np.ndarray) -> conv1.Agreement:
    """``net`` with its first layer computed by the kernel (thread after thread on the CPU)
    predicts what ``net`` predicts on images ``X``, up to ties; returns the comparison."""
    first = net[0]
    out = conv1.apply(kernel, X, first.weight, first.bias)
    check_true(np.isfinite(out).all(), "every output pixel of the first layer must be written (some are NaN)")
    agree = conv1.agreement(net, out, X, y)
    check_true(
        agree.max_abs_diff < 1e-3,
        f"the first layer's outputs should equal conv2d's within 1e-3, got a difference of {agree.max_abs_diff:.3g}",
    )
    check_true(
        agree.differ == 0,
        f"LeNet with your first layer should predict what LeNet predicts, got {agree.differ} of {agree.n} "
        "images predicted differently (not ties)",
    )
    return agree
