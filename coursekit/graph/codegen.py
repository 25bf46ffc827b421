"""Code generators for a fused elementwise program: Python source you can read, then compile.

A fused group of elementwise ops is a straight-line :class:`Program` (one instruction per op).
Three generators turn it into source:

* :func:`numpy_blocks_source` -- numexpr's method: walk the arrays in cache-sized blocks and run
  each op as a numpy ufunc writing into a few small reused buffers (``out=``), so the temporaries
  stay in cache instead of costing a trip to memory each. numpy's ufuncs release the GIL, so blocks
  are shared out over threads (one per core) by :mod:`coursekit.graph.fusion`.
* :func:`numba_source` -- one ``@numba.njit(parallel=True)`` loop over the elements.
* :func:`cuda_source` -- the body of a CuPy ``ElementwiseKernel`` (one GPU thread per element).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coursekit.graph.ops import Elemwise, ctype


@dataclass
class Instr:
    op: Elemwise
    args: list  # ("in", k) | ("tmp", j) | ("const", value)
    dtype: np.dtype


@dataclass
class Program:
    """Inputs ``i0..in`` (dtypes), instructions in evaluation order; the last one is the result."""

    in_dtypes: list
    in_names: list
    instrs: list = field(default_factory=list)

    @property
    def dtype(self) -> np.dtype:
        return self.instrs[-1].dtype

    def __str__(self):
        lines = []
        for j, ins in enumerate(self.instrs):
            args = ", ".join(_plain(a) for a in ins.args)
            lines.append(f"t{j} = {ins.op.label()}({args})  # {ins.dtype.name}")
        return "\n".join(lines)


def _plain(arg) -> str:
    kind, v = arg
    return f"i{v}" if kind == "in" else f"t{v}" if kind == "tmp" else repr(v)


def _literal(value, dtype=None) -> str | None:
    """Python source for a constant (``None`` when it is not a finite number)."""
    arr = np.asarray(value)
    if arr.size != 1 or not np.isfinite(arr).all():
        return None
    if isinstance(value, (bool, int, float)) and dtype is None:
        return repr(value)
    scalar = arr.reshape(()).astype(dtype) if dtype is not None and dtype.kind in "fc" else arr.reshape(())[()]
    return repr(scalar[()] if isinstance(scalar, np.ndarray) else scalar)


def _last_uses(prog: Program) -> dict[int, int]:
    last = {}
    for j, ins in enumerate(prog.instrs):
        for kind, v in ins.args:
            if kind == "tmp":
                last[v] = j
    return last


# ---- numpy, in blocks ------------------------------------------------------------------------------

_SPECIAL_POW = {2: "np.square({0}, {out})", 0.5: "np.sqrt({0}, {out})", -1: "np.reciprocal({0}, {out})"}


def numpy_stmts(ins: Instr, args: list[str], out: str, tmp: str | None = None) -> list[str]:
    """The numpy statements that compute ``ins`` from ``args`` into the buffer ``out`` (``tmp``: a
    scratch buffer of the result's dtype, for the templates that use ``{tmp}``)."""
    template = ins.op.np_code
    if ins.op.name == "pow" and ins.args[1][0] == "const" and np.size(ins.args[1][1]) == 1:
        template = _SPECIAL_POW.get(float(np.asarray(ins.args[1][1])), template)
    return template.format(*args, out=out, tmp=tmp).split("; ")


def needs_scratch(ins: Instr) -> bool:
    """Whether the numpy template of ``ins`` uses a scratch buffer ``{tmp}``."""
    return "{tmp}" in ins.op.np_code


def scratch_buffer(buffers: list, scratch: dict, dtype) -> str:
    """The name of the scratch buffer of ``dtype`` (one per dtype, added to ``buffers`` on first use;
    never shared with a temporary, so it aliases no argument and no result)."""
    if dtype not in scratch:
        buffers.append((dtype, None))
        scratch[dtype] = f"b{len(buffers) - 1}"
    return scratch[dtype]


def numpy_blocks_source(prog: Program, sliced, name: str = "fused"):
    """Source of ``name(lo, hi, B, out, i0.., bufs)``: compute ``out[lo:hi]`` block by block along the
    first axis, inputs with ``sliced[k]`` False being used whole (scalars, broadcast rows).
    Returns ``(source, constants, buffers)``; ``buffers`` lists (dtype, fill value or None)."""
    consts: dict[str, object] = {}
    buffers: list = []  # (dtype, fill)
    free: dict = {}  # dtype -> list of buffer indices free for reuse
    where: dict[int, str] = {}  # tmp -> buffer name
    scratch: dict = {}  # dtype -> the scratch buffer of the templates that use {tmp}
    last = _last_uses(prog)
    body: list[str] = []

    def arg_src(arg, ins: Instr, op_name: str) -> str:
        kind, v = arg
        if kind == "in":
            return f"x{v}" if sliced[v] else f"i{v}"
        if kind == "tmp":
            return where[v]
        if op_name in ("maximum", "minimum"):  # numpy's fast loops want an array here, not a scalar
            spec = (ins.dtype, np.asarray(v).item())
            if spec not in buffers:
                buffers.append(spec)
            return f"b{buffers.index(spec)}"
        lit = _literal(v)
        if lit is not None:
            return lit
        consts[f"K{len(consts)}"] = v
        return f"K{len(consts) - 1}"

    n = len(prog.instrs)
    for j, ins in enumerate(prog.instrs):
        args = [arg_src(a, ins, ins.op.name) for a in ins.args]
        dying = list(dict.fromkeys(v for kind, v in ins.args if kind == "tmp" and last.get(v) == j))
        if ins.op.inplace_ok:
            for v in dying:
                free.setdefault(prog.instrs[v].dtype, []).append(where[v])
        if j == n - 1:
            out = "o"
        else:
            pool = free.get(ins.dtype, [])
            if pool:
                out = pool.pop()
            else:
                buffers.append((ins.dtype, None))
                out = f"b{len(buffers) - 1}"
            where[j] = out
        if not ins.op.inplace_ok:
            for v in dying:
                free.setdefault(prog.instrs[v].dtype, []).append(where[v])
        tmp = scratch_buffer(buffers, scratch, ins.dtype) if needs_scratch(ins) else None
        body += [f"        {stmt}  # t{j} = {ins.op.name}" for stmt in numpy_stmts(ins, args, out, tmp)]
    lines = block_loop_source(name, len(prog.in_dtypes), len(buffers), sliced, body)
    return "\n".join(lines) + "\n", consts, buffers


def block_loop_source(name: str, n_inputs: int, n_buffers: int, sliced: list[bool], body: list[str]) -> list[str]:
    """Source lines of ``name(lo, hi, B, out, i0, i1, ..., bufs)``: a loop over blocks of ``B``
    elements of ``[lo, hi)`` that slices the inputs marked in ``sliced`` (``x{k}``), the output
    (``o``) and the scratch buffers (``b{k}``, shortened for the last block), then runs ``body``."""
    ins_names = [f"i{k}" for k in range(n_inputs)]
    bufs = [f"b{k}" for k in range(n_buffers)]
    lines = [f"def {name}(lo, hi, B, out, {', '.join(ins_names)}, bufs):"]
    lines.append("    " + (", ".join(bufs) + ", = bufs" if bufs else "pass"))
    lines += [
        "    for s in range(lo, hi, B):",
        "        e = s + B",
        "        if e > hi:  # the last, shorter block",
        "            e = hi",
    ]
    lines += [f"            {b} = {b}[:e - s]" for b in bufs]
    lines += [f"        x{k} = i{k}[s:e]" for k in range(n_inputs) if sliced[k]]
    lines.append("        o = out[s:e]")
    return lines + body


# ---- numba, one parallel loop ------------------------------------------------------------------------

# numpy's semantics for x / 0 and 0.0 ** -1 (inf, nan), not Python's ZeroDivisionError
NUMBA_OPTIONS = "error_model='numpy'"


def scalar_expr(ins: Instr, names: list[str], consts: dict, vector_math: bool = False) -> str:
    """The instruction as a scalar Python/numba expression; ``names[k]`` is the variable holding argument
    ``k`` (ignored for constants, written as literals typed like the result, or added to ``consts``).
    ``vector_math``: a float32 ``exp``/``log``/``log1p``/``tanh`` calls :mod:`coursekit.graph.vecmath`
    (``vm.exp32`` ...), which LLVM vectorises, instead of the C library's scalar function."""
    args = []
    for (kind, v), nm in zip(ins.args, names, strict=True):
        if kind == "const":
            lit = _literal(v, ins.dtype if ins.dtype.kind == "f" else None)
            if lit is None:
                consts[f"K{len(consts)}"] = np.asarray(v).reshape(())[()]
                lit = f"K{len(consts) - 1}"
            args.append(lit)
        else:
            args.append(nm)
    if ins.op.name == "pow" and ins.args[1][0] == "const" and float(np.asarray(ins.args[1][1])) == 2:
        return f"({args[0]} * {args[0]})"
    expr = ins.op.py.format(*args)
    if vector_math and ins.dtype == np.float32:
        from coursekit.graph.vecmath import vectorise

        expr = vectorise(expr)
    return expr


def numba_source(prog: Program, sliced, name: str = "fused_numba", vector_math: bool = True):
    """Source of ``name(out, i0, ...)`` over flat arrays (``sliced[k]`` False: ``ik`` is a scalar);
    ``vector_math``: float32 transcendentals as vectorisable polynomials (see :func:`scalar_expr`)."""
    lines = [
        f"@numba.njit(parallel=True, cache=False, {NUMBA_OPTIONS})",
        f"def {name}(out, {', '.join(f'i{k}' for k in range(len(prog.in_dtypes)))}):",
        "    for j in numba.prange(out.shape[0]):",
    ]
    lines += [f"        x{k} = i{k}[j]" if sliced[k] else f"        x{k} = i{k}" for k in range(len(prog.in_dtypes))]
    consts: dict = {}
    for j, ins in enumerate(prog.instrs):
        names = [f"x{v}" if kind == "in" else f"t{v}" for kind, v in ins.args]
        lines.append(f"        t{j} = {scalar_expr(ins, names, consts, vector_math)}")
    lines.append(f"        out[j] = t{len(prog.instrs) - 1}")
    return "\n".join(lines) + "\n", consts


# ---- CUDA (CuPy ElementwiseKernel) --------------------------------------------------------------------


def _c_literal(value, dtype) -> str:
    v = np.asarray(value).reshape(())[()]
    if np.dtype(dtype).kind == "b" or isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if np.dtype(dtype).kind == "f":
        if not math.isfinite(float(v)):
            return ("-" if v < 0 else "") + "INFINITY" if not math.isnan(float(v)) else "NAN"
        text = repr(float(v))
        return text + ("f" if np.dtype(dtype) == np.float32 else "")
    return str(int(v))


def cuda_source(prog: Program, name: str = "fused_cuda"):
    """``(in_params, out_params, operation, name)`` for ``cupy.ElementwiseKernel``; CuPy broadcasts
    the inputs and runs ``operation`` once per output element, one GPU thread each."""
    in_params = ", ".join(f"{np.dtype(d).name} i{k}" for k, d in enumerate(prog.in_dtypes))
    out_params = f"{prog.dtype.name} out"
    ops = []
    for j, ins in enumerate(prog.instrs):
        args = [
            f"i{v}" if kind == "in" else f"t{v}" if kind == "tmp" else _c_literal(v, ins.dtype) for kind, v in ins.args
        ]
        ops.append(f"{ctype(ins.dtype)} t{j} = {ins.op.cuda.format(*args)};")
    ops.append(f"out = t{len(prog.instrs) - 1};")
    return in_params, out_params, "\n".join(ops), name


def cupy_kernel(prog: Program, name: str = "fused_cuda"):
    """Build the CuPy ElementwiseKernel (needs CuPy and a CUDA GPU; not available on the CPU)."""
    try:
        import cupy
    except ImportError as exc:
        raise RuntimeError(
            "the CUDA code generator needs CuPy and a CUDA GPU; none here "
            "(see the generated source with Function.source)"
        ) from exc
    return cupy.ElementwiseKernel(*cuda_source(prog, name))


_COMPILED: dict[tuple, Any] = {}  # (source, name, namespace) -> function: the same code is compiled once
_COMPILED_MAX = 512


def compile_source(source: str, name: str, namespace: dict):
    """Exec generated ``source`` and return the function ``name`` (the source is kept for reading).

    The same source with the same namespace (compared by ``repr``) returns the function made the first
    time, so two kernels generated alike (the same graph compiled twice) share their numba code and
    numba compiles it once per process."""
    key = (source, name, tuple(sorted((k, repr(v)) for k, v in namespace.items() if k != "__builtins__")))
    if key in _COMPILED:
        return _COMPILED[key]
    code = compile(source, f"<coursekit.graph generated {name}>", "exec")
    exec(code, namespace)
    if len(_COMPILED) >= _COMPILED_MAX:  # many different kernels: forget the oldest
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[key] = namespace[name]
    return namespace[name]
