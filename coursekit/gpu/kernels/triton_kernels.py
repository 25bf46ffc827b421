"""The course's Triton kernels: one *program* per block of elements, masks instead of ``if i < n``.

A Triton kernel is written for one program instance; ``tl.program_id`` says which block it owns,
``tl.arange`` gives the block's offsets as a vector, and a mask switches off the lanes past the
end. The compiler decides the threads, the shared memory and the coalescing. Without a GPU they run
on Triton's interpreter (:mod:`coursekit.gpu.triton_setup` decides, before ``triton`` loads), on CPU
torch tensors. Importing this module needs ``triton`` (an optional extra).

Each kernel's docstring states its reference (the torch line it must equal) and its memory contract
(loads and stores per program, in elements); :func:`costs` counts the bytes and FLOPs of a launch
from the same code, for the roofline.
"""

from __future__ import annotations

import math

import torch

from coursekit.gpu import triton_setup
from coursekit.perf import roofline

if triton_setup.load() is None:  # raises unless TRITON_INTERPRET was decided first (ck.setup())
    raise ImportError(triton_setup.MISSING)
import triton
import triton.language as tl

ADD_BLOCK = 1024
MM_BLOCK = 32  # BLOCK_M = BLOCK_N = BLOCK_K


@triton.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    """out[i] = x[i] + y[i].  Reference: ``out = x + y``.

    Memory contract: program p loads x and y and stores out at p * BLOCK + [0, BLOCK), masked to
    ``< n``: 2 x BLOCK loads and BLOCK stores (fewer in the last program).
    """
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x + y, mask=mask)


@triton.jit
def matmul_kernel(
    a_ptr, b_ptr, c_ptr, M, N, K,
    stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """C = A @ B, one BLOCK_M x BLOCK_N tile of C per program.  Reference: ``c = a @ b`` (float32).

    Memory contract: program (i, j) loads, per step of BLOCK_K, a BLOCK_M x BLOCK_K tile of A and a
    BLOCK_K x BLOCK_N tile of B (masked to the matrices), ceil(K / BLOCK_K) steps, and stores one
    BLOCK_M x BLOCK_N tile of C: each A element is loaded ceil(N / BLOCK_N) times, each B element
    ceil(M / BLOCK_M) times.
    """
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        a_mask = (rm[:, None] < M) & (k0 + rk[None, :] < K)
        b_mask = (k0 + rk[:, None] < K) & (rn[None, :] < N)
        a = tl.load(a_ptr + rm[:, None] * stride_am + (k0 + rk[None, :]) * stride_ak, mask=a_mask, other=0.0)
        b = tl.load(b_ptr + (k0 + rk[:, None]) * stride_bk + rn[None, :] * stride_bn, mask=b_mask, other=0.0)
        acc += tl.dot(a, b, input_precision="ieee")
    c_mask = (rm[:, None] < M) & (rn[None, :] < N)
    tl.store(c_ptr + rm[:, None] * stride_cm + rn[None, :] * stride_cn, acc, mask=c_mask)


@triton.jit
def softmax_kernel(x_ptr, out_ptr, n_cols, x_row_stride, out_row_stride, BLOCK: tl.constexpr):
    """Row-wise softmax, one program per row, the row held in registers (BLOCK >= n_cols).
    Reference: ``torch.softmax(x, dim=1)``.

    Memory contract: program r loads its row once (n_cols elements; masked lanes read as -inf) and
    stores it once: max, subtract, exp, sum and divide never touch memory.
    """
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < n_cols
    x = tl.load(x_ptr + row * x_row_stride + offs, mask=mask, other=-float("inf"))
    z = x - tl.max(x, axis=0)
    num = tl.exp(z)
    out = num / tl.sum(num, axis=0)
    tl.store(out_ptr + row * out_row_stride + offs, out, mask=mask)


@triton.jit
def layernorm_kernel(x_ptr, w_ptr, b_ptr, out_ptr, n_cols, row_stride, eps, BLOCK: tl.constexpr):
    """Layer normalisation of each row, one program per row (BLOCK >= n_cols).
    Reference: ``torch.nn.functional.layer_norm(x, (n_cols,), w, b, eps)``.

    Memory contract: program r loads its row of x, and w and b (n_cols elements each), and stores
    its row of out once; mean and variance are reduced in registers.
    """
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < n_cols
    x = tl.load(x_ptr + row * row_stride + offs, mask=mask, other=0.0)
    mean = tl.sum(x, axis=0) / n_cols
    xc = tl.where(mask, x - mean, 0.0)
    var = tl.sum(xc * xc, axis=0) / n_cols
    rstd = 1.0 / tl.sqrt(var + eps)
    w = tl.load(w_ptr + offs, mask=mask, other=0.0)
    b = tl.load(b_ptr + offs, mask=mask, other=0.0)
    tl.store(out_ptr + row * row_stride + offs, xc * rstd * w + b, mask=mask)


# ---- launchers: the grid and the block sizes, in one place -------------------------------------


def add(x: torch.Tensor, y: torch.Tensor, block: int = ADD_BLOCK) -> torch.Tensor:
    """``x + y`` (1-D, contiguous, same length) with :func:`add_kernel`, ceil(n / block) programs."""
    out = torch.empty_like(x)
    add_kernel[(triton.cdiv(x.numel(), block),)](x, y, out, x.numel(), BLOCK=block)
    return out


def matmul(a: torch.Tensor, b: torch.Tensor, block: int = MM_BLOCK) -> torch.Tensor:
    """``a @ b`` (float32) with :func:`matmul_kernel`, one program per block x block tile of the result."""
    (m, k), (_, n) = a.shape, b.shape
    c = torch.empty((m, n), dtype=torch.float32, device=a.device)
    grid = (triton.cdiv(m, block), triton.cdiv(n, block))
    matmul_kernel[grid](
        a, b, c, m, n, k, a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0), c.stride(1),
        BLOCK_M=block, BLOCK_N=block, BLOCK_K=block,
    )  # fmt: skip
    return c


