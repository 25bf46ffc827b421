"""Run a CUDA kernel thread by thread on the CPU and record every memory access.

A kernel for the tracer is an ordinary Python function that uses the global name ``cuda`` the
way numba-cuda kernels do (``cuda.threadIdx.x``, ``cuda.grid(1)``, ``cuda.shared.array``,
``cuda.syncthreads()``, ``cuda.atomic.add``). The same source runs unchanged on numba-cuda's
simulator or a GPU through ``numba.cuda.jit(kernel)``; :func:`trace` runs it with ``cuda`` bound
to a recording stand-in instead.

Scheduling is deterministic: within a block, thread 0 runs until it reaches a barrier (or ends),
then thread 1, and so on; once every thread has arrived, the next *phase* starts the same way.
A kernel that forgets a barrier therefore reads shared memory that later threads have not yet
written — the same wrong answer every time (shared memory starts as NaN, so it shows). Indices
are checked strictly: a negative or too-large index raises, naming the thread (the simulator
silently wraps negative indices; a GPU silently corrupts memory).
"""

from __future__ import annotations

import inspect
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .show import python_function


@dataclass(frozen=True)
class Access:
    """One memory access by one thread."""

    block: tuple[int, ...]
    thread: tuple[int, ...]
    phase: int
    space: str  # "global" or "shared"
    array: str
    index: tuple[int, ...]
    op: str  # "read" or "write"


class KernelError(RuntimeError):
    """An error inside a traced kernel, naming the block and thread that raised it."""


class _Dim3:
    def __init__(self, x: int = 1, y: int = 1, z: int = 1):
        self.x, self.y, self.z = x, y, z

    def __repr__(self) -> str:
        return f"({self.x}, {self.y}, {self.z})"


def _dim3(value: int | tuple) -> _Dim3:
    if isinstance(value, int):
        return _Dim3(value)
    return _Dim3(*value)


class TracedArray:
    """A numpy array whose element reads and writes are recorded, with strict bounds checks."""

    def __init__(self, data: np.ndarray, name: str, space: str, recorder: _Recorder):
        self._data = data
        self._name = name
        self._space = space
        self._recorder = recorder

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def __len__(self) -> int:
        return len(self._data)

    def _index(self, idx: Any) -> tuple[int, ...]:
        idx = idx if isinstance(idx, tuple) else (idx,)
        if len(idx) != self._data.ndim or not all(isinstance(i, (int, np.integer)) for i in idx):
            raise IndexError(
                f"{self._space} array '{self._name}' of shape {self.shape} needs {self._data.ndim} "
                f"integer index(es), got {idx!r}"
            )
        for i, n in zip(idx, self._data.shape, strict=True):
            if not 0 <= i < n:
                raise IndexError(
                    f"index {tuple(int(j) for j in idx)} is out of bounds for {self._space} array "
                    f"'{self._name}' of shape {self.shape}"
                )
        return tuple(int(i) for i in idx)

    def __getitem__(self, idx: Any):
        key = self._index(idx)
        self._recorder.record(self._space, self._name, key, "read")
        return self._data[key]

    def __setitem__(self, idx: Any, value: Any) -> None:
        key = self._index(idx)
        self._recorder.record(self._space, self._name, key, "write")
        self._data[key] = value


