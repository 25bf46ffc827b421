"""Checkers for notebook 03's graded exercises; each raises AssertionError saying expected vs got.

Each component checker takes the student's class (constructed like the notebook's, e.g.
``BatchNorm(x, gamma, beta)``), builds it in a throwaway graph (the notebook's own graph is left as
it was), runs ``forward``, sets ``.grad`` to a random array and runs ``backward``. It compares with
a reference (torch's autograd in float64, or formulas written out here), twice: once with the
arguments' gradients starting at zero, once starting at other values, since ``backward`` must add
its contribution (``+=``) to gradients other components may already have filled.

``check_dropout`` checks the dropout component's frequencies, scale, per-example masks and modes;
``check_mse_grad`` reads the student's function's source for Python loops and times it against a
per-example and a per-feature loop; ``check_accumulated_training`` runs the student's
gradient-accumulation loop and compares the trained parameters with plain minibatch SGD.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks import check_close
from coursekit.edf import framework as edf

RTOL, ATOL = 1e-6, 1e-9
ACCUMULATE_HINT = (
    "\n(the argument's .grad did not start at zero here: backward must add its contribution "
    "with +=, not overwrite what other components put there)"
)


def _expect_close(what: str, got: Any, expected: np.ndarray, hint: str = "") -> None:
    """:func:`coursekit.checks.check_close` at these checks' tolerances (its NaN rule: a NaN only
    where the reference has one), with ``hint`` added to its message."""
    if got is None:
        raise AssertionError(f"{what}: expected an array of shape {expected.shape}, got None{hint}")
    try:
        check_close(got, expected, what, rtol=RTOL, atol=ATOL)
    except AssertionError as failure:
        raise AssertionError(f"{failure}{hint}") from None


def _call(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run the student's code; turn any exception into an AssertionError naming where it happened."""
    try:
        return fn(*args)
    except Exception as exc:
        raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def _run(
    cls: type, args: dict[str, np.ndarray], out_grad: np.ndarray, start_grads: dict[str, np.ndarray]
) -> tuple[Any, dict[str, Any]]:
    """``cls(*args)`` in a fresh graph: forward, then backward from ``out_grad``. Returns value and arg grads."""
    name = getattr(cls, "__name__", repr(cls))
    with edf.fresh_graph():
        nodes = {}
        for key, array in args.items():
            nodes[key] = edf.Input(name=key)
            nodes[key].set(array.copy())
        component = _call(f"{name}({', '.join(args)})", cls, *nodes.values())
        _call(f"{name}.forward()", component.forward)
        value = None if component.value is None else np.array(component.value, dtype=np.float64)
        for key, node in nodes.items():
            node.grad = start_grads[key].copy() if key in start_grads else None
        component.grad = out_grad.copy()
        _call(f"{name}.backward()", component.backward)
        return value, {key: node.grad for key, node in nodes.items()}


def _check_component(
    cls: type,
    args: dict[str, np.ndarray],
    value: np.ndarray,
    grads: dict[str, np.ndarray],
    out_grad: np.ndarray,
    seed: int,
) -> None:
    """Check ``cls`` on one case: forward ``value``; backward adds ``grads`` (per argument name) to each .grad."""
    name = getattr(cls, "__name__", repr(cls))
    rng = np.random.default_rng(seed)
    for prefilled in (False, True):
        start = {k: rng.standard_normal(g.shape) if prefilled else np.zeros_like(g) for k, g in grads.items()}
        got_value, got_grads = _run(cls, args, out_grad, start)
        if not prefilled:
            _expect_close(f"{name}.forward: value", got_value, value)
        for key, grad in grads.items():
            _expect_close(
                f"{name}.backward: {key}.grad", got_grads[key], start[key] + grad, ACCUMULATE_HINT if prefilled else ""
            )


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def check_softmax_backward(softmax_cls: type) -> None:
    """``softmax_cls(x)``: probabilities per row of x (B, J), stable for large scores; full Jacobian backward."""
    rng = np.random.default_rng(4)
    for batch, width in [(3, 5), (2, 1)]:
        x, g = 3 * rng.standard_normal((batch, width)), rng.standard_normal((batch, width))
        x[0] += 1000.0  # exp(1000) overflows: forward must subtract the row's maximum
        p = _softmax(x)
        jacobian = np.einsum("bi,ij->bij", p, np.eye(width)) - np.einsum("bi,bj->bij", p, p)  # dp_i / dx_j
        _check_component(softmax_cls, {"x": x}, p, {"x": np.einsum("bi,bij->bj", g, jacobian)}, g, seed=batch)


