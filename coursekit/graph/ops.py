"""The elementwise operations, each declared once in the table below (the other ops live in
``tensor.py`` and are re-exported here, so ``ops.sum``, ``ops.dot``... work too).

One declaration per op gives everything the rest of the compiler needs:

* ``impl``: the numpy function, used when the op runs alone (and to infer the result dtype);
* ``py``: the same formula as a scalar expression, for the numba loops (``{0}``, ``{1}``: the arguments);
  ``cuda``: that formula in C for a CuPy ElementwiseKernel (by default ``py`` without ``math.``);
* ``np_code``: numpy statements writing the result into a preallocated block buffer ``{out}``
  (``{tmp}``: a scratch buffer of the same dtype); by default the ufunc of ``impl``;
* ``grad``: the gradient rule ``rule(inputs, output, g) -> [gradient per input]`` (:mod:`.grad`);
* ``cost``: ``"cheap"`` (a few machine instructions: numba keeps them in registers) or
  ``"transcendental"`` (numba calls the C library once per element, while numpy's ufunc is
  vectorised: the hybrid generator runs these as numpy ufuncs).

Every backend computes the same formula: ``tests/test_graph_ops.py`` compares them on extreme values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import numpy as np

from .nodes import OPERATORS, Constant, Op, Variable, as_variable
from .tensor import (  # noqa: F401 - re-exported: ops.sum, ops.dot, ... are the graph-building API
    Count,
    Dot,
    ExpandDims,
    Gemv,
    Outer,
    Reduce,
    Subtensor,
    SubtensorGrad,
    Transpose,
    Unbroadcast,
    dot,
    expand_dims,
    gemv,
    mean,
    outer,
    subtensor,
    sum,  # noqa: A004 - Theano's name
    transpose,
    unbroadcast,
)

Cost = Literal["cheap", "transcendental"]
COSTS: tuple[Cost, ...] = ("cheap", "transcendental")  # the cost classes
GradRule = Callable[[list, Variable, Variable], list]
ELEMWISE: dict[str, Elemwise] = {}


@functools.lru_cache(maxsize=4096)
def _result_dtype(impl, sig: tuple) -> np.dtype:
    """The dtype numpy gives for ``impl`` on arguments described by ``sig`` (dtype strings, or the
    Python types of weak scalars), found by evaluating it on tiny dummies."""
    dummies = [t(1) if isinstance(t, type) else np.ones((), dtype=t) for t in sig]
    with np.errstate(all="ignore"):
        return np.asarray(impl(*dummies)).dtype


def _sig(inputs) -> tuple:
    return tuple(type(v.value) if getattr(v, "weak", False) else v.dtype.str for v in inputs)


def broadcast_pattern(inputs) -> tuple[bool, ...]:
    """Right-aligned AND of the inputs' broadcastable patterns (numpy broadcasting rules)."""
    nd = max((v.ndim for v in inputs), default=0)
    out = []
    for d in range(nd):
        flags = [v.broadcastable[d - nd + v.ndim] for v in inputs if d - nd + v.ndim >= 0]
        out.append(all(flags))
    return tuple(out)


class Elemwise(Op):
    """An operation applied element by element, with numpy broadcasting (see the module docstring
    for the meaning of each field)."""

    elemwise = True

    def __init__(
        self,
        name: str,
        nin: int,
        impl: Callable,
        py: str,
        cuda: str | None = None,
        np_code: str | None = None,
        symbol: str | None = None,
        inplace_ok: bool = True,
        commutative: bool = False,
        grad: GradRule | None = None,
        cost: Cost = "cheap",
    ):
        if cost not in COSTS:
            raise ValueError(f"cost of op {name!r} must be one of {COSTS}, got {cost!r}")
        self.name, self.nin, self.impl, self.py, self.symbol = name, nin, impl, py, symbol
        self.commutative, self.inplace_ok, self.grad, self.cost = commutative, inplace_ok, grad, cost
        self.cuda = cuda if cuda is not None else py.replace("math.", "")
        ufunc = getattr(impl, "__name__", name)
        args = ", ".join(f"{{{i}}}" for i in range(nin))
        self.np_code = np_code or f"np.{ufunc}({args}, {{out}})"  # out positional: less call overhead

    def check(self, inputs):
        if len(inputs) != self.nin:
            raise TypeError(f"{self.name} takes {self.nin} input(s), got {len(inputs)}")

    def infer(self, inputs):
        return _result_dtype(self.impl, _sig(inputs)), broadcast_pattern(inputs)

    def make_node(self, *inputs):
        inputs = [as_variable(i) for i in inputs]
        if inputs and all(getattr(i, "weak", False) for i in inputs):
            # bare Python numbers in, a bare Python number out: stays "weak" (1 - 0.5 is not float64)
            with np.errstate(all="ignore"):
                return Constant(np.asarray(self.impl(*(i.value for i in inputs))).item())
        return super().make_node(*inputs)

    def perform(self, *values):
        return self.impl(*values)


