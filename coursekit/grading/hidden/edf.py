"""Checkers for notebook 03's graded EDF exercises; each raises AssertionError saying expected vs got.

Each component checker takes the student's class (constructed like the lecture's, e.g.
``Tanh(x)``, ``AddBias(x, beta)``, ``VDot(x, W)``), builds it in a throwaway graph (the notebook's
own graph is left as it was), runs ``forward``, sets ``.grad`` to a random array and runs
``backward``. It compares with reference formulas written out here in float64, twice: once with
the arguments' gradients starting at zero, once starting at other values, since ``backward`` must
add its contribution (``+=``) to gradients other components may already have filled.

``check_training_loop`` runs the student's minibatch loop on a small softmax regression and
compares the trained parameters with a reference run.
"""

from __future__ import annotations

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


def check_tanh_backward(tanh_cls: type) -> None:
    """``tanh_cls(x)``: value tanh(x) (B, J); backward adds d tanh/dx times the output gradient to x.grad."""
    rng = np.random.default_rng(1)
    for batch, width in [(3, 5), (1, 2)]:
        x, g = rng.standard_normal((batch, width)), rng.standard_normal((batch, width))
        t = np.tanh(x)
        _check_component(tanh_cls, {"x": x}, t, {"x": g * (1 - t**2)}, g, seed=batch)


def check_addbias_backward(addbias_cls: type) -> None:
    """``addbias_cls(x, beta)``: x (B, J) plus beta (J,) for every example b; beta.grad sums over b."""
    rng = np.random.default_rng(2)
    for batch, width in [(3, 5), (1, 2), (4, 1)]:
        x, g = rng.standard_normal((batch, width)), rng.standard_normal((batch, width))
        beta = rng.standard_normal(width)
        _check_component(
            addbias_cls, {"x": x, "beta": beta}, x + beta, {"x": g, "beta": np.einsum("bj->j", g)}, g, seed=batch
        )


def check_vdot_backward(vdot_cls: type) -> None:
    """``vdot_cls(x, W)``: y[b, j] = sum_i x[b, i] W[i, j]; checked for square and non-square W."""
    rng = np.random.default_rng(3)
    for batch, n_in, n_out in [(3, 4, 4), (2, 5, 3), (1, 1, 2)]:
        x, g = rng.standard_normal((batch, n_in)), rng.standard_normal((batch, n_out))
        w = rng.standard_normal((n_in, n_out))
        _check_component(
            vdot_cls,
            {"x": x, "W": w},
            np.einsum("bi,ij->bj", x, w),
            {"x": np.einsum("ij,bj->bi", w, g), "W": np.einsum("bi,bj->ij", x, g)},
            g,
            seed=batch,
        )


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


def check_softmax_logloss_backward(fused_cls: type) -> None:
    """``fused_cls(x, y)``: scores x (B, J), labels y (B,) -> -log softmax(x)[b, y[b]] (B,) in one component."""
    rng = np.random.default_rng(6)
    for batch, width in [(4, 3), (1, 5)]:
        x, g = 3 * rng.standard_normal((batch, width)), rng.standard_normal(batch)
        y = rng.integers(0, width, batch)
        p = _softmax(x)
        one_hot = np.eye(width)[y]
        _check_component(
            fused_cls,
            {"x": x, "y": y},
            -np.log(p[np.arange(batch), y]),
            {"x": g[:, None] * (p - one_hot)},
            g,
            seed=batch,
        )


def _reference_training(
    images: np.ndarray, labels: np.ndarray, w: np.ndarray, b: np.ndarray, batch_size: int, eta: float, num_epochs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Minibatch SGD on softmax regression, batches in order, the last one possibly smaller."""
    w, b = w.copy(), b.copy()
    for _ in range(num_epochs):
        for start in range(0, len(images), batch_size):
            xb, yb = images[start : start + batch_size], labels[start : start + batch_size]
            d_scores = _softmax(xb @ w + b) - np.eye(w.shape[1])[yb]  # d loss[b] / d scores[b]
            d_scores /= len(yb)  # gradient of the batch mean
            w -= eta * xb.T @ d_scores
            b -= eta * d_scores.sum(axis=0)
    return w, b


def check_training_loop(train: Callable[..., Any]) -> None:
    """``train(x, y, loss, images, labels, batch_size, eta, num_epochs)`` runs the lecture's loop.

    For each epoch, for each minibatch in order (no shuffling, the last one smaller when the batch
    size does not divide the data): set x and y, Forward, Backward(loss), SGD(eta).
    """
    rng = np.random.default_rng(8)
    n_examples, n_features, n_classes, batch_size, eta, num_epochs = 23, 4, 3, 5, 0.5, 2
    images, labels = rng.standard_normal((n_examples, n_features)), rng.integers(0, n_classes, n_examples)
    w0, b0 = 0.1 * rng.standard_normal((n_features, n_classes)), 0.1 * rng.standard_normal(n_classes)
    expected_w, expected_b = _reference_training(images, labels, w0, b0, batch_size, eta, num_epochs)
    with edf.fresh_graph():
        x, y = edf.Input(name="x"), edf.Input(name="y")
        w, b = edf.Parameter(w0, name="W"), edf.Parameter(b0, name="b")
        loss = edf.LogLoss(edf.Aref(edf.Softmax(edf.AddBias(edf.VDot(x, w), b)), y))
        what = f"train(x, y, loss, images, labels, batch_size={batch_size}, eta={eta}, num_epochs={num_epochs})"
        _call(what, train, x, y, loss, images.copy(), labels.copy(), batch_size, eta, num_epochs)
        if np.array_equal(w.value, w0) and np.array_equal(b.value, b0):
            raise AssertionError(
                f"{what}: the parameters did not change: expected SGD steps to update W and b, got their initial values"
            )
        _expect_close(f"{what}: W after training", w.value, expected_w)
        _expect_close(f"{what}: b after training", b.value, expected_b)