def softmax(x: torch.Tensor) -> torch.Tensor:
    """``torch.softmax(x, dim=1)`` with :func:`softmax_kernel`, one program per row."""
    rows, cols = x.shape
    out = torch.empty_like(x)
    softmax_kernel[(rows,)](x, out, cols, x.stride(0), out.stride(0), BLOCK=triton.next_power_of_2(cols))
    return out


def layernorm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``layer_norm(x, (cols,), w, b, eps)`` with :func:`layernorm_kernel`, one program per row (x contiguous)."""
    rows, cols = x.shape
    out = torch.empty_like(x)
    layernorm_kernel[(rows,)](x, w, b, out, cols, x.stride(0), eps, BLOCK=triton.next_power_of_2(cols))
    return out


def time_against_torch(rows: int, cols: int, min_time: float = 0.2) -> dict[str, dict[str, float]] | None:
    """On a GPU: median seconds per call of the Triton softmax and layernorm on a (rows x cols)
    float32 matrix against torch eager and ``torch.compile`` (CUDA events, warmed up); None under
    the interpreter, whose times are a simulator's and say nothing of a GPU's."""
    if triton_setup.interpreting():
        return None
    from coursekit.perf import timing

    x = torch.randn(rows, cols, device="cuda")
    w, b = torch.randn(cols, device="cuda"), torch.randn(cols, device="cuda")
    ln = torch.nn.functional.layer_norm
    eager = {"softmax": lambda: torch.softmax(x, dim=1), "layernorm": lambda: ln(x, (cols,), w, b, 1e-5)}
    compiled = {name: torch.compile(fn) for name, fn in eager.items()}
    ours = {"softmax": lambda: softmax(x), "layernorm": lambda: layernorm(x, w, b)}
    table: dict[str, dict[str, float]] = {}
    for name in eager:
        table[name] = {
            label: timing.benchmark(fn, device="cuda", warmup=3, min_time=min_time).median
            for label, fn in (("triton", ours[name]), ("torch eager", eager[name]), ("torch.compile", compiled[name]))
        }
    return table


# ---- bytes and FLOPs counted from the code --------------------------------------------------------


def costs(kernel: str, *shape: int, block: int = MM_BLOCK, itemsize: int = 4) -> roofline.Kernel:
    """The work of one launch, counted from the kernel's loads, stores and arithmetic (active lanes
    only), as a :class:`coursekit.perf.roofline.Kernel` (FLOP, bytes requested from global memory).

    ``add n``: 1 FLOP, 2 loads and 1 store per element. ``matmul m n k``: 2mnk FLOP; A loaded once
    per column of programs, B once per row of programs, C stored once (intensity about block / 4
    FLOP/byte for square matrices: reuse inside a tile, as in notebook 02's shared-memory matmul).
    ``softmax rows cols``: 5 FLOP per element (max, subtract, exp, sum, divide), one load and one
    store. ``layernorm rows cols``: 7 FLOP per element (sum, subtract, square, sum, scale, times w,
    plus b) and 1 square root per row; x, w, b loaded and out stored per element (w and b per row).
    """
    if kernel == "add":
        (n,) = shape
        return roofline.Kernel(f"triton add n={n:,}", n, 3 * n * itemsize)
    if kernel == "matmul":
        m, n, k = shape
        loads = math.ceil(n / block) * m * k + math.ceil(m / block) * k * n
        return roofline.Kernel(f"triton matmul {m}x{k}x{n}", 2 * m * n * k, (loads + m * n) * itemsize)
    if kernel == "softmax":
        rows, cols = shape
        return roofline.Kernel(f"triton softmax {rows}x{cols}", 5 * rows * cols, 2 * rows * cols * itemsize)
    if kernel == "layernorm":
        rows, cols = shape
        return roofline.Kernel(f"triton layernorm {rows}x{cols}", 7 * rows * cols + rows, 4 * rows * cols * itemsize)
    raise ValueError(f"unknown kernel {kernel!r}: add, matmul, softmax or layernorm")
