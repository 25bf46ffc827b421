"""Reverse-mode differentiation *on the graph*: ``grad(cost, wrt)`` returns new graph nodes.

The gradient is itself a graph, so it is optimised, fused and compiled like any other expression.
Each op's derivative is a *gradient rule*: a small function ``rule(inputs, output, g)`` that gets the
op's input variables, its output variable and the gradient ``g`` of the cost with respect to that
output, and returns one gradient per input (``None`` where there is none, e.g. for a comparison).
Rules are looked up by op name in :data:`GRAD_RULES` (which starts with the rules declared with the
elementwise ops in ``ops.py``), then on the op itself (``op.grad``); register your own with
:func:`register_grad`, or swap one for a ``with`` block with :func:`grad_rule`.
Broadcasting is handled for you: a rule for an elementwise op may return a gradient of the
output's shape, and it is summed back to the input's shape.
"""

from __future__ import annotations

import contextlib

import numpy as np

from coursekit.graph import ops as O
from coursekit.graph.nodes import Constant, Variable, as_list, as_variable, toposort
from coursekit.graph.ops import GradRule

GRAD_RULES: dict[str, GradRule] = {}


def register_grad(op_name: str, rule: GradRule | None = None):
    """Make ``rule`` the gradient of op ``op_name``; usable as ``@register_grad("tanh")``."""
    if rule is None:
        return lambda fn: register_grad(op_name, fn)
    GRAD_RULES[op_name] = rule
    return rule


@contextlib.contextmanager
def grad_rule(op_name: str, rule: GradRule):
    """Use ``rule`` for ``op_name`` inside a ``with`` block only (the checkers use this)."""
    old = GRAD_RULES.get(op_name)
    GRAD_RULES[op_name] = rule
    try:
        yield
    finally:
        if old is None:
            GRAD_RULES.pop(op_name, None)
        else:
            GRAD_RULES[op_name] = old


class DisconnectedInputError(ValueError):
    pass


def _is_float(v: Variable) -> bool:
    return v.dtype.kind in "fc"


def _total(contribs: list[Variable]) -> Variable:
    total = contribs[0]
    for c in contribs[1:]:
        total = O.add(total, c)
    return total


def grad_graph(outputs, output_grads, wrt, disconnected_inputs: str = "raise") -> list:
    """Gradients of ``sum(output * output_grad)`` over the outputs with respect to each of ``wrt``."""
    outputs, wrt = as_list(outputs), list(wrt)
    wrt_set = set(wrt)
    order = toposort(outputs)
    depends: set[Variable] = set()  # nodes through which some wrt variable reaches the outputs
    for v in order:
        if v in wrt_set or any(i in depends for i in v.inputs):
            depends.add(v)
    contribs: dict[Variable, list[Variable]] = {}
    for o, g in zip(outputs, output_grads, strict=True):
        contribs.setdefault(o, []).append(as_variable(g))
    for v in reversed(order):
        if v.op is None or v not in depends or v not in contribs or not _is_float(v):
            continue
        rule = GRAD_RULES.get(v.op.name) or v.op.grad
        if rule is None:
            raise NotImplementedError(
                f"no gradient rule for op '{v.op.name}': register one with T.register_grad('{v.op.name}', rule)"
            )
        g = _total(contribs[v])
        in_grads = rule(list(v.inputs), v, g)
        if in_grads is None or len(in_grads) != len(v.inputs):
            raise ValueError(
                f"the gradient rule of '{v.op.name}' must return a list of {len(v.inputs)} "
                f"gradient(s), one per input; got {in_grads!r}"
            )
        for inp, gi in zip(v.inputs, in_grads, strict=True):
            if gi is None or inp not in depends or not _is_float(inp):
                continue
            gi = as_variable(gi)
            if v.op.elemwise:
                if gi.ndim < inp.ndim:
                    gi = O.second(inp, gi)
                gi = O.unbroadcast(gi, inp)
            if gi.ndim != inp.ndim:
                raise ValueError(
                    f"the gradient rule of '{v.op.name}' returned a {gi.ndim}-d gradient for a {inp.ndim}-d input"
                )
            contribs.setdefault(inp, []).append(gi)
    result = []
    for w in wrt:
        if w in contribs:
            gw = _total(contribs[w])
            result.append(gw if gw.dtype == w.dtype or not _is_float(w) else O.cast(gw, w.dtype))
        elif disconnected_inputs == "raise":
            raise DisconnectedInputError(
                f"the cost does not depend on {w.name or w!r}; pass disconnected_inputs='zero' to get zeros"
            )
        else:
            result.append(O.zeros_like(w))
    return result


