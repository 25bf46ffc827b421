"""Titles and sentences of notebook 01 computed from its measurements, each checking its premise.

A figure title or a printed verdict states a finding only when the numbers given show it, and
otherwise says what they do show: "the GPU wins from n = 64" appears only when the GPU is faster at
64 and at every larger size measured. Every function takes plain numbers (seconds, bytes/s, bytes,
ratios), so tests/test_findings_nb01.py checks each premise with made-up data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from coursekit.perf.timing import format_seconds

# Two rates closer than this factor are "about the same" here: timings on a shared machine vary by
# a few tens of per cent from run to run.
SAME_WITHIN = 1.25


def times(ratio: float) -> str:
    """``22.04`` -> ``'22x'``, ``1.57`` -> ``'1.6x'``, ``0.5`` -> ``'0.5x'``: a ratio as the course prints it."""
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def orders_of_magnitude(ratio: float) -> str:
    """A ratio with its size in decades: ``22`` -> ``'22x (1.3 orders of magnitude)'``."""
    return f"{times(ratio)} ({math.log10(ratio):.1f} orders of magnitude)" if ratio > 0 else f"{ratio}x"


def devices_title(gpu: str, flop_ratio: float, bandwidth_ratio: float) -> str:
    """Title of the devices plot: the published GPU against this machine's measured ceilings."""
    return (
        f"{gpu} (datasheet): {times(flop_ratio)} the FLOP/s and {times(bandwidth_ratio)} the bandwidth "
        "of this CPU (measured)"
    )


def mimd_title(speedups: Mapping[int, float], cores: int) -> str:
    """Title of the MIMD plot from ``speedups`` (worker count -> speed-up over one worker).

    "no more beyond N cores" only when some worker counts exceed ``cores`` and none of them gains
    more than :data:`SAME_WITHIN` over the speed-up at ``cores`` workers."""
    at = max((w for w in speedups if w <= cores), default=min(speedups))
    head = f"MIMD: {speedups[at]:.1f}x with {at} worker{'s' if at > 1 else ''} on {cores} CPU{'s' if cores > 1 else ''}"
    beyond = {w: s for w, s in speedups.items() if w > cores}
    if not beyond:
        return head
    if max(beyond.values()) <= speedups[at] * SAME_WITHIN:
        return f"{head}, no more with more workers"
    best = max(beyond, key=lambda w: beyond[w])
    return f"{head}, {beyond[best]:.1f}x with {best}: more workers than CPUs still helped here"


def speedup_title(what: str, fast: str, slow: str, speedup: float) -> str:
    """``'max(X, 0): numpy 86x faster than the loop'``, or "slower" / "about as fast" when the
    speed-up (time of ``slow`` / time of ``fast``) does not show ``fast`` faster."""
    if speedup >= SAME_WITHIN:
        return f"{what}: {fast} {times(speedup)} faster than {slow}"
    if speedup <= 1 / SAME_WITHIN:
        return f"{what}: {fast} {times(1 / speedup)} slower than {slow}"
    return f"{what}: {fast} about as fast as {slow}"


def per_cycle(elements_per_cycle: float) -> str:
    """Elements handled per clock cycle, in words that match the number."""
    if elements_per_cycle >= 2:
        return f"{elements_per_cycle:.1f} elements per cycle, several at once"
    if elements_per_cycle >= 1 / SAME_WITHIN:
        return f"{elements_per_cycle:.2f} elements per cycle, about one"
    cycles = 1 / elements_per_cycle
    return f"one element every {cycles:.1f} cycles" if cycles < 10 else f"one element every {cycles:,.0f} cycles"


def staircase_title(in_l1: float, in_dram: float) -> str:
    """Title of the working-set sweep from the L1 and DRAM plateaus (bytes/s)."""
    if in_l1 > in_dram * SAME_WITHIN:
        return (
            f"One core reads {in_l1 / 1e9:.0f} GB/s from L1 but {in_dram / 1e9:.0f} GB/s from DRAM "
            f"({in_l1 / in_dram:.0f}x less)"
        )
    return f"One core reads about as fast from L1 ({in_l1 / 1e9:.0f} GB/s) as from DRAM ({in_dram / 1e9:.0f} GB/s) here"


def cache_level(nbytes: float, caches: Mapping[str, int]) -> str | None:
    """The smallest cache (name, as ``{"L1d": 32768, "L2": ...}``) that holds ``nbytes``, None if none."""
    fits = [(size, name) for name, size in caches.items() if nbytes <= size]
    return min(fits)[1] if fits else None


