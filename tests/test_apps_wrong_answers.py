"""Notebook 05's exercise checkers (coursekit.grading.hidden.apps): the instructor's answers pass, and
plausible wrong answers fail with a message that says what was expected. (The capstone, 5.2, has its
own file: tests/test_apps_conv1.py.)"""

from __future__ import annotations

import functools
import heapq

import numpy as np
import pytest
import torch

from coursekit.grading.hidden import apps as checks


def _expect(checker, answer, ok):
    if ok:
        checker(answer)
    else:
        with pytest.raises(AssertionError, match="expected|should|must|got"):
            checker(answer)


# ---- 5.1 conv_output_size (nb05_conv_size) -------------------------------------------------------


def _span(k, d):  # pixels one dilated filter covers
    return d * (k - 1) + 1


CONV = {
    "right": (lambda s, k, st=1, p=0, d=1: max(0, (s + 2 * p - _span(k, d)) // st + 1), True),
    "right: counts positions": (
        lambda s, k, st=1, p=0, d=1: len(range(0, s + 2 * p - d * (k - 1), st)),
        True,
    ),
    "wrong: the LeNet formula (no dilation)": (lambda s, k, st=1, p=0, d=1: (s + 2 * p - k) // st + 1, False),
    "wrong: dilated span d * k": (lambda s, k, st=1, p=0, d=1: max(0, (s + 2 * p - d * k) // st + 1), False),
    "wrong: dilated span d * (k - 1)": (
        lambda s, k, st=1, p=0, d=1: max(0, (s + 2 * p - d * (k - 1)) // st + 1),
        False,
    ),
    "wrong: no zero when the filter does not fit": (
        lambda s, k, st=1, p=0, d=1: (s + 2 * p - _span(k, d)) // st + 1,
        False,
    ),
    "wrong: ignores padding": (lambda s, k, st=1, p=0, d=1: max(0, (s - _span(k, d)) // st + 1), False),
    "wrong: padding once": (lambda s, k, st=1, p=0, d=1: max(0, (s + p - _span(k, d)) // st + 1), False),
    "wrong: no +1": (lambda s, k, st=1, p=0, d=1: max(0, (s + 2 * p - _span(k, d)) // st), False),
    "wrong: true division": (lambda s, k, st=1, p=0, d=1: max(0, (s + 2 * p - _span(k, d)) / st + 1), False),
    "wrong: ignores stride": (lambda s, k, st=1, p=0, d=1: max(0, s + 2 * p - _span(k, d) + 1), False),
    "wrong: rounds up": (lambda s, k, st=1, p=0, d=1: max(0, -(-(s + 2 * p - _span(k, d)) // st) + 1), False),
    "wrong: stride divides the image, not the room left": (
        lambda s, k, st=1, p=0, d=1: max(0, (s + 2 * p) // st - _span(k, d) + 1),
        False,
    ),
}


@pytest.mark.parametrize("name", list(CONV))
def test_conv_output_size(name):
    _expect(checks.check_conv_output_size, *CONV[name])


# ---- 5.3 naive Bayes log-probabilities (nb05_nb_log_prob) ----------------------------------------


def _right_lp(counts, alpha=1.0):
    counts = np.asarray(counts, dtype=float)
    return np.log(counts + alpha) - np.log(counts.sum(axis=1, keepdims=True) + alpha * counts.shape[1])


def _in_place(counts, alpha=1.0):  # right, although it changes its argument (the checker passes copies)
    counts = counts.astype(float)
    counts += alpha
    return np.log(counts / counts.sum(axis=1, keepdims=True))


LOG_PROB = {
    "right": (_right_lp, True),
    "right: normalise after adding alpha": (_in_place, True),
    "wrong: no smoothing": (lambda c, a=1.0: np.log(c / c.sum(axis=1, keepdims=True)), False),
    "wrong: alpha only in the numerator": (
        lambda c, a=1.0: np.log((c + a) / c.sum(axis=1, keepdims=True)),
        False,
    ),
    "wrong: denominator + alpha, not alpha * G": (
        lambda c, a=1.0: np.log((c + a) / (c.sum(axis=1, keepdims=True) + a)),
        False,
    ),
    "wrong: normalised over classes": (lambda c, a=1.0: np.log((c + a) / (c + a).sum(axis=0, keepdims=True)), False),
    "wrong: normalised over everything": (lambda c, a=1.0: np.log((c + a) / (c + a).sum()), False),
    "wrong: probabilities, not logs": (lambda c, a=1.0: np.exp(_right_lp(c, a)), False),
    "wrong: alpha fixed at 1": (lambda c, a=1.0: _right_lp(c, 1.0), False),
    "wrong: transposed": (lambda c, a=1.0: _right_lp(c, a).T, False),
    "wrong: forgets to return": (lambda c, a=1.0: None, False),
}


@pytest.mark.parametrize("name", list(LOG_PROB))
def test_log_prob(name):
    with np.errstate(divide="ignore", invalid="ignore"):
        _expect(checks.check_log_prob, *LOG_PROB[name])


# ---- 5.4 last real output of a padded batch (nb05_last_real) -------------------------------------

LAST = {
    "right: fancy indexing": (lambda o, n: o[torch.arange(o.shape[0]), torch.as_tensor(n) - 1], True),
    "right: gather": (
        lambda o, n: o.gather(1, (torch.as_tensor(n) - 1).view(-1, 1, 1).expand(-1, 1, o.shape[2])).squeeze(1),
        True,
    ),
    "right: loop": (lambda o, n: torch.stack([o[i, int(k) - 1] for i, k in enumerate(n)]), True),
    "wrong: last padded step": (lambda o, n: o[:, -1], False),
    "wrong: first step": (lambda o, n: o[:, 0], False),
    "wrong: off by one (lengths, clamped)": (
        lambda o, n: o[torch.arange(o.shape[0]), torch.clamp(torch.as_tensor(n), max=o.shape[1] - 1)],
        False,
    ),
    "wrong: off by one (lengths - 2)": (lambda o, n: o[torch.arange(o.shape[0]), torch.as_tensor(n) - 2], False),
    "wrong: slices instead of pairs": (lambda o, n: o[:, torch.as_tensor(n) - 1], False),
    "wrong: mean over time": (lambda o, n: o.mean(dim=1), False),
    "wrong: mean over real steps": (lambda o, n: o.sum(dim=1) / torch.as_tensor(n).view(-1, 1), False),
    "wrong: sorted by length first": (
        lambda o, n: o[torch.arange(o.shape[0]), torch.sort(torch.as_tensor(n)).values - 1],
        False,
    ),
}


@pytest.mark.parametrize("name", list(LAST))
def test_last_real_output(name):
    _expect(checks.check_last_real_output, *LAST[name])


# ---- 5.5 beam search (nb05_beam) ----------------------------------------------------------------


def _log_softmax(scores):
    s = np.asarray(scores, dtype=float)
    return s - s.max() - np.log(np.exp(s - s.max()).sum())


# How a hypothesis's total grows by one id: (total, log-probability, probability, raw logit) -> total.
GROW = {
    "log": lambda total, lp, p, raw: total + lp,
    "last step only": lambda total, lp, p, raw: lp,
    "raw logits": lambda total, lp, p, raw: total + raw,
    "sum of probabilities": lambda total, lp, p, raw: total + p,
    "product of probabilities": lambda total, lp, p, raw: total * p,
}


def _beam(step, state, start, end, max_len, width, grow="log", bug=None):
    """Beam search as exercise 5.5 states it, or with one ``bug`` (see BEAM below)."""
    init = 1.0 if grow == "product of probabilities" else 0.0
    beam, finished, shared = [(init, [], start, state)], [], state
    steps = max_len + {"max_len + 1": 1, "max_len - 1": -1}.get(bug, 0)
    for _ in range(steps):
        if not beam:
            break
        grown = []
        for total, ids, prev, st in beam:
            if bug == "one shared state":
                scores, shared = step(prev, shared)
                new = shared
            else:
                scores, new = step(start if bug == "feeds the start id" else prev, st)
            lp = _log_softmax(scores)
            grown += [(GROW[grow](total, lp[i], np.exp(lp[i]), float(scores[i])), ids, i, new) for i in range(len(lp))]
        grown.sort(key=lambda g: g[0], reverse=True)
        if bug == "finished take no place":
            finished += [(t, ids) for t, ids, i, _ in grown if i == end]
            grown = [g for g in grown if g[2] != end]
        beam = []
        for total, ids, i, new in grown[:width]:
            if i == end and bug != "extends finished":
                if bug != "drops finished":
                    finished.append((total, [*ids, end] if bug == "returns the end id" else ids))
            else:
                beam.append((total, [*ids, i], i, new))
    candidates = finished + [(t, ids) for t, ids, _, _ in beam]
    if not candidates:
        return []
    per_id = bug == "length-normalised"  # compares the mean log-probability per id, not the total
    best = max(candidates, key=lambda c: c[0] / (len(c[1]) + 1) if per_id else c[0])[1]
    if bug == "extends finished":  # decodes on after END, then cuts there
        best = best[: best.index(end)] if end in best else best
    return [start, *best] if bug == "includes the start id" else best


def _right_early_stop(step, state, start, end, max_len, width):
    """Right: stops once a finished hypothesis beats every live one (totals only fall), with a heap."""
    beam, best = [(0.0, (), start, state)], (-np.inf, ())
    for _ in range(max_len):
        if not beam or best[0] >= max(b[0] for b in beam):
            break
        grown = []
        for total, ids, prev, st in beam:
            scores, new = step(prev, st)
            for i, lp in enumerate(_log_softmax(scores)):
                grown.append((total + lp, ids, i, new))
        beam = []
        for total, ids, i, new in heapq.nlargest(width, grown, key=lambda g: g[0]):
            if i == end:
                best = max(best, (total, ids), key=lambda c: c[0])
            else:
                beam.append((total, (*ids, i), i, new))
    return list(max([best, *((b[0], b[1]) for b in beam)], key=lambda c: c[0])[1])


def _right_torch(step, state, start, end, max_len, width):
    """Right: torch's log_softmax and topk over the (hypotheses x vocabulary) table of totals."""
    totals, seqs, feeds, states, finished = torch.zeros(1, dtype=torch.float64), [[]], [start], [state], []
    for _ in range(max_len):
        if not seqs:
            break
        outs = [step(f, s) for f, s in zip(feeds, states, strict=True)]
        logp = torch.log_softmax(torch.tensor(np.stack([np.asarray(o[0], dtype=float) for o in outs])), dim=1)
        table = totals[:, None] + logp
        top = torch.topk(table.flatten(), min(width, table.numel()))
        totals_, seqs_, feeds_, states_ = [], [], [], []
        for value, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            h, i = divmod(flat, table.shape[1])
            if i == end:
                finished.append((value, seqs[h]))
            else:
                totals_.append(value), seqs_.append([*seqs[h], i]), feeds_.append(i), states_.append(outs[h][1])
        totals, seqs, feeds, states = torch.tensor(totals_, dtype=torch.float64), seqs_, feeds_, states_
    return max(finished + list(zip(totals.tolist(), seqs, strict=True)), key=lambda c: c[0])[1]


def _greedy(step, state, start, end, max_len, width):  # ignores beam_width
    out, prev = [], start
    while len(out) < max_len:
        scores, state = step(prev, state)
        prev = int(np.argmax(scores))
        if prev == end:
            break
        out.append(prev)
    return out


BEAM = {
    "right": (_beam, True),
    "right: stops early, heap": (_right_early_stop, True),
    "right: torch topk": (_right_torch, True),
    "wrong: plain greedy (ignores beam_width)": (_greedy, False),
    **{
        f"wrong: {bug}": (functools.partial(_beam, bug=bug), False)
        for bug in (
            "feeds the start id",
            "one shared state",
            "extends finished",
            "drops finished",
            "finished take no place",
            "length-normalised",
            "max_len + 1",
            "max_len - 1",
            "returns the end id",
            "includes the start id",
        )
    },
    **{f"wrong: scores by {grow}": (functools.partial(_beam, grow=grow), False) for grow in list(GROW)[1:]},
    "wrong: forgets to return": (lambda *args: None, False),
}


@pytest.mark.parametrize("name", list(BEAM))
def test_beam_decode(name):
    with np.errstate(under="ignore"):
        _expect(checks.check_beam_decode, *BEAM[name])


def test_beam_reference_is_greedy_at_width_1_and_exhaustive_when_wide():
    """The checker's reference: width 1 is greedy decoding, a beam that keeps everything is
    exhaustive search, and some decoders make greedy miss what width 2 finds."""
    greedy_missed = 0
    for seed in range(30):
        vocab, max_len = 4, 4
        step = checks._random_step(seed, vocab, 1, end_bias=1.0)
        assert checks.reference_beam(step, (), 0, 1, max_len, 1)[0] == _greedy(step, (), 0, 1, max_len, 1)
        best, total = checks.exhaustive_best(step, (), 0, 1, max_len, vocab)
        ids, got = checks.reference_beam(step, (), 0, 1, max_len, vocab**max_len)
        assert ids == best and got == pytest.approx(total)
        greedy_missed += (
            checks.reference_beam(step, (), 0, 1, max_len, 2)[1]
            > checks.reference_beam(step, (), 0, 1, max_len, 1)[1] + 1e-9
        )
    assert greedy_missed >= 3, f"width 2 beat greedy on only {greedy_missed} of 30 random decoders"
