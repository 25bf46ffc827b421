"""Make a kernel's memory contract executable: run it in the tracer and check what it did.

A kernel docstring in this course states a *memory contract*: how many global reads and writes
each thread makes, how much shared memory the block uses, how many barriers it passes. On a GPU
a kernel that breaks it can still print the right numbers (a missing barrier in a one-warp
block, a missing bounds check whose stray write lands in unused memory). :func:`check_contract`
runs the kernel thread by thread in :mod:`coursekit.gpu.tracer` and checks, as GPU-Puzzles does:

- *bounds*: every index inside its array (the tracer raises on the first one outside);
- *counts*: per-thread global reads/writes and shared reads/writes at most the contract's numbers;
- *barriers*: every block passes exactly ``barriers`` barriers, all threads reaching each one;
- *races*: no shared-memory cell written by one thread and read or written by another between
  the same two barriers (what ``compute-sanitizer --tool racecheck`` reports on a GPU); no
  global element written by two threads except through atomics;
- *coalescing* (optional): neighbouring threads (``threadIdx.x`` and ``threadIdx.x + 1``) access
  neighbouring elements of the named arrays;
- *values* (optional): the arrays after the launch against references.

:func:`block_traffic` totals each block's barriers, global and shared reads and writes and warp
shuffles, to compare kernels (a shared-memory tree against a warp-shuffle reduction). Shuffles
exchange registers inside a warp: they are neither shared-memory traffic nor a barrier, so
:func:`races` never looks at them, and the tracer raises :class:`~coursekit.gpu.tracer.WarpError`
where a shuffle's result is undefined (a source lane that has exited or diverged).

:func:`sectors_per_warp` counts the 32-byte memory sectors each warp touches (coalescing) and
:func:`bank_conflicts` the shared-memory bank conflicts of each warp access (32 banks of 4 bytes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from coursekit.gpu.tracer import COUNTED, Access, KernelError, Trace, WarpError, trace

WARP_SIZE = 32
SECTOR_BYTES = 32
BANKS = 32
BANK_BYTES = 4


def _linear_thread(a: Access, block: tuple[int, int, int]) -> int:
    tx, ty, tz = (tuple(a.thread) + (0, 0))[:3]
    return tx + block[0] * (ty + block[1] * tz)


def _where(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(flat), shape))


def races(tr: Trace) -> list[str]:
    """Data races: a shared cell written by one thread and touched by another in the same barrier
    phase of a block, or a global element written by two threads (atomics excepted)."""
    found: list[str] = []
    shared: dict[tuple, dict[str, set]] = defaultdict(lambda: {"read": set(), "write": set()})
    global_writers: dict[tuple, set] = defaultdict(set)
    for a in tr.accesses:
        if a.space == "shared":
            shared[(a.block, a.phase, a.array, a.index)][a.op].add(a.thread)
        elif a.op == "write" and not a.atomic:
            global_writers[(a.array, a.index)].add((a.block, a.thread))
    for (block, phase, array, index), ops in shared.items():
        writers, touched = ops["write"], ops["read"] | ops["write"]
        if writers and len(touched) > 1:  # a write and another thread's access, no barrier between
            w = sorted(writers)[0]
            o = sorted(touched - {w})[0]
            found.append(
                f"block {block[:2]}: shared '{array}'{list(index)} written by thread {w[:2]} and "
                f"touched by thread {o[:2]} in phase {phase}, between the same two barriers (missing syncthreads?)"
            )
    for (array, index), writers in global_writers.items():
        if len(writers) > 1:
            (b1, t1), (b2, t2) = sorted(writers)[:2]
            found.append(
                f"global '{array}'{list(index)} written by block {b1[:2]} thread {t1[:2]} and by "
                f"block {b2[:2]} thread {t2[:2]} (two writers, no atomic)"
            )
    return found


def block_traffic(tr: Trace) -> pd.DataFrame:
    """Per block (rows): ``barriers`` (syncthreads passed), global and shared ``reads``/``writes``
    (element accesses, summed over the block's threads; an atomic counts as one write) and
    ``warp shuffles``/``warp votes`` (one per lane per call)."""
    counts = _per_thread_counts(tr)
    cols = [*COUNTED, "warp shuffles", "warp votes"]
    per_block = counts.groupby(level=0).sum() if len(counts) else pd.DataFrame()
    out = per_block.reindex(index=list(tr.barriers), columns=cols, fill_value=0).fillna(0).astype(int)
    out.insert(0, "barriers", [tr.barriers[b] for b in out.index])
    out.index.name = "block"
    return out


def _sequence(t: pd.DataFrame) -> pd.Series:
    """k for the k-th access of a thread to an array with an op (one warp instruction per k)."""
    return t.groupby(["block", "thread", "array", "op"]).cumcount()


def uncoalesced(tr: Trace, arrays: Iterable[str]) -> list[str]:
    """Accesses where threads x and x + 1 of a block (same y, z) touch elements of ``arrays`` that
    are not neighbours in memory (row-major), within the same access of each thread."""
    t = tr.table()
    if t.empty:
        return []
    t = t[(t["space"] == "global") & t["array"].isin(list(arrays))].copy()
    if t.empty:
        return []
    t["k"] = _sequence(t)
    found: list[str] = []
    for name, group in t.groupby("array"):
        shape = tr.arrays[name].shape
        flat = {(r.block, r.thread, r.op, r.k): int(np.ravel_multi_index(r.index, shape)) for r in group.itertuples()}
        for (block, thread, op, k), pos in flat.items():
            nxt = (thread[0] + 1,) + tuple(thread[1:])
            other = flat.get((block, nxt, op, k))
            if other is not None and other != pos + 1:
                found.append(
                    f"'{name}' {op}s are not coalesced: in block {block[:2]} thread {thread[:2]} "
                    f"touches element {_where(pos, shape)} and thread {nxt[:2]} "
                    f"{_where(other, shape)}, {other - pos} elements apart (should be 1)"
                )
                break
    return found


def sectors_per_warp(tr: Trace, array: str, op: str = "write") -> pd.DataFrame:
    """32-byte sectors each warp touches in one access to global ``array``: one row per (block,
    warp, k-th access) with ``threads``, ``sectors`` and ``ideal`` (the fewest sectors that many
    consecutive elements could take). Warps are 32 consecutive linear thread ids of a block."""
    t = tr.table()
    t = t[(t["space"] == "global") & (t["array"] == array) & (t["op"] == op)].copy()
    if t.empty:
        return pd.DataFrame(columns=["block", "warp", "k", "threads", "sectors", "ideal"])
    itemsize = tr.arrays[array].dtype.itemsize
    shape = tr.arrays[array].shape
    t["k"] = _sequence(t)
    t["warp"] = [_linear_thread(a, tr.block) // WARP_SIZE for a in t.itertuples()]
    t["sector"] = [int(np.ravel_multi_index(i, shape)) * itemsize // SECTOR_BYTES for i in t["index"]]
    out = t.groupby(["block", "warp", "k"]).agg(threads=("sector", "size"), sectors=("sector", "nunique"))
    out["ideal"] = -(-out["threads"] * itemsize // SECTOR_BYTES)
    return out.reset_index()


def bank_conflicts(tr: Trace, array: str | None = None, op: str | None = None) -> pd.DataFrame:
    """Shared-memory bank conflicts per warp access: one row per (block, phase, warp, array, op,
    k-th access) with ``threads``, ``ways`` (the most distinct 4-byte words in one of the 32 banks:
    1 = conflict-free, 32 = fully serialised; several threads reading one word is a broadcast)."""
    t = tr.table()
    t = t[t["space"] == "shared"].copy()
    if array is not None:
        t = t[t["array"] == array]
    if op is not None:
        t = t[t["op"] == op]
    if t.empty:
        return pd.DataFrame(columns=["block", "phase", "warp", "array", "op", "k", "threads", "ways"])
    t["k"] = _sequence(t)
    t["warp"] = [_linear_thread(a, tr.block) // WARP_SIZE for a in t.itertuples()]
    rows = []
    for key, group in t.groupby(["block", "phase", "warp", "array", "op", "k"]):
        shape = tr.shared_shapes[key[3]]
        words = {int(np.ravel_multi_index(i, shape)) for i in group["index"]}
        per_bank = defaultdict(set)
        for w in words:
            per_bank[w % BANKS].add(w)  # float32: one 4-byte word per element
        rows.append((*key, len(group), max(len(s) for s in per_bank.values())))
    return pd.DataFrame(rows, columns=["block", "phase", "warp", "array", "op", "k", "threads", "ways"])


def check_contract(
    kernel: Callable,
    griddim: int | tuple,
    blockdim: int | tuple,
    *args: Any,
    reads: int | None = None,
    writes: int | None = None,
    shared_reads: int | None = None,
    shared_writes: int | None = None,
    shuffles: int | None = None,
    barriers: int | tuple[int, int] | None = None,
    coalesced: Iterable[str] = (),
    expect: dict[str, Any] | None = None,
    rtol: float = 1e-5,
    what: str | None = None,
) -> Trace:
    """Run ``kernel[griddim, blockdim](*args)`` in the tracer and check its memory contract.

    ``reads``/``writes``: the most global reads/writes any one thread may make (atomic
    read-modify-writes count once, as writes); ``shared_reads``/``shared_writes``: the same for
    shared memory (``shared_writes=0`` forbids shared memory); ``shuffles``: the most warp shuffles
    per thread (register exchanges: they need no barrier and are never a race); ``barriers``: the exact number of
    ``syncthreads`` every block passes (all its threads reaching each), or a (fewest, most) pair.
    Races and out-of-bounds indices always fail. ``coalesced``: global arrays whose neighbouring threads must touch
    neighbouring elements. ``expect``: {parameter name: reference array} checked after the
    launch. Raises ``AssertionError`` saying what was expected and what the kernel did; returns
    the :class:`~coursekit.gpu.tracer.Trace`.
    """
    name = what or getattr(kernel, "__name__", "the kernel")
    try:
        tr = trace(kernel, griddim, blockdim, *args)
    except WarpError as err:
        raise AssertionError(f"{name}: {err} (a lane left or diverged before a warp collective?)") from None
    except KernelError as err:
        raise AssertionError(f"{name}: {err} (a bounds check is missing or wrong?)") from None
    problems: list[str] = []
    counts = _per_thread_counts(tr)
    limits = {
        "global reads": reads,
        "global writes": writes,
        "shared reads": shared_reads,
        "shared writes": shared_writes,
        "warp shuffles": shuffles,
    }
    for kind, limit in limits.items():
        if limit is None:
            continue
        most = int(counts[kind].max()) if kind in counts and len(counts) else 0
        if most > limit:
            worst = counts[kind].idxmax()
            problems.append(
                f"expected at most {limit} {kind} per thread, but block {worst[0][:2]} thread "
                f"{worst[1][:2]} made {most}"
            )
    if barriers is not None:
        lo, hi = (barriers, barriers) if isinstance(barriers, int) else barriers
        passed = sorted(set(tr.barriers.values()))
        if not all(lo <= p <= hi for p in passed):
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            problems.append(f"expected {want} barrier(s) (syncthreads) per block, the blocks passed {passed}")
    if tr.divergent:
        problems.append(
            f"block {tr.divergent[0][:2]}: a barrier was reached by only some of its threads "
            "(syncthreads inside an if, or after a return: undefined on a GPU)"
        )
    problems += races(tr)[:3]
    problems += uncoalesced(tr, coalesced)
    for param, ref in (expect or {}).items():
        got = np.asarray(tr.arrays[param], dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if got.shape != ref.shape or not np.allclose(got, ref, rtol=rtol, atol=1e-6, equal_nan=False):
            bad = (
                np.flatnonzero(~np.isclose(got, ref, rtol=rtol, atol=1e-6))
                if got.shape == ref.shape
                else np.array([], dtype=int)
            )
            where = f"; first wrong element {_where(bad[0], ref.shape)}" if len(bad) else ""
            problems.append(f"'{param}' is wrong: {len(bad)} of {ref.size} elements differ from the reference{where}")
    if problems:
        raise AssertionError(f"{name} breaks its memory contract:\n  - " + "\n  - ".join(problems))
    return tr


def _per_thread_counts(tr: Trace) -> pd.DataFrame:
    """Per (block, thread) counts of global/shared reads/writes; an atomic counts as one write."""
    counts: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for a in tr.accesses:
        if a.atomic and a.op == "read":
            continue
        counts[(a.block, a.thread)][f"{a.space} {a.op}s"] += 1
    return pd.DataFrame.from_dict({k: dict(v) for k, v in counts.items()}, orient="index").fillna(0)
