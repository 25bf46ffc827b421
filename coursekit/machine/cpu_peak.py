"""FP32 FLOP per cycle per core of this CPU, derived from what it reports, with the derivation.

A CPU core's peak is ``FMA pipes x float32 lanes per pipe x 2`` (a fused multiply-add counts two
FLOP). The operating system reports the vendor, the family/model numbers and the instruction-set
flags (``/proc/cpuinfo``), but not how many FMA pipes a core has nor how wide they are: that comes
from the vendors' optimisation manuals, per microarchitecture. :func:`fp32_flop_per_cycle` knows
the common cases and says "unknown" for the rest rather than guess:

- AMD family 0x17 (Zen, Zen+: models below 0x30): two 128-bit FMA pipes -> 2 x 4 x 2 = 16;
- AMD family 0x17 (Zen 2: models 0x30 and up) and 0x19 (Zen 3, Zen 4): two 256-bit FMA pipes ->
  2 x 8 x 2 = 32. Zen 4 runs AVX-512 *double-pumped* on the same 256-bit pipes: still 32;
- Intel with AVX2 and FMA but no AVX-512 (Haswell to Raptor Lake performance cores): two 256-bit
  FMA ports -> 32; with AVX but no FMA (Sandy/Ivy Bridge): one 256-bit add and one 256-bit multiply
  per cycle -> 16;
- Intel with AVX-512: one or two 512-bit FMA units depending on the model (32 or 64): unknown;
- AMD family 0x1A (Zen 5: 512-bit pipes on desktop and server parts, 256-bit on mobile), other
  vendors and architectures: unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coursekit.machine import device


@dataclass(frozen=True)
class CPUId:
    """What the OS reports about the CPU's identity: ``vendor`` (e.g. ``"AuthenticAMD"``),
    ``family`` and ``model`` numbers (-1 when not reported) and the instruction-set ``flags``."""

    vendor: str
    family: int
    model: int
    flags: frozenset[str]


def cpu_id(cpuinfo: str | None = None) -> CPUId:
    """This CPU's vendor, family, model and flags from ``/proc/cpuinfo`` (or the text given)."""
    text = device._read_proc_cpuinfo() if cpuinfo is None else cpuinfo
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key and key not in fields:
            fields[key] = value.strip()

    def number(key: str) -> int:
        try:
            return int(fields.get(key, ""), 0)
        except ValueError:
            return -1

    return CPUId(
        fields.get("vendor_id", "unknown"), number("cpu family"), number("model"), frozenset(device._cpu_flags(text))
    )


def fp32_flop_per_cycle(ident: CPUId | None = None) -> tuple[int | None, str]:
    """Peak float32 FLOP per cycle per core of the CPU ``ident`` (default: this one), and the
    derivation as text; ``(None, why)`` where the microarchitecture is not known here."""
    ident = cpu_id() if ident is None else ident
    flags, fam, model = ident.flags, ident.family, ident.model

    def derived(pipes: int, bits: int, what: str) -> tuple[int, str]:
        lanes = bits // 32
        return (
            pipes * lanes * 2,
            f"{what}: {pipes} FMA pipes x {lanes} float32 lanes ({bits}-bit) x 2 (FMA) = {pipes * lanes * 2}",
        )

    if ident.vendor == "AuthenticAMD":
        if fam == 0x17 and 0 <= model < 0x30:
            return derived(2, 128, f"AMD family 0x17 model {model:#x} (Zen/Zen+)")
        if fam == 0x17 and model >= 0x30:
            return derived(2, 256, f"AMD family 0x17 model {model:#x} (Zen 2)")
        if fam == 0x19:
            zen = "Zen 4, AVX-512 double-pumped on 256-bit pipes" if "avx512f" in flags else "Zen 3"
            return derived(2, 256, f"AMD family 0x19 model {model:#x} ({zen})")
        return (
            None,
            f"AMD family {fam:#x} model {model:#x}: FMA pipes not known here (Zen 5 parts differ), peak not derived",
        )
    if ident.vendor == "GenuineIntel":
        if "avx512f" in flags:
            return None, "Intel with AVX-512: one or two 512-bit FMA units depending on the model, peak not derived"
        if "fma" in flags and "avx2" in flags:
            return derived(2, 256, "Intel with AVX2 and FMA (Haswell and later cores)")
        if "avx" in flags:
            return 16, "Intel with AVX, no FMA: one 256-bit add + one 256-bit multiply per cycle = 8 x 2 = 16"
        return None, "Intel without AVX: peak not derived"
    return None, f"CPU vendor {ident.vendor!r}: FMA pipes not known here, peak not derived"


