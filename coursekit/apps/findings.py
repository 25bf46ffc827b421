"""Notebook 05's computed titles and verdicts: each states a finding only when the data show it.

A figure title or a verdict sentence is written once and read on every machine, so each function
here checks the premise of its claim on the numbers it is given and otherwise says what the
numbers do show. The statistics are the textbook ones, written out (no scipy):

- :func:`wilson_interval` — a binomial proportion's confidence interval (Wilson score);
- :func:`mcnemar_p` — the exact two-sided McNemar test for two classifiers on the same examples;
- :func:`compare_classifiers` — both of them, and the verdict sentence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from coursekit.words import listing

# ------------------------------------------------------------------------------ training curves


def loss_title(losses: Sequence[float]) -> str:
    """Title of a training-loss curve (one mean loss per epoch): "Loss falls every epoch" only when
    it does (each epoch's loss below the previous one's); otherwise which epoch was lowest."""
    values = [float(v) for v in losses]
    if len(values) < 2:
        return f"Training loss after one epoch: {values[0]:.3f}" if values else "Training loss"
    if all(b < a for a, b in zip(values, values[1:], strict=False)):
        return "Loss falls every epoch"
    best = int(np.argmin(values))
    return f"Loss does not fall every epoch: lowest at epoch {best + 1} ({values[best]:.3f})"


def accuracy_title(accuracies: Sequence[float]) -> str:
    """Title of a test-accuracy curve (one value per epoch): the best value and its epoch."""
    best = int(np.argmax(accuracies))
    return f"Best test accuracy {accuracies[best]:.3f} (epoch {best + 1})"


# ------------------------------------------------------------------------------ confusion matrices


def confusion_title(cm: np.ndarray, names: Sequence[str], top: int = 3, min_share: float = 0.1) -> str:
    """Title of a confusion matrix (rows: true class, columns: predicted): the class with the lowest
    recall and the classes it is most often taken for, those that get at least ``min_share`` of its
    errors (at most ``top``). With no errors at all, says so."""
    cm = np.asarray(cm)
    totals = cm.sum(axis=1)
    recall = np.where(totals > 0, np.diag(cm) / np.maximum(totals, 1), 1.0)
    worst = int(np.argmin(recall))
    errors = cm[worst].astype(float).copy()
    errors[worst] = 0
    if errors.sum() == 0:
        return "No test image is misclassified"
    order = [int(j) for j in np.argsort(-errors, kind="stable")[:top] if errors[j] >= min_share * errors.sum()]
    listed = listing([names[j] for j in order])
    return f"Hardest class: {names[worst]} ({recall[worst]:.0%} right), mostly taken for {listed}"


def within_group_share(cm: np.ndarray, groups: Sequence[str]) -> tuple[float, float]:
    """Of a confusion matrix's errors (off-diagonal counts), the share whose predicted class is in
    the true class's group (``groups[i]``: class i's group), and the share expected if each error
    picked a wrong class uniformly at random. Returns (observed, chance); nan without errors."""
    cm = np.asarray(cm, dtype=float)
    g = np.asarray(groups)
    same = g[:, None] == g[None, :]
    off = ~np.eye(len(g), dtype=bool)
    errors = cm[off].sum()
    if errors == 0:
        return float("nan"), float("nan")
    observed = cm[same & off].sum() / errors
    per_row = (same & off).sum(axis=1) / (len(g) - 1)  # chance share for each true class
    row_errors = (cm * off).sum(axis=1)
    chance = float((per_row * row_errors).sum() / errors)
    return float(observed), chance


def family_title(shares: Mapping[str, tuple[float, float]], margin: float = 0.15) -> str:
    """Suptitle of the language confusion matrices. ``shares``: model -> (observed, chance) from
    :func:`within_group_share` (groups: language families). The errors "stay within a family"
    only when, for every model, the observed share exceeds chance by ``margin``; otherwise the title
    gives the shares and says they are near chance."""
    parts = ", ".join(f"{name} {obs:.0%}" for name, (obs, _) in shares.items())
    chance = max(ch for _, ch in shares.values())
    valid = [(o, c) for o, c in shares.values() if not math.isnan(o)]
    if valid and len(valid) == len(shares) and all(o >= c + margin for o, c in valid):
        return f"Most errors stay within a language family ({parts} of errors; {chance:.0%} by chance)"
    return f"Errors within a language family: {parts} (by chance {chance:.0%}): no clear family pattern"


# ------------------------------------------------------------------------------ two classifiers


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (default 95 %) for a proportion ``successes / n``: (low, high)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value: under "both classifiers are equally accurate", each of the
    ``only_a + only_b`` examples that exactly one of them gets right is equally likely to be either's,
    so ``only_a`` is Binomial(n, 1/2). Returns P(a split at least this uneven)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True)
class PairedComparison:
    """Two classifiers on the same test examples: accuracies with 95 % Wilson intervals, how many
    examples only one gets right, the exact McNemar p-value and the verdict sentence."""

    name_a: str
    name_b: str
    n: int
    accuracy_a: float
    accuracy_b: float
    interval_a: tuple[float, float]
    interval_b: tuple[float, float]
    only_a: int
    only_b: int
    p_value: float
    verdict: str


def compare_classifiers(
    correct_a: np.ndarray, correct_b: np.ndarray, name_a: str, name_b: str, level: float = 0.05
) -> PairedComparison:
    """Compare two classifiers' per-example correctness (boolean arrays over the same examples).

    The verdict names a winner only when McNemar's exact test rejects equal accuracy at ``level``;
    otherwise it says there is no significant difference on these examples."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("compare_classifiers: two non-empty 1-D arrays over the same examples")
    n = len(a)
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    p = mcnemar_p(only_a, only_b)
    acc_a, acc_b = float(a.mean()), float(b.mean())
    ia, ib = wilson_interval(int(a.sum()), n), wilson_interval(int(b.sum()), n)
    intervals = f"{name_a} {acc_a:.3f} [{ia[0]:.3f}, {ia[1]:.3f}], {name_b} {acc_b:.3f} [{ib[0]:.3f}, {ib[1]:.3f}]"
    split = f"{only_a} words only {name_a} gets right, {only_b} only {name_b}"
    if p < level:
        winner, loser = (name_a, name_b) if only_a > only_b else (name_b, name_a)
        verdict = (
            f"{winner} beats {loser} on these {n:,} test words (McNemar p = {p:.2g} < {level}): "
            f"{intervals} (95 % intervals); {split}"
        )
    else:
        verdict = (
            f"No significant difference on these {n:,} test words (McNemar p = {p:.2g} >= {level}): "
            f"{intervals} (95 % intervals); {split}"
        )
    return PairedComparison(name_a, name_b, n, acc_a, acc_b, ia, ib, only_a, only_b, p, verdict)


