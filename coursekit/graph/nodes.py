"""The graph's data model: variables, the Op base class and graph walking.

A graph is made of :class:`Variable` objects. A leaf variable is an input (``T.vector('x')``), a
constant or a shared variable; every other variable is the output of one operation: it records
its ``op`` and its ``inputs``. (Theano separates the *Apply* node from its output variables; here
every op has exactly one output, so a node and its output are the same object, which keeps
rewrites simple: a rewrite maps a node to a node.)

Each variable knows its dtype and, per dimension, whether it is *broadcastable* (known to have
length 1), as in Theano. Shapes are otherwise unknown until the compiled function is called.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any

import numpy as np

_ids = itertools.count()

# The ops Python's operators build (``"add"`` for ``x + y``, ``"subtensor"`` for ``x[i]``...), by name.
# ops.py fills it when it is imported, so this module needs no import of ops.py (no import cycle).
OPERATORS: dict[str, Callable[..., Variable]] = {}


class Config:
    """Settings read when graphs are built and functions compiled (``T.config``)."""

    floatX = "float64"  # dtype of T.scalar/vector/matrix when none is given
    block_size = 32768  # elements per block of the blocked generators, unless measured (8192/32768/131072)
    n_threads = 0  # 0: one per usable core
    fusion = "auto"  # "auto" (measure the CPU generators), "numpy", "numba", "cupy" or "none"
    autotune_min_size = 1 << 18  # arrays smaller than this never trigger the numba measurement
    vector_math = True  # the numba loop's float32 exp/log/log1p/tanh: vectorisable polynomials (graph.vecmath)


config = Config()


class Variable:
    """A symbolic value: a leaf (input, constant, shared) or the output of ``op(*inputs)``."""

    __array_priority__ = 1000  # so numpy scalars on the left defer to our operators

    def __init__(
        self, op: Any, inputs: Sequence[Variable], dtype: Any, broadcastable: Sequence[bool], name: str | None = None
    ):
        self.op = op
        self.inputs = tuple(inputs)
        self.dtype = np.dtype(dtype)
        self.broadcastable = tuple(bool(b) for b in broadcastable)
        self.name = name
        self.id = next(_ids)

    # ---- introspection used by rewrites and by students' rewrite functions --------------------
    @property
    def ndim(self) -> int:
        return len(self.broadcastable)

    def is_a(self, op_name: str) -> bool:
        """True when this variable is the output of an op called ``op_name`` (``'exp'``, ``'mul'``...)."""
        return self.op is not None and self.op.name == op_name

    def is_const(self, value: Any = None) -> bool:
        """True for a constant (equal to ``value`` everywhere, when given)."""
        return False

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    # ---- Python protocol ---------------------------------------------------------------------------
    def __bool__(self):
        raise TypeError(
            "a symbolic variable has no truth value yet: it only gets a value when the compiled "
            "function runs. For a condition inside the graph use T.ifelse(cond, a, b) or T.switch."
        )

    def __iter__(self):
        raise TypeError("a symbolic variable cannot be iterated over; use T.foldl / T.scan for loops in the graph")

    def __repr__(self) -> str:
        from coursekit.graph.printing import pp

        return pp(self)

    def label(self) -> str:
        """Short text for drawings: the name, the constant's value or the op's name."""
        if self.name:
            return self.name
        return self.op.label() if self.op is not None else f"{type(self).__name__.lower()}"

    # ---- operators (graph building): the ops in OPERATORS, filled by ops.py ----------------------------
    def __add__(self, other):
        return OPERATORS["add"](self, other)

    def __radd__(self, other):
        return OPERATORS["add"](other, self)

    def __sub__(self, other):
        return OPERATORS["sub"](self, other)

    def __rsub__(self, other):
        return OPERATORS["sub"](other, self)

    def __mul__(self, other):
        return OPERATORS["mul"](self, other)

    def __rmul__(self, other):
        return OPERATORS["mul"](other, self)

    def __truediv__(self, other):
        return OPERATORS["true_div"](self, other)

    def __rtruediv__(self, other):
        return OPERATORS["true_div"](other, self)

    def __pow__(self, other):
        return OPERATORS["pow"](self, other)

    def __rpow__(self, other):
        return OPERATORS["pow"](other, self)

    def __neg__(self):
        return OPERATORS["neg"](self)

    def __abs__(self):
        return OPERATORS["abs"](self)

    def __lt__(self, other):
        return OPERATORS["lt"](self, other)

    def __le__(self, other):
        return OPERATORS["le"](self, other)

    def __gt__(self, other):
        return OPERATORS["gt"](self, other)

    def __ge__(self, other):
        return OPERATORS["ge"](self, other)

    __hash__ = object.__hash__  # == stays identity (as in Theano); use T.eq for the elementwise test

    def __getitem__(self, index):
        return OPERATORS["subtensor"](self, index)

    @property
    def T(self):
        return OPERATORS["transpose"](self)

    def sum(self, axis=None):
        return OPERATORS["sum"](self, axis)

    def mean(self, axis=None):
        return OPERATORS["mean"](self, axis)

    def dot(self, other):
        return OPERATORS["dot"](self, other)


class Input(Variable):
    """A symbolic input: gets its value from the arguments of the compiled function."""

    def __init__(self, dtype, broadcastable, name=None):
        super().__init__(None, (), dtype, broadcastable, name)


class Constant(Variable):
    """A value fixed in the graph. ``weak`` marks a bare Python number: like numpy 2 (NEP 50) it
    does not promote the other operand (``float32_var * 0.5`` stays float32)."""

    def __init__(self, value, name=None, broadcastable=None):
        self.weak = isinstance(value, (bool, int, float)) and not isinstance(value, np.generic)
        if not self.weak:  # a private, read-only copy: a constant never changes
            value = np.array(value)
            value.flags.writeable = False
        self.value = value
        arr = np.asarray(value)
        bc = tuple(s == 1 for s in arr.shape) if broadcastable is None else broadcastable
        super().__init__(None, (), arr.dtype, bc, name)

    def is_const(self, value=None) -> bool:
        if value is None:
            return True
        return bool(np.all(np.asarray(self.value) == value))

    def label(self) -> str:
        if self.name:
            return self.name
        arr = np.asarray(self.value)
        return f"{arr.item():.4g}" if arr.size == 1 else f"const{arr.shape}"

    def key(self):
        """Hashable identity of the value, so equal constants can be merged."""
        arr = np.asarray(self.value)
        data = arr.tobytes() if arr.size <= 64 else id(self)
        return ("const", self.weak, arr.dtype.str, arr.shape, self.broadcastable, data)


class SharedVariable(Variable):
    """A variable whose value lives between calls (model parameters). Compiled functions read it and
    their ``updates`` replace it after the outputs are computed."""

    def __init__(self, value, name=None, broadcastable=None):
        value = np.array(value)  # a private copy (Theano's borrow=False)
        bc = broadcastable if broadcastable is not None else (False,) * value.ndim
        super().__init__(None, (), value.dtype, bc, name)
        self._value = value

    def get_value(self, borrow: bool = False) -> np.ndarray:
        return self._value if borrow else self._value.copy()

    def set_value(self, value, borrow: bool = False) -> None:
        value = np.asarray(value)
        if value.ndim != self.ndim:
            raise TypeError(
                f"shared variable {self.name or ''!s} has {self.ndim} dimension(s), got a value with {value.ndim}"
            )
        self._value = value.astype(self.dtype, copy=not borrow)

    value = property(lambda self: self.get_value(), lambda self, v: self.set_value(v))


def as_variable(x: Any) -> Variable:
    """A Variable as is; anything else (number, array) becomes a Constant."""
    if isinstance(x, Variable):
        return x
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    return Constant(x)


def input_var(ndim: int, name=None, dtype=None) -> Input:
    return Input(dtype or config.floatX, (False,) * ndim, name)


def scalar(name=None, dtype=None) -> Input:
    """A 0-d symbolic input."""
    return input_var(0, name, dtype)


def vector(name=None, dtype=None) -> Input:
    """A 1-d symbolic input."""
    return input_var(1, name, dtype)


def matrix(name=None, dtype=None) -> Input:
    """A 2-d symbolic input."""
    return input_var(2, name, dtype)


def tensor3(name=None, dtype=None) -> Input:
    return input_var(3, name, dtype)


def tensor(ndim: int, name=None, dtype=None) -> Input:
    return input_var(ndim, name, dtype)


def shared(value, name=None) -> SharedVariable:
    """A variable holding ``value`` between calls (``get_value()`` / ``set_value()``)."""
    return SharedVariable(value, name)


def constant(value, name=None) -> Constant:
    return Constant(value, name)


class Op:
    """Base of all operations. A subclass sets ``name`` and implements ``infer`` (output dtype and
    broadcastable pattern from the inputs) and ``perform`` (numpy arrays in, one array out).

    ``props()`` returns what besides the class distinguishes two ops (e.g. the axis of a sum); two
    nodes with equal ``key()`` and the same inputs compute the same value (used by CSE). ``grad``, when
    set, is the op's own gradient rule (used unless :data:`coursekit.graph.grad.GRAD_RULES` has one)."""

    name = "op"
    elemwise = False
    grad: Callable[[list, Variable, Variable], list] | None = None  # the gradient rule (see grad.py)

    def props(self) -> tuple:
        return ()

    def key(self) -> tuple:
        return (type(self).__name__, self.name, *self.props())

    def label(self) -> str:
        p = self.props()
        return f"{self.name}{p}" if p else self.name

    def infer(self, inputs: Sequence[Variable]) -> tuple[Any, tuple[bool, ...]]:
        raise NotImplementedError

    def perform(self, *values):
        raise NotImplementedError

    def make_node(self, *inputs) -> Variable:
        variables = [as_variable(i) for i in inputs]
        self.check(variables)
        dtype, bcast = self.infer(variables)
        return Variable(self, variables, dtype, bcast)

    def check(self, inputs: Sequence[Variable]) -> None:
        pass

    def __call__(self, *inputs) -> Variable:
        return self.make_node(*inputs)

    def __eq__(self, other):
        return isinstance(other, Op) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):
        return f"<Op {self.label()}>"


