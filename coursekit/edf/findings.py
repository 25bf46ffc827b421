"""Notebook 03's verdicts: sentences and titles computed from the numbers measured beside them.

Every function here checks the premise of the finding it states: the claim appears only when the
numbers support it, and otherwise the sentence says what the numbers do show. Times are in
seconds, rates in FLOP/s or bytes/s, intensities in FLOP/byte. The tests
(``tests/test_findings_nb03.py``) feed each function numbers where its premise holds and numbers
where it does not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Tensor-core peaks of the H100 SXM, *dense* (the datasheet's headline figures assume 2:4
# sparsity and are twice these): NVIDIA H100 Tensor Core GPU datasheet. FP32 CUDA-core peak and
# bandwidth come from coursekit.perf.reference.PUBLISHED.
H100_TENSOR_DENSE_FLOP_PER_S = {"TF32": 494.7e12, "BF16": 989.4e12}
SAME = 1.1  # two times within 10 % of each other count as the same


def _ratio_words(a: float, b: float, other: str) -> str:
    """Time ``a`` against time ``b`` (of ``other``): ``"1.5x faster than <other>"`` when ``a`` < ``b``,
    ``"1.5x slower than <other>"`` when larger, ``"about as fast as <other>"`` within 10 %."""
    if max(a, b) < SAME * min(a, b):
        return f"about as fast as {other}"
    ratio = max(a, b) / min(a, b)
    times = f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"
    return f"{times} faster than {other}" if a < b else f"{times} slower than {other}"


def thread_verdict(default_s: float, single_s: float, default_threads: int | None) -> str:
    """The thread-settings sentence: one BLAS thread's time ``single_s`` against ``default_s``
    with ``default_threads`` threads (seconds), and which was faster here."""
    n = default_threads or 1
    if n <= 1:
        return "numpy's BLAS already runs on one thread here: nothing to compare"
    words = _ratio_words(single_s, default_s, str(n))
    times = f"{single_s * 1e6:.0f} us against {default_s * 1e6:.0f} us"
    return f"here one thread was {words} ({times}, best of three rounds)"


def intensity_limit(n_in: int, n_out: int, itemsize: int = 4) -> float:
    """FLOP/byte of ``(B, n_in) @ (n_in, n_out)`` as B grows without bound: ``2 n_in n_out / (itemsize (n_in + n_out))``
    (the weights' bytes no longer count; x is read and y written once per example)."""
    return 2.0 * n_in * n_out / (itemsize * (n_in + n_out))


def gpu_layer_prediction(limit: float, fp32_flop_per_s: float, bytes_per_s: float) -> list[str]:
    """Where a layer of at most ``limit`` FLOP/byte sits under the H100's roofs (a prediction from
    the datasheet, not a measurement): the FP32 CUDA-core ridge and the TF32 and BF16 tensor-core
    ridges, each with "memory-bound" or "compute-bound" as ``limit`` falls below or above it."""
    ridges = {"FP32 on CUDA cores": fp32_flop_per_s / bytes_per_s}
    ridges.update({f"{k} on tensor cores": v / bytes_per_s for k, v in H100_TENSOR_DENSE_FLOP_PER_S.items()})
    lines = []
    for name, ridge in ridges.items():
        side = "memory-bound (below the ridge)" if limit < ridge else "compute-bound (past the ridge)"
        lines.append(f"{name}: ridge {ridge:.0f} FLOP/byte -> at {limit:.0f} FLOP/byte the layer is {side}")
    return lines


def cache_note(
    points: Sequence[tuple[str, float]],
    roof_bytes_per_s: float,
    weights_nbytes: float,
    caches: Sequence[tuple[str, int]],
) -> str | None:
    """Why points sit above the DRAM roof, or None when none does.

    ``points``: (name, minimum traffic over time in bytes/s) per point, the first one the one
    named in the sentence; ``caches``: (name, bytes) per level, smallest first, as one core sees
    them. Names the first cache that holds the weights.
    """
    above = [(name, rate) for name, rate in points if rate > roof_bytes_per_s]
    if not above:
        return None
    name, rate = above[0]
    holder = next((level for level, size in caches if weights_nbytes <= size), None)
    where = (
        f"fit in one core's {holder} ({dict(caches)[holder] / 2**10:.0f} KiB)"
        if holder
        else "fit in none of the caches listed here, so these numbers do not say why"
    )
    others = f" (and {len(above) - 1} more point(s): {', '.join(n for n, _ in above[1:])})" if len(above) > 1 else ""
    return (
        f"{name} moves {rate / 1e9:.0f} GB/s, {rate / roof_bytes_per_s:.1f}x the DRAM roof "
        f"({roof_bytes_per_s / 1e9:.0f} GB/s){others}: the weights ({weights_nbytes / 1e3:.0f} kB) {where}"
        + (", and a repeated product reads them from there, not from DRAM" if holder else "")
    )


@dataclass(frozen=True)
class RoofPoint:
    """One timed kernel: its name, intensity (FLOP/byte) and rate (FLOP/s)."""

    name: str
    intensity: float
    flop_per_s: float


def roof_verdict(points: Sequence[RoofPoint], peak_flop_per_s: float, bytes_per_s: float, full: float = 0.8) -> str:
    """What the points reach under the roof ``min(peak, bandwidth x intensity)``: the best fraction
    of the compute roof past the ridge, or, with no point past it, that every point is memory-bound.
    "the full arithmetic rate" is claimed only from ``full`` (80 %) of the peak."""
    ridge = peak_flop_per_s / bytes_per_s
    past = [p for p in points if p.intensity >= ridge]
    best = max(points, key=lambda p: p.flop_per_s / min(peak_flop_per_s, bytes_per_s * p.intensity))
    best_share = best.flop_per_s / min(peak_flop_per_s, bytes_per_s * best.intensity)
    if not past:
        return (
            f"no point passes the ridge ({ridge:.1f} FLOP/byte): every B is memory-bound by this roof; "
            f"the closest to its roof is {best.name} at {best_share:.0%}"
        )
    top = max(past, key=lambda p: p.flop_per_s)
    share = top.flop_per_s / peak_flop_per_s
    if share > 1.05:
        return (
            f"past the ridge ({ridge:.1f} FLOP/byte), {top.name} runs at {share:.0%} of the measured arithmetic "
            "roof: above it, so the roof measured here understates this machine "
            "(as a roof measured at a busier moment does)"
        )
    if share >= full:
        return (
            f"past the ridge ({ridge:.1f} FLOP/byte), {top.name} reaches {share:.0%} of the arithmetic roof: full rate"
        )
    return (
        f"past the ridge ({ridge:.1f} FLOP/byte) the best point, {top.name}, reaches {share:.0%} of the arithmetic "
        "roof, not the full rate (the roof is the rate of a large square GEMM)"
    )


def vdot_title(names: Sequence[str], flop_per_s: Sequence[float]) -> str:
    """The roofline figure's title: the fastest B against B=1 (the first point), or that B=1 was fastest."""
    k = max(range(len(names)), key=lambda i: flop_per_s[i])
    if k == 0:
        return f"Batched VDot: {names[0]} reached the highest FLOP/s here"
    return f"Batched VDot: {names[k]} reaches {flop_per_s[k] / flop_per_s[0]:.1f}x the FLOP/s of {names[0]}"


def throughput_title(gain: float) -> str:
    """The throughput figure's title from ``gain`` = best examples/s at B >= 64 over B=1's."""
    if gain >= SAME:
        return f"EDF softmax-regression step: {gain:.0f}x more examples/s at the best large B than at B=1"
    return f"EDF softmax-regression step: large batches no faster per example than B=1 here ({gain:.2f}x)"


def overflow_sentence(scales: Sequence[float], max_scores: Sequence[float], limit: float) -> str:
    """Which feature scale first pushes the largest score past ``limit`` (log of the dtype's
    largest number), from the measured largest score per scale."""
    over = [s for s, m in zip(scales, max_scores, strict=True) if m > limit]
    under = [(s, m) for s, m in zip(scales, max_scores, strict=True) if m <= limit]
    if not over:
        return f"no scale tried pushes a score past {limit:.2f}: exp does not overflow here"
    first = min(over)
    safe = [(s, m) for s, m in under if s < first]
    before = f"; at scale {safe[-1][0]:g} the largest score is {safe[-1][1]:.2f}, just inside" if safe else ""
    return f"features {first:g} times larger are the first to push a score past {limit:.2f}{before}"


def gradcheck_sentence(right: float, wrong: float, threshold: float) -> str:
    """How far the right gradient's and the buggy gradient's relative errors sit from ``threshold``."""
    if not (right <= threshold < wrong):
        return f"the threshold {threshold:.0e} does not separate them here: right {right:.1e}, wrong {wrong:.1e}"
    return (
        f"right gradients: relative error {right:.1e}, {threshold / max(right, 1e-300):.0e}x below the "
        f"threshold {threshold:.0e}; the slide's bug: {wrong:.1e}, {wrong / threshold:.0e}x above it"
    )


def indentation_title(final_losses: Mapping[str, float], updates: Mapping[str, int]) -> str:
    """The softmax-regression figure's title: the final losses in order of the number of updates,
    with "more updates, lower loss" only when the order of the losses says so."""
    order = sorted(final_losses, key=lambda k: updates[k], reverse=True)
    losses = [final_losses[k] for k in order]
    parts = ", ".join(f"{k} ({updates[k]} updates) {final_losses[k]:.3g}" for k in order)
    if all(a < b for a, b in zip(losses[:-1], losses[1:], strict=False)):
        return f"Indentation decides: more updates, lower loss: {parts}"
    return f"Final losses: {parts}"


def confusion_sentence(pairs: Sequence[tuple[str, str]], group: set[str]) -> str:
    """The share of the mistakes ``pairs`` (true, predicted) that stay within ``group`` (classes a
    person confuses too), and whether that is most of them."""
    if not pairs:
        return "no mistakes to look at"
    inside = sum(t in group and p in group for t, p in pairs) / len(pairs)
    verdict = "most" if inside > 0.5 else "not most"
    return f"{inside:.0%} of the mistakes are between {', '.join(sorted(group))}: {verdict} of them"


@dataclass(frozen=True)
class Race:
    """One batch size's run to the target: seconds of training (None: not reached) and epochs."""

    batch: int
    seconds: float | None
    epochs: float


def tta_title(races: Sequence[Race], target: float) -> str:
    """The time-to-accuracy figure's title: the fastest B to ``target``, or that none reached it."""
    reached = [r for r in races if r.seconds is not None]
    if not reached:
        return f"No batch size reached {target:.0%} test accuracy within the budget"
    best = min(reached, key=lambda r: r.seconds or 0.0)
    return f"Fastest to {target:.0%} test accuracy here: B = {best.batch}"


def tta_sentence(races: Sequence[Race]) -> str:
    """Whether the fastest B lies strictly between the smallest and the largest, and why (epochs)."""
    reached = [r for r in races if r.seconds is not None]
    if not reached:
        return "no batch size reached the target: nothing to compare"
    best = min(reached, key=lambda r: r.seconds or 0.0)
    sizes = [r.batch for r in races]
    most_epochs = max(reached, key=lambda r: r.epochs)
    where = "in between" if min(sizes) < best.batch < max(sizes) else "at an end of the range"
    return (
        f"the fastest B here is {best.batch}, {where}; B = {most_epochs.batch} needed the most epochs "
        f"({most_epochs.epochs:.2g})"
    )


def ddp_sentence(one: Mapping[str, float], two: Mapping[str, float]) -> list[str]:
    """Where a DDP step's time goes, from the workers' results (seconds, medians; see
    :func:`coursekit.edf.data_parallel.train_worker`) of one process (``one``) and of rank 0 of
    two (``two``): ``step_s`` a whole step, ``sync_s`` forward and backward with the exchange,
    ``compute_s`` the same without it, ``allreduce_s`` one all_reduce alone. Four lines: the
    verdict, what halving the batch saved, the breakdown of two ranks' synced forward and backward,
    and DDP's cost in one process, where nothing needs exchanging."""
    rest = max(0.0, two["sync_s"] - two["compute_s"] - two["allreduce_s"])
    solo_extra = max(0.0, one["sync_s"] - one["compute_s"])
    return [
        f"two processes take {two['step_s'] * 1e3:.2f} ms per step, "
        f"{_ratio_words(two['step_s'], one['step_s'], 'one process')}'s {one['step_s'] * 1e3:.2f} ms",
        f"half the batch per rank: forward and backward alone take {two['compute_s'] * 1e3:.2f} ms against "
        f"{one['compute_s'] * 1e3:.2f} ms for the whole batch in one process "
        f"({_ratio_words(two['compute_s'], one['compute_s'], 'the whole batch')})",
        f"two ranks' forward and backward with the exchange, {two['sync_s'] * 1e3:.2f} ms: compute "
        f"{min(1.0, two['compute_s'] / two['sync_s']):.0%}, the all_reduce alone "
        f"{min(1.0, two['allreduce_s'] / two['sync_s']):.0%}, the rest {rest / two['sync_s']:.0%} "
        "(DDP's hooks and buckets, handing the exchange to gloo's thread, waiting for the other rank)",
        f"one process, with nothing to exchange: {one['sync_s'] * 1e3:.2f} ms under DDP against "
        f"{one['compute_s'] * 1e3:.2f} ms without the exchange step: {solo_extra * 1e3:.2f} ms more for DDP's "
        "hooks and the hand-off to gloo's thread, though nothing is exchanged",
    ]


def edf_torch_sentence(edf_over_torch: float, like_over_torch: float) -> str:
    """EDF's epoch against torch's as the lecture wrote EDF (``edf_over_torch``, a time ratio: it also
    computes the images' gradient) and like for like (``like_over_torch``: the images an
    ``Input(requires_grad=False)``, as torch's data), with the share of EDF's epoch that gradient takes."""
    share = 1 - like_over_torch / edf_over_torch
    return (
        f"EDF as the lecture wrote it is {_ratio_words(edf_over_torch, 1.0, 'torch')} ({edf_over_torch:.2f}x "
        f"the time); with its images needing no gradient, as torch's, it is "
        f"{_ratio_words(like_over_torch, 1.0, 'torch')} ({like_over_torch:.2f}x): the images' gradient takes "
        f"{share:.0%} of EDF's epoch"
    )


# ------------------------------------------------------------ GPU figures without a GPU (issue 26)

FIXED = 10  # a call that takes 10x the roofline's time or more is set by a fixed cost, not by its bytes


def fixed_cost_verdict(roofline_s: float, actual_s: float) -> str:
    """A tiny operation's time per call ``actual_s`` against the roofline's ``roofline_s`` for
    moving its bytes (seconds): a fixed cost per call, or the bytes, sets the time."""
    from coursekit.perf.timing import format_seconds

    share = roofline_s / actual_s
    if actual_s >= FIXED * roofline_s:
        return (
            f"moving the bytes accounts for {format_seconds(roofline_s)} of the {format_seconds(actual_s)} per call "
            f"({share:.1%}): a fixed cost per call (Python, the framework's dispatch, the kernel launch) sets "
            "the time, and only more work per call (a bigger batch) shares it"
        )
    return (
        f"moving the bytes accounts for {format_seconds(roofline_s)} of the {format_seconds(actual_s)} per call "
        f"({min(share, 1.0):.0%}): the bytes, not a fixed cost, set this call's time"
    )


def b1_step_estimate(kernels: int, views: int, per_op_s: float, cpu_b1_s: float) -> list[str]:
    """What a per-operation cost ``per_op_s`` (seconds, a published measurement of one tiny op)
    means for a torch training step at B = 1 that dispatches ``kernels`` computing operations and
    ``views`` views, against torch's measured step time ``cpu_b1_s`` on this CPU. Two lines: the
    estimate (time and examples/s), and how the CPU's measured step compares with it."""
    if kernels < 1 or per_op_s <= 0 or cpu_b1_s <= 0:
        raise ValueError(f"need at least one kernel and positive times, got {kernels!r}, {per_op_s!r}, {cpu_b1_s!r}")
    from coursekit.perf.timing import format_seconds

    gpu_s = kernels * per_op_s
    return [
        f"the torch step at B = 1 dispatches {kernels} operations that compute (and {views} views, which launch "
        f"nothing); at {format_seconds(per_op_s)} each, a GPU step takes about {kernels} x "
        f"{format_seconds(per_op_s)} = {format_seconds(gpu_s)}: about {float(f'{1 / gpu_s:.3g}'):,.0f} examples/s "
        "(an estimate from a published measurement, not a measurement of this step)",
        f"torch on this CPU at B = 1 (measured above): {format_seconds(cpu_b1_s)} per step, "
        f"{_ratio_words(cpu_b1_s, gpu_s, 'that GPU estimate')}",
    ]


def iteration_estimate(
    nbytes: float, bandwidths: Sequence[tuple[str, float]], kernels: int, per_op_s: float
) -> list[str]:
    """An iteration that reads ``nbytes`` and dispatches ``kernels`` computing operations: one line
    per (label, bytes/s) of ``bandwidths`` with the memory time, one with the per-op time
    (``kernels`` x ``per_op_s`` seconds), and which of the two dominates, against the last
    (the lowest, a measured) bandwidth given."""
    if nbytes <= 0 or kernels < 1 or per_op_s <= 0 or not bandwidths or min(b for _, b in bandwidths) <= 0:
        raise ValueError("need positive bytes, bandwidths and per-op time, and at least one kernel")
    from coursekit.perf.timing import format_seconds

    lines = [
        f"reading {nbytes / 1e6:.0f} MB at {bw / 1e12:.3g} TB/s ({what}): {format_seconds(nbytes / bw)}"
        for what, bw in bandwidths
    ]
    memory_s = nbytes / bandwidths[-1][1]
    ops_s = kernels * per_op_s
    lines.append(f"{kernels} operations that compute, at {format_seconds(per_op_s)} each: {format_seconds(ops_s)}")
    side = "the per-operation cost, not the bytes," if ops_s > memory_s else "the bytes, not the per-operation cost,"
    lines.append(
        f"{side} dominates: about {format_seconds(memory_s + ops_s)} per iteration (an estimate built from "
        "published measurements, not a measurement of this iteration)"
    )
    return lines


def allreduce_comparison(here_busbw: float, here_nbytes: float, ring_busbw: float, ring_nbytes: float) -> str:
    """This machine's all_reduce bus bandwidth ``here_busbw`` (bytes/s, on ``here_nbytes``) against a
    published NCCL ring figure ``ring_busbw`` (on ``ring_nbytes``)."""
    if min(here_busbw, here_nbytes, ring_busbw, ring_nbytes) <= 0:
        raise ValueError("bandwidths and message sizes must be positive")
    ratio = ring_busbw / here_busbw
    size = ring_nbytes / here_nbytes
    if ratio > 1:
        side = f"{ratio:,.0f}x below" if ratio >= 10 else f"{ratio:.1f}x below"
    else:
        side = "at or above"
    return (
        f"gloo here: {here_busbw / 1e9:.3g} GB/s bus bandwidth on a {here_nbytes / 1e3:.0f} kB gradient, {side} "
        f"NCCL's ring on 8 H200s, whose message was {size:,.0f}x larger (a small message pays a fixed "
        "latency per exchange, so this is no like-for-like race)"
    )
