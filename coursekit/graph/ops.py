"""The elementwise operations, with their code templates (the other ops live in ``tensor.py`` and are
re-exported here, so ``ops.sum``, ``ops.dot``... work too).

Every elementwise op carries three ways to compute it, used by the code generators of fusion:
``impl`` (a numpy function, used when the op runs alone), ``py`` (a scalar expression for the numba
loop) and ``cuda`` (a C expression for a CuPy ElementwiseKernel), plus ``np_code`` (statements that
write the result into a preallocated block buffer ``{out}``).
"""

from __future__ import annotations

import functools

import numpy as np

from .nodes import Constant, Op, Variable, as_variable
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
    """An operation applied element by element, with numpy broadcasting."""

    elemwise = True

    def __init__(self, name, nin, impl, py, cuda=None, np_code=None, symbol=None, inplace_ok=True, commutative=False):
        self.name, self.nin, self.impl, self.py, self.symbol = name, nin, impl, py, symbol
        self.commutative = commutative
        self.cuda = cuda if cuda is not None else py.replace("math.", "")
        ufunc = getattr(impl, "__name__", name)
        args = ", ".join(f"{{{i}}}" for i in range(nin))
        self.np_code = np_code or f"np.{ufunc}({args}, {{out}})"  # out positional: less call overhead
        self.inplace_ok = inplace_ok

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


def _elemwise(name, nin, impl, py, **kw) -> Elemwise:
    op = Elemwise(name, nin, impl, py, **kw)
    ELEMWISE[name] = op
    return op


def _np_sigmoid(x):
    # 1/(1+exp(-x)) written with tanh: no overflow for large |x|, and tanh is a fast SIMD ufunc
    return 0.5 * np.tanh(0.5 * x) + 0.5


def _np_softplus(x):
    # log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _np_second(x, y):
    out = np.empty(np.broadcast_shapes(np.shape(x), np.shape(y)), np.result_type(y))
    out[...] = y
    return out


def _np_switch(c, a, b):
    return np.where(c, a, b)


# name, arity, numpy implementation, numba scalar expression; CUDA expression when it differs
add_op = _elemwise("add", 2, np.add, "({0} + {1})", commutative=True, symbol="+")
sub_op = _elemwise("sub", 2, np.subtract, "({0} - {1})", symbol="-")
mul_op = _elemwise("mul", 2, np.multiply, "({0} * {1})", commutative=True, symbol="*")
div_op = _elemwise("true_div", 2, np.true_divide, "({0} / {1})", symbol="/")
pow_op = _elemwise("pow", 2, np.power, "({0} ** {1})", cuda="pow({0}, {1})", symbol="**")
neg_op = _elemwise("neg", 1, np.negative, "(-{0})")
exp_op = _elemwise("exp", 1, np.exp, "math.exp({0})")
log_op = _elemwise("log", 1, np.log, "math.log({0})")
log1p_op = _elemwise("log1p", 1, np.log1p, "math.log1p({0})")
expm1_op = _elemwise("expm1", 1, np.expm1, "math.expm1({0})")
tanh_op = _elemwise("tanh", 1, np.tanh, "math.tanh({0})")
sqrt_op = _elemwise("sqrt", 1, np.sqrt, "math.sqrt({0})")
abs_op = _elemwise("abs", 1, np.abs, "abs({0})", cuda="fabs({0})", np_code="np.absolute({0}, {out})")
sign_op = _elemwise("sign", 1, np.sign, "np.sign({0})", cuda="(({0} > 0) - ({0} < 0))")
sigmoid_op = _elemwise(
    "sigmoid",
    1,
    _np_sigmoid,
    "(1.0 / (1.0 + math.exp(-{0})))",
    cuda="(1 / (1 + exp(-{0})))",
    np_code="np.multiply({0}, 0.5, {out}); np.tanh({out}, {out}); np.multiply({out}, 0.5, {out}); "
    "np.add({out}, 0.5, {out})",
)
softplus_op = _elemwise(
    "softplus",
    1,
    _np_softplus,
    "(max({0}, 0.0) + math.log1p(math.exp(-abs({0}))))",
    cuda="(({0} > 0 ? {0} : 0) + log1p(exp(-fabs({0}))))",
    np_code="np.logaddexp(0.0, {0}, {out})",
)
max_op = _elemwise(
    "maximum",
    2,
    np.maximum,
    "max({0}, {1})",
    commutative=True,
    cuda="fmax({0}, {1})",
    np_code="np.maximum({0}, {1}, out={out})",
)  # numpy 2.4 deprecates a positional out here
min_op = _elemwise(
    "minimum",
    2,
    np.minimum,
    "min({0}, {1})",
    commutative=True,
    cuda="fmin({0}, {1})",
    np_code="np.minimum({0}, {1}, out={out})",
)
lt_op = _elemwise("lt", 2, np.less, "({0} < {1})", symbol="<")
le_op = _elemwise("le", 2, np.less_equal, "({0} <= {1})", symbol="<=")
gt_op = _elemwise("gt", 2, np.greater, "({0} > {1})", symbol=">")
ge_op = _elemwise("ge", 2, np.greater_equal, "({0} >= {1})", symbol=">=")
eq_op = _elemwise("eq", 2, np.equal, "({0} == {1})", commutative=True, symbol="==")
neq_op = _elemwise("neq", 2, np.not_equal, "({0} != {1})", commutative=True, symbol="!=")
switch_op = _elemwise(
    "switch",
    3,
    _np_switch,
    "({1} if {0} else {2})",
    cuda="({0} ? {1} : {2})",
    np_code="np.copyto({out}, {2}); np.copyto({out}, {1}, where={0})",
    inplace_ok=False,
)
second_op = _elemwise("second", 2, _np_second, "{1}", np_code="np.copyto({out}, {1})")


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
