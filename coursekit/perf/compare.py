"""Comparing functions fairly: interleaved timing, a speed-up table and its bar chart.

:func:`interleaved` times several functions of the same arguments in rounds A, B, A, B, ... so
that a change in the machine's speed affects all alike; :func:`compare` turns measurements into a
table of medians and speed-ups; :func:`plot_comparison` draws it. Timing itself is
:mod:`coursekit.perf.timing`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from coursekit.checks import to_numpy
from coursekit.perf.timing import Measurement, Sampler, enough_samples, format_seconds, is_gpu_work

if TYPE_CHECKING:
    import pandas as pd


# ------------------------------------------------------------------------------ comparisons


def interleaved(
    fns: Mapping[str, Callable[..., Any]],
    *args: Any,
    device: str = "auto",
    min_time: float = 0.2,
    max_time: float = 10.0,
    min_samples: int = 5,
    check: bool = True,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    **kwargs: Any,
) -> list[Measurement]:
    """Time several functions of the same arguments in rounds A, B, A, B, ...

    Interleaving means that a change in the machine's speed while timing (another process,
    clock scaling) affects every function alike instead of posing as a difference between them.
    With ``check``, first verifies that all return equal results (``numpy.allclose`` with
    ``rtol``/``atol``) and raises ``ValueError`` naming the one that differs.
    """
    if not fns:
        raise ValueError("interleaved: no functions given")
    on_gpu = is_gpu_work(device, [*args, *kwargs.values()])
    samplers = {label: Sampler(fn, args, kwargs, on_gpu=on_gpu) for label, fn in fns.items()}
    for s in samplers.values():
        s.cold()
    if check:
        labels = list(samplers)
        reference = to_numpy(samplers[labels[0]].result)
        for label in labels[1:]:
            got = to_numpy(samplers[label].result)
            if got.shape != reference.shape or not np.allclose(got, reference, rtol=rtol, atol=atol):
                raise ValueError(f"interleaved: {label!r} returns a different result from {labels[0]!r}")
    for s in samplers.values():
        s.result = None  # checked: not held while timing (ten contenders x 40 MB in notebook 04)
        s.warm(1)
    for s in samplers.values():
        s.autorange()
    start = time.perf_counter()
    while True:
        rounds = min(len(s.times) for s in samplers.values())
        if enough_samples(rounds, time.perf_counter() - start, min_samples, min_time * len(fns), max_time):
            break
        for s in samplers.values():
            s.sample()
    return [s.measurement(label) for label, s in samplers.items()]


def compare(
    items: Sequence[Measurement] | Mapping[str, Callable[..., Any]],
    *args: Any,
    baseline: str | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """A table: median and IQR per call, speed-up vs ``baseline`` (default: the first).

    ``items`` is either finished :class:`Measurement` objects, or a mapping of labels to
    callables that are then timed on ``*args`` with :func:`interleaved` (results checked for
    equality; extra keyword arguments go to :func:`interleaved`). Speed-up is
    ``baseline median / median``: bigger is faster. Columns ``median_s``/``iqr_s`` hold seconds.
    """
    import pandas as pd

    measurements = interleaved(items, *args, **kwargs) if isinstance(items, Mapping) else list(items)
    if not measurements:
        raise ValueError("compare: no measurements given")
    by_label = {m.label: m for m in measurements}
    if len(by_label) != len(measurements):
        raise ValueError("compare: labels must be distinct")
    if baseline is not None and baseline not in by_label:
        raise ValueError(f"compare: baseline {baseline!r} is not among {list(by_label)}")
    base = by_label[baseline] if baseline is not None else measurements[0]
    rows = [
        {
            "label": m.label,
            "median": format_seconds(m.median),
            "iqr": format_seconds(m.iqr),
            "speedup": float(f"{base.median / m.median:.4g}"),  # 4 significant digits, even when tiny
            "device": m.where,
            "median_s": m.median,
            "iqr_s": m.iqr,
        }
        for m in measurements
    ]
    return pd.DataFrame(rows).set_index("label")


# ------------------------------------------------------------------------------------ plots


def plot_comparison(
    measurements: Sequence[Measurement], baseline: str | None = None, ax=None, title: str | None = None
):
    """Horizontal bars of median time per call (log seconds axis), IQR as error bars.

    Each bar is annotated with its median and speed-up vs ``baseline``. Returns the Axes.
    """
    import matplotlib.pyplot as plt

    table = compare(measurements, baseline=baseline)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 0.6 + 0.5 * len(table)))
    medians = table["median_s"].to_numpy()
    y = np.arange(len(table))
    ax.barh(y, medians, xerr=table["iqr_s"].to_numpy(), color="tab:blue", alpha=0.8)
    ax.set_yticks(y, table.index)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median time per call (seconds, log scale)")
    for yi, (med, sp) in enumerate(zip(medians, table["speedup"], strict=True)):
        ax.annotate(f" {format_seconds(med)} ({sp:.3g}x)", (med, yi), va="center", fontsize=9)
    ax.set_xlim(right=medians.max() * 30)
    ax.set_title(title or "Median time per call (shorter is faster)")
    return ax