def grad(cost, wrt, disconnected_inputs: str = "raise", stabilize: bool = True):
    """Symbolic gradient of the scalar ``cost`` with respect to ``wrt`` (a variable or a list of them).

    With ``stabilize`` (and ``wrt`` all leaves), the cost is first rewritten by the value-preserving
    stability passes (``1/(1+exp(-t))`` -> ``sigmoid``, ``log(sigmoid)`` -> ``-softplus``, ``log1p``), so
    the gradient of a cross-entropy is ``sigmoid(z) - y`` and not ``y/p * p*(1-p)`` (0 * inf when p
    rounds to 1). Theano reached the same end with more rewrites on the gradient graph."""
    cost = as_variable(cost)
    if cost.ndim != 0:
        raise TypeError(f"grad needs a scalar (0-d) cost, got a {cost.ndim}-d variable: take its .sum() or .mean()")
    if not _is_float(cost):
        raise TypeError(f"grad needs a floating-point cost, got {cost.dtype}")
    single = isinstance(wrt, Variable)
    wrt = [wrt] if single else list(wrt)
    if stabilize and all(w.op is None for w in wrt):
        from coursekit.graph.rewrites import run_passes, stability_passes

        (cost,), _ = run_passes([cost], stability_passes())
    seed = Constant(np.ones((), cost.dtype))
    grads = grad_graph([cost], [seed], wrt, disconnected_inputs)
    return grads[0] if single else grads


# ---- the rules of the non-elementwise ops (the elementwise ones are declared with the op, in ops.py) -------

GRAD_RULES.update({name: op.grad for name, op in O.ELEMWISE.items() if op.grad is not None})


def _rules():
    r = register_grad
    r("count", lambda ins, out, g: [None])
    r("transpose", lambda ins, out, g: [O.transpose(g)])
    r("subtensor", lambda ins, out, g: [O.SubtensorGrad(out.op.index)(ins[0], g)])
    r("subtensor_grad", lambda ins, out, g: [None, O.Subtensor(out.op.index)(g)])
    r("outer", lambda ins, out, g: [O.dot(g, ins[1]), O.dot(O.transpose(g), ins[0])])

    @register_grad("sum")
    def _sum(ins, out, g):
        return [O.second(ins[0], O.expand_dims(g, out.op.axes))]

    @register_grad("mean")
    def _mean(ins, out, g):
        axes = out.op.axes
        return [O.second(ins[0], O.expand_dims(g / O.Count(axes, out.dtype)(ins[0]), axes))]

    @register_grad("dot")
    def _dot(ins, out, g):
        a, b = ins
        if a.ndim == 2 and b.ndim == 2:
            return [O.dot(g, O.transpose(b)), O.dot(O.transpose(a), g)]
        if a.ndim == 2:  # matrix . vector
            return [O.outer(g, b), O.dot(O.transpose(a), g)]
        if b.ndim == 2:  # vector . matrix
            return [O.dot(b, g), O.outer(a, g)]
        return [g * b, g * a]  # vector . vector

    @register_grad("gemv")
    def _gemv(ins, out, g):
        y, alpha, m, x, beta = ins
        mx = O.dot(m, x)
        gy = beta * g
        return [
            gy if y.ndim else O.sum(gy),
            O.sum(g * mx),
            alpha * O.outer(g, x),
            alpha * O.dot(O.transpose(m), g),
            O.sum(g * y),
        ]


_rules()
