"""Predict, then reveal: LeNet's training epoch on a GPU (notebook 05, section 2).

The notebook asks for an estimate of one epoch (60,000 images at the lecture's batch of 100) on a
GPU, with that GPU's datasheet ceilings on screen, then reveals the best figure the course has:
measured on this GPU, recorded on one, or a published measurement (MXNet's LeNet example on a
GeForce GTX 980). This module holds the arithmetic and the sentences:

- :func:`aten_ops_per_step` — operations that compute in one training step (each is at least one
  kernel launch on a GPU), counted on the CPU;
- :func:`epoch_bounds` — the roofline's time for an epoch (FLOPs over the FP32 peak, bytes over
  the memory bandwidth) and the launch-bound time (steps x operations x a per-call cost);
- :func:`epoch_from_rate`, :func:`epoch_from_rows` — the epoch a training rate implies, keeping
  the rate's tier and source in the label;
- :func:`bound_lines`, :func:`bound_verdict` — what the notebook prints (premise-checked).

A GPU's datasheet by its name: :func:`coursekit.perf.datasheets.datasheet_for`. Nothing here
measures a GPU.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from coursekit.apps.lenet import LECTURE_BATCH, LECTURE_SGD
from coursekit.perf.op_counter import OpCounter
from coursekit.perf.reference import GPUResult, ReferenceDevice

EPOCH_IMAGES = 60_000  # the lecture's epoch: Fashion-MNIST's (and MNIST's) training set


def aten_ops_per_step(
    make_model: Callable[[], nn.Module],
    batch: int = LECTURE_BATCH,
    in_shape: Sequence[int] = (1, 28, 28),
    n_classes: int = 10,
) -> Counter[str]:
    """The aten operations that compute (views left out) in one training step of ``make_model()``
    at ``batch``, on the CPU: forward, cross-entropy, backward and the lecture's SGD with momentum
    in its multi-tensor (``foreach``) form, the one PyTorch uses on a GPU. Counted on the third
    step (the first ones create the momentum buffers). On a GPU each operation launches at least
    one kernel, some several (a convolution's backward computes two or three gradients)."""
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), foreach=True, **LECTURE_SGD)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, *in_shape, generator=g)
    y = torch.randint(0, n_classes, (batch,), generator=g)
    loss_fn = nn.CrossEntropyLoss()
    counter = OpCounter()
    for step in range(3):
        if step == 2:
            counter.__enter__()
        try:
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        finally:
            if step == 2:
                counter.__exit__(None, None, None)
    return counter.computing_aten()