def _as_dtype(dtype: Any) -> np.dtype:
    """numpy dtypes as they are; numba types (``numba.float32``) by their name."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype))


class _Abort(BaseException):
    """Unwinds threads of a block after another thread of it failed."""


class _Block:
    """Runs one block's threads one at a time in a fixed order, switching only at barriers.

    Each thread waits on its own event, so handing the turn on wakes exactly one thread (waking
    them all at every hand-off made barriers cost the square of the block size).
    """

    def __init__(self, n_threads: int):
        self.lock = threading.Lock()
        self.wake = [threading.Event() for _ in range(n_threads)]
        self.state = ["ready"] * n_threads  # ready / barrier / done
        self.turn: int | None = 0
        self.phase = 0
        self.error: BaseException | None = None
        self.shared: list[TracedArray] = []
        self.wake[0].set()

    def wait_turn(self, tid: int) -> None:
        self.wake[tid].wait()
        self.wake[tid].clear()  # only this thread clears its own event, and only while it has the turn
        if self.error is not None and self.turn != tid:
            raise _Abort()

    def give_turn(self, tid: int, new_state: str) -> None:
        with self.lock:
            self.state[tid] = new_state
            nxt = next((t for t in range(tid + 1, len(self.state)) if self.state[t] == "ready"), None)
            if nxt is None:  # everyone has reached the barrier or finished: next phase
                waiting = [t for t, s in enumerate(self.state) if s == "barrier"]
                if waiting:
                    self.phase += 1
                    for t in waiting:
                        self.state[t] = "ready"
                    nxt = waiting[0]
            self.turn = nxt
            if nxt is not None:
                self.wake[nxt].set()

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = exc
            self.turn = None
            for event in self.wake:  # every waiting thread wakes, sees the error and unwinds
                event.set()


class _Recorder:
    def __init__(self) -> None:
        self.accesses: list[Access] = []
        self.local = threading.local()
        self.lock = threading.Lock()

    def record(self, space: str, name: str, index: tuple[int, ...], op: str) -> None:
        loc = self.local
        with self.lock:
            self.accesses.append(Access(loc.block_idx, loc.thread_idx, loc.block.phase, space, name, index, op))


class _Namespace:
    def __init__(self, **items: Callable) -> None:
        self.__dict__.update(items)


class FakeCuda:
    """What a traced kernel sees as ``cuda``: per-thread indices, shared memory, barriers, atomics."""

    def __init__(self, recorder: _Recorder, grid: _Dim3, block: _Dim3):
        self._rec = recorder
        self.gridDim = grid
        self.blockDim = block
        self.shared = _Namespace(array=self._shared_array)
        self.local = _Namespace(array=self._local_array)
        self.atomic = _Namespace(add=self._atomic_add, max=self._atomic_max)
        self._atomic_lock = threading.Lock()

    @property
    def threadIdx(self) -> _Dim3:
        return _Dim3(*self._rec.local.thread_idx)

    @property
    def blockIdx(self) -> _Dim3:
        return _Dim3(*self._rec.local.block_idx)

    def grid(self, ndim: int):
        t, b = self._rec.local.thread_idx, self._rec.local.block_idx
        dims = (self.blockDim.x, self.blockDim.y, self.blockDim.z)
        coords = [t[i] + b[i] * dims[i] for i in range(ndim)]
        return coords[0] if ndim == 1 else tuple(coords)

    def gridsize(self, ndim: int):
        sizes = [self.gridDim.x * self.blockDim.x, self.gridDim.y * self.blockDim.y, self.gridDim.z * self.blockDim.z]
        return sizes[0] if ndim == 1 else tuple(sizes[:ndim])

    def syncthreads(self) -> None:
        loc = self._rec.local
        loc.block.give_turn(loc.tid, "barrier")
        loc.block.wait_turn(loc.tid)

    def _shared_array(self, shape, dtype):
        """The k-th ``shared.array`` call of every thread in a block returns the same array."""
        loc = self._rec.local
        k = loc.shared_calls
        loc.shared_calls += 1
        block = loc.block
        if k == len(block.shared):
            data = np.full(shape, np.nan, dtype=_as_dtype(dtype))  # NaN shows reads of unwritten cells
            block.shared.append(TracedArray(data, f"shared{k}" if k else "shared", "shared", self._rec))
        return block.shared[k]

    def _local_array(self, shape, dtype):
        return np.zeros(shape, dtype=_as_dtype(dtype))

    def _atomic_add(self, array: TracedArray, index, value):
        with self._atomic_lock:
            old = array[index]
            array[index] = old + value
            return old

    def _atomic_max(self, array: TracedArray, index, value):
        with self._atomic_lock:
            old = array[index]
            array[index] = max(old, value)
            return old


@dataclass
class Trace:
    """What :func:`trace` recorded: every access, and the arrays after the kernel ran."""

    accesses: list[Access]
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per access: block, thread, phase, space, array, index, op."""
        return pd.DataFrame([a.__dict__ for a in self.accesses])

    def counts(self) -> pd.DataFrame:
        """Reads and writes per thread, split into global and shared memory."""
        t = self.table()
        if t.empty:
            return pd.DataFrame()
        t["kind"] = t["space"] + " " + t["op"] + "s"
        out = t.groupby(["block", "thread", "kind"]).size().unstack(fill_value=0)
        return out.reindex(
            columns=[c for c in ("global reads", "global writes", "shared reads", "shared writes") if c in out.columns]
        )

    def writers(self, array: str) -> np.ndarray:
        """Global thread number (block-major) of the last writer of each element; -1 if unwritten."""
        shape = self.arrays[array].shape
        owner = np.full(shape, -1, dtype=np.int64)
        threads_per_block = int(np.prod(self.block))
        for a in self.accesses:
            if a.array == array and a.op == "write" and a.space == "global":
                b = a.block[0] + self.grid[0] * (a.block[1] + self.grid[1] * a.block[2])
                t = a.thread[0] + self.block[0] * (a.thread[1] + self.block[1] * a.thread[2])
                owner[a.index] = b * threads_per_block + t
        return owner

    @property
    def phases(self) -> int:
        """Number of barrier phases (1 + the number of syncthreads every thread reached)."""
        return 1 + max((a.phase for a in self.accesses), default=0)


