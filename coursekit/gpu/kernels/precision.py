"""Find the float64 work a numba-cuda kernel would do on a GPU, on any machine.

numba types a bare float literal (``0.0``, ``1.0``) as float64, and float32 combined with
float64 (or with an integer) gives float64: ``acc = 0.0; acc += a * b`` sums in float64, as does
``v = sin(v) + 1.0``, and ``x > 0`` compares in float64. On a GPU that is FP64 arithmetic, which
runs at 1/64 of the FP32 rate on consumer GPUs: a kernel meant to show float32 speed would time
FP64. The course's kernels write their constants as ``float32(0)`` for that reason.

:func:`float64_work` runs numba-cuda's *own* compiler front end, type inference and lowering to
LLVM IR for a kernel and its argument types — the steps ``cuda.jit`` runs on a GPU machine before
handing the IR to NVVM — and lists every place float64 shows up. It needs no GPU and no CUDA
toolkit, but it does need the real numba-cuda target, not the simulator (which runs kernels as
Python and infers no types): call it in a process started with ``NUMBA_ENABLE_CUDASIM=0``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from coursekit.show import python_function

# An LLVM instruction that computes on, produces or converts to a double. A float64 *literal*
# narrowed to float (``fptrunc double 5.0e-01 to float``) is folded at compile time and allowed.
_DOUBLE = re.compile(r"\bdouble\b")
_FOLDED_CONSTANT = re.compile(r"fptrunc double (?:0x[0-9A-Fa-f]+|[-+0-9.eE]+) to float")

# The compute capability to lower for: any that numba-cuda supports gives the same typing.
DEFAULT_CC = (8, 0)


def _is_float64(ty: Any) -> bool:
    return str(ty) == "float64"


def _is_constant(value: Any, typemap: dict) -> bool:
    """A literal, a global/free variable, or a module attribute (``np.inf``): a compile-time constant."""
    kind = type(value).__name__
    if kind in ("Const", "Global", "FreeVar"):
        return True
    if kind == "Expr" and value.op == "getattr":
        return type(typemap.get(value.value.name)).__name__ == "Module"
    return False


def float64_work(kernel: Callable, argtypes: Sequence[Any], cc: tuple[int, int] = DEFAULT_CC) -> list[str]:
    """Every float64 value or operation in ``kernel`` compiled for ``argtypes`` (numba types,
    e.g. ``(float32[:, :],) * 3``); an empty list when the kernel computes in float32 only.

    ``kernel``: a ``cuda.jit`` kernel or the plain Python function of one. Three checks, each
    reported with its source line where known:

    - *variables*: any variable typed float64, except compile-time constants (literals,
      globals, ``np.inf``);
    - *operations*: any operation (arithmetic, comparison, call, store) with a float64 operand
      or result, except a cast such as ``float32(0.5)``;
    - *LLVM IR*: any instruction on ``double`` in the lowered kernel, except a float64 literal
      narrowed to float (folded by the compiler).
    """
    from numba.core import config

    if getattr(config, "ENABLE_CUDASIM", False):
        raise RuntimeError(
            "float64_work needs numba-cuda's real compiler: run it with NUMBA_ENABLE_CUDASIM=0 "
            "(no GPU is needed; the simulator infers no types)"
        )
    from numba.cuda.compiler import compile_cuda

    pyfunc = python_function(kernel)
    cres = compile_cuda(pyfunc, None, tuple(argtypes), cc=cc)
    ann = cres.type_annotation
    typemap, calltypes = ann.typemap, ann.calltypes
    found: list[str] = []
    for block in ann.blocks.values():
        for stmt in block.body:
            if type(stmt).__name__ != "Assign":
                continue
            target, value = stmt.target.name, stmt.value
            if _is_float64(typemap.get(target)) and not _is_constant(value, typemap):
                found.append(f"line {stmt.loc.line}: variable {target} is float64 (= {str(value)[:80]})")
    for expr, sig in calltypes.items():
        if sig is None:
            continue
        callee = typemap.get(expr.func.name) if getattr(expr, "op", None) == "call" else None
        if type(callee).__name__ == "NumberClass":  # a cast such as float32(0.5): folded by the compiler
            continue
        if _is_float64(sig.return_type) or any(_is_float64(a) for a in sig.args):
            found.append(f"line {expr.loc.line}: {str(expr)[:80]} computes with float64: {sig}")
    for line in cres.library.get_llvm_str().splitlines():
        if _DOUBLE.search(line) and not _FOLDED_CONSTANT.search(line) and not line.lstrip().startswith(";"):
            if line.lstrip().startswith(("declare", "attributes", "!")):
                continue
            found.append(f"LLVM IR: {line.strip()}")
    return found


def ptx_float64_lines(kernel: Callable, argtypes: Sequence[Any], cc: tuple[int, int] | None = None) -> list[str]:
    """The PTX instructions on 64-bit floats (``.f64``) in ``kernel`` compiled for ``argtypes``.

    This is what a GPU would run, so it needs NVVM (numba-cuda's ``cu12``/``cu13`` extra, i.e.
    ``pip install -e '.[gpu]'``); ``cc`` defaults to the current GPU's compute capability.
    """
    from numba import cuda

    if cc is None:
        cc = cuda.get_current_device().compute_capability
    ptx, _ = cuda.compile_ptx(python_function(kernel), tuple(argtypes), cc=cc)
    return [line.strip() for line in ptx.splitlines() if ".f64" in line and not line.lstrip().startswith("//")]


def typed_kernels() -> list[tuple[str, Callable, tuple]]:
    """``(name, kernel, argument types)`` for every kernel in :mod:`coursekit.gpu.kernels`, with the
    float32 arguments the course launches them with."""
    from numba import float32, int32, int64

    from coursekit.gpu import streams
    from coursekit.gpu.kernels import matmul, reduce, simt, stencil, transpose, warp_reduce, warps

    v, m = float32[:], float32[:, :]
    return [
        ("matmul_naive", matmul.matmul_naive, (m, m, m)),
        (f"matmul_tiled (tile {matmul.TILE})", matmul.matmul_tiled, (m, m, m)),
        ("matmul_tiled (tile 8)", matmul.make_matmul_tiled(8), (m, m, m)),
        ("stencil_1d", stencil.stencil_1d, (v, v)),
        ("stencil_1d without barrier", stencil.make_stencil_1d(stencil.RADIUS, stencil.BLOCK, barrier=False), (v, v)),
        ("atomic_sum", reduce.atomic_sum, (v, v)),
        ("tree_sum", reduce.tree_sum, (v, v)),
        ("warp_sum (block 128)", warp_reduce.make_warp_sum(128), (v, v)),
        ("warp_count_positive", warp_reduce.warp_count_positive, (v, int32[:])),
        ("relu", simt.relu, (v, v)),
        ("branch_record", simt.branch_record, (v, int32[:])),
        ("heavy_branches", simt.heavy_branches, (v, v, int64)),
        ("copy_2d", transpose.copy_2d, (m, m)),
        ("transpose_naive", transpose.transpose_naive, (m, m)),
        ("copy_stride", warps.copy_stride, (v, v)),
        ("fma_chain", streams.fma_chain, (v, v, int64)),
    ]


def check_course_kernels(ptx: bool = False) -> dict[str, list[str]]:
    """:func:`float64_work` for every course kernel (name -> findings; all empty when the kernels
    compute in float32 only); with ``ptx=True`` (a GPU and NVVM present) also the ``.f64`` PTX."""
    found = {}
    for name, kernel, argtypes in typed_kernels():
        found[name] = float64_work(kernel, argtypes)
        if ptx:
            found[name] += [f"PTX: {line}" for line in ptx_float64_lines(kernel, argtypes)]
    return found
