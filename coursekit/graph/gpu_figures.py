"""Notebook 04's GPU figures without a GPU: when a ``torch.compile``'d call beats eager on a tiny
tensor, from published measurements (or measured, on a GPU), and what section 3's traffic count
predicts for large arrays at a published bandwidth.

The question: a chain of ``k`` element-wise ops on a tiny tensor, eager (``k`` calls) against the
compiled function (one call). Each side's time is a line in ``k``, ``fixed + per_op * k``
(microseconds or seconds, the same unit on both sides); :func:`break_even` is where they cross and
:func:`wins_from` the first whole ``k`` at which compiled is faster:

    >>> round(break_even(0.0, 7.1, 44.3, 0.0), 2)   # eager: 7.1 us per op; compiled: 44.3 us per call
    6.24
    >>> wins_from(6.24)
    7

The roofline alone (bytes / bandwidth, with the same launch latency on both sides) gives a
break-even of exactly one op (:func:`roofline_break_even`): compiled wins from ``k = 2``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from coursekit.perf import published
from coursekit.perf.reference import GPUResult

EAGER_OP = "flaggems4558-a100-torch-add-1x4096"  # PyTorch eager torch.add, tiny bf16 tensor, A100: us per call
COMPILED_CALL = "tritonbench1017-gb200-inductor-e2e"  # a torch.compile'd no-op call end to end, GB200
RAW_LAUNCH = "tritonbench1017-gb200-culaunchkernel"  # the bare driver launch, same table
INDUCTOR_KERNEL = "tritonbench1017-gb200-inductor-per-kernel"  # Inductor's per-kernel launch path, same table
TRIAD = "azure-h100-babelstream-triad"  # a bandwidth a fused memory-bound kernel can reach on an H100


def break_even(eager_fixed: float, eager_per_op: float, compiled_fixed: float, compiled_per_op: float) -> float:
    """The ``k`` (ops) where ``eager_fixed + eager_per_op * k`` equals ``compiled_fixed +
    compiled_per_op * k`` (times in one unit). 0.0 when compiled is faster from the start and per
    op; ``inf`` when it never catches up (eager's slope is not steeper and compiled starts behind);
    ``nan`` when compiled starts ahead but falls behind (no "from k on" answer)."""
    gap, gain = compiled_fixed - eager_fixed, eager_per_op - compiled_per_op
    if gain > 0:
        return max(gap / gain, 0.0)
    if gap >= 0:
        return math.inf
    return 0.0 if gain == 0 else math.nan


def wins_from(k_star: float) -> int | None:
    """The smallest whole number of ops ``k >= 1`` beyond the break-even ``k_star`` (at ``k_star``
    itself the two tie): ``6.24 -> 7``, ``1.0 -> 2``, ``0.3 -> 1``; None when ``k_star`` is not finite."""
    if not math.isfinite(k_star):
        return None
    return max(1, math.floor(k_star) + 1)


def roofline_break_even(nbytes: float, bandwidth: float, launch_s: float) -> float:
    """The break-even of the roofline model (ops): each eager op launches (``launch_s``) and reads
    and writes the ``nbytes`` tensor at ``bandwidth`` (bytes/s); the compiled chain launches once
    and reads and writes it once. The arithmetic is the same on both sides and cancels. Exactly 1
    for any launch latency, bandwidth and size: compiled wins from two ops."""
    if nbytes < 0 or bandwidth <= 0 or launch_s < 0:
        raise ValueError(f"need nbytes >= 0, bandwidth > 0, launch_s >= 0; got {nbytes}, {bandwidth}, {launch_s}")
    one_pass = launch_s + 2 * nbytes / bandwidth  # seconds: one launch, one read and one write
    if one_pass == 0:
        raise ValueError("with no launch and no bytes both sides take no time: no break-even")
    return break_even(0.0, one_pass, one_pass, 0.0)


def published_break_even() -> GPUResult:
    """The published tier of the break-even (value: :func:`wins_from`, in ops), *computed* from two
    published measurements on two different GPUs: PyTorch eager's time per tiny ``torch.add``
    (A100) and a ``torch.compile``'d call end to end (GB200). Both are mostly host-side dispatch
    (the kernels themselves are tiny or empty), which is why dividing one by the other is a fair
    estimate and not a measurement of either GPU; the label says so."""
    eager, compiled = published.get(EAGER_OP), published.get(COMPILED_CALL)
    if eager.unit != compiled.unit:
        raise ValueError(f"{EAGER_OP} is in {eager.unit}, {COMPILED_CALL} in {compiled.unit}")
    k_star = break_even(0.0, eager.value, compiled.value, 0.0)
    label = (
        f"{published.TIER}, computed from two: {compiled.value:g} {compiled.unit} per torch.compile'd call "
        f"({COMPILED_CALL}: {compiled.device}, {compiled.source.cite()}) / {eager.value:g} {eager.unit} "
        f"per eager op ({EAGER_OP}: {eager.device}, {eager.source.cite()}) = break-even {k_star:.2g} ops; "
        "two different GPUs, both costs mostly host-side dispatch"
    )
    won = wins_from(k_star)
    return GPUResult(float(won), published.TIER, label) if won else GPUResult(None, "none", label)


def break_even_result(result: GPUResult) -> GPUResult:
    """A tier's break-even as a number of ops (the value :func:`coursekit.perf.reveal.reveal` takes):
    a measured (or recorded) result of
    :func:`coursekit.graph.torch_graphs.measure_compile_break_even` becomes its ``wins_from`` with
    the fitted times in the label; any other result is returned as it is."""
    m = result.value
    if not isinstance(m, Mapping):
        return result
    if m.get("error") or m.get("wins_from") is None:
        why = m.get("error") or "the compiled call never caught up with eager"
        return GPUResult(None, "none", f"{result.label}: {why}")
    detail = (
        f"eager {m['eager_per_op_us']:.3g} us per op, compiled call {m['compiled_fixed_us']:.3g} us "
        f"+ {m['compiled_per_op_us']:.2g} us per op, break-even {m['break_even']:.2g} ops"
    )
    return GPUResult(float(m["wins_from"]), result.source, f"{result.label}: {detail}")


def launch_scale_lines() -> list[str]:
    """The published per-call costs that put the break-even in scale, one line each
    (:func:`coursekit.perf.published.describe`): the raw driver launch, Inductor's per-kernel path,
    a compiled call end to end, and an eager op."""
    return [published.describe(published.get(i)) for i in (RAW_LAUNCH, INDUCTOR_KERNEL, COMPILED_CALL, EAGER_OP)]


def traffic_prediction(traffic: Mapping[str, Mapping[str, int]], n: int, bandwidth: float) -> dict[str, Any]:
    """Lower bounds on a GPU's time for each chain of section 3, eager and fused, if every byte of
    its traffic count (``traffic[chain]["before"]`` and ``["after"]``, bytes per element) moved at
    ``bandwidth`` (bytes/s) over ``n`` elements: ``{chain: {"eager_ms", "fused_ms", "ratio"}}``.
    A prediction, never a measurement: launches, transcendental throughput and caches are left out."""
    if bandwidth <= 0 or n <= 0:
        raise ValueError(f"need bandwidth > 0 and n > 0, got {bandwidth}, {n}")
    out = {}
    for chain, t in traffic.items():
        before, after = t["before"], t["after"]
        out[chain] = {
            "eager_ms": before * n / bandwidth * 1e3,
            "fused_ms": after * n / bandwidth * 1e3,
            "ratio": before / after if after else math.inf,
        }
    return out
