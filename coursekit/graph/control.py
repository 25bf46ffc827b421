"""Control flow inside the graph: ``ifelse`` (TensorFlow's ``cond``) and ``foldl`` / ``scan`` loops.

A static graph cannot contain a Python ``if`` or ``for`` whose outcome depends on the data: the
data only exists when the compiled function runs. So the condition and the loop become ops:

* ``ifelse(cond, a, b)`` is *lazy*: the compiled function evaluates ``cond`` first and then only the
  nodes of the branch taken.
* ``foldl(fn, sequences, initial)`` builds the loop body once, by calling ``fn`` on symbolic
  placeholders; the body is compiled into its own function and run once per step. Variables the
  body uses from outside (weights) become extra inputs of the loop. The gradient is
  backpropagation through time: a second loop, run backwards, over the body's gradient graph.
"""

from __future__ import annotations

import numpy as np

from coursekit.graph import ops as O
from coursekit.graph.grad import grad_graph, register_grad
from coursekit.graph.nodes import (
    Constant,
    Input,
    Op,
    Variable,
    as_variable,
    clone_replace,
    toposort,
)


class IfElse(Op):
    name = "ifelse"
    lazy = True  # the compiler runs only the branch taken

    def check(self, inputs):
        cond, a, b = inputs
        if cond.ndim != 0:
            raise TypeError(f"ifelse needs a scalar (0-d) condition, got a {cond.ndim}-d variable")
        if a.ndim != b.ndim:
            raise TypeError(f"both branches of ifelse must have the same number of dimensions ({a.ndim} != {b.ndim})")

    def infer(self, inputs):
        _, a, b = inputs
        dtype = np.result_type(*(v.value if getattr(v, "weak", False) else v.dtype for v in (a, b)))
        return dtype, tuple(x and y for x, y in zip(a.broadcastable, b.broadcastable, strict=True))

    def perform(self, cond, a, b):
        return a if cond else b


def ifelse(cond, then_branch, else_branch) -> Variable:
    """``then_branch`` if ``cond`` is true else ``else_branch``; only the branch taken is computed."""
    return IfElse()(cond, then_branch, else_branch)


register_grad(
    "ifelse",
    lambda ins, out, g: [
        None,
        ifelse(ins[0], g, O.zeros_like(ins[1], g.dtype)),
        ifelse(ins[0], O.zeros_like(ins[2], g.dtype), g),
    ],
)


def _split_body(out: Variable, placeholders: list[Input]):
    """The loop body with every outside variable it uses replaced by a new placeholder."""
    inner: set[Variable] = set(placeholders)
    order = toposort([out])
    for v in order:
        if v.op is not None and any(i in inner for i in v.inputs):
            inner.add(v)
    outer: list[Variable] = []
    for v in order:
        if v in inner and v.op is not None:
            outer += [i for i in v.inputs if i not in inner and not isinstance(i, Constant) and i not in outer]
    if out not in inner and not isinstance(out, Constant):
        outer = [out]
    outer_ps = [Input(o.dtype, o.broadcastable, o.name) for o in outer]
    return clone_replace([out], dict(zip(outer, outer_ps, strict=True)))[0], outer, outer_ps


class Scan(Op):
    """Runs ``state = body(state, x_t...)`` over the first axis of the sequences; returns all states,
    the initial one first (shape ``(T + 1, *state.shape)``). Inputs: sequences, initial, outside vars."""

    name = "scan"

    def __init__(self, n_seq: int, acc: Input, xs: list[Input], outer_ps: list[Input], body: Variable):
        self.n_seq, self.acc, self.xs, self.outer_ps, self.body = n_seq, acc, xs, outer_ps, body
        self._fn = None

    def props(self):
        return (id(self),)

    def label(self):
        return f"scan[{self.body.op.label() if self.body.op else 'identity'}]"

    def infer(self, inputs):
        init = inputs[self.n_seq]
        return init.dtype, (False, *init.broadcastable)

    @property
    def fn(self):
        if self._fn is None:
            from coursekit.graph.compile import function

            self._fn = function([self.acc, *self.xs, *self.outer_ps], self.body, fusion="numpy")
        return self._fn

    def perform(self, *values):
        seqs, init, outer = values[: self.n_seq], np.asarray(values[self.n_seq]), values[self.n_seq + 1 :]
        steps = {len(s) for s in seqs}
        if len(steps) > 1:
            raise ValueError(f"the sequences of a loop must have the same length, got lengths {sorted(steps)}")
        n = steps.pop() if steps else 0
        states = np.empty((n + 1, *init.shape), init.dtype)
        states[0] = init
        run = self.fn.run
        for t in range(n):
            new = np.asarray(run(states[t], *(s[t] for s in seqs), *outer)[0])
            if new.shape != init.shape:
                raise ValueError(f"the loop body returned shape {new.shape}, the state has shape {init.shape}")
            states[t + 1] = new
        return states


