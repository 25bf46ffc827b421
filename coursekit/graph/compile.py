"""``function``: compile a graph once (optimise, fuse, schedule), then call it many times.

The compiled :class:`Function` keeps what the compiler did so it can be shown: ``passes`` (each
pass, how often it fired, node counts before and after), ``source`` (the generated fused code),
``outputs`` (the optimised graph) and ``draw()``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from coursekit.graph.fusion import FusedElemwise, fuse
from coursekit.graph.nodes import (
    Constant,
    Input,
    SharedVariable,
    Variable,
    as_list,
    as_variable,
    config,
    count_nodes,
    toposort,
)
from coursekit.graph.rewrites import GraphRewrite, PassReport, default_passes, fusion_prelude, run_passes


def _lazy_deps(v: Variable) -> list[Variable]:
    """Inputs that must be computed before ``v`` runs (for a lazy op: only its condition)."""
    return [v.inputs[0]] if getattr(v.op, "lazy", False) else list(v.inputs)


def _dfs(roots, deps, allowed=None, stop=frozenset()) -> list[Variable]:
    order, seen, stack = [], set(), [(r, False) for r in reversed(roots)]
    while stack:
        v, done = stack.pop()
        if done:
            order.append(v)
            continue
        if v in seen or v in stop:
            continue
        seen.add(v)
        stack.append((v, True))
        for i in reversed(deps(v)):
            if i not in seen and i not in stop and (allowed is None or i in allowed):
                stack.append((i, False))
    return order


def schedule(roots, available=frozenset()) -> list:
    """Evaluation order as a list of nodes; a lazy node (``ifelse``) comes as ``(node, prog_a, prog_b)``
    where ``prog_a``/``prog_b`` are the sub-schedules run only when that branch is taken."""
    must = set(_dfs(roots, _lazy_deps, stop=available))  # computed whatever the conditions
    extra: dict[Variable, list] = {}
    for v in must:
        if getattr(v.op, "lazy", False):  # a branch may need unconditional nodes: order them first
            reach = _dfs(list(v.inputs[1:]), lambda n: list(n.inputs), stop=available | must)
            extra[v] = [i for n in reach for i in n.inputs if i in must]
    order = _dfs(list(roots), lambda n: [i for i in n.inputs if i in must] + extra.get(n, []), allowed=must)
    prog: list[Variable | tuple[Variable, list, list]] = []  # a node, or (ifelse, then-steps, else-steps)
    for v in order:
        if v.op is None:
            continue
        if getattr(v.op, "lazy", False):
            avail = frozenset(available | must)
            prog.append((v, schedule([v.inputs[1]], avail), schedule([v.inputs[2]], avail)))
        else:
            prog.append(v)
    return prog


def _slots_used(step) -> set[int]:
    """Slots a lowered step reads, and for an ifelse every slot its branches read or write."""
    out, fn, ins = step
    if fn is not None:
        return set(ins)
    cond, pa, a, pb, b = ins
    used = {cond, a, b}
    for sub in (*pa, *pb):
        used |= _slots_used(sub) | {sub[0]}
    return used


def _frees(steps, keep: set[int]) -> list[tuple[int, ...]]:
    """For each top-level step, the slots to drop once it is done: those no later step reads and
    that are not in ``keep`` (outputs). Intermediates are freed after their last use, as Theano's
    ``allow_gc``: an unoptimised chain of n elementwise ops holds 2 arrays at a time, not n."""
    last: dict[int, int] = {}
    for i, step in enumerate(steps):
        for k in _slots_used(step):
            last[k] = i
    frees: list[list[int]] = [[] for _ in steps]
    for k, i in last.items():
        if k not in keep:
            frees[i].append(k)
    return [tuple(f) for f in frees]


class Function:
    """A compiled graph. Call it with one array per input; it returns one array (one output) or a
    list. ``updates`` are computed together with the outputs and written to the shared variables
    after all of them are done, as in Theano. Intermediate values are dropped after their last use."""

    def __init__(self, inputs, outputs, single, updates, passes, original, seconds, name) -> None:
        self.inputs, self.outputs, self.single, self.name = inputs, outputs, single, name
        self.update_vars = [s for s, _ in updates]
        self.update_exprs = [e for _, e in updates]
        self.passes, self.original_outputs, self.compile_seconds = passes, original, seconds
        graph = outputs + self.update_exprs
        self.nodes_before = count_nodes(original)
        self.nodes_after = count_nodes(graph)
        self.kernels = [v.op.kernel for v in toposort(graph) if isinstance(v.op, FusedElemwise)]
        slot: dict[Variable, int] = {}
        for v in toposort(graph):
            slot[v] = len(slot)
        for i in inputs:
            slot.setdefault(i, len(slot))
        self._template: list = [None] * len(slot)
        for v, k in slot.items():
            if isinstance(v, Constant):
                self._template[k] = v.value
        self._in_slots = [slot[i] for i in inputs]
        self._shared = [(slot[v], v) for v in slot if isinstance(v, SharedVariable)]
        self._out_slots = [slot[o] for o in graph]
        self._program = self._lower(schedule(graph), slot)
        self._frees = _frees(self._program, set(self._out_slots))

    def _lower(self, prog, slot):
        steps = []
        for item in prog:
            if isinstance(item, tuple):
                v, pa, pb = item
                steps.append(
                    (
                        slot[v],
                        None,
                        (
                            slot[v.inputs[0]],
                            self._lower(pa, slot),
                            slot[v.inputs[1]],
                            self._lower(pb, slot),
                            slot[v.inputs[2]],
                        ),
                    )
                )
            else:
                steps.append((slot[item], item.op.perform, [slot[i] for i in item.inputs]))
        return steps

    @staticmethod
    def _exec(steps, s, guarded=False, frees=None):
        for i, (out, fn, ins) in enumerate(steps):
            if guarded and s[out] is not None:
                continue
            if fn is None:  # ifelse: evaluate only the branch taken
                cond, pa, a, pb, b = ins
                if s[cond]:
                    Function._exec(pa, s, True)
                    s[out] = s[a]
                else:
                    Function._exec(pb, s, True)
                    s[out] = s[b]
            else:
                s[out] = fn(*[s[k] for k in ins])
            if frees:
                for k in frees[i]:
                    s[k] = None

    def _convert(self, var: Variable, value):
        if type(value).__module__.startswith("cupy"):  # kept on the GPU (untested here: no GPU in CI)
            if value.ndim != var.ndim:
                raise TypeError(f"input {var.name or ''!r} is {var.ndim}-d, got shape {value.shape}")
            return value if value.dtype == var.dtype else value.astype(var.dtype)
        arr = np.asarray(value)
        if arr.ndim != var.ndim:
            raise TypeError(
                f"input {var.name or ''!r} of {self.name or 'the function'} is {var.ndim}-d, "
                f"got an array of shape {arr.shape}"
            )
        if arr.dtype != var.dtype:
            if not np.can_cast(arr.dtype, var.dtype, "same_kind"):
                raise TypeError(f"input {var.name or ''!r} is {var.dtype}, got {arr.dtype} (cast it first)")
            arr = arr.astype(var.dtype)
        return arr

    def run(self, *values):
        """Evaluate without checking or converting the inputs; returns all outputs then update values."""
        s = self._template.copy()
        for k, v in zip(self._in_slots, values, strict=False):  # unchecked fast path: __call__ checks the count
            s[k] = v
        for k, sh in self._shared:
            s[k] = sh._value
        self._exec(self._program, s, frees=self._frees)
        return [s[k] for k in self._out_slots]

    def __call__(self, *args):
        if len(args) != len(self.inputs):
            raise TypeError(
                f"{self.name or 'function'} takes {len(self.inputs)} input(s) "
                f"({', '.join(i.name or '?' for i in self.inputs)}), got {len(args)}"
            )
        values = [self._convert(v, a) for v, a in zip(self.inputs, args, strict=True)]
        results = self.run(*values)
        n = len(self.outputs)
        outs, new = results[:n], results[n:]
        held = {id(_owner(sh._value)) for _, sh in self._shared} | {id(_owner(v)) for v in values}
        outs = [
            o.copy()
            if isinstance(o, np.ndarray) and (id(_owner(o)) in held or not o.flags.writeable)
            else np.asarray(o)
            for o in outs
        ]
        held |= {id(_owner(o)) for o in outs}
        for sh, val in zip(self.update_vars, new, strict=True):  # after every output is computed
            val = np.asarray(val)
            if id(_owner(val)) in held or not val.flags.writeable:
                val = val.copy()
            held.add(id(_owner(val)))
            sh._value = val.astype(sh.dtype, copy=False)
        return outs[0] if self.single else outs

    # ---- what the compiler did ------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The generated code of every fused kernel."""
        return "\n".join(k.source() for k in self.kernels) or "# no fused kernels in this function\n"

    generated_code = source

    def report(self) -> str:
        lines = [f"compiled in {self.compile_seconds * 1e3:.1f} ms; op nodes {self.nodes_before} -> {self.nodes_after}"]
        lines += [f"  {p}" for p in self.passes]
        for k in self.kernels:
            if k.timings:
                t = ", ".join(f"{n} {v * 1e3:.1f} ms" for n, v in k.timings.items())
                lines.append(f"  {k.name}: measured {t} -> using {k.choice}")
        return "\n".join(lines)

    def fired(self) -> dict[str, int]:
        """Pass name -> times it fired (summed over repeated runs of a pass)."""
        out: dict[str, int] = {}
        for p in self.passes:
            out[p.name] = out.get(p.name, 0) + p.fired
            for rule, n in p.rules.items():
                if rule != p.name:
                    out[rule] = out.get(rule, 0) + n
        return out

    def draw(self, which: str = "after", ax=None, **kw):
        """Draw the graph ``"before"`` or ``"after"`` optimisation; returns the Axes."""
        from coursekit.graph.draw import draw

        graph = self.original_outputs if which == "before" else self.outputs + self.update_exprs
        return draw(graph, ax=ax, title=kw.pop("title", f"{which} optimisation ({count_nodes(graph)} op nodes)"), **kw)