def check_logloss_backward(logloss_cls: type) -> None:
    """``logloss_cls(x)``: -log x per example for probabilities x (B,)."""
    rng = np.random.default_rng(5)
    for batch in [4, 1]:
        x, g = rng.uniform(0.05, 1.0, batch), rng.standard_normal(batch)
        _check_component(logloss_cls, {"x": x}, -np.log(x), {"x": -g / x}, g, seed=batch)


def _torch_reference(
    fn: Callable[..., Any], arrays: dict[str, np.ndarray], out_grad: np.ndarray, differentiable: tuple[str, ...]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``fn(**tensors)`` in float64 torch, and the gradient of ``sum(value * out_grad)`` w.r.t. each
    ``differentiable`` argument (torch's autograd: the reference is not a formula written here)."""
    import torch

    tensors = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=k in differentiable)
        if v.dtype.kind == "f"
        else torch.tensor(v)
        for k, v in arrays.items()
    }
    value = fn(**tensors)
    (value * torch.tensor(out_grad, dtype=torch.float64)).sum().backward()
    grads = {k: tensors[k].grad for k in differentiable}
    return value.detach().numpy(), {k: np.zeros_like(arrays[k]) if g is None else g.numpy() for k, g in grads.items()}


def check_batchnorm_backward(batchnorm_cls: type) -> None:
    """``batchnorm_cls(x, gamma, beta)``: x (B, J) normalised per feature j with the batch's mean and
    (biased) variance, then scaled by gamma (J,) and shifted by beta (J,); checked against torch's
    ``batch_norm`` in training mode and its autograd, on batches of odd sizes, including the
    x-gradient through the batch mean and variance (every example's output depends on every input)."""
    import torch

    eps = float(getattr(batchnorm_cls, "eps", 1e-5))

    def reference(x: Any, gamma: Any, beta: Any) -> Any:
        return torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)

    rng = np.random.default_rng(11)
    for batch, width in [(5, 3), (7, 4), (3, 1), (2, 6)]:
        x = 3.0 + 2.0 * rng.standard_normal((batch, width))  # a mean and a spread far from 0 and 1
        gamma, beta = rng.uniform(0.5, 2.0, width), rng.standard_normal(width)
        g = rng.standard_normal((batch, width))
        args = {"x": x, "gamma": gamma, "beta": beta}
        value, grads = _torch_reference(reference, args, g, ("x", "gamma", "beta"))
        _check_component(batchnorm_cls, args, value, grads, g, seed=batch)


def check_smoothed_logloss_backward(fused_cls: type) -> None:
    """``fused_cls(x, y)``: scores x (B, J), labels y (B,) -> the cross-entropy per example against the
    smoothed target ``(1 - s) onehot(y) + s / J`` with ``s = fused_cls.smoothing``; checked against
    torch's ``cross_entropy(..., label_smoothing=s)`` and its autograd for several ``s`` (the class's
    own and others: backward must read ``self.smoothing``)."""
    import torch

    rng = np.random.default_rng(6)
    own = float(getattr(fused_cls, "smoothing", 0.1))
    for smoothing in sorted({own, 0.0, 0.3}):
        cls = type(getattr(fused_cls, "__name__", "Fused"), (fused_cls,), {"smoothing": smoothing})

        def reference(x: Any, y: Any, s: float = smoothing) -> Any:
            return torch.nn.functional.cross_entropy(x, y, reduction="none", label_smoothing=s)

        for batch, width in [(5, 3), (1, 4), (3, 7)]:
            x, g = 3 * rng.standard_normal((batch, width)), rng.uniform(0.1, 1.0, batch) / batch
            y = rng.integers(0, width, batch)
            value, grads = _torch_reference(reference, {"x": x, "y": y}, g, ("x",))
            try:
                _check_component(cls, {"x": x, "y": y}, value, grads, g, seed=batch)
            except AssertionError as failure:
                raise AssertionError(f"with smoothing = {smoothing}: {failure}") from None


