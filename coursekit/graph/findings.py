"""Notebook 04's computed sentences and titles, each stated only when the numbers beside it show it.

Every function here takes measured numbers (times in milliseconds, rates in elements per second,
node counts) and returns the sentence or title to print. Where a claim has a premise ("fusion
wins", "the products dominate", "the relu is fused into the convolution"), the function checks it
and otherwise says what the numbers do show, so a slower or busier machine, or an AVX2 CPU, gets a
true sentence instead of the one written on the machine the course was tuned on.
``tests/test_findings_nb04.py`` checks each premise both ways on synthetic numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from coursekit.perf.timing import format_seconds

TIE = 0.10  # two times within 10 % of each other are not called a difference
FUSED_LABELS = ("graph, optimised", "numpy fused by hand", "numexpr", "torch.compile")  # one pass per element


def _ms(t: float) -> str:
    """A time given in milliseconds, as :func:`coursekit.perf.timing.format_seconds` writes it."""
    return format_seconds(t / 1e3)


def versus(a: str, a_ms: float, b: str, b_ms: float, tie: float = TIE) -> str:
    """Which of ``a`` and ``b`` (times in ms) is faster and by what factor, or that they are within
    ``tie`` (relative) of each other."""
    ratio = max(a_ms, b_ms) / min(a_ms, b_ms)
    if ratio <= 1 + tie:
        return f"{a} and {b} are within {tie:.0%} of each other ({_ms(a_ms)} vs {_ms(b_ms)})"
    (fast, fast_ms), (slow, slow_ms) = sorted(((a, a_ms), (b, b_ms)), key=lambda p: p[1])
    return f"{fast} is {ratio:.1f}x faster than {slow} ({_ms(fast_ms)} vs {_ms(slow_ms)})"


def factor_phrase(factor: float, tie: float = TIE) -> str:
    """A speed-up ``factor`` (old time / new time) in words: ``"2.3x faster"``, ``"no clear change
    (within 10 %)"`` or ``"1.4x slower"``."""
    if abs(factor - 1) <= tie or (factor < 1 and 1 / factor - 1 <= tie):
        return f"no clear change ({factor:.2f}x, within {tie:.0%})"
    return f"{factor:.1f}x faster" if factor > 1 else f"{1 / factor:.1f}x slower"


def fusion_and_threads(
    numpy_ms: float, fused1_ms: float, fused_n_ms: float, cpus: int, threads_used: int, tie: float = TIE
) -> str:
    """Two factors, apart: fusion on one thread against numpy eager (one thread: numpy's ufuncs do not
    use more), then what the variant tuned for ``cpus`` CPUs, which runs on ``threads_used`` threads
    (0: numba's own pool, counted as ``cpus``), adds. Times in ms."""
    fusion = f"fusion alone (one thread each, vs numpy eager): {factor_phrase(numpy_ms / fused1_ms, tie)}"
    if cpus <= 1:
        return f"{fusion}; threads: one usable CPU here, no gain from threads to measure"
    if threads_used == 1:
        return (
            f"{fusion}; threads: the autotuner kept one thread for {cpus} CPUs too (the same code: "
            f"{fused1_ms:.3g} vs {fused_n_ms:.3g} ms is noise)"
        )
    used = cpus if threads_used == 0 else threads_used
    return f"{fusion}; threads ({used} vs one, fused kernel): {factor_phrase(fused1_ms / fused_n_ms, tie)}"


def nearest_bound(achieved: float, limits: Mapping[str, float]) -> tuple[str, float]:
    """The ceiling (name) that ``achieved`` (elements/s) comes closest to, i.e. the lowest of
    ``limits`` (elements/s each), and the fraction of it reached."""
    name = min(limits, key=lambda k: limits[k])
    return name, achieved / limits[name]


def bound_verdict(name: str, achieved: float, limits: Mapping[str, float], near: float = 0.5) -> str:
    """Where a kernel stands against its ceilings (all in elements/s). "Near" the lowest ceiling only when
    it reaches at least ``near`` of it; otherwise, against the rate it would have if the ceilings' times
    added up (:func:`coursekit.perf.opcost.serial_rate`): "the steps follow one another" only when it
    reaches ``near`` of that, else other costs dominate."""
    fractions = ", ".join(f"{k} {v / 1e9:.3g} G/s ({achieved / v:.0%} of it)" for k, v in limits.items())
    tight, frac = nearest_bound(achieved, limits)
    head = f"{name}: {achieved / 1e9:.3g} G elements/s; ceilings: {fractions}"
    if frac >= near:
        return f"{head}. Near its {tight} ceiling."
    serial = 1.0 / sum(1.0 / v for v in limits.values())
    both = " and ".join(limits)
    if achieved >= near * serial:
        return (
            f"{head}. Below each ceiling, but at {achieved / serial:.0%} of the rate if the {both} times add up "
            f"({serial / 1e9:.3g} G/s): the steps follow one another instead of overlapping."
        )
    return (
        f"{head}. Below each ceiling and at {achieved / serial:.0%} of the rate if their times add up "
        f"({serial / 1e9:.3g} G/s): other costs dominate here (the cheap arithmetic, calls, or other work "
        "on a busy machine)."
    )


