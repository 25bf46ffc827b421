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


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.2g} %" if fraction < 0.1 else f"{100 * fraction:.0f} %"


def roof_fraction_title(fraction_of_roof: Mapping[str, float], where: str) -> str:
    """Title for kernels placed at their requested-traffic (no-cache) intensity: ``fraction_of_roof``
    is each kernel's achieved FLOP/s over the roof there (a plain ratio). Above 1, caches served
    loads the count charged to memory; below 1, it reached that fraction of its roof.

    >>> roof_fraction_title({"naive": 10.3, "tiled": 0.49, "cublas": 0.6}, "A6000 FP32")
    'A6000 FP32: naive beats its no-cache roof (caches), tiled reaches 49 % and cublas 60 % of theirs'
    >>> roof_fraction_title({"naive": 0.8}, "this GPU")
    'this GPU: naive reaches 80 % of its roof'
    """
    above = [name for name, f in fraction_of_roof.items() if f > 1]
    below = {name: f for name, f in fraction_of_roof.items() if f <= 1}
    parts = []
    if above:
        verb, whose = ("beats", "its") if len(above) == 1 else ("beat", "their")
        parts.append(f"{listing(above)} {verb} {whose} no-cache roof (caches)")
    if below:
        (first, f_first), *rest = below.items()
        reached = listing([f"{first} reaches {_percent(f_first)}"] + [f"{name} {_percent(f)}" for name, f in rest])
        parts.append(f"{reached} of {'theirs' if rest else 'its roof'}")
    if not parts:
        raise ValueError("roof_fraction_title: no kernels")
    return f"{where}: " + ", ".join(parts)


def roofline_verdict(roofline_error: Mapping[str, float]) -> str:
    """One sentence on which way the roofline's predictions missed: ``roofline_error`` is each
    kernel's (predicted - revealed) / revealed (signed ratio).

    >>> v = roofline_verdict({"naive": -0.9, "tiled": 1.1, "cublas": 0.66})
    >>> v.startswith("The roofline predicted too little for naive (caches served loads")
    True
    >>> v.endswith("and too much for tiled and cublas (limits the two ceilings leave out).")
    True
    >>> roofline_verdict({"tiled": 1.1})
    'The roofline predicted too much for tiled (limits the two ceilings leave out).'
    """
    low = [name for name, e in roofline_error.items() if e < 0]
    high = [name for name, e in roofline_error.items() if e >= 0]
    parts = []
    if low:
        parts.append(f"too little for {listing(low)} (caches served loads the no-cache count sends to memory)")
    if high:
        parts.append(f"too much for {listing(high)} (limits the two ceilings leave out)")
    if not parts:
        raise ValueError("roofline_verdict: no kernels")
    return "The roofline predicted " + " and ".join(parts) + "."