# ------------------------------------------------------------------------------ seq2seq


def length_title(
    bins: Sequence[str], with_attention: Sequence[float], without: Sequence[float], margin: float = 0.05
) -> str:
    """Title of exact match by input-length bin (shortest first) for the two translators.

    "Attention helps long inputs most" only when both hold: without attention accuracy falls from
    the shortest to the longest bin by more than ``margin``, and attention's gain (with - without)
    is larger in the longest bin than in the shortest by more than ``margin``. Otherwise the title
    says that neither model's accuracy varies by more than ``margin`` over the bins, or where each
    model is lowest."""
    w, o = np.asarray(with_attention, dtype=float), np.asarray(without, dtype=float)
    gain = w - o
    if o[0] - o[-1] > margin and gain[-1] - gain[0] > margin:
        return (
            f"Attention helps long inputs most: without it exact match falls from {o[0]:.2f} "
            f"({bins[0]} characters) to {o[-1]:.2f} ({bins[-1]})"
        )
    lo_w = int(np.nanargmin(w))
    if np.nanmax(o) < margin:
        return (
            f"Without attention almost no date is right at any length; with attention the lowest "
            f"exact match is at {bins[lo_w]} characters ({w[lo_w]:.2f})"
        )
    if max(np.nanmax(w) - np.nanmin(w), np.nanmax(o) - np.nanmin(o)) <= margin + 1e-9:
        return (
            f"Exact match hardly depends on length: {np.nanmin(w):.2f}-{np.nanmax(w):.2f} with attention, "
            f"{np.nanmin(o):.2f}-{np.nanmax(o):.2f} without"
        )
    lo_o = int(np.nanargmin(o))
    return (
        f"Exact match does not fall with length: lowest at {bins[lo_w]} characters with attention "
        f"({w[lo_w]:.2f}), at {bins[lo_o]} without ({o[lo_o]:.2f})"
    )


