"""EDF, the lecture's small framework for minibatched automatic differentiation (TTIC 31230).

A graph is built by creating nodes, in order; every node has ``.value`` and ``.grad`` (same shape):

    x, y = edf.Input(), edf.Input()                  # x.value: (B, 784) floats, y.value: (B,) ints
    W1, W2 = edf.Parameter(w1), edf.Parameter(w2)    # (784, 128), (128, 10): no batch index
    L1 = edf.Sigmoid(edf.VDot(x, W1))                # (B, 128)
    L2 = edf.Softmax(edf.VDot(L1, W2))               # (B, 10)
    loss = edf.LogLoss(edf.Aref(L2, y))              # (B,): one loss per example
    x.set(images); y.set(labels)
    edf.Forward(); edf.Backward(loss); edf.SGD(eta)

Inputs and computed values carry the batch index ``b`` first; parameters have none.
``Backward(loss)`` seeds ``loss.grad`` with ``1/B``, so each parameter's gradient is the batch
average of the per-example gradients. The arrays may be numpy or CuPy: each component asks its
input's value for its array module, so the same code runs on a GPU. cupy is never imported here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np

Array = Any  # a numpy or CuPy array

# The graph: every node created since the last clear(), in creation order (a topological order).
inputs: list[Input] = []
parameters: list[Parameter] = []
components: list[Component] = []


def array_module(value: Array) -> ModuleType:
    """numpy for a numpy array, cupy for a CuPy array.

    A CuPy array can only exist once cupy has been imported, so cupy is looked up in
    ``sys.modules`` and never imported by this module.
    """
    cupy = sys.modules.get("cupy")
    return np if cupy is None else cupy.get_array_module(value)


class Node:
    """Anything in the graph: ``.value`` (an array) and ``.grad`` (d loss / d value, same shape)."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.value: Array = None
        self.grad: Array = None

    def __repr__(self) -> str:
        shape = None if self.value is None else tuple(self.value.shape)
        label = f" {self.name!r}" if self.name else ""
        return f"<{type(self).__name__}{label} shape={shape}>"


class Input(Node):
    """Data fed to the graph for each minibatch with ``.set(value)``; batch index first.

    ``requires_grad=False`` (as torch's data tensors): ``Backward`` leaves ``.grad`` None and the
    components skip the gradient they would send here (for the first layer's ``VDot``, a whole
    matrix product per step). The default keeps the lecture's rule: every float node gets a gradient.
    """

    def __init__(self, name: str | None = None, requires_grad: bool = True) -> None:
        super().__init__(name)
        self.requires_grad = requires_grad
        inputs.append(self)

    def set(self, value: Array) -> None:
        """Replace this input's value (no copy): e.g. ``x.set(images[k:k + B])``."""
        self.value = value if hasattr(value, "shape") else np.asarray(value)


class Parameter(Node):
    """A trained array shared by every example of the batch (no batch index). Copies ``value``."""

    def __init__(self, value: Array, name: str | None = None) -> None:
        super().__init__(name)
        self.value = value.copy() if hasattr(value, "copy") else np.array(value)
        self.velocity: Array = None  # SGD's momentum buffer
        parameters.append(self)