def in_cache_rate(
    label: str, nbytes_moved: float, seconds: float, data_nbytes: float, caches: Mapping[str, int], in_dram: float
) -> str:
    """What a rate measured on data of ``data_nbytes`` says: ``nbytes_moved / seconds`` against one
    core's DRAM read rate ``in_dram`` (bytes/s). Data that fit in a cache *can* move faster than
    DRAM; a rate at or below the DRAM rate there means something else than bandwidth set the pace."""
    rate = nbytes_moved / seconds
    level = cache_level(data_nbytes, caches)
    where = f"{data_nbytes / 2**20:.1f} MiB, " + (f"fits in {level}" if level else "larger than every cache")
    head = f"{label}: {rate / 1e9:.1f} GB/s on {where}"
    if level is None:
        return f"{head}; one core's DRAM plateau is {in_dram / 1e9:.0f} GB/s"
    if rate > in_dram * SAME_WITHIN:
        return f"{head}: above one core's DRAM plateau ({in_dram / 1e9:.0f} GB/s), as data in a cache can be"
    return (
        f"{head}: not above one core's DRAM plateau ({in_dram / 1e9:.0f} GB/s) although the data fit in "
        f"{level}, so something other than memory bandwidth set the pace"
    )


def pace_sentence(label: str, rate: float, copy_rate: float) -> str:
    """An operation's rate against a plain copy of the same bytes (both bytes/s, same arrays): a
    copy much faster means the work per element, not moving the bytes, sets the operation's pace."""
    head = f"a plain copy of the same bytes: {copy_rate / 1e9:.1f} GB/s"
    if copy_rate > rate * SAME_WITHIN:
        return (
            f"{head}, {times(copy_rate / rate)} {label}'s rate: at this size the work per element, "
            f"not moving the bytes, sets {label}'s pace"
        )
    if rate > copy_rate * SAME_WITHIN:
        return f"{head}, slower than {label} ({rate / 1e9:.1f} GB/s): this run's timings are too noisy to say more"
    return f"{head}, about {label}'s rate: moving the bytes sets its pace"


def beyond_caches(total_nbytes: float, llc_nbytes: int | None) -> str:
    """How the data of a measurement compare with the last-level cache (bytes)."""
    if not llc_nbytes:
        return f"{total_nbytes / 2**20:.0f} MiB of arrays (last-level cache size unknown here)"
    ratio = total_nbytes / llc_nbytes
    relation = "larger than" if ratio > 1 else "within"
    return (
        f"{total_nbytes / 2**20:.0f} MiB of arrays, {ratio:.1f}x the {llc_nbytes / 2**20:.0f} MiB last-level cache "
        f"({relation} it)"
    )


def against_roof(label: str, rate: float, roof: float, total_nbytes: float, llc_nbytes: int | None) -> str:
    """A measured rate (bytes/s) against the triad roof (bytes/s): above the roof is possible only
    with help from a cache, which the sentence says when the data are not far larger than the cache."""
    head = f"{label}: {rate / 1e9:.1f} GB/s = {rate / roof:.0%} of the triad roof ({roof / 1e9:.1f} GB/s)"
    if rate <= roof * SAME_WITHIN:
        return head
    if llc_nbytes and total_nbytes < 4 * llc_nbytes:
        return f"{head}: above it, so part of the data came from the last-level cache"
    return f"{head}: above it although the data are 4x the last-level cache or more: the roof was measured low"


def ridge_title(kernels: Sequence[tuple[str, float]], ridge: float) -> str:
    """Title of the roofline from ``(name, intensity)`` pairs and the ridge (FLOP/byte): "only
    matmuls pass the ridge" only when exactly the matmuls (names starting ``"matmul"``) do."""
    right = [name for name, intensity in kernels if intensity > ridge]
    is_mm = [name.startswith("matmul") for name, _ in kernels]
    mm_right = [name for name in right if name.startswith("matmul")]
    head = f"this CPU's ridge ({ridge:.1f} FLOP/B)"
    if not right:
        return f"None of these kernels passes {head}: all are memory-bound here"
    if len(mm_right) == len(right) == sum(is_mm):
        return f"Only matmuls pass {head}: the rest are memory-bound"
    if len(mm_right) == len(right):
        return f"Only the larger matmuls pass {head} ({', '.join(right)}): the rest are memory-bound"
    return f"Right of {head}: {', '.join(right)}"


def runs(sizes: Sequence[int], faster: Sequence[bool]) -> list[tuple[bool, list[int]]]:
    """Consecutive sizes (sorted) grouped by whether the GPU was faster: ``[(False, [16, 32]), (True, [64, ...])]``."""
    out: list[tuple[bool, list[int]]] = []
    for size, wins in sorted(zip(sizes, faster, strict=True)):
        if out and out[-1][0] == wins:
            out[-1][1].append(size)
        else:
            out.append((wins, [size]))
    return out


def _span(group: list[int]) -> str:
    return f"n = {group[0]:,}" if len(group) == 1 else f"n = {group[0]:,}-{group[-1]:,}"


