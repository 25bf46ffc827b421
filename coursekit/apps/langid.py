"""Which language is this word? A character-level LSTM (many-to-one), and the counting baseline.

- :func:`ngrams`, :class:`NaiveBayes` — naive Bayes over character n-grams, given the estimate of
  log P(n-gram | class) from the counts (notebook 05's exercise writes the smoothed one; the
  notebook writes its own classifier in numpy, and this one checks it and serves the benchmark).
- :class:`CharLSTM` — embedding, LSTM, linear, over packed variable-length batches.
- :func:`bucketed_batches` — minibatches of words of similar length (less padding).
- :func:`train_epoch`, :func:`predict` — the loop pieces.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from coursekit.apps.training import optimizer_step, progress_bar


def ngrams(word: str, n_max: int = 5, n_min: int = 1) -> list[str]:
    """Character n-grams of ``"^word$"`` (``^``/``$`` mark the word's start and end, so that
    endings like ``"ing$"`` count apart from the same letters inside a word)."""
    w = f"^{word}$"
    return [w[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(w) - n + 1) if w[i : i + n] not in "^$"]


class NaiveBayes:
    """Multinomial naive Bayes over character n-grams.

    ``log P(class | word) = log P(class) + sum over the word's n-grams g of log P(g | class)``,
    up to a constant. ``log_prob(counts)`` turns the (classes, n-grams) count table of the
    training words into the table of ``log P(g | class)`` (it must give every pair a finite value:
    smoothing). n-grams never seen in training are ignored.
    """

    def __init__(self, log_prob: Callable[[np.ndarray], np.ndarray], n_max: int = 5):
        self.estimate, self.n_max = log_prob, n_max

    def _pairs(self, words: Sequence[str], grow: bool) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = [], []
        for i, w in enumerate(words):
            for g in ngrams(w, self.n_max):
                j = self.vocab.get(g)
                if j is None and grow:
                    j = self.vocab[g] = len(self.vocab)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)

    def fit(self, words: Sequence[str], labels: np.ndarray, n_classes: int) -> NaiveBayes:
        self.vocab: dict[str, int] = {}
        rows, cols = self._pairs(words, grow=True)
        counts = np.zeros((n_classes, len(self.vocab)))
        np.add.at(counts, (np.asarray(labels)[rows], cols), 1)
        self.log_prob = np.asarray(self.estimate(counts), dtype=float)
        self.log_prior = np.log(np.bincount(labels, minlength=n_classes) / len(labels))
        return self

    def scores(self, words: Sequence[str]) -> np.ndarray:
        """Unnormalised log-posteriors, shape (len(words), n_classes)."""
        rows, cols = self._pairs(words, grow=False)
        out = np.tile(self.log_prior, (len(words), 1))
        np.add.at(out, rows, self.log_prob[:, cols].T)
        return out

    def predict(self, words: Sequence[str]) -> np.ndarray:
        return self.scores(words).argmax(axis=1)


def split(n: int, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random train/test split of ``range(n)``: (train indices, test indices)."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


class CharLSTM(nn.Module):
    """Embedding -> LSTM -> linear over the last real step of each word (many-to-one).

    ``forward(ids, lengths)``: ``ids`` (B, T) int64 padded with 0, ``lengths`` (B,). With
    ``packed=True`` the LSTM runs over a ``PackedSequence`` and stops at each word's end; with
    ``packed=False`` it runs over every padded step, and ``last_output(outputs, lengths)`` (given
    to the constructor: notebook 05's exercise writes it) picks each word's state from the
    outputs (B, T, hidden): the same answer as packing when it is right, with more work.
    """

    def __init__(
        self,
        vocab_size: int,
        n_classes: int,
        embed: int = 32,
        hidden: int = 128,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        last_output: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__()
        self.last_output = last_output
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.lstm = nn.LSTM(
            embed,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), n_classes)

    def features(self, ids: torch.Tensor, lengths: torch.Tensor, packed: bool = True) -> torch.Tensor:
        """The last real hidden state of each sequence, shape (B, hidden)."""
        x = self.drop(self.embed(ids))
        if packed:
            seq = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, (h, _) = self.lstm(seq)
            # h: (layers * directions, B, hidden); the last layer's forward (and backward) states
            return torch.cat([h[-2], h[-1]], dim=1) if self.lstm.bidirectional else h[-1]
        if self.lstm.bidirectional:
            raise ValueError("packed=False would run the backward direction over the padding first: pack it")
        if self.last_output is None:
            raise ValueError("packed=False needs last_output(outputs, lengths), given to CharLSTM(...)")
        outputs, _ = self.lstm(x)
        return self.last_output(outputs, lengths.to(ids.device))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, packed: bool = True) -> torch.Tensor:
        return self.out(self.drop(self.features(ids, lengths, packed)))


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, bucket: bool = True, seed: int | None = None
) -> Iterator[np.ndarray]:
    """Index arrays of minibatches. ``bucket=True``: sort by length (ties shuffled), cut into
    batches, shuffle the batches — each batch holds words of similar length, so padding is
    minimal. ``bucket=False``: plain shuffled batches. ``seed=None``: no shuffling at all."""
    n = len(lengths)
    rng = np.random.default_rng(seed)
    if bucket:
        jitter = rng.random(n) if seed is not None else np.arange(n) / n
        order = np.lexsort((jitter, lengths))
    else:
        order = rng.permutation(n) if seed is not None else np.arange(n)
    chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if seed is not None:
        chunks = [chunks[i] for i in rng.permutation(len(chunks))]
    return iter(chunks)


def padded_steps(lengths: np.ndarray, batch_size: int, bucket: bool, seed: int = 0) -> tuple[int, int]:
    """(LSTM steps computed when each batch is padded to its longest word, real characters)."""
    total = 0
    for idx in bucketed_batches(lengths, batch_size, bucket, seed):
        total += len(idx) * int(lengths[idx].max())
    return total, int(lengths.sum())


def train_epoch(
    model: CharLSTM,
    optimizer: torch.optim.Optimizer,
    ids: torch.Tensor,
    lengths: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 64,
    bucket: bool = True,
    packed: bool = True,
    seed: int = 0,
    progress: bool = False,
    trim: bool = True,
) -> tuple[float, float]:
    """One pass in minibatches. ``trim``: cut each batch to its longest word (else every batch
    keeps the full padded width of ``ids``). Returns (mean loss, seconds)."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    total, count = 0.0, 0
    chunks = progress_bar(list(bucketed_batches(lengths.numpy(), batch_size, bucket, seed)), "LSTM epoch", progress)
    start = time.perf_counter()
    for chunk in chunks:
        idx = torch.from_numpy(chunk)
        lens = lengths[idx]
        batch = ids[idx, : int(lens.max())] if trim else ids[idx]
        loss = loss_fn(model(batch, lens, packed=packed), labels[idx])
        total += optimizer_step(model, optimizer, loss, max_norm=5.0) * len(idx)
        count += len(idx)
    return total / count, time.perf_counter() - start


def predict(model: CharLSTM, ids: torch.Tensor, lengths: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Predicted class per word (evaluation mode, no gradients)."""
    model.eval()
    out = np.empty(len(ids), dtype=np.int64)
    with torch.no_grad():
        for idx in bucketed_batches(lengths.numpy(), batch_size, bucket=True, seed=None):
            t = torch.from_numpy(idx)
            lens = lengths[t]
            out[idx] = model(ids[t, : int(lens.max())], lens).argmax(dim=1).numpy()
    return out