def roofline_title(pairs: Mapping[str, tuple[float, float, float, float]]) -> str:
    """Title of the fusion roofline. ``pairs[chain] = (eager intensity, eager FLOP/s, fused intensity,
    fused FLOP/s)``. Says "right" only if every fused point has the higher intensity and "up" only if
    every fused point has the higher FLOP/s (is faster)."""
    right = all(p[2] > p[0] for p in pairs.values())
    up = all(p[3] > p[1] for p in pairs.values())
    if right and up:
        return "Fusion moves each chain right (less traffic) and up (faster)"
    if right:
        slower = [k for k, p in pairs.items() if p[3] <= p[1]]
        return f"Fusion moves each chain right (less traffic), but not up for {', '.join(slower)}"
    return "Fusion's effect on each chain: traffic and speed as measured"


def fastest_title(prefix: str, times_ms: Mapping[str, float], tie: float = 0.05) -> str:
    """``"<prefix>: X fastest"`` when X beats the runner-up by more than ``tie``; otherwise names the
    contenders within ``tie`` of the fastest."""
    order = sorted(times_ms, key=lambda k: times_ms[k])
    best = times_ms[order[0]]
    close = [k for k in order if times_ms[k] <= best * (1 + tie)]
    if len(close) == 1:
        return f"{prefix}: {order[0]} fastest"
    return f"{prefix}: {' and '.join(close)} within {tie:.0%} of each other"


def elementwise_title(times_ms: Mapping[str, Mapping[str, float]], fused: Sequence[str] = FUSED_LABELS) -> str:
    """Title of the elementwise bars. ``times_ms[chain][contender]``. "fusion wins" only when, in every
    chain, the fastest contender is a fused one (its label starts with one of ``fused``)."""
    fastest = {chain: min(t, key=lambda k: t[k]) for chain, t in times_ms.items()}
    names = set(fastest.values())
    which = f"{names.pop()} fastest" if len(names) == 1 else ", ".join(f"{c}: {f}" for c, f in fastest.items())
    if all(any(f.startswith(p) for p in fused) for f in fastest.values()):
        return f"Misc. elementwise: fusion wins ({which})"
    return f"Misc. elementwise, fastest: {which}"


def curves_title(a: Iterable[float], b: Iterable[float], rtol: float) -> str:
    """Title of two loss curves: "coincide" when they agree within ``rtol`` (relative) at every step,
    else the largest relative difference."""
    x, y = np.asarray(list(a), float), np.asarray(list(b), float)
    worst = float(np.max(np.abs(x - y) / np.maximum(np.abs(y), np.finfo(float).tiny)))
    if worst <= rtol:
        return f"Same weights, same data: the two loss curves coincide (within {rtol:.1%})"
    return f"Same weights, same data: the loss curves differ by up to {worst:.1%}"


def stability_title(
    grid: np.ndarray, naive: np.ndarray, rewritten: np.ndarray, exact: np.ndarray, rtol: float, atol: float = 0.0
) -> str:
    """Title of the cross-entropy plot: where the formula as written gives inf and nan (only those it
    gives), and whether the rewritten one is finite and within ``rtol`` (relative) or ``atol``
    (absolute, nats) of ``exact`` everywhere."""
    parts = []
    inf_at, nan_at = grid[np.isinf(naive)], grid[np.isnan(naive)]
    if inf_at.size:
        parts.append(f"inf for z <= {inf_at.max():.0f}")
    if nan_at.size:
        parts.append(f"nan for z >= {nan_at.min():.0f}")
    written = "As written: " + (", ".join(parts) if parts else "finite everywhere")
    good = bool(np.all(np.isfinite(rewritten)) and np.allclose(rewritten, exact, rtol=rtol, atol=atol))
    return f"{written}; rewritten: {'exact' if good else 'not exact everywhere'}"


def fusion_graph_title(prefix: str, nodes_before: int, nodes_after: int, n_fused: int) -> str:
    """``"<prefix>: N op nodes become 1 fused kernel"`` when every node left is a fused kernel, else
    the counts (nodes after, of which fused)."""
    if n_fused and nodes_after == n_fused:
        return f"{prefix}: {nodes_before} op nodes become {n_fused} fused kernel{'s' if n_fused > 1 else ''}"
    return f"{prefix}: {nodes_before} op nodes -> {nodes_after} ({n_fused} of them fused kernels)"