def attention_title(weights: np.ndarray, fields: Mapping[str, tuple[slice, slice]]) -> str:
    """Title of an attention heat map (rows: output characters, columns: input characters).

    ``fields``: name -> (output positions, input positions) of that field (e.g. the year: ISO
    characters 0-3, and where the year stands in the input). A field "looks at its source" when
    every one of its output characters puts its largest weight inside the field's input span.
    The title claims it for every field only when all do."""
    aligned = []
    for name, (out_pos, in_pos) in fields.items():
        rows = np.asarray(weights)[out_pos]
        peaks = rows.argmax(axis=1)
        lo, hi = in_pos.start or 0, in_pos.stop
        aligned.append((name, bool(len(peaks)) and bool(np.all((peaks >= lo) & (peaks < hi)))))
    good = [name for name, ok in aligned if ok]
    if len(good) == len(aligned):
        return "Attention: each ISO field looks at its source (" + ", ".join(good) + ")"
    if not good:
        return "Attention: no field's characters look mainly at their source yet"
    bad = [name for name, ok in aligned if not ok]
    return f"Attention: {' and '.join(good)} look at their source; {' and '.join(bad)} not yet"


# ------------------------------------------------------------------------------ CPU tuning


def tuning_ranking(
    rates: Mapping[str, float], baseline: str, thread_alternative: str | None, margin: float = 0.1
) -> str:
    """A sentence ranking CPU changes by their effect on a training step's rate (images/s, one
    measurement). ``baseline``: the plain setting; ``thread_alternative``: the same step at the
    other thread count (None when only one CPU is usable). Each change's effect is its factor
    ``max(r, base) / min(r, base)``; a change "matters most" only when its factor exceeds every
    other's by ``margin`` (relative), otherwise the largest ones are called comparable."""
    base = rates[baseline]
    effects = {name: max(r, base) / min(r, base) for name, r in rates.items() if name != baseline}
    if not effects:
        return "Only one setting was measured: nothing to rank."
    order = sorted(effects, key=lambda n: effects[n], reverse=True)

    def describe(name: str) -> str:
        factor = rates[name] / base
        how = f"{factor:.2f}x the rate of {baseline}"
        return f"{name} ({how})" if name != thread_alternative else f"the thread count ({name}: {how})"

    top = order[0]
    if len(order) == 1 or effects[top] > (1 + margin) * effects[order[1]]:
        return f"Here the largest effect comes from {describe(top)}."
    close = [describe(n) for n in order if effects[n] * (1 + margin) >= effects[top]]
    return f"Here no single change stands out: {listing(close)} are comparable."


# ------------------------------------------------------------------------------ CPU vs GPU


def gpu_flop_ratio(gpu_flop_per_s: float, cpu_flop_per_s: float) -> float:
    """How many times a GPU's FP32 peak (FLOP/s, a datasheet figure) exceeds this CPU's measured
    GEMM ceiling (FLOP/s)."""
    if not cpu_flop_per_s > 0:
        raise ValueError("gpu_flop_ratio: the CPU ceiling must be positive")
    return gpu_flop_per_s / cpu_flop_per_s


def epoch_phrase(seconds: float) -> str:
    """How long an epoch takes, in words that match the number (seconds)."""
    if seconds < 1:
        return f"under a second ({seconds:.2f} s)"
    if seconds < 60:
        return f"{seconds:.0f} seconds"
    return f"{seconds / 60:.1f} minutes ({seconds:.0f} s)"