class Component(Node):
    """A computed node. Subclasses store their argument nodes and define ``forward`` and ``backward``.

    ``forward`` sets ``self.value`` from the arguments' values. ``backward`` adds this node's
    contribution to each argument's ``.grad`` (``+=``: an argument may feed several components).
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        components.append(self)

    def forward(self) -> None:
        raise NotImplementedError

    def backward(self) -> None:
        raise NotImplementedError


class VDot(Component):
    """Vector-matrix product per example. x: (B, I), W: (I, J) -> (B, J).

    forward:  y[b, j] = sum_i x[b, i] W[i, j]
    backward: x.grad[b, i] += sum_j W[i, j] y.grad[b, j]
              W.grad[i, j] += sum_b x[b, i] y.grad[b, j]
    """

    def __init__(self, x: Node, W: Node) -> None:
        super().__init__()
        self.x, self.W = x, W

    def forward(self) -> None:
        self.value = self.x.value @ self.W.value

    def backward(self) -> None:
        if self.x.grad is not None:  # None: an Input that requires no gradient
            self.x.grad += self.grad @ self.W.value.T
        self.W.grad += self.x.value.T @ self.grad


class AddBias(Component):
    """Adds a bias vector to every example. x: (B, J), beta: (J,) -> (B, J).

    forward:  z[b, j] = x[b, j] + beta[j]
    backward: x.grad[b, j] += z.grad[b, j]
              beta.grad[j] += sum_b z.grad[b, j]
    """

    def __init__(self, x: Node, beta: Node) -> None:
        super().__init__()
        self.x, self.beta = x, beta

    def forward(self) -> None:
        self.value = self.x.value + self.beta.value  # broadcasting repeats beta for each b

    def backward(self) -> None:
        if self.x.grad is not None:
            self.x.grad += self.grad
        self.beta.grad += self.grad.sum(axis=0)


class Sigmoid(Component):
    """Elementwise logistic function. x: (B, J) -> (B, J).

    forward:  s[b, j] = 1 / (1 + exp(-x[b, j]))
    backward: x.grad[b, j] += s.grad[b, j] s[b, j] (1 - s[b, j])
    """

    def __init__(self, x: Node) -> None:
        super().__init__()
        self.x = x

    def forward(self) -> None:
        xp = array_module(self.x.value)
        self.value = 1.0 / (1.0 + xp.exp(-self.x.value))

    def backward(self) -> None:
        if self.x.grad is not None:
            self.x.grad += self.grad * self.value * (1.0 - self.value)


class Tanh(Component):
    """Elementwise hyperbolic tangent. x: (B, J) -> (B, J).

    forward:  t[b, j] = tanh(x[b, j])
    backward: x.grad[b, j] += t.grad[b, j] (1 - t[b, j]^2)
    """

    def __init__(self, x: Node) -> None:
        super().__init__()
        self.x = x

    def forward(self) -> None:
        self.value = array_module(self.x.value).tanh(self.x.value)

    def backward(self) -> None:
        if self.x.grad is not None:
            self.x.grad += self.grad * (1.0 - self.value * self.value)


class ReLU(Component):
    """Elementwise rectifier. x: (B, J) -> (B, J).

    forward:  r[b, j] = max(x[b, j], 0)
    backward: x.grad[b, j] += r.grad[b, j] if x[b, j] > 0, else nothing
    """

    def __init__(self, x: Node) -> None:
        super().__init__()
        self.x = x

    def forward(self) -> None:
        self.value = array_module(self.x.value).maximum(self.x.value, 0)

    def backward(self) -> None:
        if self.x.grad is not None:
            self.x.grad += self.grad * (self.x.value > 0)


class Softmax(Component):
    """Probabilities from scores, per example. x: (B, J) -> (B, J), each row sums to 1.

    forward:  p[b, j] = exp(x[b, j]) / sum_k exp(x[b, k])   (computed with x[b] - max_k x[b, k])
    backward: x.grad[b, j] += p[b, j] (p.grad[b, j] - sum_k p.grad[b, k] p[b, k])
    """

    def __init__(self, x: Node) -> None:
        super().__init__()
        self.x = x

    def forward(self) -> None:
        xp = array_module(self.x.value)
        e = xp.exp(self.x.value - self.x.value.max(axis=1, keepdims=True))
        self.value = e / e.sum(axis=1, keepdims=True)

    def backward(self) -> None:
        if self.x.grad is not None:
            weighted = (self.grad * self.value).sum(axis=1, keepdims=True)
            self.x.grad += self.value * (self.grad - weighted)


class Aref(Component):
    """Picks one entry per example: the probability of the true label. x: (B, J), y: (B,) ints -> (B,).

    forward:  a[b] = x[b, y[b]]
    backward: x.grad[b, y[b]] += a.grad[b]   (y gets no gradient)
    """

    def __init__(self, x: Node, y: Node) -> None:
        super().__init__()
        self.x, self.y = x, y

    def forward(self) -> None:
        rows = array_module(self.x.value).arange(self.x.value.shape[0])
        self.value = self.x.value[rows, self.y.value]

    def backward(self) -> None:
        if self.x.grad is None:
            return
        rows = array_module(self.x.value).arange(self.x.value.shape[0])
        self.x.grad[rows, self.y.value] += self.grad  # each (b, y[b]) occurs once: no add.at needed


class LogLoss(Component):
    """Negative log-likelihood per example. p: (B,) probabilities -> (B,) losses in nats.

    forward:  l[b] = -log p[b]
    backward: p.grad[b] += -l.grad[b] / p[b]
    """

    def __init__(self, x: Node) -> None:
        super().__init__()
        self.x = x

    def forward(self) -> None:
        self.value = -array_module(self.x.value).log(self.x.value)

    def backward(self) -> None:
        if self.x.grad is not None:
            self.x.grad += -self.grad / self.x.value


def clear() -> None:
    """Forget every node: the next nodes created start a new graph."""
    inputs.clear()
    parameters.clear()
    components.clear()


@contextlib.contextmanager
def fresh_graph() -> Iterator[None]:
    """Build a throwaway graph inside ``with``; the graph that existed before is restored afterwards."""
    saved = (inputs[:], parameters[:], components[:])
    clear()
    try:
        yield
    finally:
        inputs[:], parameters[:], components[:] = saved


def Forward() -> None:
    """Compute every component's value, in creation order."""
    for component in components:
        component.forward()


