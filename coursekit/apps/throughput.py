"""Training throughput of notebook 05's three models on one device, on synthetic batches of the
real shapes — the CPU rows of the notebook's table, and the GPU rows recorded by
benchmarks/record_reference.py (:func:`measure_applications`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from coursekit.apps.langid import CharLSTM
from coursekit.apps.lenet import LECTURE_SGD, lenet
from coursekit.apps.seq2seq import Seq2Seq

# Shapes of the notebook's data: 28x28 images; words of 3-20 letters over ~60 characters, 6
# languages; dates of up to ~30 characters -> 10 ISO characters + END.
WORD_VOCAB, WORD_LEN, LANGS = 60, 12, 6
DATE_SRC_VOCAB, DATE_SRC_LEN, DATE_TGT_VOCAB, DATE_TGT_LEN = 50, 20, 14, 11


def _autocast(dev: str, precision: str) -> Callable[[], contextlib.AbstractContextManager]:
    if precision == "fp32":
        return contextlib.nullcontext
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return lambda: torch.autocast(dev.split(":")[0], dtype=dtype)


def _model_and_batch(name: str, batch: int, dev: str) -> tuple[nn.Module, Callable[[nn.Module], torch.Tensor]]:
    """The model and a function computing its loss on one synthetic batch."""
    g = torch.Generator().manual_seed(0)
    ce = nn.CrossEntropyLoss()
    if name == "lenet":
        x = torch.rand(batch, 1, 28, 28, generator=g).to(dev)
        y = torch.randint(0, 10, (batch,), generator=g).to(dev)
        return lenet().to(dev), lambda m: ce(m(x), y)
    if name == "lstm":
        ids = torch.randint(1, WORD_VOCAB, (batch, WORD_LEN), generator=g)
        lengths = torch.randint(3, WORD_LEN + 1, (batch,), generator=g)
        ids[torch.arange(WORD_LEN) >= lengths[:, None]] = 0
        y = torch.randint(0, LANGS, (batch,), generator=g).to(dev)
        lstm = CharLSTM(WORD_VOCAB, LANGS, embed=64, hidden=128, bidirectional=True, dropout=0.3).to(dev)
        ids = ids.to(dev)
        return lstm, lambda m: ce(m(ids, lengths), y)
    if name == "seq2seq":
        src = torch.randint(1, DATE_SRC_VOCAB, (batch, DATE_SRC_LEN), generator=g).to(dev)
        src_len = torch.full((batch,), DATE_SRC_LEN)
        dec_in = torch.randint(1, DATE_TGT_VOCAB, (batch, DATE_TGT_LEN), generator=g).to(dev)
        dec_out = torch.randint(1, DATE_TGT_VOCAB, (batch, DATE_TGT_LEN), generator=g).to(dev)
        s2s = Seq2Seq(DATE_SRC_VOCAB, DATE_TGT_VOCAB, hidden=128, attention=True).to(dev)
        return s2s, lambda m: ce(m(src, src_len, dec_in).reshape(-1, DATE_TGT_VOCAB), dec_out.reshape(-1))
    raise ValueError(f"unknown model {name!r}: lenet, lstm or seq2seq")


def training_examples_per_s(
    name: str, dev: str = "cpu", batch: int = 100, precision: str = "fp32", min_time: float = 1.0, warmup: int = 3
) -> float:
    """Training examples per second (forward, backward, SGD step) of model ``name`` at ``batch``
    on ``dev``, with ``precision`` ``"fp32"``, ``"bf16"`` or ``"fp16"`` (autocast; fp16 with a
    gradient scaler). Times whole steps until ``min_time`` seconds have passed."""
    model, loss_of = _model_and_batch(name, batch, dev)
    opt = torch.optim.SGD(model.parameters(), **LECTURE_SGD)
    cast = _autocast(dev, precision)
    scaler = torch.amp.GradScaler(dev.split(":")[0], enabled=precision == "fp16")
    sync = torch.cuda.synchronize if dev.startswith("cuda") else (lambda: None)

    def step() -> None:
        with cast():
            loss = loss_of(model)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(warmup):
        step()
    sync()
    steps, start = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        if steps % 5 == 0 or not dev.startswith("cuda"):
            sync()
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                return steps * batch / elapsed


def measure_applications(dev: str) -> dict:
    """The throughput table's rows for ``dev`` (for benchmarks/record_reference.py): training
    examples/s of LeNet, the char-LSTM and the seq2seq at a few batch sizes, in fp32 and, on a
    GPU, float16 autocast (mixed precision); plus LeNet's seconds per 60,000-image epoch at the
    lecture's batch of 100."""
    gpu = dev.startswith("cuda")
    precisions = ["fp32", "fp16"] if gpu else ["fp32"]
    rows: list[dict[str, Any]] = []
    for name in ("lenet", "lstm", "seq2seq"):
        for batch in [100, 1024] if gpu else [100]:
            for precision in precisions:
                rate = training_examples_per_s(name, dev, batch, precision, min_time=1.0 if gpu else 0.5)
                rows.append({"model": name, "batch": batch, "precision": precision, "examples_per_s": rate})
    lenet100 = next(r for r in rows if r["model"] == "lenet" and r["batch"] == 100 and r["precision"] == "fp32")
    return {"rows": rows, "lenet_epoch_s": 60_000 / lenet100["examples_per_s"]}
