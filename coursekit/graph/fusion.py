"""Elementwise fusion: each maximal group of elementwise ops becomes one generated kernel.

Evaluated one op at a time, ``y*softplus(-z) + (1-y)*softplus(z)`` over 10^7 floats makes a dozen
full passes over memory, each writing a 40 MB temporary. Fused, the whole expression is computed
block by block while the block is in cache. :func:`fuse` finds the groups, :class:`FusedKernel`
generates the code (:mod:`.codegen`) and runs it with the fastest CPU generator it measured.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from coursekit.graph.codegen import (
    NUMBA_OPTIONS,
    Instr,
    Program,
    compile_source,
    cuda_source,
    cupy_kernel,
    numba_source,
    numpy_blocks_source,
    scalar_expr,
)
from coursekit.graph.hybrid import hybrid_blocks_source
from coursekit.graph.nodes import (
    Constant,
    Op,
    Variable,
    clients,
    config,
    rebuild,
    toposort,
)
from coursekit.machine import device

_POOL: ThreadPoolExecutor | None = None


def n_threads() -> int:
    """Threads a fused kernel splits its blocks over: ``config.n_threads``, else one per CPU this
    process may use (:func:`coursekit.machine.device.usable_cpus`)."""
    return config.n_threads or device.usable_cpus()


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL._max_workers < workers:
        _POOL = ThreadPoolExecutor(workers, thread_name_prefix="coursekit-graph")
    return _POOL


def _compact(a: np.ndarray) -> np.ndarray:
    """Undo ``np.broadcast_to``: axes with stride 0 become length 1 again (no copy of a 10^7 view)."""
    if a.ndim and 0 in a.strides and a.size > 1:
        a = a[
            tuple(slice(0, 1) if st == 0 and n > 1 else slice(None) for st, n in zip(a.strides, a.shape, strict=True))
        ]
    return a


def _is_cupy(a) -> bool:
    return type(a).__module__.startswith("cupy")


class FusedKernel:
    """One fused elementwise program and its generated implementations.

    ``backend``: ``"auto"`` (on the first call with at least ``config.autotune_min_size`` elements,
    time the numpy-blocks generator on all cores and on one, and the numba loop, and keep the
    fastest; see ``timings`` and ``choice``), ``"numpy"``, ``"numba"`` or ``"cupy"``."""

    def __init__(self, program: Program, ndim: int, name: str = "fused", backend: str = "auto"):
        self.program, self.ndim, self.name, self.backend = program, ndim, name, backend
        self.plan: tuple | None = None if backend == "auto" else (backend, n_threads(), None)
        self.timings: dict[str, float] = {}
        self.measured: dict[tuple, float] = {}  # plan -> best seconds, once autotuned
        self._np_fns: dict = {}
        self._nb_fns: dict = {}
        self._bufs: dict = {}
        self._cupy = None

    @property
    def choice(self) -> str | None:
        """The generator in use: ``numpy x<threads> B=<block>``, ``numba`` or None (not measured yet)."""
        if self.plan is None:
            return None
        gen, threads, block = self.plan
        return gen if gen in ("numba", "cupy") else f"{gen} x{threads} B={block or config.block_size}"

    # ---- source -----------------------------------------------------------------------------------
    def source(self) -> str:
        """The generated code for every target (inputs taken as full arrays)."""
        sliced = (True,) * len(self.program.in_dtypes)
        np_src, consts, bufs = numpy_blocks_source(self.program, sliced, f"{self.name}_blocks")
        nb_src, _ = numba_source(self.program, sliced, f"{self.name}_numba", config.vector_math)
        hy_src, _, _ = hybrid_blocks_source(self.program, sliced, f"{self.name}_hybrid", config.vector_math)
        in_p, out_p, op, nm = cuda_source(self.program, f"{self.name}_cuda")
        inputs = ", ".join(f"i{k}={n}" for k, n in enumerate(self.program.in_names))
        buf_txt = ", ".join(
            f"b{k}: {d.name}" + ("" if f is None else f" filled with {f}") for k, (d, f) in enumerate(bufs)
        )
        return (
            f"# ---- {self.name}: {len(self.program.instrs)} elementwise ops; inputs {inputs}\n"
            f"# numpy in blocks (buffers {buf_txt or 'none'}{'; constants ' + str(consts) if consts else ''})\n"
            f"{np_src}\n# numba, one parallel loop\n{nb_src}\n# hybrid: numba loops for the cheap ops, numpy ufuncs "
            f"for the others\n{hy_src}\n# CUDA: cupy.ElementwiseKernel({in_p!r}, {out_p!r}, '''\n{op}\n''', "
            f"{nm!r})\n"
        )

    def transcendental_ops(self) -> list[tuple[str, Any]]:
        """The program's transcendental steps as the hybrid generator runs them: one ``(op name, f)``
        per transcendental instruction, in order, where ``f(x)`` applies that op to one flat array (its
        array arguments all ``x``, its constants kept): numpy's ufunc, or, for a float32 op that
        :mod:`coursekit.graph.vecmath` vectorises while ``config.vector_math`` is on, a numba loop of
        the op's vectorised scalar code. ``x**2`` and ``x**1`` are cheap code, so not listed. Timing
        each ``f`` on a cache-resident array (:func:`coursekit.perf.opcost.elementwise_rates`) bounds
        the kernel's elements per second."""
        from coursekit.graph.hybrid import _expensive, vectorised

        def one_array(ins) -> Any:
            if config.vector_math and vectorised(ins):
                return _vectorised_loop(ins)
            return lambda x: ins.op.impl(*[v if kind == "const" else x for kind, v in ins.args])

        return [(ins.op.name, one_array(ins)) for ins in self.program.instrs if _expensive(ins)]

    # ---- running ----------------------------------------------------------------------------------
    def __call__(self, *arrays, out: np.ndarray | None = None):
        """Run on numpy (or CuPy) arrays; ``out``: a C-contiguous numpy array of the result's shape and
        dtype to write into (no fresh output is allocated), returned."""
        if any(_is_cupy(a) for a in arrays):
            if self._cupy is None:
                self._cupy = cupy_kernel(self.program, self.name)
            return self._cupy(*arrays)  # type: ignore[misc]  # set just above
        arrays_np = [_compact(np.asarray(a)) for a in arrays]
        shape = np.broadcast_shapes(*(a.shape for a in arrays_np), (1,) * self.ndim)
        flat = all(a.size == 1 or a.shape == shape for a in arrays_np)
        size = math.prod(shape)
        if out is not None and (out.shape != shape or out.dtype != self.program.dtype or not out.flags.c_contiguous):
            raise ValueError(
                f"{self.name}: out must be a C-contiguous {self.program.dtype} array of shape {shape}, "
                f"got {out.dtype} {out.shape}"
            )
        if self.plan is None and flat and size >= config.autotune_min_size:
            self.autotune(arrays_np, shape)
        gen, threads, block = self.plan or ("numpy", n_threads(), None)
        if gen == "numba" and flat:
            return self.run_numba(arrays_np, shape, out)
        return self.run_blocks(
            arrays_np, shape, flat, threads, block, "hybrid" if gen == "hybrid" and flat else "numpy", out
        )

    def _blocks_fn(self, sliced, gen: str = "numpy"):
        if (gen, sliced) not in self._np_fns:
            if gen == "hybrid":
                import numba

                from coursekit.graph import vecmath

                src, consts, bufs = hybrid_blocks_source(self.program, sliced, self.name, config.vector_math)
                ns = {"np": np, "numba": numba, "math": math, "vm": vecmath, **consts}
            else:
                src, consts, bufs = numpy_blocks_source(self.program, sliced, self.name)
                ns = {"np": np, **consts}
            self._np_fns[gen, sliced] = (compile_source(src, self.name, ns), bufs)
        return self._np_fns[gen, sliced]

    def _buffers(self, tid, rows, inner, specs):
        key = (tid, rows, inner, id(specs))
        if key not in self._bufs:
            if len(self._bufs) > 64:  # many different shapes: forget the old buffers
                self._bufs.clear()
            self._bufs[key] = [
                np.empty((rows, *inner), d) if f is None else np.full((rows, *inner), f, d) for d, f in specs
            ]
        return self._bufs[key]

    def run_blocks(self, arrays, shape, flat, threads, block=None, gen="numpy", out=None):
        """numexpr's method: blocks of ``block`` (default ``config.block_size``) elements, shared out
        over ``threads``; ``gen`` "hybrid" runs the cheap ops of each block as numba loops. ``out``:
        a preallocated result (else a fresh one)."""
        if flat:
            n0, inner = math.prod(shape), ()
            sliced = tuple(a.size != 1 for a in arrays)
            args = [a.reshape(-1) if s else a.reshape(())[()] for a, s in zip(arrays, sliced, strict=True)]
        else:
            n0, inner = shape[0], tuple(shape[1:])
            args = [a.reshape((1,) * (len(shape) - a.ndim) + a.shape) for a in arrays]
            sliced = tuple(a.shape[0] == n0 and n0 > 1 for a in args)
        rows = max(1, (block or config.block_size) // max(1, math.prod(inner)))
        rows = min(rows, 1 << max(0, (n0 - 1).bit_length()))  # small arrays: small buffers (powers of 2)
        fn, specs = self._blocks_fn(sliced, gen)
        out = np.empty((n0, *inner), self.program.dtype) if out is None else out.reshape((n0, *inner))
        nblocks = -(-n0 // rows)
        threads = min(threads, nblocks // 2) if nblocks >= 4 else 1
        if threads <= 1:
            fn(0, n0, rows, out, *args, self._buffers(0, rows, inner, specs))
        else:
            per = -(-nblocks // threads) * rows
            futures = [
                _pool(threads - 1).submit(
                    fn, t * per, min((t + 1) * per, n0), rows, out, *args, self._buffers(t, rows, inner, specs)
                )
                for t in range(1, threads)
            ]
            fn(0, min(per, n0), rows, out, *args, self._buffers(0, rows, inner, specs))
            for f in futures:
                f.result()
        return out.reshape(shape)

    def _numba_fn(self, sliced):
        if sliced not in self._nb_fns:
            import numba

            from coursekit.graph import vecmath

            src, consts = numba_source(self.program, sliced, self.name + "_numba", config.vector_math)
            self._nb_fns[sliced] = compile_source(
                src, self.name + "_numba", {"np": np, "numba": numba, "math": math, "vm": vecmath, **consts}
            )
        return self._nb_fns[sliced]

    def run_numba(self, arrays, shape, out=None):
        sliced = tuple(a.size != 1 for a in arrays)
        fn = self._numba_fn(sliced)
        out = np.empty(math.prod(shape), self.program.dtype) if out is None else out.reshape(-1)
        fn(
            out,
            *(
                np.ascontiguousarray(a).reshape(-1) if s else a.reshape(())[()]
                for a, s in zip(arrays, sliced, strict=True)
            ),
        )
        return out.reshape(shape)

    def autotune(self, arrays, shape):
        """Time the CPU generators on these arrays (best of 3 rounds after a warm-up) and keep the fastest:
        numpy blocks and hybrid blocks of 8192, 32768 and 131072 elements on all cores and on one,
        and the numba parallel loop."""
        threads = sorted({1, n_threads()})
        gens = ["numpy"]
        try:
            import numba  # noqa: F401

            t0 = time.perf_counter()
            self.run_numba(arrays, shape)  # compiles
            self.run_blocks(arrays, shape, True, 1, 8192, "hybrid")
            self.timings["numba compile"] = time.perf_counter() - t0
            gens.append("hybrid")
        except ImportError:
            pass
        cands = {
            (g, t, b): (lambda g=g, t=t, b=b: self.run_blocks(arrays, shape, True, t, b, g))
            for g in gens
            for b in (8192, 32768, 131072)
            for t in threads
        }
        if "hybrid" in gens:
            cands[("numba", 0, None)] = lambda: self.run_numba(arrays, shape)
        for fn in cands.values():  # warm-up (and compile)
            fn()
        best = dict.fromkeys(cands, math.inf)
        for _ in range(3):  # rounds over all candidates: a burst of load elsewhere hits them alike
            for plan, fn in cands.items():
                t0 = time.perf_counter()
                fn()
                best[plan] = min(best[plan], time.perf_counter() - t0)
        for plan, t in best.items():
            self.timings["numba" if plan[0] == "numba" else f"{plan[0]} x{plan[1]} B={plan[2]}"] = t
        self.measured = best
        self.plan = pick_plan(best)

    def best_plan(self, threads: int) -> tuple | None:
        """The fastest plan on exactly ``threads`` threads among those :meth:`autotune` measured (numba's
        parallel loop, which uses numba's pool, is not counted), or None when none was. Another kernel of
        the same program can run it: ``other.plan = kernel.best_plan(1)``."""
        on = {plan: t for plan, t in self.measured.items() if plan[0] != "numba" and plan[1] == threads}
        return min(on, key=on.__getitem__) if on else None


NUMBA_TIE = 1.05  # the numba loop wins unless another plan is more than 5 % faster


def pick_plan(best: dict[tuple, float]) -> tuple:
    """The plan to keep from autotuning's best seconds per plan: the fastest, except that the numba
    parallel loop (one call, no Python between blocks) is kept when it is within :data:`NUMBA_TIE` of
    the fastest. The block-wise plans run a Python driver per block on each thread, and hand the GIL
    back and forth between blocks: where any other Python thread is busy (torch.compile's compile
    workers after a first compile, a notebook's kernel), they slowed down 5-10x in later timings here
    (hybrid x2 of the cross-entropy: 13.9 ms while tuning, 64 ms in the interleaved rounds after), while
    the numba loop, which takes the GIL once per call, did not."""
    fastest = min(best, key=best.__getitem__)
    numba_plan = next((plan for plan in best if plan[0] == "numba"), None)
    if numba_plan is not None and best[numba_plan] <= NUMBA_TIE * best[fastest]:
        return numba_plan
    return fastest


def _vectorised_loop(ins):
    """``f(x)``: a numba loop computing instruction ``ins`` on every element of flat array ``x`` (all
    its array arguments ``x``), with :mod:`coursekit.graph.vecmath`'s functions; into a reused buffer."""
    import numba

    from coursekit.graph import vecmath

    consts: dict = {}
    expr = scalar_expr(ins, ["v"] * len(ins.args), consts, vector_math=True)
    src = (
        f"@numba.njit(nogil=True, cache=False, {NUMBA_OPTIONS})\n"
        "def one_op(xs, out):\n"
        "    for j in range(xs.shape[0]):\n"
        "        v = xs[j]\n"
        f"        out[j] = {expr}\n"
    )
    fn = compile_source(src, "one_op", {"np": np, "numba": numba, "math": math, "vm": vecmath, **consts})
    buffers: dict[int, np.ndarray] = {}

    def apply(x: np.ndarray) -> np.ndarray:
        out = buffers.setdefault(x.size, np.empty(x.size, ins.dtype))
        fn(x.reshape(-1), out)
        return out

    return apply


class FusedElemwise(Op):
    """A node standing for a whole group of elementwise ops, computed by one :class:`FusedKernel`."""

    name = "fused"

    def __init__(self, kernel: FusedKernel, dtype, broadcastable, ops: list[str]):
        self.kernel, self.dtype, self.bc, self.ops = kernel, np.dtype(dtype), tuple(broadcastable), ops

    def props(self):
        return (id(self),)

    def label(self):
        return f"fused[{len(self.ops)}: {', '.join(dict.fromkeys(self.ops))}]"

    def infer(self, inputs):
        return self.dtype, self.bc

    def perform(self, *arrays):
        return self.kernel(*arrays)


def _fusable(v: Variable) -> bool:
    return v.op is not None and v.op.elemwise and v.dtype.kind != "O"


def _groups(outputs: list[Variable]) -> list[tuple[Variable, set[Variable]]]:
    order = toposort(outputs)
    cl = clients(outputs)
    outs = set(outputs)
    assigned: set = set()
    groups = []
    for v in reversed(order):
        if not _fusable(v) or v in assigned:
            continue
        members = {v}
        changed = True
        while changed:
            changed = False
            for m in list(members):
                for i in m.inputs:
                    if i in members or i in assigned or i in outs or not _fusable(i):
                        continue
                    if all(c in members for c in cl[i]):
                        members.add(i)
                        changed = True
        assigned |= members
        groups.append((v, members))
    return groups


def make_program(root: Variable, members: set) -> tuple[Program, list[Variable]]:
    """The straight-line program of a group, and its external inputs in order."""
    ordered = [
        v for v in toposort([root], stop={i for m in members for i in m.inputs if i not in members}) if v in members
    ]
    index = {v: j for j, v in enumerate(ordered)}
    ext: list[Variable] = []
    instrs = []
    for v in ordered:
        args: list[tuple[str, Any]] = []  # ("in", k) | ("tmp", j) | ("const", value)
        for i in v.inputs:
            if i in index:
                args.append(("tmp", index[i]))
            elif isinstance(i, Constant) and np.size(i.value) == 1:
                args.append(("const", i.value if i.weak else np.asarray(i.value).reshape(())[()]))
            else:
                if i not in ext:
                    ext.append(i)
                args.append(("in", ext.index(i)))
        instrs.append(Instr(v.op, args, v.dtype))
    names = [e.name or e.op.label() if e.op is not None else e.name or f"{type(e).__name__}" for e in ext]
    return Program([e.dtype for e in ext], names, instrs), ext


def fuse(outputs, backend: str | None = None):
    """Replace each maximal elementwise group (of 2 ops or more) by one FusedElemwise node."""
    backend = backend or config.fusion
    roots = {}
    for root, members in _groups(outputs):
        if len(members) >= 2:
            roots[root] = members
    memo: dict[Variable, Variable] = {}
    member_of = {m for ms in roots.values() for m in ms}
    for n, v in enumerate(toposort(outputs)):
        if v in roots:
            prog, ext = make_program(v, roots[v])
            kernel = FusedKernel(prog, v.ndim, f"fused{n}", backend)
            memo[v] = FusedElemwise(kernel, v.dtype, v.broadcastable, [i.op.name for i in prog.instrs])(
                *[memo[e] for e in ext]
            )
            memo[v].name = v.name
        elif v not in member_of:
            memo[v] = v if v.op is None else rebuild(v, [memo[i] for i in v.inputs])
    return [memo[o] for o in outputs], len(roots)
