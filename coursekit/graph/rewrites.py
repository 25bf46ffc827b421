"""Optimisation passes: each one small, named, and run only when ``function(..., optimize=True)``.

Two kinds of pass:

* a **local rewrite** is a function ``node -> node or None``: given one node, return the node that
  should replace it, or ``None`` to leave it alone. The engine (:func:`apply_local`) visits every
  node bottom-up and re-applies the rewrite to whatever it returned until nothing changes, so a
  local rewrite never has to walk the graph itself. A plain function passed as a pass is one.
* a **graph rewrite** gets the list of output variables and returns a new list (CSE, fusion).

A replacement must have the type of the node it replaces (dtype, number of dimensions, and no
dimension newly "known to be 1"); the engine raises :class:`RewriteError` otherwise.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from coursekit.graph import ops as O
from coursekit.graph.nodes import (
    Constant,
    Variable,
    as_list,
    as_variable,
    count_nodes,
    rebuild,
    toposort,
)


class RewriteError(TypeError):
    pass


@dataclass
class PassReport:
    """What one pass did: how many times each of its rules fired, node counts before and after."""

    name: str
    fired: int
    nodes_before: int
    nodes_after: int
    seconds: float
    rules: dict = field(default_factory=dict)

    def __str__(self):
        rules = ", ".join(f"{k} x{v}" for k, v in self.rules.items() if v)
        return f"{self.name:<20} fired {self.fired:>3}  nodes {self.nodes_before:>4} -> {self.nodes_after:<4}" + (
            f"  ({rules})" if rules else ""
        )


class LocalRewrite:
    """A named pass made of one or more ``node -> node | None`` rules."""

    def __init__(self, name: str, *rules: Callable):
        self.name, self.rules = name, list(rules)

    def __call__(self, outputs: list[Variable]) -> tuple[list[Variable], Counter]:
        stats: Counter = Counter()
        return apply_local(outputs, self.rules, stats), stats


class GraphRewrite:
    """A named pass ``outputs -> new outputs`` (it may return ``(outputs, fired_count)``)."""

    def __init__(self, name: str, fn: Callable):
        self.name, self.fn = name, fn

    def __call__(self, outputs):
        res = self.fn(list(outputs))
        outs, fired = res if isinstance(res, tuple) else (as_list(res), None)
        if fired is None:  # not reported: count the nodes that are gone
            fired = len(set(toposort(outputs)) - set(toposort(outs)))
        return as_list(outs), Counter({self.name: fired})


def local_rewrite(fn: Callable | None = None, *, name: str | None = None):
    """Decorator: make ``fn(node) -> node | None`` a pass (``@T.local_rewrite``)."""
    if fn is None:
        return lambda f: LocalRewrite(name or f.__name__, f)
    return LocalRewrite(name or fn.__name__, fn)


def graph_rewrite(fn: Callable | None = None, *, name: str | None = None):
    """Decorator: make ``fn(outputs) -> outputs`` a pass."""
    if fn is None:
        return lambda f: GraphRewrite(name or f.__name__, f)
    return GraphRewrite(name or fn.__name__, fn)


def as_pass(p) -> LocalRewrite | GraphRewrite:
    return p if isinstance(p, (LocalRewrite, GraphRewrite)) else LocalRewrite(getattr(p, "__name__", "rewrite"), p)


def check_replacement(old: Variable, new: Variable, who: str) -> None:
    ok = (
        new.dtype == old.dtype
        and new.ndim == old.ndim
        and not any(bn and not bo for bo, bn in zip(old.broadcastable, new.broadcastable, strict=True))
    )
    if not ok:
        raise RewriteError(
            f"rewrite '{who}' replaced a {old.dtype.name} node with broadcastable pattern "
            f"{old.broadcastable} by a {new.dtype.name} node with {new.broadcastable}: the "
            f"replacement must have the same dtype and shape (watch broadcasting)"
        )


def apply_local(outputs, rules, stats: Counter | None = None, max_depth: int = 200) -> list[Variable]:
    """Apply the local ``rules`` everywhere in the graph until none fires; count firings in ``stats``."""
    stats = Counter() if stats is None else stats
    done: dict[Variable, Variable] = {}

    def settle(v: Variable, depth: int) -> Variable:
        if depth > max_depth:
            raise RewriteError(f"rewrites keep firing on {v!r}: two rules undo each other?")
        for rule in rules:
            r = rule(v)
            if r is None or r is v:
                continue
            r = as_variable(r)
            name = getattr(rule, "__name__", "rewrite")
            check_replacement(v, r, name)
            stats[name] += 1
            return settle(process(r, depth + 1), depth + 1)
        return v

    def process(root: Variable, depth: int) -> Variable:
        for n in toposort([root], stop=done):
            if n in done:
                continue
            if n.op is None:
                done[n] = n
                continue
            new = rebuild(n, [done[i] for i in n.inputs])
            res = settle(new, depth)
            done[n] = done[new] = done[res] = res
        return done[root]

    return [process(o, 0) for o in as_list(outputs)]


def run_passes(outputs, passes) -> tuple[list[Variable], list[PassReport]]:
    """Run ``passes`` in order; return the new outputs and one report per pass."""
    outputs, reports = as_list(outputs), []
    for p in passes:
        p = as_pass(p)
        before, t0 = count_nodes(outputs), time.perf_counter()
        outputs, stats = p(outputs)
        reports.append(
            PassReport(p.name, sum(stats.values()), before, count_nodes(outputs), time.perf_counter() - t0, dict(stats))
        )
    return outputs, reports


def optimize(outputs, passes=None):
    """The outputs after ``passes`` (default: the standard pipeline without fusion), and the reports."""
    return run_passes(outputs, default_passes() if passes is None else passes)


# ---- helpers for writing rules ------------------------------------------------------------------------


def is_scalar_const(v: Variable, value=None) -> bool:
    """A constant with a single element (equal to ``value`` when given)."""
    return isinstance(v, Constant) and np.size(v.value) == 1 and v.is_const(value)


def same_type(a: Variable, b: Variable) -> bool:
    return a.dtype == b.dtype and a.broadcastable == b.broadcastable


def shape_keys(v: Variable, limit: int = 400) -> set:
    """Variables known to have the shape of ``v``. As in Theano, a dimension not marked broadcastable
    is never broadcast at run time, so an elementwise node and every input with its broadcastable
    pattern have the same shape (walked transitively, at most ``limit`` nodes)."""
    keys, stack = {v}, [v]
    while stack and len(keys) < limit:
        n = stack.pop()
        for other in [i for i in n.inputs] if n.op is not None and n.op.elemwise else []:
            if other.broadcastable == n.broadcastable and other not in keys:
                keys.add(other)
                stack.append(other)
    return keys


def same_shape(a: Variable, b: Variable) -> bool:
    return a.broadcastable == b.broadcastable and (a is b or not shape_keys(a).isdisjoint(shape_keys(b)))


# ---- constant folding and CSE -------------------------------------------------------------------------


def fold_constants(node: Variable):
    """An op whose inputs are all constants is computed now."""
    consts = [i for i in node.inputs if isinstance(i, Constant)]
    if node.op is None or not node.inputs or len(consts) != len(node.inputs):
        return None
    if getattr(node.op, "lazy", False) or getattr(node.op, "impure", False):
        return None
    with np.errstate(all="ignore"):
        value = np.asarray(node.op.perform(*(c.value for c in consts)))
    if value.dtype != node.dtype:
        value = value.astype(node.dtype)
    return Constant(value, broadcastable=node.broadcastable)


constant_folding = LocalRewrite("constant_folding", fold_constants)


def merge(outputs: list[Variable]) -> tuple[list[Variable], int]:
    """Common-subexpression elimination: one node per (op, inputs), one constant per value."""
    table: dict = {}
    memo: dict[Variable, Variable] = {}
    merged = 0
    for v in toposort(outputs):
        if v.op is None:
            key = v.key() if isinstance(v, Constant) else ("leaf", id(v))
            new = v
        else:
            new = rebuild(v, [memo[i] for i in v.inputs])
            ids = [id(i) for i in new.inputs]
            key = (new.op.key(), tuple(sorted(ids)) if getattr(new.op, "commutative", False) else tuple(ids))
        kept = table.setdefault(key, new)
        merged += kept is not new
        memo[v] = kept
    return [memo[o] for o in outputs], merged


cse = GraphRewrite("merge", merge)


# ---- algebraic canonicalisation -------------------------------------------------------------------------


def _identity(node: Variable):
    """x*1, 1*x, x+0, 0+x, x-0, x/1, x**1 -> x (only when x already has the node's type)."""
    if node.op is None or len(node.inputs) != 2:
        return None
    a, b = node.inputs
    unit = {"mul": 1, "add": 0, "sub": 0, "true_div": 1, "pow": 1}.get(node.op.name)
    if unit is None:
        return None
    for x, c in ((a, b), (b, a)) if node.op.name in ("mul", "add") else ((a, b),):
        if is_scalar_const(c, unit) and same_type(x, node):
            return x
    return None


def _signs(node: Variable):
    """Move and cancel negations: --x, -(a-b), a-(-b), a+(-b), (-a)*(-b), (-a)*b, |-x|, 0-x."""
    if node.op is None:
        return None
    name, ins = node.op.name, node.inputs
    if name == "neg" and ins[0].is_a("neg"):
        return ins[0].inputs[0]
    if name == "neg" and ins[0].is_a("sub"):
        return O.sub(ins[0].inputs[1], ins[0].inputs[0])
    if name == "sub" and ins[1].is_a("neg"):
        return O.add(ins[0], ins[1].inputs[0])
    if name == "sub" and is_scalar_const(ins[0], 0) and same_type(ins[1], node):
        return O.neg(ins[1])
    if name == "add" and ins[1].is_a("neg"):
        return O.sub(ins[0], ins[1].inputs[0])
    if name == "add" and ins[0].is_a("neg"):
        return O.sub(ins[1], ins[0].inputs[0])
    if name == "mul" and ins[0].is_a("neg") and ins[1].is_a("neg"):
        return O.mul(ins[0].inputs[0], ins[1].inputs[0])
    if name == "mul" and (ins[0].is_a("neg") or ins[1].is_a("neg")):
        a, b = (i.inputs[0] if i.is_a("neg") else i for i in ins)
        return O.neg(O.mul(a, b))
    if name == "abs" and ins[0].is_a("neg"):
        return O.abs_(ins[0].inputs[0])
    return None


def _second_sink(node: Variable):
    """Gradients of sums are full of ``second(x, c)``: a scalar broadcast to x's shape. Keep the
    scalar small as long as possible: op(second(x, y), z) -> op(y, z) when z already has x's shape,
    and op(second(x, y), c) -> second(x, op(y, c)) for scalar constants c."""
    if node.op is None or not node.op.elemwise or node.is_a("second"):
        return None
    for k, s in enumerate(node.inputs):
        if not s.is_a("second"):
            continue
        x, y = s.inputs
        others = [i for j, i in enumerate(node.inputs) if j != k]
        if any(same_shape(o, x) for o in others):
            new = rebuild(node, [y if j == k else i for j, i in enumerate(node.inputs)])
        elif all(is_scalar_const(o) and o.ndim <= y.ndim for o in others):
            new = O.second(x, rebuild(node, [y if j == k else i for j, i in enumerate(node.inputs)]))
        else:
            continue
        if same_type(new, node):
            return new
    return None


def _scalar_consts(node: Variable):
    """A one-element constant of shape (1,) or (1, 1) next to an operand that has at least as many
    dimensions becomes 0-d, so patterns (gemv's scale, x * 1) see a plain scalar."""
    if node.op is None or not node.op.elemwise:
        return None
    for k, c in enumerate(node.inputs):
        if (
            isinstance(c, Constant)
            and c.ndim
            and np.size(c.value) == 1
            and any(o.ndim >= c.ndim for j, o in enumerate(node.inputs) if j != k)
        ):
            new = rebuild(
                node, [Constant(np.asarray(c.value).reshape(())) if j == k else i for j, i in enumerate(node.inputs)]
            )
            return new if same_type(new, node) else None
    return None


canonicalize = LocalRewrite("canonicalize", _identity, _signs, _second_sink, _scalar_consts)


# ---- stability rewrites ---------------------------------------------------------------------------------


def sigmoid_recognition(node: Variable):
    """1 / (1 + exp(t)) -> sigmoid(-t): the logistic function spelled out becomes one op."""
    if not node.is_a("true_div") or not is_scalar_const(node.inputs[0], 1) or not node.inputs[1].is_a("add"):
        return None
    a, b = node.inputs[1].inputs
    for one, e in ((a, b), (b, a)):
        if is_scalar_const(one, 1) and e.is_a("exp"):
            new = O.sigmoid(O.neg(e.inputs[0]))
            return new if same_type(new, node) else None
    return None


def log1p_rewrite(node: Variable):
    """log(1 + x) -> log1p(x): log1p is accurate where x is tiny (log(1 + 1e-10) is 0 in float32)."""
    if not node.is_a("log") or not node.inputs[0].is_a("add"):
        return None
    a, b = node.inputs[0].inputs
    for one, x in ((a, b), (b, a)):
        if is_scalar_const(one, 1):
            new = O.log1p(x)
            return new if same_type(new, node) else None
    return None


def softplus_stability(node: Variable):
    """log(sigmoid(x)) -> -softplus(-x) and log(1 - sigmoid(x)) -> -softplus(x): no log(0) = -inf
    when the sigmoid rounds to 0 or 1 (the cross-entropy of logistic regression)."""
    if node.is_a("log") and node.inputs[0].is_a("sigmoid"):
        new = O.neg(O.softplus(O.neg(node.inputs[0].inputs[0])))
    elif (
        node.is_a("log")
        and node.inputs[0].is_a("sub")
        and is_scalar_const(node.inputs[0].inputs[0], 1)
        and node.inputs[0].inputs[1].is_a("sigmoid")
    ):
        new = O.neg(O.softplus(node.inputs[0].inputs[1].inputs[0]))
    elif node.is_a("log1p") and node.inputs[0].is_a("neg") and node.inputs[0].inputs[0].is_a("sigmoid"):
        new = O.neg(O.softplus(node.inputs[0].inputs[0].inputs[0]))
    else:
        return None
    return new if same_type(new, node) else None


def softplus_recognition(node: Variable):
    """log1p(exp(x)) -> softplus(x): ``log(1 + exp(x))`` written out overflows to inf for x > 88 in float32
    (exp(x) is inf) although the answer is about x; softplus is computed stably."""
    if node.is_a("log1p") and node.inputs[0].is_a("exp"):
        new = O.softplus(node.inputs[0].inputs[0])
        return new if same_type(new, node) else None
    return None


def lower_softplus(node: Variable):
    """softplus(x) -> max(x, 0) + log1p(exp(-|x|)) in primitive ops, so that after CSE
    softplus(x) and softplus(-x) share one exp and one log1p (done just before fusion)."""
    if not node.is_a("softplus"):
        return None
    x = node.inputs[0]
    return O.add(O.maximum(x, 0), O.log1p(O.exp(O.neg(O.abs_(x)))))


# ---- BLAS -----------------------------------------------------------------------------------------------


def _scaled(v: Variable, want_dot: bool):
    """(scale, term) such that v == scale * term, where term is a matrix.vector dot if want_dot."""

    def ok(t):
        return (t.is_a("dot") and t.inputs[0].ndim == 2 and t.inputs[1].ndim == 1) if want_dot else t.ndim <= 1

    if v.is_a("neg") and ok(v.inputs[0]):
        return -1, v.inputs[0]
    if v.is_a("mul"):
        for s, t in (v.inputs, v.inputs[::-1]):
            if s.ndim == 0 and ok(t):
                return s, t
    return (1, v) if ok(v) else None


def gemv_rewrite(node: Variable):
    """a * dot(M, x) + b * y -> gemv(y, a, M, x, b): one BLAS call (DGEMV) instead of three passes."""
    if not (node.is_a("add") or node.is_a("sub")) or node.ndim != 1:
        return None
    p, q = node.inputs
    for first, second in ((p, q), (q, p)):
        d, y = _scaled(first, True), _scaled(second, False)
        if d is None or y is None:
            continue
        (alpha, dt), (beta, yv) = d, y
        if node.is_a("sub"):
            if first is p:
                beta = O.neg(as_variable(beta))
            else:
                alpha = O.neg(as_variable(alpha))
        new = O.gemv(yv, alpha, dt.inputs[0], dt.inputs[1], beta)
        return new if same_type(new, node) else None
    return None


def default_passes(extra=()) -> list:
    """The standard pipeline, in order (fusion is added by ``function``)."""
    return [
        cse,
        constant_folding,
        canonicalize,
        LocalRewrite("sigmoid", sigmoid_recognition),
        canonicalize,
        LocalRewrite("softplus_stability", softplus_stability),
        LocalRewrite("log1p", log1p_rewrite, softplus_recognition),
        canonicalize,
        constant_folding,
        cse,
        *extra,
        LocalRewrite("gemv", gemv_rewrite),
    ]


def stability_passes() -> list:
    """The value-preserving rewrites ``grad`` applies to a cost before differentiating it."""
    return [
        LocalRewrite("sigmoid", sigmoid_recognition),
        canonicalize,
        LocalRewrite("softplus_stability", softplus_stability),
        LocalRewrite("log1p", log1p_rewrite, softplus_recognition),
        canonicalize,
    ]


def fusion_prelude() -> list:
    """Passes run right before elementwise fusion."""
    return [LocalRewrite("lower_softplus", lower_softplus), canonicalize, constant_folding, cse]
