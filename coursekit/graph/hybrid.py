"""A third CPU code generator: numpy ufuncs for the transcendental ops, numba loops for the rest.

Why: numba compiles ``exp``/``log1p`` to calls of the C library, one element at a time (this llvmlite
has no SVML), while numpy's ufuncs for them are vectorised (AVX2/AVX-512). numpy, in turn, pays one
pass over the block and a ufunc call for every cheap ``+``, ``*``, ``max``. So, per block: each
maximal run of cheap ops becomes one small ``@numba.njit(nogil=True)`` loop (values stay in registers),
and each expensive op stays a numpy ufunc. Only temporaries that cross from one step to another get a
block buffer. ``nogil`` lets the blocks run on several threads, as with the pure-numpy generator.
"""

from __future__ import annotations

import numpy as np

from coursekit.graph.codegen import (
    NUMBA_OPTIONS,
    Program,
    _literal,
    block_loop_source,
    needs_scratch,
    numpy_stmts,
    scalar_expr,
    scratch_buffer,
)


def _expensive(ins) -> bool:
    """Whether ``ins`` is transcendental: its op's declared cost class is "transcendental" (ops.py)."""
    if ins.op.name == "pow" and ins.args[1][0] == "const":  # x**2 and x**1 become cheap code
        return float(np.asarray(ins.args[1][1])) not in (1.0, 2.0)
    return ins.op.cost == "transcendental"


def vectorised(ins) -> bool:
    """Whether ``ins`` is a float32 op whose scalar code :mod:`coursekit.graph.vecmath` turns into
    calls LLVM vectorises (no C-library call left: exp, log, log1p, tanh, sigmoid, softplus ...)."""
    from coursekit.graph.vecmath import vectorise

    return ins.dtype == np.float32 and "math." not in vectorise(ins.op.py).replace("math.sqrt(", "")


def as_ufunc(ins, vector_math: bool = False) -> bool:
    """Whether the hybrid generator runs ``ins`` as a numpy ufunc step: a transcendental op, unless
    ``vector_math`` and :func:`vectorised` (then a numba loop computes it, vectorised)."""
    return _expensive(ins) and not (vector_math and vectorised(ins))


def plan(prog: Program, vector_math: bool = False) -> list[tuple]:
    """Steps in order: ``("seg", [j, ...])`` for a run of cheap instructions, ``("uf", j)`` for an
    expensive one (:func:`as_ufunc`). Cheap instructions run as late as possible: just before the first
    expensive op that needs them, or in the last segment, so few of their results have to be stored in
    a buffer."""
    steps: list[tuple] = []
    placed: set[int] = set()

    def cheap_closure(j: int) -> list[int]:
        found, stack = set(), [v for kind, v in prog.instrs[j].args if kind == "tmp"]
        while stack:
            t = stack.pop()
            if t in placed or t in found or as_ufunc(prog.instrs[t], vector_math):
                continue
            found.add(t)
            stack += [v for kind, v in prog.instrs[t].args if kind == "tmp"]
        return sorted(found)

    for j, ins in enumerate(prog.instrs):
        if as_ufunc(ins, vector_math):
            seg = cheap_closure(j)
            if seg:
                steps.append(("seg", seg))
            placed.update(seg)
            steps.append(("uf", j))
            placed.add(j)
    rest = [j for j in range(len(prog.instrs)) if j not in placed]
    if rest:
        steps.append(("seg", rest))
    return steps


def hybrid_blocks_source(prog: Program, sliced, name: str = "fused_hybrid", vector_math: bool = False):
    """Like :func:`codegen.numpy_blocks_source` (same driver signature), plus the numba segment
    functions defined before it (``vector_math``: float32 transcendentals computed in them, by
    :mod:`coursekit.graph.vecmath`). Returns ``(source, constants, buffers)``."""
    steps = plan(prog, vector_math)
    root = len(prog.instrs) - 1
    step_of = {j: k for k, (kind, v) in enumerate(steps) for j in (v if kind == "seg" else [v])}
    last_use: dict[int, int] = {}
    for k, (kind, v) in enumerate(steps):
        for j in v if kind == "seg" else [v]:
            for a_kind, t in prog.instrs[j].args:
                if a_kind == "tmp" and step_of[t] != k:
                    last_use[t] = k
    buffers: list = []
    free: dict = {}
    where: dict[int, str] = {root: "o"}
    scratch: dict = {}
    consts: dict = {}
    segments: list[str] = []
    body: list[str] = []

    def materialise(j: int) -> str:
        if j not in where:
            pool = free.get(prog.instrs[j].dtype, [])
            if pool:
                where[j] = pool.pop()
            else:
                buffers.append((prog.instrs[j].dtype, None))
                where[j] = f"b{len(buffers) - 1}"
        return where[j]

    def input_name(k: int) -> str:
        return f"x{k}" if sliced[k] else f"i{k}"

    def release(k: int) -> None:  # buffers whose last reader is step k can be reused
        for t, last in list(last_use.items()):
            if last == k and t in where and t != root:
                free.setdefault(prog.instrs[t].dtype, []).append(where[t])

    for k, (kind, v) in enumerate(steps):
        if kind == "uf":
            ins = prog.instrs[v]
            if ins.op.inplace_ok:  # the result may overwrite an argument's buffer
                release(k)
            args = [
                input_name(a) if ak == "in" else where[a] if ak == "tmp" else (_literal(a) or repr(a))
                for ak, a in ins.args
            ]
            out = materialise(v)
            if not ins.op.inplace_ok:
                release(k)
            tmp = scratch_buffer(buffers, scratch, ins.dtype) if needs_scratch(ins) else None
            body += [f"        {stmt}  # t{v} = {ins.op.name}" for stmt in numpy_stmts(ins, args, out, tmp)]
            continue
        release(k)  # a numba loop reads element j of every argument before it writes element j
        members = set(v)
        reads: dict[str, str] = {}  # driver-side name -> loop variable
        for j in v:
            for ak, a in prog.instrs[j].args:
                if ak == "in":
                    reads.setdefault(input_name(a), f"v{a}")
                elif ak == "tmp" and a not in members:
                    reads.setdefault(where[a], f"t{a}")
        outs = [j for j in v if j == root or last_use.get(j, -1) > k]
        writes = {j: materialise(j) for j in outs}
        fname = f"{name}_s{len(segments)}"
        params = [f"p{n}" for n in range(len(reads))] + [f"w{n}" for n in range(len(writes))]
        src = [
            f"@numba.njit(nogil=True, cache=False, {NUMBA_OPTIONS})",
            f"def {fname}({', '.join(params)}):",
            "    for j in range(w0.shape[0]):",
        ]
        for n, (drv, var) in enumerate(reads.items()):
            scalar = drv.startswith("i")
            src.append(f"        {var} = p{n}" + ("" if scalar else "[j]"))
        for j in v:
            ins = prog.instrs[j]
            names = [f"v{a}" if ak == "in" else f"t{a}" for ak, a in ins.args]
            src.append(f"        t{j} = {scalar_expr(ins, names, consts, vector_math)}")
        src += [f"        w{n}[j] = t{j}" for n, j in enumerate(writes)]
        segments.append("\n".join(src))
        ops = ", ".join(prog.instrs[j].op.name for j in v)
        body.append(f"        {fname}({', '.join([*reads, *writes.values()])})  # {ops}")
    lines = [*segments, "", *block_loop_source(name, len(prog.in_dtypes), len(buffers), sliced, body)]
    return "\n".join(lines) + "\n", consts, buffers