def _dropout_run(cls: type, x: np.ndarray, p: float, training: bool, seed: int) -> Any:
    """``cls(x_node, p, rng)`` in a fresh graph with ``training`` set; returns the component after one forward."""
    name = getattr(cls, "__name__", repr(cls))
    node = edf.Input(name="x")
    node.set(x.copy())
    component = _call(f"{name}(x, p={p}, rng)", cls, node, p, np.random.default_rng(seed))
    component.training = training
    _call(f"{name}.forward() with training={training}", component.forward)
    if component.value is None or np.shape(component.value) != x.shape:
        raise AssertionError(
            f"{name}.forward (training={training}, p={p}): expected a value of shape {x.shape}, "
            f"got {None if component.value is None else np.shape(component.value)}"
        )
    return component


def _dropout_backward(component: Any, what: str, x: np.ndarray, out_grad: np.ndarray, expected: np.ndarray) -> None:
    """backward from ``out_grad``: from zero, x.grad must become ``expected``; from a prefilled start, start + it."""
    name = type(component).__name__
    for start in (np.zeros_like(x), np.random.default_rng(1).standard_normal(x.shape)):
        component.x.grad = start.copy()
        component.grad = out_grad.copy()
        _call(f"{name}.backward() ({what})", component.backward)
        hint = ACCUMULATE_HINT if start.any() else ""
        _expect_close(f"{name}.backward ({what}): x.grad", component.x.grad, start + expected, hint)


def check_dropout(dropout_cls: type) -> None:
    """``dropout_cls(x, p, rng)`` with ``.training`` (True or False), drawing from ``rng``:

    - inference (``training = False``): the identity, forward and backward;
    - training: each entry of each example dropped (0) with probability p, independently (a mask per
      example, not one shared by the batch), a fresh mask at every forward, the kept entries scaled so
      that every output's expected value equals its input (by 1/(1-p)); backward passes the gradient
      through the same entries with the same scale, and adds (``+=``).

    The frequencies are checked on 20,000 entries, 6 standard deviations wide."""
    with edf.fresh_graph():
        rng = np.random.default_rng(31)
        x = rng.uniform(1.0, 2.0, (400, 50))  # no zero in x: a 0 in the output means dropped
        g = rng.standard_normal(x.shape)
        for p in (0.25, 0.5):
            inference = _dropout_run(dropout_cls, x, p, training=False, seed=1)
            _expect_close(f"forward at inference (training=False, p={p}): value", inference.value, x)
            _dropout_backward(inference, f"at inference, p={p}", x, g, g)

            train = _dropout_run(dropout_cls, x, p, training=True, seed=2)
            value = np.asarray(train.value, dtype=np.float64)
            kept = value != 0
            column_shared = (kept == kept[:1]).all(axis=0).mean()
            if column_shared > 0.5:
                raise AssertionError(
                    f"forward at training, p={p}: expected each example to get its own mask, got the same "
                    f"entries dropped in every example of the batch for {column_shared:.0%} of the features"
                )
            dropped = 1 - kept.mean()
            width = 6 * np.sqrt(p * (1 - p) / x.size)
            if abs(dropped - p) > width:
                raise AssertionError(
                    f"forward at training, p={p}: expected a fraction {p} of the entries dropped "
                    f"(within {width:.3f}), got {dropped:.3f}"
                )
            _expect_close(
                f"forward at training, p={p}: the kept entries (expected value of each output = its input)",
                value[kept],
                x[kept] / (1 - p),
            )
            _dropout_backward(train, f"at training, p={p}, after that forward", x, g, g * kept / (1 - p))

            _call(f"{type(train).__name__}.forward() a second time", train.forward)
            again = np.asarray(train.value) != 0
            if np.array_equal(again, kept):
                raise AssertionError(
                    f"forward at training, p={p}: expected a fresh mask at every forward (every minibatch), "
                    "got the same entries dropped twice"
                )
        keep_all = _dropout_run(dropout_cls, x, 0.0, training=True, seed=3)
        _expect_close("forward at training with p=0: value", keep_all.value, x)


# ---- minibatching a gradient: no Python loop, and the speed that buys ---------------------------------