def declare(name: str, nin: int, impl: Callable, py: str, *, grad: GradRule, cost: Cost, **kw) -> Elemwise:
    """Declare a built-in elementwise op: build it and list it in :data:`ELEMWISE` (its gradient rule
    and cost class are required: :mod:`.grad` and :mod:`.hybrid` read them from here)."""
    op = Elemwise(name, nin, impl, py, grad=grad, cost=cost, **kw)
    ELEMWISE[name] = op
    return op


def _no_grad(nin: int) -> GradRule:
    """The rule of an op with no gradient (comparisons, sign): ``None`` for every input."""
    return lambda ins, out, g: [None] * nin


# ---- numpy implementations that are not a single ufunc --------------------------------------------------


def _np_sigmoid(x):
    # 1/(1+exp(-x)) with e = exp(-|x|) <= 1, so nothing overflows and both tails keep their relative
    # precision: 1/(1+e) for x >= 0, e/(1+e) for x < 0 (the same formula as the numba and CUDA code)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _np_softplus(x):
    # log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _np_second(x, y):
    out = np.empty(np.broadcast_shapes(np.shape(x), np.shape(y)), np.result_type(y))
    out[...] = y
    return out


def _np_switch(c, a, b):
    return np.where(c, a, b)


# ---- the declarations: name, arity, numpy, scalar formula; gradient rule; cost class ----------------------

# log_op, sign_op and switch_op are annotated: gradient rules refer to them before (or inside) their
# declaration, where mypy cannot infer their type
CHEAP: Cost = "cheap"
TRANSCENDENTAL: Cost = "transcendental"