def _owner(a):
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a


def _updates(updates) -> list[tuple[SharedVariable, Variable]]:
    if updates is None:
        return []
    pairs = list(updates.items()) if isinstance(updates, Mapping) else [tuple(p) for p in updates]
    out = []
    for sh, expr in pairs:
        if not isinstance(sh, SharedVariable):
            raise TypeError(f"updates must map shared variables to expressions; {sh!r} is not shared")
        expr = as_variable(expr)
        if expr.ndim != sh.ndim:
            raise TypeError(f"update of {sh.name or 'a shared variable'} is {expr.ndim}-d, the variable {sh.ndim}-d")
        out.append((sh, expr))
    return out


def function(
    inputs,
    outputs=None,
    updates=None,
    optimize: bool = True,
    fusion: str | None = None,
    extra_passes=(),
    passes=None,
    name: str | None = None,
    mode=None,
) -> Function:
    """Compile ``outputs`` as a function of ``inputs``.

    ``optimize``: run the rewrite passes and elementwise fusion (False: evaluate the graph as built).
    ``fusion``: code generator for fused groups, ``"auto"`` (default: measure), ``"numpy"``,
    ``"numba"``, ``"cupy"`` or ``"none"``. ``extra_passes``: your own rewrites, run after the standard
    ones (a rewrite is a function ``node -> node | None``). ``passes`` replaces the standard list.
    ``mode`` is accepted for Theano compatibility and ignored."""
    t0 = time.perf_counter()
    inputs = list(inputs)
    for i in inputs:
        if not isinstance(i, Input):
            raise TypeError(
                f"inputs must be symbolic inputs (T.scalar/vector/matrix), got {i!r}; shared "
                f"variables and constants are not passed as arguments"
            )
    single = outputs is not None and not isinstance(outputs, (list, tuple))
    outs = [] if outputs is None else as_list(outputs)
    ups = _updates(updates)
    graph = outs + [e for _, e in ups]
    reports: list[PassReport] = []
    if optimize:
        chosen = default_passes(extra_passes) if passes is None else list(passes)
        fusion = fusion or config.fusion
        if fusion != "none":
            chosen += fusion_prelude() + [GraphRewrite("elementwise_fusion", lambda o: fuse(o, fusion))]
        graph, reports = run_passes(graph, chosen)
    missing = [v for v in toposort(graph) if isinstance(v, Input) and v not in inputs]
    if missing:
        raise TypeError(f"the outputs depend on input(s) {[m.name for m in missing]} that are not in `inputs`")
    n = len(outs)
    upd = [(sh, e) for (sh, _), e in zip(ups, graph[n:], strict=True)]
    return Function(inputs, graph[:n], single, upd, reports, outs + [e for _, e in ups], time.perf_counter() - t0, name)