@dataclass(frozen=True)
class EpochBounds:
    """Lower bounds on an epoch's time (seconds) on ``device`` (a datasheet): ``compute_s`` = FLOPs
    / FP32 peak, ``memory_s`` = bytes / bandwidth, ``launch_s`` = steps x ``ops_per_step`` x
    ``per_call_s`` (None without a per-call cost)."""

    device: ReferenceDevice
    images: int
    batch: int
    flop_per_image: float
    bytes_per_image: float
    compute_s: float
    memory_s: float
    ops_per_step: int
    per_call_s: float | None
    launch_s: float | None

    @property
    def steps(self) -> int:
        """Training steps in the epoch (a last partial batch counts as one)."""
        return -(-self.images // self.batch)

    @property
    def roofline_s(self) -> float:
        """The roofline's time: the larger of the compute and memory times (seconds)."""
        return max(self.compute_s, self.memory_s)

    @property
    def roofline_limit(self) -> str:
        """Which ceiling sets :attr:`roofline_s`: ``"FP32 peak"`` or ``"memory bandwidth"``."""
        return "FP32 peak" if self.compute_s >= self.memory_s else "memory bandwidth"


def epoch_bounds(
    flop_per_image: float,
    bytes_per_image: float,
    device: ReferenceDevice,
    ops_per_step: int,
    per_call_s: float | None = None,
    images: int = EPOCH_IMAGES,
    batch: int = LECTURE_BATCH,
) -> EpochBounds:
    """The roofline's and the launches' times for ``images`` training images at ``batch`` on
    ``device``: FLOPs and bytes per image (a training step's), operations per step and the cost of
    one call (seconds; None: no launch bound)."""
    if not (flop_per_image > 0 and bytes_per_image > 0 and images > 0 and batch > 0 and ops_per_step > 0):
        raise ValueError("epoch_bounds: FLOPs, bytes, images, batch and operations must be positive")
    if per_call_s is not None and not per_call_s > 0:
        raise ValueError(f"epoch_bounds: the per-call cost must be positive, got {per_call_s!r}")
    steps = -(-images // batch)
    return EpochBounds(
        device=device,
        images=images,
        batch=batch,
        flop_per_image=flop_per_image,
        bytes_per_image=bytes_per_image,
        compute_s=flop_per_image * images / device.flop_per_s,
        memory_s=bytes_per_image * images / device.bytes_per_s,
        ops_per_step=ops_per_step,
        per_call_s=per_call_s,
        launch_s=None if per_call_s is None else steps * ops_per_step * per_call_s,
    )


def epoch_from_rate(rate: GPUResult, images: int = EPOCH_IMAGES) -> GPUResult:
    """The epoch (seconds) that a training rate (``rate.value`` in examples/s) implies: same tier,
    the rate kept in the label. A falsy ``rate`` is returned as it is."""
    if not rate:
        return rate
    per_s = float(rate.value)
    if not per_s > 0:
        raise ValueError(f"epoch_from_rate: the rate must be positive, got {per_s!r}")
    return GPUResult(images / per_s, rate.source, f"{rate.label}; {per_s:,.0f} images/s -> {images:,} images")


def epoch_from_rows(
    result: GPUResult, images: int = EPOCH_IMAGES, batch: int = LECTURE_BATCH, precision: str = "fp32"
) -> GPUResult:
    """The LeNet epoch implied by the measured or recorded throughput rows of
    ``coursekit.apps.throughput.measure_applications`` (``result.value["rows"]``), at ``batch``
    and ``precision``; ``source="none"`` when the rows hold no such figure."""
    rows = (result.value or {}).get("rows", []) if result else []
    hit = next((r for r in rows if r["model"] == "lenet" and r["batch"] == batch and r["precision"] == precision), None)
    if hit is None:
        return GPUResult(None, "none", f"no LeNet row at batch {batch}, {precision}, in {result.label}")
    return epoch_from_rate(GPUResult(float(hit["examples_per_s"]), result.source, result.label), images)


def ops_listing(ops: Counter[str]) -> str:
    """``aten.tanh.default`` x 3 ... as ``tanh x3, ...`` (the operation's name without namespace
    and overload)."""
    return ", ".join(f"{name.split('.')[1] if '.' in name else name} x{n}" for name, n in ops.items())


def _seconds(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def bound_lines(b: EpochBounds, per_call_label: str = "") -> list[str]:
    """The ceilings and the two bounds, as the prediction cell prints them."""
    d = b.device
    out = [
        f"the GPU: {d.name} ({d.source}): FP32 peak {d.flop_per_s / 1e12:.3g} TFLOP/s, "
        f"memory {d.bytes_per_s / 1e9:.3g} GB/s",
        f"LeNet, one training image: {b.flop_per_image / 1e6:.3g} MFLOP, >= {b.bytes_per_image / 1e3:.3g} KB; "
        f"epoch: {b.images:,} images = {b.steps} steps of {b.batch}",
        f"  compute-bound: {b.flop_per_image * b.images / 1e12:.3g} TFLOP / peak = {_seconds(b.compute_s)}",
        f"  memory-bound:  {b.bytes_per_image * b.images / 1e9:.3g} GB / bandwidth = {_seconds(b.memory_s)}",
        f"  the roofline's epoch (the larger, set by the {b.roofline_limit}): {_seconds(b.roofline_s)}",
    ]
    if b.launch_s is not None and b.per_call_s is not None:
        out.append(
            f"  launch-bound:  {b.steps} steps x {b.ops_per_step} operations x {b.per_call_s * 1e6:.3g} us "
            f"per call = {_seconds(b.launch_s)}" + (f" (per-call cost: {per_call_label})" if per_call_label else "")
        )
    return out


def bound_verdict(b: EpochBounds, revealed_s: float) -> str:
    """What the revealed epoch (seconds) says about the bounds: how many times the larger bound
    it took when it is above both; which bound it falls under otherwise (a bound built from a
    cost measured elsewhere is not a floor on another GPU)."""
    if not revealed_s > 0:
        raise ValueError(f"bound_verdict: the revealed epoch must be positive, got {revealed_s!r}")
    bounds = {"the roofline's": b.roofline_s}
    if b.launch_s is not None:
        bounds["the launch"] = b.launch_s
    name, largest = max(bounds.items(), key=lambda kv: kv[1])
    if revealed_s > largest:
        both = "both bounds" if len(bounds) == 2 else "the roofline's bound"
        return (
            f"The revealed epoch ({_seconds(revealed_s)}) is above {both}: {revealed_s / largest:.1f}x "
            f"{name} bound ({_seconds(largest)}), the larger"
        )
    under = [k for k, v in bounds.items() if v >= revealed_s]
    return (
        f"The revealed epoch ({_seconds(revealed_s)}) is under {' and '.join(under)} bound: that bound is "
        "not a floor for this GPU and software"
    )