add_op = declare(
    "add", 2, np.add, "({0} + {1})", commutative=True, symbol="+", cost=CHEAP, grad=lambda ins, out, g: [g, g]
)
sub_op = declare("sub", 2, np.subtract, "({0} - {1})", symbol="-", cost=CHEAP, grad=lambda ins, out, g: [g, -g])
mul_op = declare(
    "mul",
    2,
    np.multiply,
    "({0} * {1})",
    commutative=True,
    symbol="*",
    cost=CHEAP,
    grad=lambda ins, out, g: [g * ins[1], g * ins[0]],
)
div_op = declare(
    "true_div",
    2,
    np.true_divide,
    "({0} / {1})",
    symbol="/",
    cost=CHEAP,
    grad=lambda ins, out, g: [g / ins[1], -(g * out) / ins[1]],
)
pow_op = declare(
    "pow",
    2,
    np.power,
    "({0} ** {1})",
    cuda="pow({0}, {1})",
    symbol="**",
    cost=TRANSCENDENTAL,  # x**2 and x**1 are strength-reduced by the code generators (then cheap)
    grad=lambda ins, out, g: [g * ins[1] * ins[0] ** (ins[1] - 1), g * out * log_op(ins[0])],
)
neg_op = declare("neg", 1, np.negative, "(-{0})", cost=CHEAP, grad=lambda ins, out, g: [-g])
exp_op = declare("exp", 1, np.exp, "math.exp({0})", cost=TRANSCENDENTAL, grad=lambda ins, out, g: [g * out])
log_op: Elemwise = declare(
    "log", 1, np.log, "math.log({0})", cost=TRANSCENDENTAL, grad=lambda ins, out, g: [g / ins[0]]
)
log1p_op = declare(
    "log1p", 1, np.log1p, "math.log1p({0})", cost=TRANSCENDENTAL, grad=lambda ins, out, g: [g / (1 + ins[0])]
)
expm1_op = declare(
    "expm1", 1, np.expm1, "math.expm1({0})", cost=TRANSCENDENTAL, grad=lambda ins, out, g: [g * (out + 1)]
)
tanh_op = declare(
    "tanh", 1, np.tanh, "math.tanh({0})", cost=TRANSCENDENTAL, grad=lambda ins, out, g: [g * (1 - out * out)]
)
# one machine instruction (vsqrtpd), vectorised by numba too: cheap
sqrt_op = declare("sqrt", 1, np.sqrt, "math.sqrt({0})", cost=CHEAP, grad=lambda ins, out, g: [g / (2 * out)])
abs_op = declare(
    "abs",
    1,
    np.abs,
    "abs({0})",
    cuda="fabs({0})",
    np_code="np.absolute({0}, {out})",
    cost=CHEAP,
    grad=lambda ins, out, g: [g * sign_op(ins[0])],
)
# numpy's sign: 0.0 for -0.0, NaN for NaN
sign_op: Elemwise = declare(
    "sign",
    1,
    np.sign,
    "(1 if {0} > 0 else (-1 if {0} < 0 else {0} - {0}))",
    cuda="({0} > 0 ? 1 : ({0} < 0 ? -1 : {0} - {0}))",
    cost=CHEAP,
    grad=_no_grad(1),
)
sigmoid_op = declare(
    "sigmoid",
    1,
    _np_sigmoid,
    "((1.0 if {0} >= 0 else math.exp(-abs({0}))) / (1.0 + math.exp(-abs({0}))))",
    cuda="(({0} >= 0 ? 1 : exp(-fabs({0}))) / (1 + exp(-fabs({0}))))",
    np_code="np.absolute({0}, {tmp}); np.negative({tmp}, {tmp}); np.exp({tmp}, {tmp}); np.add({tmp}, 1.0, {out}); "
    "np.copyto({tmp}, 1.0, where={0} >= 0); np.divide({tmp}, {out}, {out})",
    inplace_ok=False,  # reads {0} again after writing {out}
    cost=TRANSCENDENTAL,
    grad=lambda ins, out, g: [g * out * (1 - out)],
)
softplus_op = declare(
    "softplus",
    1,
    _np_softplus,
    "(max({0}, 0.0) + math.log1p(math.exp(-abs({0}))))",
    cuda="(({0} > 0 ? {0} : 0) + log1p(exp(-fabs({0}))))",
    np_code="np.absolute({0}, {tmp}); np.negative({tmp}, {tmp}); np.exp({tmp}, {tmp}); np.log1p({tmp}, {tmp}); "
    "np.maximum({0}, 0.0, out={out}); np.add({out}, {tmp}, {out})",
    cost=TRANSCENDENTAL,
    grad=lambda ins, out, g: [g * sigmoid_op(ins[0])],
)
# numpy's maximum: NaN if either is NaN, the second argument at ties; the gradient's ties go to the
# first argument, so the two gradients always add up to g
max_op = declare(
    "maximum",
    2,
    np.maximum,
    "({0} if {0} > {1} or {0} != {0} else {1})",
    commutative=True,
    cuda="(({0} > {1} || {0} != {0}) ? {0} : {1})",
    np_code="np.maximum({0}, {1}, out={out})",  # numpy 2.4 deprecates a positional out here
    cost=CHEAP,
    grad=lambda ins, out, g: [g * (ins[0] >= ins[1]), g * (ins[0] < ins[1])],
)
min_op = declare(
    "minimum",
    2,
    np.minimum,
    "({0} if {0} < {1} or {0} != {0} else {1})",
    commutative=True,
    cuda="(({0} < {1} || {0} != {0}) ? {0} : {1})",
    np_code="np.minimum({0}, {1}, out={out})",
    cost=CHEAP,
    grad=lambda ins, out, g: [g * (ins[0] <= ins[1]), g * (ins[0] > ins[1])],
)
lt_op = declare("lt", 2, np.less, "({0} < {1})", symbol="<", cost=CHEAP, grad=_no_grad(2))
le_op = declare("le", 2, np.less_equal, "({0} <= {1})", symbol="<=", cost=CHEAP, grad=_no_grad(2))
gt_op = declare("gt", 2, np.greater, "({0} > {1})", symbol=">", cost=CHEAP, grad=_no_grad(2))
ge_op = declare("ge", 2, np.greater_equal, "({0} >= {1})", symbol=">=", cost=CHEAP, grad=_no_grad(2))
eq_op = declare("eq", 2, np.equal, "({0} == {1})", commutative=True, symbol="==", cost=CHEAP, grad=_no_grad(2))
neq_op = declare("neq", 2, np.not_equal, "({0} != {1})", commutative=True, symbol="!=", cost=CHEAP, grad=_no_grad(2))
switch_op: Elemwise = declare(
    "switch",
    3,
    _np_switch,
    "({1} if {0} else {2})",
    cuda="({0} ? {1} : {2})",
    np_code="np.copyto({out}, {2}); np.copyto({out}, {1}, where={0})",
    inplace_ok=False,
    cost=CHEAP,
    grad=lambda ins, out, g: [None, switch_op(ins[0], g, 0), switch_op(ins[0], 0, g)],
)
second_op = declare(
    "second",
    2,
    _np_second,
    "{1}",
    np_code="np.copyto({out}, {1})",
    cost=CHEAP,
    grad=lambda ins, out, g: [None, g],
)