def _bind(kernel: Callable, fake: FakeCuda) -> Callable:
    fn = python_function(kernel)
    env = dict(fn.__globals__)
    env["cuda"] = fake
    return types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__, fn.__closure__)


def trace(kernel: Callable, grid: int | tuple, block: int | tuple, *args: Any) -> Trace:
    """Run ``kernel[grid, block](*args)`` thread by thread, recording every array access.

    numpy array arguments are traced under their parameter names and updated in place, as a
    launch would update device memory. Raises :class:`KernelError` naming the block and thread
    when a thread raises (e.g. an out-of-bounds index). Meant for small launches (each CUDA
    thread is a Python thread).
    """
    grid_d, block_d = _dim3(grid), _dim3(block)
    n_threads = block_d.x * block_d.y * block_d.z
    if n_threads > 1024 or grid_d.x * grid_d.y * grid_d.z * n_threads > 65_536:
        raise ValueError("trace: keep launches small (<= 1024 threads per block, <= 65,536 in all)")
    fn = python_function(kernel)
    names = list(inspect.signature(fn).parameters)
    recorder = _Recorder()
    fake = FakeCuda(recorder, grid_d, block_d)
    bound = _bind(kernel, fake)
    traced_args, arrays = [], {}
    for name, value in zip(names, args, strict=False):  # parameters with defaults may be left out
        if isinstance(value, np.ndarray):
            arrays[name] = value
            traced_args.append(TracedArray(value, name, "global", recorder))
        else:
            traced_args.append(value)

    for bz in range(grid_d.z):
        for by in range(grid_d.y):
            for bx in range(grid_d.x):
                _run_block(bound, traced_args, recorder, (bx, by, bz), block_d)
    g = (grid_d.x, grid_d.y, grid_d.z)
    b = (block_d.x, block_d.y, block_d.z)
    return Trace(recorder.accesses, g, b, arrays)


