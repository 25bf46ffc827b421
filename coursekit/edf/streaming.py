"""Streaming SGD, minibatch SGD, large batches and map-reduce on one logistic-regression problem.

The data live in a ``.npy`` file opened memory-mapped: a method that streams reads one chunk at a
time, so its memory stays bounded however large the file. :func:`train` runs SGD with a given
batch size for a wall-clock budget and records the full-data loss against the training time
(evaluation time excluded). :func:`mapreduce_gradient` computes the full gradient as a *map*
(worker processes, one chunk each, partial sums) and a *reduce* (adding the partial sums).
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd


def make_data(path: Path, n: int, d: int = 100, seed: int = 5) -> Path:
    """Write ``n`` examples of ``d`` float32 features plus a label column (last) to ``path``
    (.npy); labels come from a random linear rule with 10 % label noise. Returns the path."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    w_true = rng.standard_normal(d).astype(np.float32) / np.sqrt(d)
    y = ((X @ w_true) > 0).astype(np.float32)
    flip = rng.random(n) < 0.1
    y[flip] = 1 - y[flip]
    np.save(path, np.hstack([X, y[:, None]]))
    return path


def open_data(path: Path) -> np.ndarray:
    """The data file memory-mapped, read-only: rows are read from disk (or the page cache) on use."""
    return np.load(path, mmap_mode="r")


def loss(data: np.ndarray, w: np.ndarray, chunk: int = 50_000) -> float:
    """Mean logistic loss of weights ``w`` over every row, computed chunk by chunk."""
    total = 0.0
    for start in range(0, len(data), chunk):
        block = np.asarray(data[start : start + chunk])
        z = block[:, :-1] @ w
        y = block[:, -1]
        total += float(np.sum(np.logaddexp(0, z) - y * z))
    return total / len(data)


def _grad_sum(block: np.ndarray, w: np.ndarray) -> np.ndarray:
    X, y = block[:, :-1], block[:, -1]
    p = 1 / (1 + np.exp(-(X @ w)))
    return X.T @ (p - y)


def train(
    data: np.ndarray, batch: int, lr: float, budget_s: float, chunk: int = 10_000, evals: int = 12
) -> pd.DataFrame:
    """SGD on ``data`` with ``batch`` examples per step and step size ``lr``, for ``budget_s``
    seconds of training, streaming ``chunk`` rows at a time from the (memory-mapped) data.

    Returns one row per evaluation: ``seconds`` (training time so far), ``examples`` seen and
    ``loss`` (over all the data; its time is not counted).
    """
    d = data.shape[1] - 1
    w = np.zeros(d, dtype=np.float32)
    rows = [{"seconds": 0.0, "examples": 0, "loss": loss(data, w)}]
    every = budget_s / evals
    trained, seen, next_eval = 0.0, 0, every
    while trained < budget_s:
        for start in range(0, len(data), chunk):
            block = np.asarray(data[start : start + chunk])  # the only rows held in memory
            t0 = time.perf_counter()
            for b in range(0, len(block), batch):
                part = block[b : b + batch]
                w -= lr / len(part) * _grad_sum(part, w).astype(np.float32)
            trained += time.perf_counter() - t0
            seen += len(block)
            if trained >= next_eval or trained >= budget_s:
                rows.append({"seconds": trained, "examples": seen, "loss": loss(data, w)})
                next_eval = trained + every
            if trained >= budget_s:
                break
    return pd.DataFrame(rows)


def _map_chunk(args: tuple[str, int, int, np.ndarray]) -> np.ndarray:
    path, start, stop, w = args
    return _grad_sum(np.asarray(open_data(Path(path))[start:stop]), w)


def mapreduce_gradient(path: Path, w: np.ndarray, chunks: int, workers: int) -> tuple[np.ndarray, float]:
    """Mean logistic-loss gradient over the file at ``path``: map = ``workers`` processes each
    summing the gradient over some of ``chunks`` row ranges, reduce = add the partial sums.
    Returns (gradient, wall seconds including starting the processes)."""
    n = len(open_data(path))
    edges = np.linspace(0, n, chunks + 1).astype(int)
    jobs = [(str(path), int(a), int(b), w) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        partial = list(pool.map(_map_chunk, jobs))  # map
    total = np.sum(partial, axis=0)  # reduce
    return total / n, time.perf_counter() - start