def payback_calls(compile_s: float, eager_ms: float, compiled_ms: float, min_gain: float = TIE) -> str:
    """Calls after which compiling (``compile_s`` seconds) has paid for itself, at ``eager_ms`` and
    ``compiled_ms`` per call; "never (no clear gain)" unless compiled saves more than ``min_gain``
    of the eager time."""
    gain = eager_ms - compiled_ms
    if gain <= min_gain * eager_ms:
        return "never (no clear gain)"
    return f"{compile_s * 1e3 / gain:,.0f}"


def step_verdict(step_ms: Mapping[str, float], products_ms: float, tie: float = TIE) -> str:
    """The training step in words: the fastest contender and its lead, the share of the two
    matrix-vector products (timed alone, ``products_ms``) in that step ("dominated by" only when they
    take at least half of it), and what fusion did (``"graph, optimised"`` against
    ``"graph, rewrites, no fusion"`` when both are there)."""
    order = sorted(step_ms, key=lambda k: step_ms[k])
    best, second = order[0], order[1]
    lead = step_ms[second] / step_ms[best]
    if lead <= 1 + tie:
        head = f"{best} and {second} are within {tie:.0%} of each other ({_ms(step_ms[best])}, {_ms(step_ms[second])})"
    else:
        head = f"fastest: {best} ({_ms(step_ms[best])}), {lead:.2f}x ahead of {second}"
    share = products_ms / step_ms[best]
    if share >= 0.5:
        prod = f"the two matrix-vector products alone take {_ms(products_ms)}, {share:.0%} of that step: they dominate"
    else:
        prod = (
            f"the two matrix-vector products alone take {_ms(products_ms)}, only {share:.0%} of that step: "
            "the rest (elementwise passes, Python) dominates"
        )
    out = [head, prod]
    if "graph, optimised" in step_ms and "graph, rewrites, no fusion" in step_ms:
        f = step_ms["graph, rewrites, no fusion"] / step_ms["graph, optimised"]
        out.append(f"fusion on top of the rewrites: {factor_phrase(f, tie)}")
    return "; ".join(out)


def conv_relu_verdict(default_calls: Sequence[str], frozen_calls: Sequence[str]) -> str:
    """What inductor did with conv + relu, from the kernel calls of its generated code (one call each,
    as :func:`coursekit.graph.torch_graphs.kernel_calls` gives them): the relu fused into the
    convolution (the library convolution's call names ``relu``), the relu as a loop kernel of its own
    after the convolution (a ``cpp_fused_*relu*`` or ``triton_*relu*`` call), or neither."""

    def describe(calls: Sequence[str]) -> str:
        names = [c.split("(")[0] for c in calls]
        conv = [k for k, nm in enumerate(names) if "conv" in nm and not nm.startswith(("cpp_fused", "triton_"))]
        if not conv:
            return f"{len(calls)} kernel calls, none of them a library convolution"
        if "relu" in calls[conv[0]].lower():
            return "one library convolution with the relu fused in (a post-op), no relu loop of its own"
        if any(nm.startswith(("cpp_fused", "triton_")) and "relu" in nm for nm in names[conv[0] + 1 :]):
            return "the library convolution, then the relu as a generated loop of its own"
        return "the library convolution, and no relu recognisable after it"

    return f"default: {describe(default_calls)}; with freezing (inference): {describe(frozen_calls)}"


def break_even_verdict(where: str, m: Mapping[str, Any]) -> str:
    """What :func:`coursekit.graph.torch_graphs.measure_compile_break_even` found on ``where`` (e.g.
    ``"this CPU"``): the two times per call at each chain length (microseconds) and from how many ops
    the compiled call wins, or that compiling failed, or that the compiled call never caught up."""
    if m.get("error"):
        return f"{where}: torch.compile failed ({m['error']}), no break-even to measure"
    ks, eager, comp = m["ks"], m["eager_us"], m["compiled_us"]
    times = "; ".join(
        f"k = {k}: eager {e:.3g} us, compiled {c:.3g} us" for k, e, c in zip(ks, eager, comp, strict=True)
    )
    if m.get("wins_from") is None:
        return f"{where}: {times}; the compiled call does not catch up with eager at any k"
    won = int(m["wins_from"])
    if won <= 1:
        return f"{where}: {times}; the compiled call is faster from the first op"
    return (
        f"{where}: {times}; eager costs {m['eager_per_op_us']:.2g} us per op, so the compiled call wins "
        f"from k = {won} ops (the lines cross at {m['break_even']:.2g})"
    )