LOOP_NODES = {
    ast.For: "a for loop",
    ast.AsyncFor: "a for loop",
    ast.While: "a while loop",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
}
# Calls that run Python code per row or per element (the builtin sum iterates over an array's rows).
LOOPING_CALLS = {"map", "filter", "sum", "reduce", "vectorize", "apply_along_axis", "apply_over_axes", "frompyfunc"}
LOOPING_CALLS |= {"fromiter"}


def python_loops(fn: Callable[..., Any]) -> list[str]:
    """The Python loops in ``fn``'s source: ``["line 3: a for loop", ...]``, empty when there is none.
    Raises AssertionError when the source cannot be read (a function built by exec without a file)."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise AssertionError(f"could not read the source of {fn!r} to look for loops: {exc}") from None
    first = fn.__code__.co_firstlineno if hasattr(fn, "__code__") else 1
    found = []
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:  # e.g. a lambda inside a larger expression: inspect returns a fragment
        raise AssertionError(
            f"could not parse the source of {fn!r} to look for loops (define it with def): {exc}"
        ) from None
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 1) + first - 1
        if type(node) in LOOP_NODES:
            found.append(f"line {line}: {LOOP_NODES[type(node)]}")
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in LOOPING_CALLS:
                found.append(f"line {line}: {name}(...), which runs Python code once per row or element")
    return found


def mse_grad_per_example(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Loop over examples: the average of 2 (x_b @ w - y_b) x_b."""
    g = np.zeros_like(w)
    for x_b, y_b in zip(X, y, strict=True):
        g += 2 * (x_b @ w - y_b) * x_b
    return g / len(X)


