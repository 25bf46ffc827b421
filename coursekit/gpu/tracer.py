"""Run a CUDA kernel thread by thread on the CPU and record every memory access.

A kernel for the tracer is an ordinary Python function that uses the global name ``cuda`` the
way numba-cuda kernels do (``cuda.threadIdx.x``, ``cuda.grid(1)``, ``cuda.shared.array``,
``cuda.syncthreads()``, ``cuda.atomic.add``). The same source runs unchanged on numba-cuda's
simulator or a GPU through ``numba.cuda.jit(kernel)``; :func:`trace` runs it with ``cuda`` bound
to a recording stand-in instead.

Scheduling is deterministic: within a block, thread 0 runs until it reaches a barrier (or ends),
then thread 1, and so on; once every thread has arrived, the next *phase* starts the same way.
(A warp collective stops a thread too; the lowest-numbered thread that can run always runs next.)
A kernel that forgets a barrier therefore reads shared memory that later threads have not yet
written — the same wrong answer every time (shared memory starts as NaN, so it shows). Indices
are checked strictly: a negative or too-large index raises, naming the thread (the simulator
silently wraps negative indices; a GPU silently corrupts memory).

Warps: ``cuda.shfl_down_sync``, ``shfl_xor_sync``, ``shfl_up_sync``, ``shfl_sync``,
``ballot_sync``, ``activemask``, ``laneid`` and ``popc`` work as on a GPU, the 32 lanes of a warp
meeting in lockstep at each such call (:mod:`coursekit.gpu.warp_sync` says how, and where
hardware differs). Shuffles and ballots are recorded as accesses of space ``"warp"`` (ops
``"shuffle"`` and ``"vote"``): register exchanges, neither shared memory nor a barrier.
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

from coursekit.gpu import warp_sync
from coursekit.show import python_function


@dataclass(frozen=True)
class Access:
    """One memory access by one thread."""

    block: tuple[int, ...]
    thread: tuple[int, ...]
    phase: int
    space: str  # "global", "shared" or "warp" (a shuffle or ballot: registers, no memory)
    array: str
    index: tuple[int, ...]
    op: str  # "read" or "write"; "shuffle" or "vote" in space "warp" (index: the source lane)
    atomic: bool = False  # part of a cuda.atomic read-modify-write


class KernelError(RuntimeError):
    """An error inside a traced kernel, naming the block and thread that raised it."""


class WarpError(KernelError):
    """A warp collective with an undefined result (inactive source lane, lane missing from a
    mask's meeting), naming the block, warp, lane and source lane."""


class Dim3:
    """A launch's or a thread's (x, y, z), as CUDA's dim3 (missing sizes are 1)."""

    __slots__ = ("x", "y", "z")

    def __init__(self, x: int = 1, y: int = 1, z: int = 1):
        self.x, self.y, self.z = x, y, z

    def __repr__(self) -> str:
        return f"({self.x}, {self.y}, {self.z})"


def dim3(value: int | tuple) -> Dim3:
    """A launch size given as an int or a tuple of up to three, as a :class:`Dim3`."""
    if isinstance(value, int):
        return Dim3(value)
    return Dim3(*value)


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
    """Runs one block's threads one at a time in a fixed order, switching only at barriers (and
    warp collectives: :class:`~coursekit.gpu.warp_sync.Warps` holds those).

    Each thread waits on its own event, so handing the turn on wakes exactly one thread (waking
    them all at every hand-off made barriers cost the square of the block size).
    """

    def __init__(self, n_threads: int):
        self.lock = threading.Lock()
        self.wake = [threading.Event() for _ in range(n_threads)]
        self.state = ["ready"] * n_threads  # ready / warp (at a collective) / barrier / done
        self.warps = warp_sync.Warps(n_threads)
        self.turn: int | None = 0
        self.phase = 0
        self.error: BaseException | None = None
        self.shared: list[TracedArray] = []
        self.divergent = False  # a barrier was passed while some threads had already finished
        self.wake[0].set()

    def wait_turn(self, tid: int) -> None:
        self.wake[tid].wait()
        self.wake[tid].clear()  # only this thread clears its own event, and only while it has the turn
        if self.error is not None and self.turn != tid:
            raise _Abort()

    def give_turn(self, tid: int, new_state: str) -> None:
        with self.lock:
            self.state[tid] = new_state
            self.warps.settle(self.state, tid)  # the warp's lanes meet once all have stopped
            # The lowest ready thread runs next. Threads below tid's warp are never ready here (they were
            # passed over, and settle() readies only tid's warp), so the search starts at its first lane.
            first = tid - tid % warp_sync.WARP_SIZE
            nxt = next((t for t in range(first, len(self.state)) if self.state[t] == "ready"), None)
            if nxt is None:  # everyone has reached the barrier or finished: next phase
                waiting = [t for t, s in enumerate(self.state) if s == "barrier"]
                if waiting:
                    if len(waiting) < len(self.state):
                        self.divergent = True  # on a GPU: undefined behaviour (a hang, or worse)
                    self.phase += 1
                    for t in waiting:
                        self.state[t] = "ready"
                    nxt = waiting[0]
                elif "warp" in self.state:  # cannot happen: settle() holds a stopped warp's meeting
                    raise warp_sync.CollectiveError("lanes left waiting at a warp collective (a tracer bug)")
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
        self.barriers: dict[tuple[int, ...], int] = {}  # block -> barriers its threads passed
        self.divergent: list[tuple[int, ...]] = []  # blocks with a barrier not every thread reached
        self.shared_shapes: dict[str, tuple[int, ...]] = {}
        self.local = threading.local()
        self.lock = threading.Lock()
        self.kernel_code: types.CodeType | None = None  # the traced kernel's code (warp call sites)

    def record(self, space: str, name: str, index: tuple[int, ...], op: str) -> None:
        loc = self.local
        atomic = getattr(loc, "atomic", False)
        with self.lock:
            self.accesses.append(Access(loc.block_idx, loc.thread_idx, loc.block.phase, space, name, index, op, atomic))


class _Namespace:
    def __init__(self, **items: Callable) -> None:
        self.__dict__.update(items)


class FakeCuda(warp_sync.WarpIntrinsics):
    """What a traced kernel sees as ``cuda``: per-thread indices, shared memory, barriers, atomics,
    warp shuffles and votes."""

    def __init__(self, recorder: _Recorder, grid: Dim3, block: Dim3):
        self._rec = recorder
        self.gridDim = grid
        self.blockDim = block
        self.shared = _Namespace(array=self._shared_array)
        self.local = _Namespace(array=self._local_array)
        self.atomic = _Namespace(add=self._atomic_add, max=self._atomic_max)
        self._atomic_lock = threading.Lock()

    @property
    def threadIdx(self) -> Dim3:
        return Dim3(*self._rec.local.thread_idx)

    @property
    def blockIdx(self) -> Dim3:
        return Dim3(*self._rec.local.block_idx)

    def grid(self, ndim: int):
        t, b = self._rec.local.thread_idx, self._rec.local.block_idx
        dims = (self.blockDim.x, self.blockDim.y, self.blockDim.z)
        coords = [t[i] + b[i] * dims[i] for i in range(ndim)]
        return coords[0] if ndim == 1 else tuple(coords)

    def gridsize(self, ndim: int):
        sizes = [self.gridDim.x * self.blockDim.x, self.gridDim.y * self.blockDim.y, self.gridDim.z * self.blockDim.z]
        return sizes[0] if ndim == 1 else tuple(sizes[:ndim])

    @property
    def laneid(self) -> int:
        return self._rec.local.tid % warp_sync.WARP_SIZE

    def _collective(self, kind: str, mask: int | None, value: Any, arg: int) -> Any:
        """Stop at a warp collective until the warp meets (:mod:`coursekit.gpu.warp_sync`)."""
        loc = self._rec.local
        loc.block.warps.arrive(loc.tid, kind, mask, value, arg, self._rec.kernel_code)
        loc.block.give_turn(loc.tid, "warp")
        loc.block.wait_turn(loc.tid)
        result, src = loc.block.warps.results.pop(loc.tid)
        if kind != "activemask":
            self._rec.record("warp", kind, (src,), "vote" if kind == "ballot_sync" else "shuffle")
        return result

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
            dt = _as_dtype(dtype)
            unwritten = np.nan if dt.kind in "fc" else (np.iinfo(dt).min if dt.kind in "iu" else 0)
            data = np.full(shape, unwritten, dtype=dt)  # NaN (ints: their minimum) shows reads of unwritten cells
            name = f"shared{k}" if k else "shared"
            block.shared.append(TracedArray(data, name, "shared", self._rec))
            self._rec.shared_shapes[name] = data.shape
        return block.shared[k]

    def _local_array(self, shape, dtype):
        return np.zeros(shape, dtype=_as_dtype(dtype))

    def _atomic_add(self, array: TracedArray, index, value):
        with self._atomic_lock:
            self._rec.local.atomic = True
            try:
                old = array[index]
                array[index] = old + value
            finally:
                self._rec.local.atomic = False
            return old

    def _atomic_max(self, array: TracedArray, index, value):
        with self._atomic_lock:
            self._rec.local.atomic = True
            try:
                old = array[index]
                array[index] = max(old, value)
            finally:
                self._rec.local.atomic = False
            return old


COUNTED = ("global reads", "global writes", "shared reads", "shared writes")


@dataclass
class Trace:
    """What :func:`trace` recorded: every access, and the arrays after the kernel ran."""

    accesses: list[Access]
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    barriers: dict[tuple[int, ...], int] = field(default_factory=dict)  # block -> barriers passed
    divergent: list[tuple[int, ...]] = field(default_factory=list)  # blocks with a divergent barrier
    shared_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # shared array -> shape

    def table(self) -> pd.DataFrame:
        """One row per access: block, thread, phase, space, array, index, op."""
        return pd.DataFrame([a.__dict__ for a in self.accesses])

    def counts(self) -> pd.DataFrame:
        """Reads and writes per thread, split into global and shared memory, and the warp
        shuffles and votes (ballots) each thread took part in."""
        t = self.table()
        if t.empty:
            return pd.DataFrame()
        t["kind"] = t["space"] + " " + t["op"] + "s"
        out = t.groupby(["block", "thread", "kind"]).size().unstack(fill_value=0)
        return out.reindex(columns=[c for c in (*COUNTED, "warp shuffles", "warp votes") if c in out.columns])

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


def bind_cuda(kernel: Callable, fake: Any) -> Callable:
    """The kernel's Python function with ``cuda`` in its globals bound to ``fake`` (a stand-in
    that answers ``cuda.grid``, ``cuda.threadIdx``, ...), the module's own globals left alone."""
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
    grid_d, block_d = dim3(grid), dim3(block)
    n_threads = block_d.x * block_d.y * block_d.z
    if n_threads > 1024 or grid_d.x * grid_d.y * grid_d.z * n_threads > 65_536:
        raise ValueError("trace: keep launches small (<= 1024 threads per block, <= 65,536 in all)")
    fn = python_function(kernel)
    names = list(inspect.signature(fn).parameters)
    recorder = _Recorder()
    fake = FakeCuda(recorder, grid_d, block_d)
    bound = bind_cuda(kernel, fake)
    recorder.kernel_code = bound.__code__
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
    return Trace(recorder.accesses, g, b, arrays, recorder.barriers, recorder.divergent, recorder.shared_shapes)


def _run_block(bound: Callable, args: list, recorder: _Recorder, block_idx: tuple, block_d: Dim3) -> None:
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
        except warp_sync.CollectiveError as exc:  # names the warp and lanes itself
            state.fail(WarpError(f"block {block_idx[:2] if block_d.z == 1 else block_idx}: {exc}"))
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
    recorder.barriers[block_idx] = state.phase
    if state.divergent:
        recorder.divergent.append(block_idx)