class Cast(Elemwise):
    """Convert to ``dtype``."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        super().__init__(
            "cast",
            1,
            lambda x: np.asarray(x).astype(self.dtype),
            f"np.{self.dtype.name}({{0}})",
            cuda=f"(({_CTYPES.get(self.dtype.name, 'double')}) {{0}})",
            np_code="np.copyto({out}, {0}, casting='unsafe')",
            cost="cheap",
            grad=lambda ins, out, g: [cast(g, ins[0].dtype)],
        )

    def props(self):
        return (self.dtype.name,)

    make_node = Op.make_node  # a cast is never folded into a weak Python number

    def infer(self, inputs):
        return self.dtype, inputs[0].broadcastable


_CTYPES = {
    "float32": "float",
    "float64": "double",
    "bool": "bool",
    "int8": "signed char",
    "int16": "short",
    "int32": "int",
    "int64": "long long",
    "uint8": "unsigned char",
}


def ctype(dtype) -> str:
    name = np.dtype(dtype).name
    if name not in _CTYPES:
        raise TypeError(f"no C type for dtype {name}")
    return _CTYPES[name]


# ---- graph-building functions (the public API re-exports these) -------------------------------------

# The elementwise ops are callable: T.exp(x) builds the node exp(x).
add, sub, mul, true_div, pow, neg = add_op, sub_op, mul_op, div_op, pow_op, neg_op  # noqa: A001 - op names
exp, log, log1p, expm1, tanh, sqrt, abs_, sign = exp_op, log_op, log1p_op, expm1_op, tanh_op, sqrt_op, abs_op, sign_op
sigmoid, softplus, maximum, minimum, switch, second = sigmoid_op, softplus_op, max_op, min_op, switch_op, second_op
lt, le, gt, ge, eq, neq = lt_op, le_op, gt_op, ge_op, eq_op, neq_op


def cast(x, dtype) -> Variable:
    return Cast(dtype)(x)


def zeros_like(x: Variable, dtype=None) -> Variable:
    x = as_variable(x)
    return second(x, np.zeros((), dtype or x.dtype))


def ones_like(x: Variable, dtype=None) -> Variable:
    x = as_variable(x)
    return second(x, np.ones((), dtype or x.dtype))


# Variable's Python operators (x + y, x[1:], x.T, x.sum()...) build these ops; nodes.py does not import
# this module (no import cycle): it looks them up here.
OPERATORS.update(
    add=add, sub=sub, mul=mul, true_div=true_div, pow=pow, neg=neg, abs=abs_, lt=lt, le=le, gt=gt, ge=ge,
    subtensor=subtensor, transpose=transpose, sum=sum, mean=mean, dot=dot,
)  # fmt: skip
