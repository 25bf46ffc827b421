"""What the training loops of coursekit.apps share: a progress bar, and one optimiser step."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


def progress_bar(iterable: Iterable, desc: str, enabled: bool, total: int | None = None) -> Iterable:
    """``iterable`` wrapped in a tqdm bar on stdout when ``enabled`` (never stderr: nbval's
    reference outputs must not hold stderr); ``iterable`` itself otherwise."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, file=sys.stdout, leave=False, mininterval=0.5)


def optimizer_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, loss: Any, max_norm: float | None = None
) -> float:
    """Clear the gradients, backpropagate ``loss``, clip the gradients' total norm to ``max_norm``
    when given, and update the parameters. Returns the loss as a float."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.item()
