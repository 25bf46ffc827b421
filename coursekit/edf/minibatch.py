"""Minibatch experiments: throughput against batch size, EDF training loops, a per-component profile, a live plot.

The code a student should read (the EDF graphs, the training loop) stays in the notebook; this
module holds what is repeated or long: timing a step function over batch sizes, training to a
target accuracy, timing each EDF component, drawing a loss/accuracy figure that updates in
place, and the GPU measurements (``measure_*(dev)``) that ``benchmarks/record_reference.py`` can
record for machines without a GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coursekit.edf import framework as edf
from coursekit.perf import timing

# --- throughput over batch sizes ---------------------------------------------------------------


def throughput_sweep(
    make_step: Callable[[int], Callable[[], Any]],
    batch_sizes: Sequence[int],
    rounds: int = 2,
    min_time: float = 0.05,
    device: str = "cpu",
) -> list[dict[str, float]]:
    """Examples per second of ``make_step(B)()`` (one step on a batch of B) for each B.

    The sizes are timed in turn, ``rounds`` times over, and each keeps its best round: a burst
    of load from another process then spoils one round of one size, not the curve. Rows:
    ``batch``, ``median_s`` (seconds per step, best round), ``examples_per_s``.
    """
    steps = {b: make_step(b) for b in batch_sizes}
    best = dict.fromkeys(batch_sizes, float("inf"))
    for _ in range(rounds):
        for b, step in steps.items():
            best[b] = min(best[b], timing.benchmark(step, min_time=min_time, device=device).median)
    return [{"batch": b, "median_s": best[b], "examples_per_s": b / best[b]} for b in batch_sizes]


def fit_fixed_cost(batches: Sequence[int], seconds: Sequence[float]) -> tuple[float, float]:
    """Least-squares line ``seconds = fixed_s + per_example_s * batch``; returns (fixed_s, per_example_s).

    ``fixed_s`` is what a step costs whatever its batch size: the interpreter running the
    framework's code, array allocations, library calls. Fit it on small batches, where the
    per-example part is still linear.
    """
    per_example_s, fixed_s = np.polyfit(np.asarray(batches, float), np.asarray(seconds, float), 1)
    return float(fixed_s), float(per_example_s)


def vdot_traffic(batch: int, n_in: int, n_out: int, itemsize: int = 4) -> tuple[float, float]:
    """FLOP and minimum bytes of the batched VDot forward ``(B, I) @ (I, J)``: reads x and W, writes y."""
    flop = 2.0 * batch * n_in * n_out
    nbytes = float(itemsize * (batch * n_in + n_in * n_out + batch * n_out))
    return flop, nbytes


def mlp_gemm_flop(sizes: Sequence[int], batch: int, input_gradient: bool = True) -> dict[str, float]:
    """FLOP of the matrix products of one training step of an MLP with layer ``sizes``, by kind:
    ``forward`` (x W), ``weight gradient`` (x.T @ y.grad), ``input gradient`` (y.grad @ W.T), each
    2 B I J per layer. The first layer's input gradient (the data's) is counted only with
    ``input_gradient`` (EDF computes it; torch skips it, the images need no gradient)."""
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    each = [2.0 * batch * n_in * n_out for n_in, n_out in layers]
    return {
        "forward": sum(each),
        "weight gradient": sum(each),
        "input gradient": sum(each) - (0.0 if input_gradient else each[0]),
    }


# --- EDF training ------------------------------------------------------------------------------


@dataclass
class EDFModel:
    """An EDF graph for classification: inputs ``x``, ``y``, class probabilities ``probs``, ``loss`` (B,)."""

    x: edf.Input
    y: edf.Input
    probs: edf.Node
    loss: edf.Node

    def accuracy(self, images: np.ndarray, labels: np.ndarray, chunk: int = 5000) -> float:
        """Fraction of ``images`` whose most probable class is the label (forward pass only)."""
        correct = 0
        for k in range(0, len(images), chunk):
            self.x.set(images[k : k + chunk])
            self.y.set(labels[k : k + chunk])
            edf.Forward()
            correct += int((self.probs.value.argmax(axis=1) == labels[k : k + chunk]).sum())
        return correct / len(images)


def edf_mlp(sizes: Sequence[int] = (784, 128, 10), seed: int = 0, input_grad: bool = True) -> EDFModel:
    """A new EDF graph (``edf.clear()`` first) of the lecture's sigmoid MLP with its log-loss.

    ``input_grad=False`` makes the images an ``Input(requires_grad=False)``, as torch treats data:
    the first layer then computes no gradient for them (one matrix product fewer per step)."""
    edf.clear()
    x, y = edf.Input(name="x", requires_grad=input_grad), edf.Input(name="y")
    probs = edf.mlp(x, list(sizes), seed=seed)
    return EDFModel(x, y, probs, edf.LogLoss(edf.Aref(probs, y)))


@dataclass
class TimeToAccuracy:
    """One training run to a target accuracy. Times in seconds, training only (evaluations excluded)."""

    batch: int
    eta: float
    target: float
    reached: bool
    train_s: float
    epochs: float  # examples seen / training set size
    curve: list[tuple[float, float, float]] = field(default_factory=list)  # (epochs, train_s, accuracy)

    @property
    def epoch_s(self) -> float:
        """Seconds per epoch at this batch size."""
        return self.train_s / self.epochs if self.epochs else float("nan")


def train_to_accuracy(
    images: np.ndarray,
    labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    batch: int,
    eta: float,
    target: float,
    momentum: float = 0.9,
    eval_every: int = 1000,
    max_epochs: float = 10,
    max_s: float = 60,
    seed: int = 0,
) -> TimeToAccuracy:
    """Minibatch SGD on a fresh EDF MLP until the test accuracy reaches ``target``.

    Shuffles each epoch; evaluates after every ``eval_every`` training examples (rounded up to
    whole batches). Stops at the target, after ``max_epochs`` or after ``max_s`` seconds of
    training; ``reached`` says which.
    """
    model = edf_mlp(seed=seed)
    rng = np.random.default_rng(seed)
    n = len(images)
    seen, train_s, since_eval = 0, 0.0, 0
    curve: list[tuple[float, float, float]] = []
    while seen < max_epochs * n and train_s < max_s:
        order = rng.permutation(n)
        for k in range(0, n - batch + 1, batch):
            idx = order[k : k + batch]
            start = time.perf_counter()
            model.x.set(images[idx])
            model.y.set(labels[idx])
            edf.Forward()
            edf.Backward(model.loss)
            edf.SGD(eta, momentum=momentum)
            train_s += time.perf_counter() - start
            seen += batch
            since_eval += batch
            if since_eval >= eval_every:
                since_eval = 0
                accuracy = model.accuracy(test_images, test_labels)
                curve.append((seen / n, train_s, accuracy))
                if accuracy >= target:
                    return TimeToAccuracy(batch, eta, target, True, train_s, seen / n, curve)
                if train_s >= max_s or seen >= max_epochs * n:
                    break
    return TimeToAccuracy(batch, eta, target, False, train_s, seen / n, curve)


def profile_edf(model: EDFModel, images: np.ndarray, labels: np.ndarray, batch: int, eta: float = 0.1) -> Any:
    """Seconds spent per EDF component type over one epoch, forward and backward apart (a DataFrame).

    Runs the same steps as ``Forward(); Backward(loss); SGD(eta)``, timing each component's
    ``forward`` and ``backward`` call. The row ``framework`` is the rest of the step: zeroing the
    gradients, the loops themselves, ``SGD``. Columns: ``forward_s``, ``backward_s``, ``total_s``,
    ``share`` (of the epoch), ``calls`` (per epoch).
    """
    import pandas as pd

    rows: dict[str, dict[str, float]] = {}
    epoch_start = time.perf_counter()
    for k in range(0, len(images) - batch + 1, batch):
        model.x.set(images[k : k + batch])
        model.y.set(labels[k : k + batch])
        for c in edf.components:
            t = time.perf_counter()
            c.forward()
            row = rows.setdefault(type(c).__name__, {"forward_s": 0.0, "backward_s": 0.0, "calls": 0})
            row["forward_s"] += time.perf_counter() - t
            row["calls"] += 1
        edf.zero_grads()
        model.loss.grad[...] = 1.0 / batch
        last = next(i for i, c in enumerate(edf.components) if c is model.loss)
        for c in reversed(edf.components[: last + 1]):
            t = time.perf_counter()
            c.backward()
            rows[type(c).__name__]["backward_s"] += time.perf_counter() - t
        edf.SGD(eta)
    epoch_s = time.perf_counter() - epoch_start
    table = pd.DataFrame.from_dict(rows, orient="index")
    rest = epoch_s - table["forward_s"].sum() - table["backward_s"].sum()
    table.loc["framework (zero grads, loops, SGD)"] = {"forward_s": rest, "backward_s": 0.0, "calls": 0}
    table["total_s"] = table["forward_s"] + table["backward_s"]
    table["share"] = table["total_s"] / epoch_s
    table["calls"] = table["calls"].astype(int)
    return table.sort_values("total_s", ascending=False)


# --- a figure that updates in place --------------------------------------------------------------


class LivePlot:
    """Training loss and test accuracy against epochs, redrawn in place in a notebook (one output).

    ``update(epoch, loss=..., accuracy=...)`` adds points and redraws at most every
    ``min_interval_s`` seconds; ``close()`` draws the final figure and releases it.
    """

    def __init__(self, title: str = "training", min_interval_s: float = 1.0) -> None:
        import matplotlib.pyplot as plt

        self.fig, self.ax_loss = plt.subplots(figsize=(7, 3.2))
        self.ax_acc = self.ax_loss.twinx()
        self.title = title
        self.min_interval_s = min_interval_s
        self.loss: list[tuple[float, float]] = []
        self.accuracy: list[tuple[float, float]] = []
        self._handle: Any = None
        self._last = 0.0

    def update(self, epoch: float, loss: float | None = None, accuracy: float | None = None) -> None:
        """Record a training loss (nats) and/or a test accuracy (fraction) at ``epoch``."""
        if loss is not None:
            self.loss.append((epoch, loss))
        if accuracy is not None:
            self.accuracy.append((epoch, accuracy))
        if time.perf_counter() - self._last >= self.min_interval_s:
            self._show()

    def _draw(self) -> None:
        self.ax_loss.clear()
        self.ax_acc.clear()
        if self.loss:
            self.ax_loss.plot(*zip(*self.loss, strict=True), color="tab:blue", lw=1, label="training loss")
        if self.accuracy:
            self.ax_acc.plot(*zip(*self.accuracy, strict=True), "o-", color="tab:orange", label="test accuracy")
            self.ax_acc.set_ylim(0, 1)
        self.ax_loss.set_xlabel("epochs")
        self.ax_loss.set_ylabel("training loss (nats)", color="tab:blue")
        self.ax_acc.set_ylabel("test accuracy", color="tab:orange")
        self.ax_acc.yaxis.set_label_position("right")
        self.ax_loss.set_title(self.title)
        self.fig.tight_layout()

    def _show(self) -> None:
        from IPython.display import display

        self._draw()
        if self._handle is None:
            self._handle = display(self.fig, display_id=True)
        else:
            self._handle.update(self.fig)
        self._last = time.perf_counter()

    def close(self, title: str | None = None) -> None:
        """Final redraw (with ``title`` if given), then close the figure so it is not shown twice."""
        import matplotlib.pyplot as plt

        if title:
            self.title = title
        self._show()
        plt.close(self.fig)


# --- GPU measurements (recorded by benchmarks/record_reference.py for machines without one) ------


def measure_softmax_grad(dev: str, batch_sizes: Sequence[int] = (1, 16, 256, 4096, 65536)) -> dict[str, Any]:
    """Examples per second of the batched softmax-regression gradient (500 features, 5 classes) in torch on ``dev``.

    Returns ``{"softmax_grad": [{"batch", "median_s", "examples_per_s"}, ...]}``, the shape of the
    ``minibatch`` section's rows in the recorded reference.
    """
    import torch

    W = torch.randn(500, 5, device=dev) * 0.01

    def grad(X: Any, Y: Any) -> Any:
        P = torch.softmax(X @ W, dim=1)
        return X.T @ (P - Y) / len(X)

    rows = []
    for b in batch_sizes:
        X = torch.randn(b, 500, device=dev)
        Y = torch.nn.functional.one_hot(torch.randint(0, 5, (b,), device=dev), 5).float()
        m = timing.benchmark(grad, X, Y, device=dev, min_time=0.2 if dev == "cuda" else 0.05)
        rows.append({"batch": b, "median_s": m.median, "examples_per_s": b / m.median})
    return {"softmax_grad": rows}


def softmax_regression_step(xp: Any, data: Any, label: Any, w: Any, eta: float = 0.1) -> Any:
    """One full-batch gradient step of the lecture's softmax regression in array module ``xp`` (numpy/cupy).

    The stable form (row maximum subtracted). Updates ``w`` in place; returns the loss.
    """
    scores = data @ w
    a = xp.exp(scores - scores.max(axis=1, keepdims=True))
    prob = a / a.sum(axis=1, keepdims=True)
    loss = -xp.sum(label * xp.log(prob)) / len(data)
    w -= eta * (data.T @ (prob - label)) / len(data)
    return loss


def torch_softmax_regression_step(torch: Any, data: Any, label: Any, w: Any, eta: float = 0.1) -> Any:
    """The same step with torch autograd (``w`` requires grad): loss.backward() computes dw."""
    loss = -(label * torch.log_softmax(data @ w, dim=1)).sum() / len(data)
    loss.backward()
    with torch.no_grad():
        w -= eta * w.grad
        w.grad = None
    return loss


def measure_softmax_regression(
    dev: str, n_samples: int = 10_000, n_features: int = 500, n_classes: int = 5
) -> dict[str, Any]:
    """Seconds per full-batch iteration of softmax regression on the lecture's clusters, float32, on ``dev``.

    ``dev`` "cuda": CuPy with the numpy code (when cupy is installed) and torch autograd on the
    GPU; "cpu": numpy and torch autograd. Returns ``{"softmax_regression": [{"impl", "iteration_s"}]}``.
    """
    import torch

    from coursekit.datasets.clusters import gaussian_clusters

    data, label = gaussian_clusters(n_samples, n_features, n_classes)
    w0 = np.random.default_rng(0).standard_normal((n_features, n_classes)).astype(np.float32)
    rows = []
    modules: list[tuple[str, Any]] = [("numpy", np)] if dev == "cpu" else []
    if dev == "cuda":
        try:
            import cupy

            modules.append(("cupy", cupy))
        except ImportError:
            pass
    for name, xp in modules:
        d, lab, w = xp.asarray(data), xp.asarray(label), xp.asarray(w0)
        m = timing.benchmark(softmax_regression_step, xp, d, lab, w, min_time=0.2, device=dev)
        rows.append({"impl": f"{name} ({dev})", "iteration_s": m.median})
    d, lab = torch.from_numpy(data).to(dev), torch.from_numpy(label).to(dev)
    w = torch.from_numpy(w0).to(dev).requires_grad_(True)
    m = timing.benchmark(torch_softmax_regression_step, torch, d, lab, w, min_time=0.2, device=dev)
    rows.append({"impl": f"torch autograd ({dev})", "iteration_s": m.median})
    return {"softmax_regression": rows}