class ScanGrad(Op):
    """Backpropagation through time for a :class:`Scan`: returns a tuple of gradients
    (sequences, initial, outside vars), unpacked by :class:`TupleGet`."""

    name = "scan_grad"
    impure = True  # returns a tuple: never constant-folded

    def __init__(self, scan: Scan):
        self.scan = scan
        self._fn = None

    def props(self):
        return (id(self),)

    def infer(self, inputs):
        return np.dtype(object), ()

    @property
    def fn(self):
        if self._fn is None:
            from coursekit.graph.compile import function

            s = self.scan
            g_out = Input(s.body.dtype, s.body.broadcastable, "g_state")
            wrt = [s.acc, *s.xs, *s.outer_ps]
            grads = grad_graph([s.body], [g_out], wrt, disconnected_inputs="zero")
            self._fn = function([*wrt, g_out], grads, fusion="numpy")
        return self._fn

    def perform(self, *values):
        k = self.scan.n_seq
        seqs, _init, outer = values[:k], values[k], values[k + 1 : -2]
        states, g_states = values[-2], np.asarray(values[-1])
        run = self.fn.run
        carry = np.array(g_states[-1], dtype=states.dtype)
        g_seqs = [np.zeros(np.shape(s), states.dtype) for s in seqs]
        g_outer = [np.zeros(np.shape(o), states.dtype) for o in outer]
        for t in range(len(states) - 2, -1, -1):
            res = run(states[t], *(s[t] for s in seqs), *outer, carry)
            for j in range(k):
                g_seqs[j][t] = res[1 + j]
            for j, g in enumerate(res[1 + k :]):
                g_outer[j] += g
            carry = res[0] + g_states[t]
        return (*g_seqs, np.asarray(carry), *g_outer)


class TupleGet(Op):
    name = "tuple_get"

    def __init__(self, index: int, dtype, broadcastable):
        self.index, self.dtype, self.bc = index, np.dtype(dtype), tuple(broadcastable)

    def props(self):
        return (self.index, self.dtype.name, self.bc)

    def infer(self, inputs):
        return self.dtype, self.bc

    def perform(self, tup):
        return tup[self.index]


@register_grad("scan")
def _scan_grad(ins, out, g):
    sg = ScanGrad(out.op)(*ins, out, g)
    return [TupleGet(k, out.dtype, v.broadcastable)(sg) for k, v in enumerate(ins)]


def _loop(fn, sequences, initial, body_args):
    seqs = [as_variable(s) for s in (sequences if isinstance(sequences, (list, tuple)) else [sequences])]
    init = as_variable(initial)
    for s in seqs:
        if s.ndim == 0:
            raise TypeError("a sequence must have at least one dimension (the steps are along the first)")
    acc = Input(init.dtype, init.broadcastable, "state")
    xs = [Input(s.dtype, s.broadcastable[1:], f"{s.name or 'x'}_t") for s in seqs]
    body = as_variable(fn(*body_args(acc, xs)))
    if body.dtype != init.dtype:
        body = O.cast(body, init.dtype)
    if body.ndim != init.ndim:
        raise TypeError(f"the loop body returns a {body.ndim}-d value for a {init.ndim}-d state")
    body, outer, outer_ps = _split_body(body, [acc, *xs])
    return Scan(len(seqs), acc, xs, outer_ps, body)(*seqs, init, *outer)


def foldl(fn, sequences, initial) -> Variable:
    """``state = fn(state, x_t)`` for each ``x_t`` along the first axis of ``sequences`` (one variable
    or a list, then ``fn(state, x_t, y_t, ...)``), starting from ``initial``; returns the last state.
    Like TensorFlow's ``tf.foldl(fn, elems, initializer)``."""
    return _loop(fn, sequences, initial, lambda acc, xs: (acc, *xs))[-1]


def scan(fn, sequences, outputs_info) -> Variable:
    """Theano's argument order ``fn(x_t, ..., previous_state)``; returns every state after each step
    (shape ``(T, *state.shape)``, the initial state not included). Only the variable is returned,
    not Theano's ``(outputs, updates)`` pair."""
    return _loop(fn, sequences, outputs_info, lambda acc, xs: (*xs, acc))[1:]
