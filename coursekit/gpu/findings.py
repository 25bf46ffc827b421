"""Titles for notebook 02's GPU figures that state a finding only when the numbers show it.

A title computed from data must check its premise: "only cuBLAS gets past the ridge" is printed
when the intensities put cuBLAS, and only cuBLAS, past the ridge; otherwise the title lists what
does pass. Each function returns the title; none of them measures anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from coursekit.words import listing


def ridge_title(intensity_flop_per_byte: Mapping[str, float], ridge_flop_per_byte: float, where: str) -> str:
    """Which kernels' arithmetic intensities (FLOP/byte) lie past the roofline's ridge (FLOP/byte).

    >>> ridge_title({"naive": 0.25, "tiled": 4, "cublas": 341}, 20, "H100 FP32")
    'H100 FP32: naive and tiled sit under the ridge (20 FLOP/B), only cublas gets past it'
    >>> ridge_title({"naive": 0.25, "tiled": 4}, 2, "this GPU")
    'this GPU: naive sits under the ridge (2 FLOP/B), tiled gets past it'
    """
    under = [name for name, i in intensity_flop_per_byte.items() if i < ridge_flop_per_byte]
    past = [name for name, i in intensity_flop_per_byte.items() if i >= ridge_flop_per_byte]
    ridge = f"the ridge ({ridge_flop_per_byte:.3g} FLOP/B)"
    if not past:
        return f"{where}: every kernel sits under {ridge}"
    if not under:
        return f"{where}: every kernel gets past {ridge}"
    sits = "sits" if len(under) == 1 else "sit"
    gets = ("only " if len(under) > 1 else "") + f"{past[0]} gets" if len(past) == 1 else f"{listing(past)} get"
    return f"{where}: {listing(under)} {sits} under {ridge}, {gets} past it"


def divergence_cliff_title(cliff: float, threshold: float = 1.3) -> str:
    """Title for the timed divergence sweep: ``cliff`` is time per element at L = 16 over L = 32.

    >>> divergence_cliff_title(1.9)
    '1.9x less time per element from L = 32: warps stop running both paths'
    >>> divergence_cliff_title(1.05)
    'Time per element at L = 16 is 1.05x that at L = 32: no clear cliff in this run'
    """
    if cliff >= threshold:
        return f"{cliff:.1f}x less time per element from L = 32: warps stop running both paths"
    return f"Time per element at L = 16 is {cliff:.2f}x that at L = 32: no clear cliff in this run"


def streams_title(n_streams: int, speedup: float, threshold: float = 1.1) -> str:
    """Title for the streams pipeline: ``speedup`` is one stream's time over ``n_streams``' time.

    >>> streams_title(4, 2.3)
    '4 streams overlap copies and kernel: 2.3x faster than one'
    >>> streams_title(4, 1.02)
    '4 streams ran 1.02x as fast as one: no clear overlap in this run'
    """
    if speedup >= threshold:
        return f"{n_streams} streams overlap copies and kernel: {speedup:.1f}x faster than one"
    return f"{n_streams} streams ran {speedup:.2f}x as fast as one: no clear overlap in this run"
