"""Warp-level collectives for the tracer: ``shfl_*_sync``, ``ballot_sync`` and ``activemask``.

numba-cuda's simulator has no warps (it has no ``shfl``, ``ballot`` or ``activemask``), so the
course's tracer (:mod:`coursekit.gpu.tracer`) runs them. The same kernel source compiles with
``numba.cuda.jit`` on a GPU, where the signatures are numba-cuda's:
``shfl_down_sync(mask, value, delta)``, ``shfl_up_sync(mask, value, delta)``,
``shfl_xor_sync(mask, value, lane_mask)``, ``shfl_sync(mask, value, src_lane)``,
``ballot_sync(mask, predicate)`` (an int32), ``activemask()`` (a uint32), ``laneid``, ``popc(x)``.

**What the tracer does.** A block's warps are 32 consecutive linear thread ids (lanes). A warp
collective is a *meeting*: a lane that calls one stops there, and the meeting happens once every
lane of its warp has stopped (at a collective, at a ``syncthreads``, or by returning). The lanes
*converged* at a call are those stopped at the same call site (the same place in the kernel's
source, on the same visit: a loop's k-th pass meets the k-th pass); when lanes wait at different
sites, the site earliest in the source meets first and the others keep waiting, as a warp that
runs the taken side of an ``if`` before reconverging after it (lanes on a loop's back edge meet
again before those that left it). Then values are exchanged, and between collectives the lanes
run one after another (the tracer's usual turn-taking), so lockstep holds *at collectives only*.

- ``activemask()`` returns the lanes converged at that call: inside ``if lane < 5:`` it is
  ``0b11111``; lanes that returned, or that wait elsewhere, are inactive (0 bits).
- A shuffle returns the source lane's value (``lane + delta``, ``lane - delta``, ``lane ^ lane_mask``
  or ``src_lane``); a source beyond the warp's 32 lanes returns the caller's own value, as on a GPU.
- Strict where CUDA says *undefined*: reading from a lane that is inactive or not in ``mask``, a
  ``mask`` that leaves out the caller, lanes of one meeting passing different masks or calling
  different intrinsics, and a ``mask`` naming a lane that is alive elsewhere (diverged: a hang or
  garbage on a GPU) all raise, naming the warp, the lane and the source lane. A ``mask`` naming a lane
  that has *exited* raises too: on sm_6x and older every lane of the mask must execute the call;
  since Volta exited lanes are allowed in the mask (only reading from them is undefined), but a
  lane that returned before a collective is the usual bug, so the tracer reports it.

**Where real hardware differs.** Since Volta (sm_70) each thread has its own program counter
(*independent thread scheduling*): a warp need not reconverge after a branch, so ``activemask()``
may return *fewer* lanes than the tracer's (it says who happens to be together, not who will
be); never use it to build a shuffle's mask for lanes that are meant to take part. The ``_sync``
intrinsics make the named lanes meet, which is why their ``mask`` is explicit. The tracer's answer is
what a warp that reconverges as early as possible does: one deterministic schedule of many.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from types import CodeType
from typing import Any

WARP_SIZE = 32
FULL_MASK = 0xFFFFFFFF
SHUFFLES = ("shfl_sync", "shfl_up_sync", "shfl_down_sync", "shfl_xor_sync")
ARG_NAMES = {"shfl_sync": "src_lane", "shfl_up_sync": "delta", "shfl_down_sync": "delta", "shfl_xor_sync": "lane_mask"}


class CollectiveError(RuntimeError):
    """A warp collective whose result CUDA leaves undefined (the tracer adds the block)."""


@dataclass(frozen=True)
class Arrival:
    """One lane stopped at a collective: which one, with what, and where in the kernel."""

    kind: str  # "shfl_down_sync", "ballot_sync", "activemask", ...
    mask: int | None  # None for activemask
    value: Any  # the lane's value (shuffles) or predicate (ballot)
    arg: int  # delta, lane_mask or src_lane; 0 for votes
    site: tuple[int, ...]  # bytecode offsets, kernel frame first: the call's place in the source
    line: int  # source line of the call (for messages)
    visit: int  # how many times this lane reached this site before

    def describe(self) -> str:
        args = "" if self.mask is None else f"mask={self.mask & FULL_MASK:#x}"
        if self.kind in ARG_NAMES:
            args += f", {ARG_NAMES[self.kind]}={self.arg}"
        return f"{self.kind}({args}) on line {self.line}"


_OWN_MODULES = ("coursekit.gpu.warp_sync", "coursekit.gpu.tracer")


def call_site(kernel_code: CodeType | None) -> tuple[tuple[int, ...], int]:
    """(bytecode offsets from the kernel's frame down to the caller of ``cuda.*``, line of the
    call): where a lane stands, comparable in source order."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__") in _OWN_MODULES:
        frame = frame.f_back
    line = frame.f_lineno
    offsets = []
    while frame is not None:
        offsets.append(frame.f_lasti)
        if frame.f_code is kernel_code:
            break
        frame = frame.f_back  # type: ignore[assignment]
    else:
        offsets = offsets[:1]  # called from outside the kernel's frames: the immediate caller
    return tuple(reversed(offsets)), line


