"""An encoder-decoder (seq2seq) that rewrites human dates as ISO 8601, with optional attention.

- :class:`Seq2Seq` — bidirectional GRU encoder; GRU decoder fed its previous character, with
  (``attention=True``) or without a context vector over the encoder's outputs.
- :func:`encode_pairs` — source ids, lengths, and decoder inputs/targets (teacher forcing).
- :func:`train_epoch` — one pass with teacher forcing.
- :func:`decode_batch` — greedy decoding of a batch at once, with the attention weights for a heat
  map. (Beam search is exercise 5.5: the library does not hold it.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit.apps.training import optimizer_step, progress_bar
from coursekit.datasets.chars import END, START, CharVocab, encode_chars


def encode_pairs(
    sources: Sequence[str], targets: Sequence[str], source_vocab: CharVocab, target_vocab: CharVocab
) -> dict[str, torch.Tensor]:
    """Tensors for training: ``src`` (N, S) ids padded with 0 and ``src_len`` (N,); ``dec_in``
    = START + target and ``dec_out`` = target + END, both (N, T+1) (teacher forcing: the decoder
    reads the true previous character and learns to predict the next)."""
    src, src_len, _ = encode_chars(sources, source_vocab)
    tgt, _, _ = encode_chars([START + t + END for t in targets], target_vocab)
    return {
        "src": torch.from_numpy(src),
        "src_len": torch.from_numpy(src_len),
        "dec_in": torch.from_numpy(tgt[:, :-1]).contiguous(),
        "dec_out": torch.from_numpy(tgt[:, 1:]).contiguous(),
    }


class Seq2Seq(nn.Module):
    """Character encoder-decoder. ``attention=False``: the decoder sees the input only through
    the encoder's final state (one fixed-size vector for the whole date); ``attention=True``:
    at each output step it also reads a weighted average of the encoder's outputs (additive
    attention, Bahdanau et al. 2015), the weights saying which input characters it looked at."""

    def __init__(self, src_vocab: int, tgt_vocab: int, embed: int = 32, hidden: int = 128, attention: bool = True):
        super().__init__()
        self.attention = attention
        self.src_embed = nn.Embedding(src_vocab, embed, padding_idx=0)
        self.encoder = nn.GRU(embed, hidden, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed, padding_idx=0)
        self.decoder = nn.GRUCell(embed + (2 * hidden if attention else 0), hidden)
        if attention:
            self.att_enc = nn.Linear(2 * hidden, hidden, bias=False)
            self.att_dec = nn.Linear(hidden, hidden)
            self.att_v = nn.Linear(hidden, 1, bias=False)
        self.out = nn.Linear(hidden + (2 * hidden if attention else 0), tgt_vocab)

    def encode(self, src: torch.Tensor, src_len: torch.Tensor) -> dict[str, Any]:
        """Run the encoder: its outputs (B, S, 2H), the padding mask, and the decoder's first state."""
        packed = nn.utils.rnn.pack_padded_sequence(
            self.src_embed(src), src_len.cpu(), batch_first=True, enforce_sorted=False
        )
        out, h = self.encoder(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        state = torch.tanh(self.bridge(torch.cat([h[0], h[1]], dim=1)))
        memory = {"outputs": out, "mask": src != 0, "hidden": state}
        if self.attention:
            memory["keys"] = self.att_enc(out)  # computed once, reused at every output step
        return memory

    def step(
        self, prev: torch.Tensor, memory: dict[str, Any]
    ) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor | None]:
        """One decoder step: previous characters ``prev`` (B,) -> logits (B, V), the new memory
        (with the updated hidden state) and the attention weights (B, S) or None."""
        h = memory["hidden"]
        x = self.tgt_embed(prev)
        weights = None
        if self.attention:
            scores = self.att_v(torch.tanh(memory["keys"] + self.att_dec(h).unsqueeze(1))).squeeze(2)
            scores = scores.masked_fill(~memory["mask"], float("-inf"))
            weights = torch.softmax(scores, dim=1)
            context = torch.bmm(weights.unsqueeze(1), memory["outputs"]).squeeze(1)
            h = self.decoder(torch.cat([x, context], dim=1), h)
            logits = self.out(torch.cat([h, context], dim=1))
        else:
            h = self.decoder(x, h)
            logits = self.out(h)
        return logits, {**memory, "hidden": h}, weights

    def forward(self, src: torch.Tensor, src_len: torch.Tensor, dec_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, V): step t reads the true character ``dec_in[:, t]``."""
        memory = self.encode(src, src_len)
        logits = []
        for t in range(dec_in.shape[1]):
            out, memory, _ = self.step(dec_in[:, t], memory)
            logits.append(out)
        return torch.stack(logits, dim=1)


def train_epoch(
    model: Seq2Seq,
    optimizer: torch.optim.Optimizer,
    data: dict[str, torch.Tensor],
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = False,
) -> tuple[float, float]:
    """One teacher-forced pass over ``data`` (from :func:`encode_pairs`). Returns (mean loss, s)."""
    model.train()
    loss_fn = nn.CrossEntropyLoss(ignore_index=0)
    n = len(data["src"])
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    chunks = progress_bar([order[i : i + batch_size] for i in range(0, n, batch_size)], "seq2seq epoch", progress)
    total, count = 0.0, 0
    start = time.perf_counter()
    for idx in chunks:
        lens = data["src_len"][idx]
        src = data["src"][idx, : int(lens.max())]
        logits = model(src, lens, data["dec_in"][idx])
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), data["dec_out"][idx].reshape(-1))
        total += optimizer_step(model, optimizer, loss, max_norm=5.0) * len(idx)
        count += len(idx)
    return total / count, time.perf_counter() - start


def decode_batch(
    model: Seq2Seq, src: torch.Tensor, src_len: torch.Tensor, target_vocab: CharVocab, max_len: int = 12
) -> tuple[list[str], np.ndarray | None]:
    """Greedy decoding of a whole batch (each row cut at its first END). Returns the strings and,
    with attention, the weights (B, output steps, source steps)."""
    model.eval()
    start_id, end_id = target_vocab.index[START], target_vocab.index[END]
    with torch.no_grad():
        memory = model.encode(src, src_len)
        prev = torch.full((len(src),), start_id, dtype=torch.long)
        ids, weights = [], []
        for _ in range(max_len):
            logits, memory, w = model.step(prev, memory)
            prev = logits.argmax(dim=1)
            ids.append(prev)
            if w is not None:
                weights.append(w)
            if bool((torch.stack(ids, 1) == end_id).any(dim=1).all()):
                break
    rows = torch.stack(ids, dim=1).numpy()
    texts = []
    for row in rows:
        chars = []
        for i in row:
            if i == end_id:
                break
            chars.append("?" if i in (0, start_id) else target_vocab.chars[i])
        texts.append("".join(chars))
    return texts, (torch.stack(weights, dim=1).numpy() if weights else None)


def exact_match(
    model: Seq2Seq, data: dict[str, torch.Tensor], targets: Sequence[str], vocab: CharVocab, batch_size: int = 1000
) -> tuple[float, list[str]]:
    """Fraction of ``targets`` decoded exactly, and every decoded string."""
    decoded: list[str] = []
    for i in range(0, len(targets), batch_size):
        lens = data["src_len"][i : i + batch_size]
        texts, _ = decode_batch(model, data["src"][i : i + batch_size, : int(lens.max())], lens, vocab)
        decoded += texts
    return float(np.mean([d == t for d, t in zip(decoded, targets, strict=True)])), decoded