def mse_grad_per_feature(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One loop, over features: the residual vectorised, then one dot product per feature."""
    r = X @ w - y
    g = np.empty_like(w)
    for j in range(len(w)):
        g[j] = 2 * (r @ X[:, j]) / len(X)
    return g


# B, D where each kind of loop sits about 4x from the next (fastest of interleaved rounds, 2-core EPYC,
# one or two BLAS threads): per-example ~0.5 ms, per-feature ~0.13 ms, X.T @ r ~0.012 ms, and the
# slowest loop-free form, broadcasting (r[:, None] * X).mean(axis=0), ~0.028 ms.
TIMING_SHAPE = (256, 96)
ORDER_MARGIN = 2.0  # each must be this much faster than the one before


def check_mse_grad(fn: Callable[..., Any], min_time: float = 0.1) -> None:
    """``fn(X, y, w)``: the batch-average gradient of ``(X @ w - y) ** 2`` with no Python loop in its
    source (no for/while, comprehension, map, builtin sum over rows, np.vectorize), right on odd
    batch sizes, and faster than the per-feature loop, which is faster than the per-example loop,
    each by ``ORDER_MARGIN`` (the fastest of interleaved rounds, at ``TIMING_SHAPE``)."""
    from coursekit.perf import compare

    loops = python_loops(fn)
    if loops:
        raise AssertionError(
            "expected no Python loop in the minibatched gradient (matrix operations only), got " + "; ".join(loops)
        )
    rng = np.random.default_rng(21)
    for batch, dim in [(37, 20), (1, 7), (5, 3), (64, 1)]:
        X, y, w = rng.standard_normal((batch, dim)), rng.standard_normal(batch), rng.standard_normal(dim)
        got = _call(f"{getattr(fn, '__name__', 'fn')}(X {X.shape}, y {y.shape}, w {w.shape})", fn, X, y, w)
        _expect_close(f"the gradient for a batch of {batch} with {dim} features", got, mse_grad_per_example(X, y, w))
    w_star = rng.standard_normal(7)
    X = rng.standard_normal((50, 7))
    at_solution = _call("the gradient at the exact solution", fn, X, X @ w_star, w_star)
    check_close(at_solution, np.zeros(7), "the gradient at the exact solution (y = X @ w)", atol=1e-10)
    X, y, w = (
        rng.standard_normal(TIMING_SHAPE),
        rng.standard_normal(TIMING_SHAPE[0]),
        rng.standard_normal(TIMING_SHAPE[1]),
    )
    times = ""
    for _attempt in range(3):  # a busy machine may upset one round; a loop stays slow in all three
        measured = compare.interleaved(
            {"per example": mse_grad_per_example, "per feature": mse_grad_per_feature, "yours": fn},
            X,
            y,
            w,
            check=False,
            min_time=min_time,
        )
        t_example, t_feature, t_yours = (float(np.min(m.times)) for m in measured)
        times = (
            f"per-example loop {t_example * 1e6:.0f} us, per-feature loop {t_feature * 1e6:.0f} us, "
            f"yours {t_yours * 1e6:.0f} us"
        )
        if t_example > ORDER_MARGIN * t_feature and t_feature > ORDER_MARGIN * t_yours:
            return
    raise AssertionError(
        f"expected the order per-example loop > per-feature loop > yours, each more than {ORDER_MARGIN:.0f}x "
        f"faster than the one before, for (B, D) = {TIMING_SHAPE}; got {times}"
    )


# ---- training with gradient accumulation ------------------------------------------------------------


class _RecordingInput(edf.Input):
    """An Input that remembers the most rows it was ever given (how much of the batch was in memory)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.most_rows = 0

    def set(self, value: Any) -> None:
        super().set(value)
        self.most_rows = max(self.most_rows, len(self.value))


def _reference_training(
    images: np.ndarray, labels: np.ndarray, w: np.ndarray, b: np.ndarray, batch_size: int, eta: float, num_epochs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Plain minibatch SGD on softmax regression, batches in order, the last one possibly smaller."""
    w, b = w.copy(), b.copy()
    for _ in range(num_epochs):
        for start in range(0, len(images), batch_size):
            xb, yb = images[start : start + batch_size], labels[start : start + batch_size]
            d_scores = _softmax(xb @ w + b) - np.eye(w.shape[1])[yb]  # d loss[b] / d scores[b]
            d_scores /= len(yb)  # gradient of the batch mean
            w -= eta * xb.T @ d_scores
            b -= eta * d_scores.sum(axis=0)
    return w, b


def check_accumulated_training(train: Callable[..., Any]) -> None:
    """``train(x, y, loss, images, labels, micro, k, eta, num_epochs)``: each step takes the next
    ``micro * k`` examples in order (the last step fewer), feeds them ``micro`` at a time (the last
    micro-batch possibly smaller) and makes ONE update equal to plain SGD's on the whole batch.

    Checked against plain SGD with batches of ``micro * k`` on a softmax regression whose data size
    leaves a short last batch of uneven micro-batches (so that weighting each micro-batch by 1/k
    instead of by its share of the batch fails), with k = 1 too; and no ``x.set`` may hold more than
    ``micro`` examples."""
    rng = np.random.default_rng(8)
    n_features, n_classes, eta, num_epochs = 4, 3, 0.5, 2
    for n_examples, micro, k in [(23, 3, 3), (23, 4, 2), (10, 3, 1)]:
        images, labels = rng.standard_normal((n_examples, n_features)), rng.integers(0, n_classes, n_examples)
        w0, b0 = 0.1 * rng.standard_normal((n_features, n_classes)), 0.1 * rng.standard_normal(n_classes)
        expected_w, expected_b = _reference_training(images, labels, w0, b0, micro * k, eta, num_epochs)
        with edf.fresh_graph():
            x, y = _RecordingInput(name="x"), edf.Input(name="y")
            w, b = edf.Parameter(w0, name="W"), edf.Parameter(b0, name="b")
            loss = edf.LogLoss(edf.Aref(edf.Softmax(edf.AddBias(edf.VDot(x, w), b)), y))
            what = f"train(..., {n_examples} examples, micro={micro}, k={k}, eta={eta}, num_epochs={num_epochs})"
            _call(what, train, x, y, loss, images.copy(), labels.copy(), micro, k, eta, num_epochs)
            if x.most_rows > micro:
                raise AssertionError(
                    f"{what}: expected x to hold at most micro = {micro} examples at a time, got {x.most_rows}"
                    " (the point of accumulating is that the whole batch need not be in memory at once)"
                )
            if np.array_equal(w.value, w0) and np.array_equal(b.value, b0):
                raise AssertionError(f"{what}: expected SGD steps to update W and b, got their initial values")
            _expect_close(f"{what}: W after training (vs plain SGD on batches of micro * k)", w.value, expected_w)
            _expect_close(f"{what}: b after training (vs plain SGD on batches of micro * k)", b.value, expected_b)