@dataclass(frozen=True)
class PeakCheck:
    """Measured FLOP/s against ``cores x clock x FLOP per cycle``: ``peak_flop_per_s`` at the
    reported clock (NaN when unknown), ``per_nominal_cycle`` = measured / (cores x clock), and
    ``min_clock_hz``, the clock the cores must at least have run at to reach the measurement."""

    measured_flop_per_s: float
    cores: int
    clock_hz: float
    flop_per_cycle: int | None
    derivation: str

    @property
    def peak_flop_per_s(self) -> float:
        return float("nan") if self.flop_per_cycle is None else self.cores * self.clock_hz * self.flop_per_cycle

    @property
    def per_nominal_cycle(self) -> float:
        return self.measured_flop_per_s / (self.cores * self.clock_hz)

    @property
    def min_clock_hz(self) -> float:
        return (
            float("nan")
            if self.flop_per_cycle is None
            else self.measured_flop_per_s / (self.cores * self.flop_per_cycle)
        )

    def sentence(self) -> str:
        """What the measurement says against the derived peak, premise checked: a measurement above
        the peak at the reported clock means the cores ran faster than that clock (turbo)."""
        ghz = self.clock_hz / 1e9
        head = (
            f"measured {self.measured_flop_per_s / 1e9:.0f} GFLOP/s on {self.cores} cores at the reported "
            f"{ghz:.2f} GHz = {self.per_nominal_cycle:.1f} FLOP per reported cycle per core"
        )
        if self.flop_per_cycle is None:
            return f"{head}; the peak per cycle is unknown here ({self.derivation})"
        share = self.measured_flop_per_s / self.peak_flop_per_s
        if share > 1:
            return (
                f"{head}, above the {self.flop_per_cycle} the cores can do per cycle: they ran at "
                f"{self.min_clock_hz / 1e9:.2f} GHz or more (a turbo clock above the reported one)"
            )
        return f"{head}: {share:.0%} of the peak at that clock ({self.flop_per_cycle} FLOP per cycle per core)"


def cpu_peak_flops(dtype: Any = "float32") -> tuple[float, str]:
    """Theoretical peak of this CPU in FLOP/s at its reported clock, and how it was derived.

    cores x clock x FLOP per cycle per core, the last from the microarchitecture the CPU reports
    (:func:`fp32_flop_per_cycle`); float64 has half the lanes. NaN and
    the reason where the clock or the microarchitecture is unknown. Turbo clocks can exceed it.
    """
    cpu = device.cpu()
    ghz = device.cpu_clock_hz() / 1e9
    per_cycle, how = fp32_flop_per_cycle()
    if not ghz > 0:
        return float("nan"), f"clock speed unknown; {how}"
    if per_cycle is None:
        return float("nan"), how
    per_cycle = per_cycle * 4 // np.dtype(dtype).itemsize
    cores = min(cpu.physical_cores, device.usable_cpus())
    peak = cores * ghz * 1e9 * per_cycle
    return (
        peak,
        f"{cores} cores x {ghz:.2f} GHz (reported clock) x {per_cycle} {np.dtype(dtype).name} FLOP per cycle ({how})",
    )


def check_peak(
    measured_flop_per_s: float, cores: int | None = None, clock_hz: float | None = None, ident: CPUId | None = None
) -> PeakCheck:
    """A measured FLOP/s (e.g. the GEMM ceiling) against this CPU's derived peak. ``cores``:
    default the physical cores this process may use; ``clock_hz``: default the reported clock."""
    per_cycle, how = fp32_flop_per_cycle(ident)
    if cores is None:
        cores = min(device.cpu().physical_cores, device.usable_cpus())
    if clock_hz is None:
        clock_hz = device.cpu_clock_hz()
    return PeakCheck(measured_flop_per_s, cores, clock_hz, per_cycle, how)
