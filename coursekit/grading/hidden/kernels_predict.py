"""Checker for notebook 02's prediction exercise: the student predicts four counts before the
notebook measures them; here the tracer counts them again and the predictions must be exact.

The counts are deterministic (the tracer runs one thread at a time and the counting rules of
:mod:`coursekit.gpu.contract` are fixed), so a prediction is right or wrong, on any machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from coursekit.gpu import tracer
from coursekit.gpu.contract import bank_conflicts, sectors_per_warp

cuda: Any = None  # the tracer binds its own `cuda` into each kernel's globals


def _tile_column_read(x, out):
    """One warp (32, 1): a 32 x 32 float32 tile loaded by rows, read by columns ``tile[tx, j]``."""
    tile = cuda.shared.array((32, 32), np.float32)
    tx = cuda.threadIdx.x
    for j in range(32):
        tile[j, tx] = x[j, tx]
    cuda.syncthreads()
    for j in range(32):
        out[j, tx] = tile[tx, j]


def _tile_stride2_read(x, out):
    """One warp (32, 1): a 32 x 64 float32 tile loaded by rows, read at even columns ``tile[j, 2 tx]``."""
    tile = cuda.shared.array((32, 64), np.float32)
    tx = cuda.threadIdx.x
    for j in range(32):
        tile[j, tx] = x[j, tx]
        tile[j, tx + 32] = x[j, tx + 32]
    cuda.syncthreads()
    for j in range(32):
        out[j, tx] = tile[j, 2 * tx]


PROMPTS = {
    "naive transpose: sectors per warp, writes of out": "transpose_naive, 32 x 32 float32, blocks (32, 8)",
    "copy_2d on float64: sectors per warp, reads of x": "copy_2d, 32 x 32 float64, blocks (32, 8)",
    "tile[tx, j], 32 x 32 float32 tile: ways": "a warp reads tile[tx, j] for one j",
    "tile[j, 2 * tx], 32 x 64 float32 tile: ways": "a warp reads tile[j, 2 * tx] for one j",
}


def measured() -> dict[str, int]:
    """The four counts of :data:`PROMPTS`, as the tracer counts them (the worst warp access of each),
    on the course's own ``copy_2d`` and ``transpose_naive``."""
    from coursekit.gpu.kernels.transpose import copy_2d, transpose_naive

    x32 = np.arange(32 * 32, dtype=np.float32).reshape(32, 32)
    x64 = np.arange(32 * 32, dtype=np.float64).reshape(32, 32)
    naive = tracer.trace(transpose_naive, (1, 4), (32, 8), x32, np.zeros_like(x32))
    copy64 = tracer.trace(copy_2d, (1, 4), (32, 8), x64, np.zeros_like(x64))
    column = tracer.trace(_tile_column_read, 1, (32, 1), x32, np.zeros_like(x32))
    wide = np.arange(32 * 64, dtype=np.float32).reshape(32, 64)
    stride2 = tracer.trace(_tile_stride2_read, 1, (32, 1), wide, np.zeros((32, 32), np.float32))
    keys = list(PROMPTS)
    return {
        keys[0]: int(sectors_per_warp(naive, "out", "write")["sectors"].max()),
        keys[1]: int(sectors_per_warp(copy64, "x", "read")["sectors"].max()),
        keys[2]: int(bank_conflicts(column, op="read")["ways"].max()),
        keys[3]: int(bank_conflicts(stride2, op="read")["ways"].max()),
    }


def check_predictions(predictions: Mapping[str, Any]) -> None:
    """Ex 2.5: every prediction equals the tracer's count. Raises ``AssertionError`` listing the
    keys that are missing or wrong (not the right values: the notebook shows them next)."""
    truth = measured()
    missing = [k for k in truth if k not in predictions]
    if missing:
        raise AssertionError(f"predictions: expected the keys {list(truth)}, missing {missing}")
    wrong = [k for k, v in truth.items() if not _is_int(predictions[k]) or int(predictions[k]) != v]
    if wrong:
        raise AssertionError(f"predictions: {len(wrong)} of {len(truth)} wrong: {wrong}")


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)