def crossover_title(op: str, sizes: Sequence[int], t_cpu: Sequence[float], t_gpu: Sequence[float], gpu: str) -> str:
    """Title of a crossover plot (seconds per call at each size; ``gpu`` names the GPU side, e.g.
    ``"the H100 model"``, ``"the GPU"``): a "wins from n = X" claim only when the GPU side is faster at X
    and at every larger size measured, and slower below; otherwise what the data show, run by run."""
    groups = runs(sizes, [g < c for c, g in zip(t_cpu, t_gpu, strict=True)])
    if len(groups) == 1:
        return f"{op}: {gpu} is {'faster' if groups[0][0] else 'slower'} at every size here"
    if len(groups) == 2 and groups[1][0]:
        return f"{op}: {gpu} wins from n = {groups[1][1][0]:,} on (slower below)"
    return f"{op}: {gpu} " + ", ".join(f"{'faster' if wins else 'slower'} at {_span(g)}" for wins, g in groups)


def pitfall_title(ratio: float) -> str:
    """Title of the launch-timing plot from synchronised / launch-only time."""
    if ratio >= SAME_WITHIN:
        return f"Without synchronising, the timer misses the work: {times(ratio)} too short"
    return f"Launch-only and synchronised times within {SAME_WITHIN}x here: the call returned after the work"


def lowest_loss_title(final: Mapping[str, float], budget_s: float, rel_tol: float = 0.01) -> str:
    """Title of the streaming-SGD plot from the final losses by method: the lowest, or "about equal"
    when the runner-up is within ``rel_tol`` (relative) of it."""
    ranked = sorted(final, key=lambda label: final[label])
    best = ranked[0].split(" (")[0]
    if len(ranked) > 1 and final[ranked[1]] - final[ranked[0]] <= rel_tol * abs(final[ranked[0]]):
        return f"Same data, same {budget_s} s: {best} and {ranked[1].split(' (')[0]} end within {rel_tol:.0%}"
    return f"Same data, same {budget_s} s: the lowest loss with {best}"


def throughput_sentence(examples: Mapping[str, float], budget_s: float) -> str:
    """Which method saw the most and the fewest examples in the budget (examples per second)."""
    ranked = sorted(examples, key=lambda label: examples[label])
    rates = ", ".join(f"{label}: {examples[label] / budget_s:,.0f}" for label in ranked)
    return f"examples per second of training: {rates} (fewest: {ranked[0]}; most: {ranked[-1]})"


def mapreduce_sentence(seconds_by_workers: Mapping[int, float]) -> str:
    """What the map-reduce timings (worker count -> seconds, process start-up included) show."""
    counts = sorted(seconds_by_workers)
    if len(counts) < 2:
        return f"map-reduce with {counts[0]} worker: one CPU here, nothing to split across"
    one, most = seconds_by_workers[counts[0]], seconds_by_workers[counts[-1]]
    if most > one * SAME_WITHIN:
        return (
            f"with {counts[-1]} workers the gradient took {times(most / one)} as long as with {counts[0]}: "
            "starting processes and shipping results cost more than splitting the work saved"
        )
    if most < one / SAME_WITHIN:
        return f"with {counts[-1]} workers the gradient took {times(one / most)} less time than with {counts[0]}"
    return (
        f"{counts[-1]} workers and {counts[0]} took about the same time: the split saved about what the start-up cost"
    )


def copies_floor_sentence(op: str, n: int, gpu_floor_s: float, cpu_s: float, gpu: str) -> str:
    """What the copies alone cost on ``gpu`` (``gpu_floor_s``: the bytes over the host link at its
    copy rates, seconds) against the CPU's whole ``op`` at size ``n`` (``cpu_s``, measured here):
    "the GPU cannot win" only when the copies alone already take longer than the CPU's operation."""
    head = (
        f"{op} at n = {n:,} with copies: at least {format_seconds(gpu_floor_s)} on {gpu} for the copies alone, "
        f"vs {format_seconds(cpu_s)} for the whole {op} on this CPU (measured)"
    )
    if gpu_floor_s > cpu_s:
        return f"{head}: the copies alone take {times(gpu_floor_s / cpu_s)} the CPU's time, so the GPU cannot win"
    return f"{head}: the copies leave the GPU {times(cpu_s / gpu_floor_s)} of room, if the rest is fast"


def pitfall_prediction(enqueue_s: float, synced_s: float, work_floor_s: float, work: str) -> str:
    """The pitfall predicted from figures measured elsewhere: an unsynchronised timer sees about the
    launch's enqueue time (``enqueue_s``; ``synced_s`` is a launch of no work waited for), while
    ``work`` must take at least ``work_floor_s`` (seconds, e.g. from a datasheet peak). A timer "too
    short by" the ratio only when the work's floor exceeds the enqueue time by :data:`SAME_WITHIN`."""
    head = (
        f"an unsynchronised timer sees the launch return in about {format_seconds(enqueue_s)} "
        f"({format_seconds(synced_s)} when a launch of no work is waited for); {work} must take at least "
        f"{format_seconds(work_floor_s)}"
    )
    if work_floor_s > enqueue_s * SAME_WITHIN:
        return f"{head}: the unsynchronised timer would be {times(work_floor_s / enqueue_s)} too short"
    return f"{head}: no longer than the launch, so the pitfall would not show on this work"