def _run_block(bound: Callable, args: list, recorder: _Recorder, block_idx: tuple, block_d: _Dim3) -> None:
    n = block_d.x * block_d.y * block_d.z
    state = _Block(n)

    def body(tid: int) -> None:
        loc = recorder.local
        loc.tid, loc.block, loc.block_idx, loc.shared_calls = tid, state, block_idx, 0
        loc.thread_idx = (tid % block_d.x, (tid // block_d.x) % block_d.y, tid // (block_d.x * block_d.y))
        try:
            state.wait_turn(tid)
            bound(*args)
            state.give_turn(tid, "done")
        except _Abort:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported to the caller with the thread's name
            state.fail(
                KernelError(
                    f"block {block_idx[:2] if block_d.z == 1 else block_idx}, thread "
                    f"{loc.thread_idx[0] if block_d.y == block_d.z == 1 else loc.thread_idx}: "
                    f"{type(exc).__name__}: {exc}"
                )
            )

    threads = [threading.Thread(target=body, args=(t,), daemon=True) for t in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if state.error is not None:
        raise state.error


# ------------------------------------------------------------------------------------ plots


def plot_writers(tr: Trace, array: str, ax=None, title: str | None = None):
    """Which (block, thread) wrote each element of ``array``: colour = block, text = thread.

    1-D arrays are drawn as a row of cells, 2-D arrays as an image with the block tiling. Returns
    the Axes.
    """
    import matplotlib.pyplot as plt

    owner = tr.writers(array)
    per_block = int(np.prod(tr.block))
    blocks = np.where(owner >= 0, owner // per_block, -1)
    threads = np.where(owner >= 0, owner % per_block, -1)
    grid2d = blocks.reshape(1, -1) if blocks.ndim == 1 else blocks
    if ax is None:
        width = min(12, 0.35 * grid2d.shape[1] + 1.5)
        _, ax = plt.subplots(figsize=(width, 1.4 if blocks.ndim == 1 else 0.35 * grid2d.shape[0] + 1.2))
    shown = np.ma.masked_less(grid2d, 0)
    ax.imshow(shown, cmap="tab10", vmin=0, vmax=9, aspect="auto" if blocks.ndim == 1 else "equal")
    if blocks.ndim == 1 and blocks.size <= 64:
        for i, t in enumerate(threads):
            ax.text(i, 0, "-" if t < 0 else str(t), ha="center", va="center", fontsize=7)
    ax.set_xlabel(
        f"element of '{array}' (colour = block, number = thread in block; - = not written)"
        if blocks.ndim == 1
        else "column"
    )
    if blocks.ndim == 1:
        ax.set_yticks([])
    else:
        ax.set_ylabel("row")
        for x in np.arange(0, grid2d.shape[1], tr.block[0]):
            ax.axvline(x - 0.5, color="black", lw=1)
        for y in np.arange(0, grid2d.shape[0], tr.block[1]):
            ax.axhline(y - 0.5, color="black", lw=1)
    ax.grid(False)
    ax.set_title(title or f"Who wrote '{array}': grid {tr.grid[:2]}, block {tr.block[:2]}")
    return ax


def _block_index(block: int | tuple) -> tuple[int, int, int]:
    """``blockIdx`` as (x, y, z): an int is the x index of a 1-D grid; a tuple is padded with zeros."""
    parts = (block,) if isinstance(block, (int, np.integer)) else tuple(block)
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"block must be an int or a tuple of 1 to 3 ints, not {block!r}")
    return tuple(int(p) for p in parts) + (0,) * (3 - len(parts))


def plot_accesses(tr: Trace, block: int | tuple = 0, space: str = "shared", array: str | None = None, ax_list=None):
    """Reads and writes of one block, one panel per barrier phase: rows = threads, columns = element
    of ``array`` in ``space`` ("shared" or "global"; 1-D arrays, or the first index of 2-D ones);
    blue = written, orange = read, green = both. ``block`` is ``blockIdx`` as an int (1-D grid) or
    an (x, y[, z]) tuple. Returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    wanted = _block_index(block)
    t = tr.table()
    if t.empty:
        raise ValueError(f"no {space}-memory accesses in this block")
    t = t[(t["space"] == space) & (t["block"].apply(lambda b: _block_index(b) == wanted))]
    if array is not None:
        t = t[t["array"] == array]
    if t.empty:
        raise ValueError(f"no {space}-memory accesses in this block")
    n_threads = int(np.prod(tr.block))
    width = 1 + max(i[0] for i in t["index"])
    phases = sorted(t["phase"].unique())
    if ax_list is None:
        _, ax_list = plt.subplots(
            1, len(phases), figsize=(min(14, 4.5 * len(phases)), 0.18 * n_threads + 1.4), squeeze=False
        )
        ax_list = ax_list[0]
    cmap = ListedColormap(["white", "tab:blue", "tab:orange", "tab:green"])
    label = f"{space}-memory index" + (f" of '{array}'" if array else "")
    for ax, phase in zip(ax_list, phases, strict=False):  # a caller may pass more Axes than phases
        grid = np.zeros((n_threads, width), dtype=int)
        for _, row in t[t["phase"] == phase].iterrows():
            tx, ty, tz = _block_index(row["thread"])
            tid = tx + tr.block[0] * (ty + tr.block[1] * tz)
            grid[tid, row["index"][0]] |= 1 if row["op"] == "write" else 2
        ax.imshow(grid, cmap=cmap, vmin=0, vmax=3, aspect="auto", interpolation="nearest")
        ax.set_xlabel(label)
        ax.set_ylabel("thread")
        name = wanted[0] if wanted[1:] == (0, 0) else wanted[:2] if wanted[2] == 0 else wanted
        ax.set_title(f"block {name}, phase {phase}" + (" (after a barrier)" if phase else ""))
        ax.grid(False)
    return ax_list


def plot_shared(tr: Trace, block: int | tuple = 0, ax_list=None):
    """Shared-memory reads and writes of one block per barrier phase (see :func:`plot_accesses`)."""
    return plot_accesses(tr, block=block, space="shared", ax_list=ax_list)