def as_int32(bits: int) -> int:
    """A 32-bit mask as numba types ``ballot_sync``'s result: int32 (lane 31 set: negative)."""
    bits &= FULL_MASK
    return bits - (1 << 32) if bits >> 31 else bits


def popc(x: int) -> int:
    """Set bits of ``x``; a negative ``x`` counts as 32 bits (the int32 that ``ballot_sync`` returns)."""
    x = int(x)
    return bin(x & FULL_MASK if -(1 << 31) <= x < 0 else x).count("1")


class Warps:
    """One block's warps: the lanes waiting at a collective and what each meeting handed back."""

    def __init__(self, n_threads: int):
        self.n = n_threads
        self.waiting: dict[int, Arrival] = {}
        self.results: dict[int, tuple[Any, int]] = {}  # tid -> (value, lane it came from)
        self.visits: dict[tuple[int, tuple[int, ...]], int] = defaultdict(int)

    def arrive(self, tid: int, kind: str, mask: int | None, value: Any, arg: int, kernel_code: CodeType | None) -> None:
        """Lane ``tid`` stops at a collective (called by that lane, while it has the turn)."""
        site, line = call_site(kernel_code)
        visit = self.visits[(tid, site)]
        self.visits[(tid, site)] += 1
        self.waiting[tid] = Arrival(kind, mask, value, int(arg), site, line, visit)

    def settle(self, state: list[str], tid: int) -> None:
        """If every lane of ``tid``'s warp has stopped ("warp", "barrier" or "done" in ``state``),
        hold the meeting of the earliest call site and mark its lanes "ready" again. Raises
        :class:`CollectiveError` when the meeting's result is undefined."""
        w = tid // WARP_SIZE
        lanes = range(w * WARP_SIZE, min((w + 1) * WARP_SIZE, self.n))
        if any(state[t] == "ready" for t in lanes):
            return
        waiting = [t for t in lanes if state[t] == "warp"]
        if not waiting:
            return
        first = min(waiting, key=lambda t: (self.waiting[t].site, self.waiting[t].visit))
        where = (self.waiting[first].site, self.waiting[first].visit)
        group = [t for t in waiting if (self.waiting[t].site, self.waiting[t].visit) == where]
        self._meet(w, group, state)
        for t in group:
            del self.waiting[t]
            state[t] = "ready"

    def _where(self, t: int, state: list[str]) -> str:
        if t >= self.n:
            return f"does not exist (the block has {self.n} threads)"
        if state[t] == "done":
            return "has exited (it finished the kernel without making this call)"
        if state[t] == "barrier":
            return "is inactive here: it waits at a syncthreads (diverged)"
        return f"is inactive here: it waits at {self.waiting[t].describe()} (diverged)"

    def _meet(self, w: int, group: list[int], state: list[str]) -> None:
        base = w * WARP_SIZE
        present = {t - base for t in group}
        lead = self.waiting[group[0]]
        for t in group:
            a = self.waiting[t]
            if a.kind != lead.kind or a.mask != lead.mask:
                raise CollectiveError(
                    f"warp {w}: lanes {group[0] - base} and {t - base} meet at line {a.line} with "
                    f"{lead.describe()} and {a.describe()}: one call needs one intrinsic and one mask"
                )
        if lead.mask is not None:
            mask = lead.mask & FULL_MASK
            lane0 = group[0] - base
            if not mask >> lane0 & 1:
                raise CollectiveError(f"warp {w}, lane {lane0}: {lead.describe()} leaves out the calling lane")
            for k in range(WARP_SIZE):
                if mask >> k & 1 and k not in present:
                    raise CollectiveError(
                        f"warp {w}, lane {lane0}: {lead.describe()} names lane {k}, which "
                        f"{self._where(base + k, state)}; every lane of the mask must make the same call"
                    )
        else:
            mask = FULL_MASK
        for t in group:
            a, lane = self.waiting[t], t - base
            if a.kind == "activemask":
                self.results[t] = (sum(1 << k for k in present), lane)
            elif a.kind == "ballot_sync":
                votes = sum(1 << (u - base) for u in group if mask >> (u - base) & 1 and self.waiting[u].value)
                self.results[t] = (as_int32(votes), lane)
            else:
                src = _source_lane(a.kind, lane, a.arg)
                if src is None:  # beyond the warp: the lane's own value, as on a GPU
                    self.results[t] = (a.value, lane)
                elif src in present and mask >> src & 1:
                    self.results[t] = (self.waiting[base + src].value, src)
                else:
                    why = "is not in the mask" if not mask >> src & 1 else self._where(base + src, state)
                    raise CollectiveError(
                        f"warp {w}, lane {lane}: {a.describe()} reads source lane {src}, which {why}: "
                        "the value is undefined on a GPU"
                    )


