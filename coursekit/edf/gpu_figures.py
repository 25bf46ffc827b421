"""GPU figures of notebook 03 that hold without a GPU: the time of one tiny torch operation (measured
here on the CPU, or on a GPU when there is one), how many operations a training step dispatches,
what a roofline predicts for a tiny operation, and the all-reduce bus bandwidth of a timed exchange.

Nothing here invents a GPU number: a GPU figure is measured (:func:`tiny_op_seconds` on ``"cuda"``)
or read from ``data/published/`` (:func:`published_figure`), and a prediction is computed from a
datasheet peak of :data:`coursekit.perf.reference.PUBLISHED`. Times are in seconds, sizes in
bytes, bandwidths in bytes/s.

    >>> tiny_add_bytes((1, 4096), itemsize=2)   # read a and b, write a + b, in bfloat16
    24576
    >>> busbw(1e9, 0.01, ranks=8)                # nccl-tests: algbw * 2 (n - 1) / n
    175000000000.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from coursekit.perf import datasheets, published
from coursekit.perf.reference import PUBLISHED, GPUResult, ReferenceDevice

TINY_OP_ID = "flaggems4558-a100-torch-add-1x4096"  # PyTorch eager torch.add, (1, 4096) bf16, A100
TINY_SHAPE = (1, 4096)
BF16_BYTES = 2
# nccl-tests all_reduce_perf bus bandwidths on 8 GPUs in one node (data/published/)
ALLREDUCE_IDS = (
    "mle-nccl-allreduce-8xh200-ring-16gib",
    "mle-nccl-allreduce-8xh200-nvls-16gib",
    "azure-h100-nccl-allreduce-8g",
)
RING_NBYTES = 16 * 2**30  # the message of mle-nccl-allreduce-8xh200-ring-16gib: "16GiB payload"


def tiny_add_bytes(shape: Sequence[int] = TINY_SHAPE, itemsize: int = BF16_BYTES) -> int:
    """Bytes an elementwise ``a + b`` of ``shape`` must move at least: read two operands, write one."""
    return 3 * math.prod(shape) * itemsize


def roofline_seconds(nbytes: float, bytes_per_s: float) -> float:
    """The roofline's time for moving ``nbytes`` at ``bytes_per_s``: it has no per-call term."""
    if nbytes <= 0 or bytes_per_s <= 0:
        raise ValueError(f"bytes and bandwidth must be positive, got {nbytes!r} and {bytes_per_s!r}")
    return nbytes / bytes_per_s


def tiny_op_seconds(dev: str = "cpu", shape: Sequence[int] = TINY_SHAPE, min_time: float = 0.05) -> float:
    """Median seconds per call of PyTorch eager ``torch.add(a, b)`` on bfloat16 tensors of ``shape``
    on ``dev`` (``"cuda"``: every sample synchronised, through :func:`coursekit.perf.timing.benchmark`)."""
    import torch

    from coursekit.perf import timing

    a = torch.randn(*shape, device=dev).to(torch.bfloat16)
    b = torch.randn(*shape, device=dev).to(torch.bfloat16)
    return float(timing.benchmark(torch.add, a, b, device=dev, min_time=min_time).median)


@dataclass(frozen=True)
class OpCount:
    """The aten operations one call dispatched: ``by_name`` counts each, ``views`` how many only
    make a view (``t``, ``detach``, ``expand``: no kernel, no data moved)."""

    by_name: dict[str, int]
    views: int

    @property
    def total(self) -> int:
        """Every aten operation dispatched."""
        return sum(self.by_name.values())

    @property
    def computing(self) -> int:
        """Operations that compute or allocate (not views): each is at least one kernel on a GPU."""
        return self.total - self.views


def count_ops(fn: Callable[[], Any]) -> OpCount:
    """Run ``fn()`` once under a ``TorchDispatchMode`` that counts the aten operations it dispatches,
    forward and backward (on the CPU, autograd's backward runs on the calling thread)."""
    from coursekit.perf.op_counter import OpCounter

    with OpCounter() as counter:
        fn()
    return OpCount(dict(counter.calls), counter.views)


def published_figure(entry_id: str) -> GPUResult:
    """The published measurement ``entry_id`` as a :class:`GPUResult`: value in SI units, its tier
    (``"published measurement"``) and :func:`coursekit.perf.published.label` as label."""
    return published.as_result(published.get(entry_id))


def datasheet(device: str) -> ReferenceDevice:
    """The datasheet of the GPU named in ``device`` (:func:`coursekit.perf.datasheets.datasheet_for`);
    the H100 SXM when no datasheet matches (the course's reference GPU)."""
    return datasheets.datasheet_for(device) or PUBLISHED["NVIDIA H100 SXM"]


def busbw(nbytes: float, seconds: float, ranks: int) -> float:
    """All-reduce bus bandwidth as nccl-tests defines it: ``algbw = nbytes / seconds`` times
    ``2 (n - 1) / n``, what each rank sends (and receives) in a ring, so that figures for any
    number of ranks compare with the link's bandwidth. For 2 ranks busbw equals algbw."""
    if nbytes <= 0 or seconds <= 0 or ranks < 2:
        raise ValueError(f"need positive bytes and time and at least 2 ranks, got {nbytes!r}, {seconds!r}, {ranks!r}")
    return nbytes / seconds * 2 * (ranks - 1) / ranks
