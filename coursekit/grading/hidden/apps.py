"""Checkers for notebook 05's graded exercises: each runs the student's function on cases with
known answers and raises ``AssertionError`` saying what was expected and what came back."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit.checks import check_close, check_equal, check_true


def check_conv_output_size(fn: Callable[..., int]) -> None:
    """``fn(size, kernel, stride=1, padding=0, dilation=1)`` against torch's own convolutions, and
    0 where the dilated filter does not fit in the padded image (where torch refuses to run)."""
    for size, kernel, stride, padding, dilation in [
        (28, 5, 1, 0, 1),
        (24, 2, 2, 0, 1),
        (32, 3, 1, 1, 1),
        (32, 3, 2, 1, 1),
        (224, 7, 2, 3, 1),
        (7, 7, 1, 0, 1),
        (10, 3, 3, 0, 1),
        (11, 2, 2, 0, 1),
        (28, 5, 1, 0, 2),
        (28, 3, 1, 2, 2),
        (17, 3, 2, 0, 3),
        (9, 3, 1, 0, 4),
        (20, 4, 3, 1, 2),
    ]:
        conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
        expected = conv(torch.zeros(1, 1, size, size)).shape[-1]
        check_equal(
            fn(size, kernel, stride, padding, dilation),
            expected,
            what=f"conv_output_size({size}, {kernel}, stride={stride}, padding={padding}, dilation={dilation})",
        )
    for size, kernel, stride, padding, dilation in [(3, 5, 1, 0, 1), (8, 3, 2, 0, 5), (4, 3, 3, 0, 3), (2, 4, 1, 0, 1)]:
        check_equal(
            fn(size, kernel, stride, padding, dilation),
            0,
            what=f"conv_output_size({size}, {kernel}, stride={stride}, padding={padding}, dilation={dilation}) "
            "(the filter does not fit: no output pixel)",
        )


def smoothed_log_prob(counts: np.ndarray, alpha: float) -> np.ndarray:
    """log P(gram | class), add-``alpha`` smoothed: the answer of exercise nb05_nb_log_prob (the instructor's
    side only; the benchmark uses it too)."""
    table = np.asarray(counts, dtype=float) + alpha
    return np.log(table / table.sum(axis=1, keepdims=True))


def check_log_prob(fn: Callable[[np.ndarray, float], np.ndarray]) -> None:
    """``fn(counts, alpha)`` -> log P(gram | class), add-alpha smoothed, per class row."""
    rng = np.random.default_rng(5)
    cases = [
        (np.array([[3, 0, 1], [0, 0, 4]]), 1.0),
        (rng.integers(0, 6, (4, 9)), 0.5),
        (np.array([[0, 2, 0, 0, 7]]), 2.0),
    ]
    for counts, alpha in cases:
        got = fn(counts.copy(), alpha)
        check_true(got is not None, "log_prob should return its result, got None: did it forget to `return`?")
        got = np.asarray(got, dtype=float)
        check_equal(got.shape, counts.shape, what="shape of log P(gram | class) (one row per class)")
        check_true(
            np.isfinite(got).all(),
            f"smoothing must leave no -inf or nan (a gram never seen in a class "
            f"still gets alpha); got {got} for counts {counts.tolist()}",
        )
        check_close(
            np.exp(got).sum(axis=1),
            np.ones(len(counts)),
            what="each class's probabilities summed over grams",
            rtol=1e-6,
        )
        check_close(
            got,
            smoothed_log_prob(counts, alpha),
            what=f"log P(gram | class) for counts {counts.tolist()}, alpha={alpha}",
            rtol=1e-6,
        )


def _packed_case(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded LSTM outputs (B, T, H) of a packed batch, the lengths, and the LSTM's own h_n."""
    torch.manual_seed(seed)
    lengths = torch.tensor([5, 2, 7, 1, 3])
    lstm = nn.LSTM(3, 4, batch_first=True)
    x = torch.randn(len(lengths), 7, 3)
    for i, n in enumerate(lengths):
        x[i, n:] = 0.0
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out, (h, _) = lstm(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
    return padded, lengths, h[-1]


def check_last_real_output(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(padded_outputs (B, T, H), lengths (B,))`` must return each sequence's output at its
    last REAL step (B, H) — what the packed LSTM returns as ``h_n``, not the padding's."""
    for seed in (0, 1):
        padded, lengths, expected = _packed_case(seed)
        got = fn(padded.clone(), lengths.clone())
        check_true(got is not None, "last_real_output should return its result, got None: did it forget to `return`?")
        got = torch.as_tensor(got)
        check_equal(tuple(got.shape), tuple(expected.shape), what="shape of the last real outputs (batch, hidden)")
        check_close(
            got.numpy(),
            expected.numpy(),
            what="last real outputs (compared with the packed LSTM's h_n)",
            rtol=1e-5,
            atol=1e-6,
        )


def _scripted_step(script: list[int], vocab: int = 6) -> Callable[[int, Any], tuple[np.ndarray, Any]]:
    """A fake decoder that emits ``script`` in order (state: how many steps it took, and what it was fed)."""

    def step(prev: int, state: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        t = state["t"]
        scores = np.full(vocab, -1.0)
        scores[script[t] if t < len(script) else 1] = 2.0
        return scores, {"t": t + 1, "fed": [*state["fed"], int(prev)]}

    return step


def _log_softmax(scores: Any) -> np.ndarray:
    """log softmax(scores) of a 1-D array of logits, computed without overflow."""
    s = np.asarray(scores, dtype=float)
    s = s - s.max()
    return s - np.log(np.exp(s).sum())


def reference_beam(
    step: Callable[[int, Any], tuple[Any, Any]], state: Any, start_id: int, end_id: int, max_len: int, beam_width: int
) -> tuple[list[int], float]:
    """Beam search as exercise nb05_beam states it (the instructor's side only): the ids of the most
    probable hypothesis (finished ones set aside, the others cut at ``max_len`` ids) and its total
    log-probability (nats). Ties keep the earlier hypothesis, then the smaller id."""
    beam: list[tuple[float, list[int], int, Any]] = [(0.0, [], start_id, state)]  # total, ids, id to feed, state
    finished: list[tuple[float, list[int]]] = []
    for _ in range(max_len):
        if not beam:
            break
        grown = []
        for total, ids, prev, st in beam:
            scores, new_state = step(prev, st)
            log_p = _log_softmax(scores)
            grown += [(total + float(log_p[i]), ids, i, new_state) for i in range(len(log_p))]
        grown.sort(key=lambda g: -g[0])  # stable: ties keep their order
        beam = []
        for total, ids, i, new_state in grown[:beam_width]:
            if i == end_id:
                finished.append((total, ids))
            else:
                beam.append((total, [*ids, i], i, new_state))
    candidates = finished + [(total, ids) for total, ids, _, _ in beam]
    total, ids = max(candidates, key=lambda c: c[0])
    return ids, total


def sequence_log_prob(step: Callable[[int, Any], tuple[Any, Any]], state: Any, start_id: int, ids: list[int]) -> float:
    """Total log-probability (nats) the decoder gives to ``ids`` (END included if it is there), fed
    from ``start_id``."""
    total, prev = 0.0, start_id
    for i in ids:
        scores, state = step(prev, state)
        total += float(_log_softmax(scores)[i])
        prev = i
    return total


def exhaustive_best(
    step: Callable[[int, Any], tuple[Any, Any]], state: Any, start_id: int, end_id: int, max_len: int, vocab: int
) -> tuple[list[int], float]:
    """The most probable answer over every sequence beam search may return: k < ``max_len`` ids then
    END, or ``max_len`` ids; and its total log-probability (nats). For tiny vocabularies only."""
    ids_but_end = [i for i in range(vocab) if i != end_id]
    best: tuple[list[int], float] | None = None
    for k in range(max_len + 1):
        for ids in itertools.product(ids_but_end, repeat=k):
            total = sequence_log_prob(step, state, start_id, [*ids, end_id] if k < max_len else list(ids))
            if best is None or total > best[1]:
                best = (list(ids), total)
    assert best is not None
    return best


def _random_step(seed: int, vocab: int, end_id: int, end_bias: float = 0.0, spread: float = 2.0) -> Callable:
    """A fake decoder whose state is the tuple of every id it was fed (so a hypothesis fed another's
    state, or the start id again, gets other logits); its logits are random per history, plus a
    random offset per history (softmax ignores it; a sum of raw logits does not)."""

    def step(prev: int, fed: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
        fed = (*fed, int(prev))
        rng = np.random.default_rng([seed, *fed])
        scores = rng.normal(0.0, spread, vocab) + rng.normal(0.0, 5.0)
        scores[end_id] += end_bias
        return scores, fed

    return step


def _yours(step: Callable, start_id: int, end_id: int, max_len: int, got: list[int]) -> str:
    """The log-probability of the student's answer, for the message (or why there is none)."""
    try:
        total = sequence_log_prob(step, (), start_id, got + ([end_id] if len(got) < max_len else []))
    except (IndexError, TypeError, ValueError):
        return "yours is not a sequence of the vocabulary's ids"
    return f"yours {total:.4f}"


def _ids(got: Any, what: str) -> list[int]:
    check_true(got is not None, f"{what}: got None — did beam_decode forget to `return`?")
    return [int(i) for i in got]


def check_beam_decode(fn: Callable[..., list[int]]) -> None:
    """``fn(step, state, start_id, end_id, max_len, beam_width)``: width 1 is greedy decoding on
    scripted decoders; on random decoders it matches the reference beam search, and exhaustive
    search where the beam keeps everything; sequences of hundreds of ids are compared in logs."""
    start, end = 0, 1
    # (what the decoder would say, max_len, what greedy decoding returns): stated, not computed.
    # These decoders are sure of their script, so wider beams return it too.
    cases = [
        ([4, 2, 5, end, 3, 3], 10, [4, 2, 5]),
        ([end], 10, []),
        ([2, 3, 4, 5, 2, 3, 4], 4, [2, 3, 4, 5]),
        ([5, 5, end], 3, [5, 5]),
        ([2, 2, 2], 3, [2, 2, 2]),
    ]
    for script, max_len, expected in cases:
        for width in (1, 3):
            got = fn(_scripted_step(script), {"t": 0, "fed": []}, start, end, max_len, width)
            check_equal(
                _ids(got, "beam_decode"),
                expected,
                what=f"beam_width={width} on a decoder sure to say {script} (end id {end}, max_len {max_len})",
            )
    fed = []

    def recording(prev, state):
        fed.append(int(prev))
        return _scripted_step([3, 4, 2, end])(prev, state)

    fn(recording, {"t": 0, "fed": []}, start, end, 10, 1)
    check_equal(fed, [start, 3, 4, 2], what="ids fed to the decoder at beam_width=1 (start id, then its own choices)")

    # random decoders: the reference, at several widths (width 1 is greedy)
    for seed in range(12):
        vocab, max_len = 5 + seed % 3, 6
        step = _random_step(seed, vocab, end, end_bias=0.5)
        for width in (1, 2, 3, 5):
            expected, total = reference_beam(step, (), start, end, max_len, width)
            got = _ids(fn(step, (), start, end, max_len, width), "beam_decode")
            check_equal(
                got,
                expected,
                what=f"beam_width={width}, max_len={max_len} on random decoder {seed} ({vocab} ids): the most "
                f"probable hypothesis found (log-probability {total:.4f}; {_yours(step, start, end, max_len, got)})",
            )
    # a beam wide enough to keep every extension is exhaustive search
    for seed in range(20, 26):
        vocab, max_len = 4, 4
        step = _random_step(seed, vocab, end, end_bias=1.0)
        expected, total = exhaustive_best(step, (), start, end, max_len, vocab)
        got = _ids(fn(step, (), start, end, max_len, vocab**max_len), "beam_decode")
        check_equal(
            got,
            expected,
            what=f"a beam of {vocab**max_len} (it keeps everything) on random decoder {seed}: the most "
            f"probable of all sequences (log-probability {total:.4f})",
        )
    # hundreds of ids of a flat decoder: a product of probabilities underflows to 0, a sum of logs does not
    vocab, max_len = 30, 400
    step = _random_step(99, vocab, end, end_bias=-50.0, spread=0.3)
    expected, total = reference_beam(step, (), start, end, max_len, 2)
    got = _ids(fn(step, (), start, end, max_len, 2), "beam_decode")
    check_equal(len(got), max_len, what=f"length of a {max_len}-id answer (END is unlikely)")
    check_equal(
        got,
        expected,
        what=f"beam_width=2 over {max_len} steps of a flat decoder ({vocab} ids): the most probable "
        f"hypothesis (log-probability {total:.1f}, a probability of about 10^{total / np.log(10):.0f})",
    )