def zero_grads() -> None:
    """Set every float node's ``.grad`` to zeros of its value's shape; integer inputs (labels) and
    inputs with ``requires_grad=False`` get None. ``Backward`` starts with this."""
    for node in [*inputs, *parameters, *components]:
        floating = node.value is not None and node.value.dtype.kind == "f"
        wanted = floating and not (isinstance(node, Input) and not node.requires_grad)
        node.grad = array_module(node.value).zeros_like(node.value) if wanted else None


def Backward(loss: Node) -> None:
    """Fill every ``.grad`` with d(mean over the batch of loss)/d(value). ``loss.value``: (B,).

    Gradients start at zero; ``loss.grad`` starts at ``1/B`` so that parameter gradients are batch
    averages. Integer inputs (labels) and inputs made with ``requires_grad=False`` get no gradient
    (``grad`` None); the components skip an argument whose ``grad`` is None.
    """
    if loss not in components:
        raise ValueError(f"Backward: {loss!r} is not a component of the current graph (built before edf.clear()?)")
    zero_grads()
    batch = loss.value.shape[0]
    loss.grad[...] = 1.0 / batch
    for component in reversed(components[: components.index(loss) + 1]):  # later components do not feed loss
        component.backward()


def SGD(eta: float, momentum: float = 0.0) -> None:
    """One gradient step on every parameter: ``value -= eta * grad``.

    With ``momentum`` m > 0 (as ``torch.optim.SGD``): ``v = m v + grad`` (``v = grad`` on the first
    step), then ``value -= eta * v``. The velocity ``v`` lives on each parameter.
    """
    for p in parameters:
        step = p.grad
        if momentum:
            if p.velocity is None:
                p.velocity = p.grad.copy()
            else:
                p.velocity *= momentum
                p.velocity += p.grad
            step = p.velocity
        p.value -= eta * step


def mlp(
    x: Node,
    sizes: Sequence[int],
    activation: Callable[[Node], Node] = Sigmoid,
    bias: bool = True,
    seed: int = 0,
    dtype: Any = np.float32,
    xp: ModuleType = np,
) -> Softmax:
    """The lecture's multilayer perceptron on ``x``; returns the class probabilities node (B, sizes[-1]).

    ``sizes = [784, 128, 10]`` makes ``Softmax(AddBias(VDot(Sigmoid(AddBias(VDot(x, W1), b1)), W2), b2))``.
    Weights ``W{k}`` (fan_in, fan_out) are drawn N(0, 1/fan_in); biases ``b{k}`` start at zero.
    ``xp`` is the array module for the parameters (numpy or cupy).
    """
    rng = np.random.default_rng(seed)
    h: Node = x
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    for k, (fan_in, fan_out) in enumerate(layers, start=1):
        w = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(dtype)
        h = VDot(h, Parameter(xp.asarray(w), name=f"W{k}"))
        if bias:
            h = AddBias(h, Parameter(xp.zeros(fan_out, dtype=dtype), name=f"b{k}"))
        if k < len(layers):
            h = activation(h)
    return Softmax(h)
