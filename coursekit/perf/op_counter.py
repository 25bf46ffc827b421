"""Counting the operations a piece of PyTorch code dispatches (forward and, on the CPU, backward).

On a GPU each operation that computes launches at least one kernel, so the count bounds a step's
launches from below. Views (``t``, ``detach``, ``expand``) dispatch too, but launch nothing.
Importing this module imports torch.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode


class OpCounter(TorchDispatchMode):
    """While active, counts every dispatched operation by name (``calls``), and notes which names
    are views (``view_names``) and which are in the ``aten`` namespace (``aten_names``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.view_names: set[str] = set()
        self.aten_names: set[str] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = str(func)
        self.calls[name] += 1
        if getattr(func, "is_view", False):
            self.view_names.add(name)
        if getattr(func, "namespace", "") == "aten":
            self.aten_names.add(name)
        return func(*args, **(kwargs or {}))

    @property
    def views(self) -> int:
        """How many of the calls only made a view."""
        return sum(self.calls[name] for name in self.view_names)

    def computing_aten(self) -> Counter[str]:
        """The aten operations that compute (views left out), by name."""
        return Counter({n: k for n, k in self.calls.items() if n in self.aten_names and n not in self.view_names})
