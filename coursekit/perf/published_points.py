"""Published measurements as points on a roofline: a :class:`~coursekit.perf.roofline.Kernel` of
``tier="published measurement"`` (drawn as a hollow diamond by :func:`coursekit.perf.roofline.plot`)
whose work is what the source ran and whose time makes it reach the figure the source reports.

    >>> from coursekit.perf import published
    >>> k = triad(published.get("azure-h100-babelstream-triad"), device="NVIDIA H100 SXM")
    >>> round(k.intensity, 4), round(k.bytes_per_s / 1e12, 2)     # FLOP/byte, TB/s
    (0.0833, 2.97)

Only the arithmetic (FLOP per element, bytes per element from the entry's precision, the sizes the
entry states) is computed here; the achieved rate is the source's.
"""

from __future__ import annotations

import re

from coursekit.perf import published
from coursekit.perf.published import Entry
from coursekit.perf.roofline import Kernel

# bytes per element of each precision an entry may state
ITEMSIZE: dict[str, int] = {"fp64": 8, "fp32": 4, "fp16": 2, "bf16": 2, "fp8_e4m3": 1}


def _itemsize(entry: Entry) -> int:
    if entry.precision not in ITEMSIZE:
        raise ValueError(f"entry {entry.id!r}: precision {entry.precision!r} has no known element size")
    return ITEMSIZE[entry.precision]


def _integers(text: str | None) -> list[int]:
    """The integers written in ``text``, thousands separators allowed: ``'1,308,622,848 elements'`` -> [1308622848]."""
    return [int(t.replace(",", "")) for t in re.findall(r"\d[\d,]*\d|\d", text or "")]


def triad(entry: Entry, device: str, name: str | None = None) -> Kernel:
    """A STREAM-style triad ``a = b + s * c`` (2 FLOP and 3 elements moved per element) of the
    entry's array size, timed so that it moves bytes at the entry's bandwidth (bytes/s)."""
    if entry.quantity != "triad_bandwidth":
        raise ValueError(f"entry {entry.id!r} is a {entry.quantity}, not a triad_bandwidth")
    sizes = _integers(entry.size)
    if not sizes:
        raise ValueError(f"entry {entry.id!r} states no array size: {entry.size!r}")
    n = sizes[0]
    nbytes = 3 * n * _itemsize(entry)
    label = name or f"triad {entry.precision} (published)"
    return Kernel(label, 2.0 * n, float(nbytes), nbytes / published.si_value(entry), device, published.TIER)


def matmul(entry: Entry, device: str, name: str | None = None) -> Kernel:
    """An M x K times K x N matrix multiply of the entry's ``size`` (``"MxNxK"`` as the MAMF
    entries write it: M, N, K in that order), every input read once and the result written once in
    the entry's precision, timed so that it reaches the entry's FLOP/s."""
    if entry.quantity != "matmul_flops":
        raise ValueError(f"entry {entry.id!r} is a {entry.quantity}, not a matmul_flops")
    dims = _integers((entry.size or "").split("(")[0])
    if len(dims) != 3:
        raise ValueError(f"entry {entry.id!r}: size {entry.size!r} is not M x N x K")
    m, n, k = dims
    flop = 2.0 * m * n * k
    nbytes = float((m * k + k * n + m * n) * _itemsize(entry))
    label = name or f"matmul {entry.precision} {m}x{n}x{k} (published)"
    return Kernel(label, flop, nbytes, flop / published.si_value(entry), device, published.TIER)


def legend_handle():
    """A legend entry for the hollow diamonds: "published measurement (measured elsewhere)"."""
    import matplotlib.pyplot as plt

    return plt.Line2D(
        [], [], marker="D", ls="", color="grey", mfc="none", mew=1.5, label="published measurement (elsewhere)"
    )
