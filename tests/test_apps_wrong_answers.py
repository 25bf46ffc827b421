"""Notebook 05's exercise checkers (coursekit.grading.hidden.apps): the instructor's answers pass, and
plausible wrong answers fail with a message that says what was expected. (The capstone, 5.2, has its
own file: tests/test_apps_conv1.py.)"""

from __future__ import annotations

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


# ---- 5.5 greedy decoding (nb05_greedy) -----------------------------------------------------------


def _right_greedy(step, state, start, end, max_len):
    out, prev = [], start
    while len(out) < max_len:
        scores, state = step(prev, state)
        prev = int(np.argmax(scores))
        if prev == end:
            break
        out.append(prev)
    return out


def _for_loop(step, state, start, end, max_len):
    out, prev = [], start
    for _ in range(max_len):
        scores, state = step(prev, state)
        prev = int(np.argmax(scores))
        if prev == end:
            return out
        out.append(prev)
    return out


def _never_stops(step, state, start, end, max_len):
    out, prev = [], start
    for _ in range(max_len):
        scores, state = step(prev, state)
        prev = int(np.argmax(scores))
        out.append(prev)
    return out


def _keeps_end(step, state, start, end, max_len):
    out, prev = [], start
    while len(out) < max_len:
        scores, state = step(prev, state)
        prev = int(np.argmax(scores))
        out.append(prev)
        if prev == end:
            break
    return out


def _drops_end_only(step, state, start, end, max_len):  # removes END ids but keeps decoding after them
    return [i for i in _never_stops(step, state, start, end, max_len) if i != end]


def _includes_start(step, state, start, end, max_len):
    return [start, *_right_greedy(step, state, start, end, max_len)]


def _one_too_many(step, state, start, end, max_len):
    out, prev = [], start
    while len(out) <= max_len:
        scores, state = step(prev, state)
        prev = int(np.argmax(scores))
        if prev == end:
            break
        out.append(prev)
    return out


def _feeds_start_always(step, state, start, end, max_len):
    out = []
    while len(out) < max_len:
        scores, state = step(start, state)
        nxt = int(np.argmax(scores))
        if nxt == end:
            break
        out.append(nxt)
    return out


def _max_score_not_argmax(step, state, start, end, max_len):
    out, prev = [], start
    while len(out) < max_len:
        scores, state = step(prev, state)
        prev = int(np.max(scores))
        if prev == end:
            break
        out.append(prev)
    return out


GREEDY = {
    "right: while": (_right_greedy, True),
    "right: for with return": (_for_loop, True),
    "wrong: never stops": (_never_stops, False),
    "wrong: keeps the end id": (_keeps_end, False),
    "wrong: filters the end id but decodes on": (_drops_end_only, False),
    "wrong: includes the start id": (_includes_start, False),
    "wrong: max_len + 1 ids": (_one_too_many, False),
    "wrong: always feeds the start id": (_feeds_start_always, False),
    "wrong: the max score, not its index": (_max_score_not_argmax, False),
}


@pytest.mark.parametrize("name", list(GREEDY))
def test_greedy_decode(name):
    _expect(checks.check_greedy_decode, *GREEDY[name])
