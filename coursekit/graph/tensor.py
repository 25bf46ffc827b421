"""Non-elementwise ops: reductions, dot products (and BLAS gemv), transposition, indexing, and the
shape bookkeeping that gradients of broadcasting need (expand_dims, unbroadcast, count)."""

from __future__ import annotations

import math

import numpy as np

from coursekit.graph.nodes import Op, Variable, as_variable


def _norm_axes(axis, ndim) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a {ndim}-d variable")
    return tuple(sorted({a % ndim for a in axes})) if ndim else ()


class Reduce(Op):
    """``sum`` or ``mean`` over ``axes`` (a sorted tuple)."""

    def __init__(self, name, fn, axes):
        self.name, self.fn, self.axes = name, fn, tuple(axes)

    def props(self):
        return (self.axes,)

    def infer(self, inputs):
        (x,) = inputs
        dtype = self.fn(np.ones((1,) * x.ndim, x.dtype), axis=self.axes).dtype
        return dtype, tuple(b for d, b in enumerate(x.broadcastable) if d not in self.axes)

    def perform(self, x):
        return np.asarray(self.fn(x, axis=self.axes))


class ExpandDims(Op):
    """Insert length-1 axes at ``axes`` (positions in the result): the inverse of a reduction."""

    name = "expand_dims"

    def __init__(self, axes):
        self.axes = tuple(axes)

    def props(self):
        return (self.axes,)

    def infer(self, inputs):
        bc = list(inputs[0].broadcastable)
        for a in self.axes:
            bc.insert(a, True)
        return inputs[0].dtype, tuple(bc)

    def perform(self, x):
        return np.expand_dims(x, self.axes) if self.axes else x


class Unbroadcast(Op):
    """Sum a gradient back to the shape of the input that numpy broadcast: over the ``lead`` leading
    axes it does not have, and (keeping them) over the ``keep`` axes where it has length 1."""

    name = "unbroadcast"

    def __init__(self, lead: int, keep: tuple[int, ...]):
        self.lead, self.keep = lead, tuple(keep)

    def props(self):
        return (self.lead, self.keep)

    def infer(self, inputs):
        g = inputs[0]
        bc = list(g.broadcastable[self.lead :])
        for a in self.keep:
            bc[a] = True
        return g.dtype, tuple(bc)

    def perform(self, g):
        g = np.asarray(g)
        if self.lead:
            g = g.sum(axis=tuple(range(self.lead)))
        if self.keep:
            g = g.sum(axis=self.keep, keepdims=True)
        return g


class Count(Op):
    """Number of elements over ``axes`` of the input, as a 0-d array of ``dtype`` (for mean's gradient)."""

    name = "count"

    def __init__(self, axes, dtype):
        self.axes, self.dtype = tuple(axes), np.dtype(dtype)

    def props(self):
        return (self.axes, self.dtype.name)

    def infer(self, inputs):
        return self.dtype, ()

    def perform(self, x):
        return np.asarray(math.prod(np.shape(x)[a] for a in self.axes), dtype=self.dtype)


class Dot(Op):
    """Matrix/vector products with numpy's ``dot`` semantics for 1-d and 2-d operands."""

    name = "dot"

    def check(self, inputs):
        a, b = inputs
        if a.ndim not in (1, 2) or b.ndim not in (1, 2):
            raise TypeError(f"dot needs 1-d or 2-d operands, got {a.ndim}-d and {b.ndim}-d (use * for scalars)")

    def infer(self, inputs):
        a, b = inputs
        bc = a.broadcastable[:-1] + b.broadcastable[1:] if b.ndim == 2 else a.broadcastable[:-1]
        return np.result_type(a.dtype, b.dtype), bc

    def perform(self, a, b):
        return np.dot(a, b)


class Outer(Op):
    name = "outer"

    def infer(self, inputs):
        a, b = inputs
        return np.result_type(a.dtype, b.dtype), (a.broadcastable[0], b.broadcastable[0])

    def perform(self, a, b):
        return np.outer(a, b)