# ---- graph walking ---------------------------------------------------------------------------------


def as_list(outputs) -> list[Variable]:
    if isinstance(outputs, Variable):
        return [outputs]
    return [as_variable(o) for o in outputs]


def toposort(outputs: Iterable[Variable], stop: Container[Variable] | None = None) -> list[Variable]:
    """Every variable the outputs depend on, each after its inputs (iterative, so deep graphs are fine).
    Variables in ``stop`` are listed but not walked into."""
    order: list[Variable] = []
    seen: set[int] = set()
    stack = [(v, False) for v in reversed(list(outputs))]
    while stack:
        v, expanded = stack.pop()
        if expanded:
            order.append(v)
            continue
        if id(v) in seen:
            continue
        seen.add(id(v))
        stack.append((v, True))
        if stop is None or v not in stop:
            for i in reversed(v.inputs):
                if id(i) not in seen:
                    stack.append((i, False))
    return order


def inputs_of(outputs) -> list[Variable]:
    """The leaves (inputs, constants, shared variables) the outputs depend on."""
    return [v for v in toposort(as_list(outputs)) if v.op is None]


def count_nodes(outputs) -> int:
    """Number of op nodes (not counting leaves)."""
    return sum(1 for v in toposort(as_list(outputs)) if v.op is not None)


def clients(outputs) -> dict[Variable, list[Variable]]:
    """For each variable, the nodes that use it (with repetition if used twice)."""
    out: dict[Variable, list[Variable]] = {}
    for v in toposort(as_list(outputs)):
        out.setdefault(v, [])
        for i in v.inputs:
            out.setdefault(i, []).append(v)
    return out


def rebuild(node: Variable, new_inputs: Sequence[Variable]) -> Variable:
    """``node``'s op applied to new inputs (the node itself when nothing changed); keeps the name."""
    if all(a is b for a, b in zip(node.inputs, new_inputs, strict=True)):
        return node
    new = node.op.make_node(*new_inputs)
    new.name = node.name
    return new


def clone_replace(outputs, replace: dict[Variable, Variable]) -> list[Variable]:
    """The outputs rebuilt with every variable in ``replace`` swapped for its replacement."""
    memo: dict[Variable, Variable] = dict(replace)
    for v in toposort(as_list(outputs), stop=set(replace)):
        if v not in memo:
            memo[v] = v if v.op is None else rebuild(v, [memo[i] for i in v.inputs])
    return [memo[o] for o in as_list(outputs)]
