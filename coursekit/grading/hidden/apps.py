"""Checkers for notebook 05's graded exercises: each runs the student's function on cases with
known answers and raises ``AssertionError`` saying what was expected and what came back."""

from __future__ import annotations

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


def check_greedy_decode(fn: Callable[..., list[int]]) -> None:
    """``fn(step, state, start_id, end_id, max_len)`` on scripted decoders: stops at the end token
    (not included), at ``max_len`` ids at most, feeds back its own previous choice."""
    start, end = 0, 1
    # (what the decoder would say, max_len, the ids greedy decoding returns): stated, not computed,
    # so that coursekit does not hold the exercise's answer
    cases = [
        ([4, 2, 5, end, 3, 3], 10, [4, 2, 5]),
        ([end], 10, []),
        ([2, 3, 4, 5, 2, 3, 4], 4, [2, 3, 4, 5]),
        ([5, 5, end], 3, [5, 5]),
        ([2, 2, 2], 3, [2, 2, 2]),
    ]
    for script, max_len, expected in cases:
        got = fn(_scripted_step(script), {"t": 0, "fed": []}, start, end, max_len)
        check_true(got is not None, "greedy_decode should return its result, got None: did it forget to `return`?")
        check_equal(
            [int(i) for i in got],
            expected,
            what=f"greedy decoding of a decoder that would say {script} (end id {end}, max_len {max_len})",
        )

    # It must feed the decoder its own previous output, starting with the start id.
    fed = []

    def recording(prev, state):
        fed.append(int(prev))
        return _scripted_step([3, 4, 2, end])(prev, state)

    fn(recording, {"t": 0, "fed": []}, start, end, 10)
    check_equal(fed, [start, 3, 4, 2], what="ids fed to the decoder, step by step (start id, then its own outputs)")
