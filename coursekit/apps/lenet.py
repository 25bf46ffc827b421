"""LeNet as the Julia lecture (MIT 18.337) defines it, its per-layer cost, and a small training loop.

- :func:`lenet` — conv 5x5x20 tanh, max-pool 2; conv 5x5x50 tanh, max-pool 2; fc 500 tanh; fc 10.
- :func:`layer_table` — output shape, parameters and forward FLOPs (per image) of each layer.
- :func:`train_epoch`, :func:`evaluate`, :func:`predict` — the loop pieces, on any device.
- :func:`confusion_matrix`, :func:`plot_confusion`, :func:`plot_samples` — what it gets wrong.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit.apps.training import optimizer_step, progress_bar

# The lecture's optimiser: SGD, learning rate 0.05, momentum 0.9, weight decay 1e-5, batch 100.
LECTURE_SGD: dict[str, Any] = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-5}
LECTURE_BATCH = 100


def lenet() -> nn.Sequential:
    """The lecture's LeNet for 1 x 28 x 28 images and 10 classes (431,080 parameters)."""
    return nn.Sequential(
        nn.Conv2d(1, 20, kernel_size=5),  # 28 -> 24
        nn.Tanh(),
        nn.MaxPool2d(2),  # 24 -> 12
        nn.Conv2d(20, 50, kernel_size=5),  # 12 -> 8
        nn.Tanh(),
        nn.MaxPool2d(2),  # 8 -> 4
        nn.Flatten(),
        nn.Linear(50 * 4 * 4, 500),
        nn.Tanh(),
        nn.Linear(500, 10),
    )