def _source_lane(kind: str, lane: int, arg: int) -> int | None:
    """The lane a shuffle reads, or None when it falls outside the warp (width 32)."""
    if kind == "shfl_sync":
        return arg % WARP_SIZE
    src = {"shfl_up_sync": lane - arg, "shfl_down_sync": lane + arg, "shfl_xor_sync": lane ^ arg}[kind]
    return src if 0 <= src < WARP_SIZE else None


class WarpIntrinsics:
    """The warp part of the tracer's ``cuda`` stand-in (mixed into ``FakeCuda``, which provides
    ``_collective(kind, mask, value, arg)``)."""

    warpsize = WARP_SIZE

    def _collective(self, kind: str, mask: int | None, value: Any, arg: int) -> Any:
        raise NotImplementedError

    def shfl_sync(self, mask: int, value: Any, src_lane: int) -> Any:
        """``value`` of lane ``src_lane`` (mod 32)."""
        return self._collective("shfl_sync", mask, value, src_lane)

    def shfl_up_sync(self, mask: int, value: Any, delta: int) -> Any:
        """``value`` of lane ``laneid - delta``; the caller's own below lane 0."""
        return self._collective("shfl_up_sync", mask, value, delta)

    def shfl_down_sync(self, mask: int, value: Any, delta: int) -> Any:
        """``value`` of lane ``laneid + delta``; the caller's own past lane 31."""
        return self._collective("shfl_down_sync", mask, value, delta)

    def shfl_xor_sync(self, mask: int, value: Any, lane_mask: int) -> Any:
        """``value`` of lane ``laneid ^ lane_mask`` (a butterfly)."""
        return self._collective("shfl_xor_sync", mask, value, lane_mask)

    def ballot_sync(self, mask: int, predicate: Any) -> int:
        """Bit k set when lane k (converged here and in ``mask``) has a true ``predicate``; int32."""
        return self._collective("ballot_sync", mask, bool(predicate), 0)

    def activemask(self) -> int:
        """Bit k set when lane k is converged at this call (see the module's docstring); uint32."""
        return self._collective("activemask", None, None, 0)

    @staticmethod
    def popc(x: int) -> int:
        """Number of set bits (``cuda.popc``)."""
        return popc(x)