class Gemv(Op):
    """BLAS-style ``beta * y + alpha * dot(M, x)`` in one op (Theano's rewrite to DGEMV)."""

    name = "gemv"

    def infer(self, inputs):
        y, alpha, m, x, beta = inputs
        dtype = np.result_type(*(v.value if getattr(v, "weak", False) else v.dtype for v in inputs))
        return dtype, (m.broadcastable[0] and (y.ndim == 0 or y.broadcastable[0]),)

    def perform(self, y, alpha, m, x, beta):
        r = np.dot(m, x)
        if alpha != 1:
            r *= alpha
        r += y if beta == 1 else beta * y
        return r


class Transpose(Op):
    name = "transpose"

    def infer(self, inputs):
        return inputs[0].dtype, inputs[0].broadcastable[::-1]

    def perform(self, x):
        return np.transpose(x)


class Subtensor(Op):
    """``x[i]`` or ``x[start:stop:step]`` along the first axis (static integers)."""

    name = "subtensor"

    def __init__(self, index):
        self.index = index  # an int or a (start, stop, step) tuple

    def props(self):
        return (self.index,)

    def key_index(self):
        return slice(*self.index) if isinstance(self.index, tuple) else self.index

    def check(self, inputs):
        if inputs[0].ndim == 0:
            raise TypeError("cannot index a 0-d variable")

    def infer(self, inputs):
        bc = inputs[0].broadcastable
        return inputs[0].dtype, bc[1:] if isinstance(self.index, int) else (False,) + bc[1:]

    def perform(self, x):
        return x[self.key_index()]


class SubtensorGrad(Op):
    """Zeros shaped like ``x`` with ``g`` written at the index (the gradient of :class:`Subtensor`)."""

    name = "subtensor_grad"

    def __init__(self, index):
        self.index = index

    def props(self):
        return (self.index,)

    def infer(self, inputs):
        return inputs[1].dtype, inputs[0].broadcastable

    def perform(self, x, g):
        out = np.zeros(np.shape(x), dtype=np.result_type(g))
        out[slice(*self.index) if isinstance(self.index, tuple) else self.index] = g
        return out


# ---- graph-building functions --------------------------------------------------------------------------


def sum(x, axis=None) -> Variable:  # noqa: A001 - Theano's name
    x = as_variable(x)
    return Reduce("sum", np.sum, _norm_axes(axis, x.ndim))(x)


def mean(x, axis=None) -> Variable:
    x = as_variable(x)
    return Reduce("mean", np.mean, _norm_axes(axis, x.ndim))(x)


def dot(a, b) -> Variable:
    return Dot()(a, b)


def outer(a, b) -> Variable:
    return Outer()(a, b)


def gemv(y, alpha, m, x, beta) -> Variable:
    return Gemv()(y, alpha, m, x, beta)


def transpose(x) -> Variable:
    x = as_variable(x)
    return x if x.ndim < 2 else Transpose()(x)


def subtensor(x, index) -> Variable:
    if isinstance(index, tuple) and len(index) == 1:
        index = index[0]
    if isinstance(index, slice):
        index = (index.start, index.stop, index.step)
    elif not isinstance(index, (int, np.integer)):
        raise NotImplementedError("only x[int] and x[start:stop:step] along the first axis are supported")
    else:
        index = int(index)
    return Subtensor(index)(x)


def expand_dims(x, axes) -> Variable:
    return ExpandDims(axes)(x) if axes else as_variable(x)


def unbroadcast(g: Variable, like: Variable) -> Variable:
    """``g`` summed over the axes along which ``like`` was broadcast (nothing to do: ``g`` itself)."""
    lead = g.ndim - like.ndim
    pairs = zip(like.broadcastable, g.broadcastable[lead:], strict=True)
    keep = tuple(a for a, (bl, bg) in enumerate(pairs) if bl and not bg)
    return g if lead == 0 and not keep else Unbroadcast(lead, keep)(g)