def layer_flops(layer: nn.Module, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
    """Forward FLOPs of ``layer`` for ONE example (shapes without the batch dimension).

    A multiply-add counts 2. Convolution: 2 x C_in x k x k per output element (+1 for the bias);
    linear: 2 x in per output (+1 bias); tanh and max-pool: one operation per element they read
    (a convention: they are memory-bound and cheap next to the products).
    """
    out = int(np.prod(out_shape))
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        per = 2 * (layer.in_channels // layer.groups) * kh * kw + (layer.bias is not None)
        return out * per
    if isinstance(layer, nn.Linear):
        return out * (2 * layer.in_features + (layer.bias is not None))
    if isinstance(layer, (nn.Tanh, nn.ReLU, nn.Sigmoid)):
        return out
    if isinstance(layer, nn.MaxPool2d):
        return int(np.prod(in_shape))
    return 0


@dataclass(frozen=True)
class LayerRow:
    """One layer: name, output shape (no batch), parameters, forward FLOPs per example."""

    name: str
    out_shape: tuple[int, ...]
    params: int
    flops: int


def layer_table(model: nn.Sequential, in_shape: Sequence[int] = (1, 28, 28)) -> list[LayerRow]:
    """Each layer's output shape, parameter count and forward FLOPs per example, found by
    running one zero example through ``model`` on the CPU."""
    rows = []
    x = torch.zeros(1, *in_shape)
    with torch.no_grad():
        for i, layer in enumerate(model):
            y = layer(x)
            params = sum(p.numel() for p in layer.parameters())
            name = f"{i}: {type(layer).__name__}"
            rows.append(LayerRow(name, tuple(y.shape[1:]), params, layer_flops(layer, x.shape[1:], y.shape[1:])))
            x = y
    return rows


def training_flops_per_example(model: nn.Sequential, in_shape: Sequence[int] = (1, 28, 28)) -> int:
    """FLOPs of one training step per example: forward + backward ~ 3 x forward (the backward pass
    computes two products per forward product: gradients of inputs and of weights)."""
    return 3 * sum(r.flops for r in layer_table(model, in_shape))


def batches(n: int, batch_size: int, shuffle: bool, generator: torch.Generator | None = None):
    """Index tensors of consecutive minibatches over ``n`` examples (shuffled when asked)."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = LECTURE_BATCH,
    progress: bool = False,
    desc: str = "epoch",
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    generator: torch.Generator | None = None,
    on_batch: Callable[[int, float], None] | None = None,
) -> tuple[float, float]:
    """One pass over ``(X, y)`` (already on the model's device) in shuffled minibatches.

    Returns ``(mean training loss, seconds)``. ``autocast`` wraps the forward pass (e.g. bfloat16
    on a CPU, float16 on a GPU); ``on_batch(step, loss)`` is called after each step.
    """
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    total, count = 0.0, 0
    n_batches = (len(X) + batch_size - 1) // batch_size
    start = time.perf_counter()
    chunks = batches(len(X), batch_size, True, generator)
    for step, idx in enumerate(progress_bar(chunks, desc, progress, total=n_batches)):
        with autocast():
            loss = loss_fn(model(X[idx]), y[idx])
        value = optimizer_step(model, optimizer, loss)
        total += value * len(idx)
        count += len(idx)
        if on_batch is not None:
            on_batch(step, value)
    if X.is_cuda:
        torch.cuda.synchronize()
    return total / count, time.perf_counter() - start


def predict(model: nn.Module, X: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted class of each example (no gradients, evaluation mode), as a CPU tensor."""
    model.eval()
    out = []
    with torch.no_grad():
        for idx in batches(len(X), batch_size, False):
            out.append(model(X[idx]).argmax(dim=1).cpu())
    return torch.cat(out)


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of ``model`` on ``(X, y)`` (fraction in [0, 1])."""
    return float((predict(model, X) == y.cpu()).float().mean())


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts: entry ``[t, p]`` is how many examples of true class ``t`` were predicted ``p``."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def plot_confusion(matrix: np.ndarray, names: Sequence[str], title: str, ax=None):
    """The confusion matrix as a heat map with each row normalised to 1 (recall per class)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for t in range(len(names)):
        for p in range(len(names)):
            if rates[t, p] >= 0.01:
                colour = "white" if rates[t, p] > 0.5 else "black"
                ax.text(p, t, f"{rates[t, p]:.2f}", ha="center", va="center", fontsize=6, color=colour)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, label="fraction of the true class")
    return ax


def plot_samples(
    images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], n: int = 8, seed: int = 0
):
    """Two rows of test images: ``n`` predicted right (green titles) and ``n`` wrong (red,
    "predicted / true"). Returns the Figure."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    right = np.flatnonzero(y_true == y_pred)
    wrong = np.flatnonzero(y_true != y_pred)
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n, 3.2))
    for row, pool, colour in ((0, right, "green"), (1, wrong, "red")):
        chosen: Any = rng.choice(pool, size=min(n, len(pool)), replace=False) if len(pool) else []
        for ax in axes[row]:
            ax.axis("off")
        for ax, i in zip(axes[row], chosen, strict=False):  # fewer chosen than Axes when the pool is small
            ax.imshow(images[i], cmap="gray_r")
            label = names[y_pred[i]] if row == 0 else f"{names[y_pred[i]]}\n(is {names[y_true[i]]})"
            ax.set_title(label, fontsize=7, color=colour)
    return fig


def training_bytes_per_example(
    model: nn.Sequential, batch: int = LECTURE_BATCH, in_shape: Sequence[int] = (1, 28, 28)
) -> float:
    """A floor on the memory traffic (bytes) of one training step, per example, in float32: every
    activation written in the forward pass and read back in the backward pass, its gradient
    written once; the input read; and the weights read twice, their gradients written once and
    the SGD update reading weights, gradients and momentum and writing two of them, shared by the
    ``batch`` examples. Caches make the real traffic lower for small layers; an estimate."""
    rows = layer_table(model, in_shape)
    activations = sum(int(np.prod(r.out_shape)) for r in rows)
    params = sum(r.params for r in rows)
    return 4.0 * (int(np.prod(in_shape)) + 3 * activations + 8 * params / batch)
