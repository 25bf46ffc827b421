"""Measuring a device's two roofline ceilings: memory bandwidth (bytes/s) and compute (FLOP/s).

Bandwidth is STREAM's triad ``a = b + s * c`` (McCalpin, https://www.cs.virginia.edu/stream/)
measured by STREAM's rules: each array at least 4x the last-level cache (and >= 128 MiB, since a
VM may report a fraction of the real cache; the three together within 40 % of the memory this
process may still use, cgroup limits counted, so a 2 GB Binder pod is not killed), pages first
touched by the threads that use them, every CPU the process may use, the best of several runs,
and ``3 x nbytes`` counted per triad (write-allocate traffic is not counted). Three triads
compete and the fastest is kept and named: a numba ``prange`` loop, torch's fused ``add`` and numpy
in cache-sized blocks. Compute is the best GEMM of numpy and torch. Results are cached per machine
and per *kind* of measurement (quick or full mode, GEMM sizes, CPU threads, method version): a quick result
never stands in for a full one. numba and torch are imported only when a measurement runs.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from coursekit import session as _session
from coursekit import settings
from coursekit.machine import caches as _caches
from coursekit.machine import device as _device
from coursekit.machine import memory as _memory
from coursekit.machine import threads as _threads
from coursekit.perf import timing as _timing
from coursekit.perf.roofline import (
    Ceilings,
    Kernel,
    dot,
    elementwise,
    matmul,
    matvec,
    softmax,
)

METHOD_VERSION = 5  # bump when what is measured changes: results cached by older versions are ignored
TRIAD_MIN_NBYTES = 128 * 2**20  # per array, whatever the cache says (4x a 32 MiB L3)
TRIAD_REPEATS = {"quick": 10, "full": 20}  # STREAM's NTIMES is 10; more outside quick mode (noisy machines)
NUMPY_BLOCK_NBYTES = 2**20  # numpy triad works in blocks this size, so its temporary stays in cache
UNKNOWN_CACHE_NBYTES = 64 * 2**20  # last-level cache assumed where sysfs is silent

_MEMORY_CACHE: dict[str, Ceilings] = {}


# -------------------------------------------------------------------------------- machine


def _signature(dev: str) -> str:
    """The machine and device a cached result belongs to."""
    if dev == "cpu":
        c = _device.cpu()
        return f"cpu|{c.name}|{c.logical_cores}|{platform.node()}"
    g = _device.gpus()[0]
    return f"cuda|{g.name}|{g.driver_version}|{platform.node()}"


def triad_elements(dtype: Any = "float32") -> tuple[int, str]:
    """Elements per triad array, and a note on the size: each array >= 4x the last-level cache
    and >= 128 MiB, the three together <= 40 % of the memory this process may still use
    (:func:`coursekit.machine.memory.available_bytes`: a container's or Binder pod's limit counts)."""
    llc_nbytes = _caches.last_level_nbytes() or UNKNOWN_CACHE_NBYTES
    wanted_nbytes = max(4 * llc_nbytes, TRIAD_MIN_NBYTES)
    cap_nbytes = int(0.4 * _memory.available_bytes() / 3)
    per_array_nbytes = min(wanted_nbytes, cap_nbytes)
    note = f"3 arrays of {per_array_nbytes / 2**20:.0f} MiB (last-level cache {llc_nbytes / 2**20:.0f} MiB)"
    if per_array_nbytes < wanted_nbytes:
        note += f", capped from {wanted_nbytes / 2**20:.0f} MiB by the memory available"
    if per_array_nbytes < 4 * llc_nbytes:
        note += " (memory too small for 4x the cache: the figure may be cache-assisted)"
    return per_array_nbytes // np.dtype(dtype).itemsize, note


# --------------------------------------------------------------------------------- triads


@functools.cache
def _numba_kernels() -> tuple[Callable, Callable]:
    """numba's parallel (first-touch fill, triad), compiled on first use (cached on disk)."""
    import numba

    @numba.njit(parallel=True, cache=True)
    def fill(a, b, c):  # each thread first touches the pages it will use in the triad
        for i in numba.prange(a.shape[0]):
            a[i] = 0.0
            b[i] = 1.0
            c[i] = 2.0

    @numba.njit(parallel=True, cache=True)
    def triad(a, b, c, s):
        for i in numba.prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    return fill, triad


def _triads(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> dict[str, Callable[[], Any]]:
    """The candidate triads ``a = b + 3 * c``, by label with their thread counts (set them with
    :func:`coursekit.machine.threads.limited` first); each moves 3 arrays' bytes per call."""
    import numba

    s = a.dtype.type(3.0)
    _, numba_triad = _numba_kernels()
    found = {f"numba prange loop ({numba.get_num_threads()} threads)": lambda: numba_triad(a, b, c, s)}
    try:
        import torch

        ta, tb, tc = (torch.from_numpy(x) for x in (a, b, c))
        label = f"torch.add(b, c, alpha=s, out=a) ({torch.get_num_threads()} threads)"
        found[label] = lambda: torch.add(tb, tc, alpha=3.0, out=ta)
    except ImportError:
        pass
    block = NUMPY_BLOCK_NBYTES // a.itemsize
    tmp = np.empty(block, dtype=a.dtype)
    views = [(a[i : i + block], b[i : i + block], c[i : i + block]) for i in range(0, a.size, block)]

    def numpy_triad() -> None:  # tmp = s*c; a = b + tmp, block by block: tmp never leaves the cache
        for av, bv, cv in views:
            t = tmp[: av.size]
            np.multiply(cv, s, out=t)
            np.add(t, bv, out=av)

    found[f"numpy in {NUMPY_BLOCK_NBYTES // 2**20} MiB blocks (1 thread)"] = numpy_triad
    return found


def _best_seconds_interleaved(fns: dict[str, Callable[[], Any]], repeats: int, burst: int = 2) -> dict[str, float]:
    """Fastest of ``repeats`` calls (seconds) of each function, after one untimed call (as STREAM
    leaves out its first run). The functions take turns, ``burst`` calls at a time, so that a busy
    spell on a shared machine hits all alike, and a call slowed by the previous library's threads
    (OpenMP workers spin for a while after a parallel loop) is followed by one that is not."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for turn in range(0, repeats, burst):
        for label, fn in fns.items():
            for _ in range(min(burst, repeats - turn)):
                start = time.perf_counter()
                fn()
                best[label] = min(best[label], time.perf_counter() - start)
    return best


def _cpu_bandwidth(dtype: str, repeats: int) -> tuple[float, str, int]:
    """Best triad bandwidth (bytes/s) over the candidates, how it was measured, elements per array."""
    n, note = triad_elements(dtype)
    repeats = max(repeats, TRIAD_REPEATS["quick" if settings.quick() else "full"])
    fill, _ = _numba_kernels()
    with contextlib.suppress(ImportError):  # loaded first: limited() sizes the pools of loaded libraries
        import torch  # noqa: F401 - its default, MKL's count of *physical* cores, can be below `threads`
    # The usable CPUs (a Binder pod's quota counts), but no more than the threads in effect: inside
    # threads.limited(1) the memory roof is one thread's, like the GEMM roof and the points under it.
    threads = min(_device.usable_cpus(), max(1, _threads.blas_threads() or _device.usable_cpus()))
    a, b, c = (np.empty(n, dtype=dtype) for _ in range(3))
    with _threads.limited(threads):
        fill(a, b, c)
        seconds = _best_seconds_interleaved(_triads(a, b, c), repeats)
    if not np.all(a[:: max(1, n // 97)] == 7):  # 1 + 3 * 2
        raise RuntimeError("triad gave a wrong result")
    bytes_per_s = {label: 3 * a.nbytes / t for label, t in seconds.items()}
    winner = max(bytes_per_s, key=lambda label: bytes_per_s[label])
    others = ", ".join(f"{label.split(' (')[0]} {rate / 1e9:.1f}" for label, rate in bytes_per_s.items())
    how = (
        f"STREAM triad a = b + s*c, best of {repeats}, 3 arrays' bytes counted: {winner}; "
        f"{note}; GB/s by method: {others}"
    )
    return bytes_per_s[winner], how, n


# ----------------------------------------------------------------------------------- GEMM


def _gemm_sizes() -> list[int]:
    """Square GEMM sizes measured on the CPU: [1024] in quick mode, else [2048, 4096]."""
    return _session.size(small=[1024], default=[2048, 4096])


def _cpu_flops(dtype: str, repeats: int) -> tuple[float, str, int]:
    """Best GEMM FLOP/s of numpy and torch over :func:`_gemm_sizes`, how, and its n."""
    best: dict[str, tuple[float, int]] = {}  # label -> (FLOP/s, n)
    for n in _gemm_sizes():
        x = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
        y = np.random.default_rng(1).standard_normal((n, n)).astype(dtype)
        out = np.empty_like(x)
        best[f"numpy.matmul n={n}"] = (2 * n**3 / _best_time(functools.partial(np.matmul, x, y, out=out), repeats), n)
        try:
            import torch

            tx, ty, tout = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(out)
            rate = 2 * n**3 / _best_time(functools.partial(torch.matmul, tx, ty, out=tout), repeats)
            best[f"torch.matmul n={n} ({torch.get_num_threads()} threads)"] = (rate, n)
        except ImportError:
            pass
    winner = max(best, key=lambda label: best[label][0])
    rate, n = best[winner]
    return rate, f"GEMM, best of {repeats}: {winner}", n


# ------------------------------------------------------------------------------------ GPU


def _gpu_bandwidth(dtype: str, repeats: int) -> tuple[float, str, int]:
    """Triad bytes/s on the GPU (torch, 3 x 256 MiB), how, and elements per array."""
    import torch

    n = 2**28 // np.dtype(dtype).itemsize  # 256 MiB per array: far beyond any GPU's L2 cache
    a, b, c = (torch.ones(n, dtype=getattr(torch, dtype), device="cuda") for _ in range(3))
    t = _best_time(lambda: torch.add(b, c, alpha=3.0, out=a), repeats, device="cuda")
    return 3 * n * a.element_size() / t, f"triad torch.add(b, c, alpha=s, out=a), 3 x 256 MiB, best of {repeats}", n


def _gpu_flops(dtype: str, repeats: int) -> tuple[float, str, int]:
    """GEMM FLOP/s on the GPU (torch, n=8192), how, and n."""
    import torch

    n = 8192
    x = torch.randn(n, n, device="cuda", dtype=getattr(torch, dtype))
    y = torch.randn(n, n, device="cuda", dtype=getattr(torch, dtype))
    out = torch.empty_like(x)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    t = _best_time(lambda: torch.matmul(x, y, out=out), repeats, device="cuda")
    return 2 * n**3 / t, f"GEMM torch.matmul n={n}, best of {repeats} (TF32 {'on' if tf32 else 'off'})", n


def _best_time(fn: Callable[[], Any], repeats: int, device: str = "cpu") -> float:
    """Fastest of ``repeats`` timed calls (seconds), after one cold and one warm-up call."""
    m = _timing.benchmark(fn, device=device, warmup=1, min_samples=repeats, min_time=0.0, max_time=30.0)
    return m.best


# ---------------------------------------------------------------------------------- cache


def _cache_key(dev: str, dtype: str) -> str:
    """What a cached result measured: machine, device, dtype, quick/full mode, sizes, method, and
    on the CPU the threads in effect (:func:`coursekit.machine.threads.in_effect`: a roof measured on
    2 threads is not the roof of points timed inside ``threads.limited(1)``)."""
    mode = "quick" if settings.quick() else "full"
    gemm = ",".join(map(str, _gemm_sizes())) if dev == "cpu" else "8192"
    threads = f"|{_threads.in_effect()} threads" if dev == "cpu" else ""
    return f"{_signature(dev)}|{dtype}|{mode}|GEMM n={gemm}{threads}|method v{METHOD_VERSION}"


def _read_cache(path: Path) -> dict[str, Any]:
    """The cache file's entries; empty when missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def measure_ceilings(device: str = "cpu", dtype: str = "float32", refresh: bool = False, repeats: int = 5) -> Ceilings:
    """Measure (or load from the cache) this machine's bandwidth and FLOP/s ceilings.

    ``device``: ``"cpu"`` (triads of numba, torch and numpy; GEMMs of numpy and torch; the best
    of each is kept and named in ``method``) or ``"cuda"`` (torch). Results are cached in memory
    and on disk (:func:`coursekit.settings.cache_dir`) per machine, device, dtype and kind of measurement (quick or
    full mode, sizes, method version); ``refresh=True`` measures again.
    """
    dev = _device.parse_device(device, allow_auto=False, who="measure_ceilings")
    if dev == "cuda" and not _device.gpu_available():
        raise RuntimeError("measure_ceilings('cuda'): no GPU here; use load_reference() for recorded results")
    key = _cache_key(dev, dtype)
    if not refresh and key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    path = settings.cache_dir() / "ceilings.json"
    stored = _read_cache(path)
    if not refresh and key in stored:
        result = Ceilings.from_dict(stored[key])
    else:
        measure_bw, measure_flops = (_cpu_bandwidth, _cpu_flops) if dev == "cpu" else (_gpu_bandwidth, _gpu_flops)
        bandwidth, bw_how, bw_n = measure_bw(dtype, repeats)
        flops, fl_how, fl_n = measure_flops(dtype, repeats)
        name = _device.cpu().name if dev == "cpu" else _device.gpus()[0].name
        result = Ceilings(
            name=f"this {dev.upper()}: {name}",
            device=dev,
            dtype=dtype,
            bytes_per_s=bandwidth,
            flop_per_s=flops,
            source="measured",
            method={"bandwidth": bw_how, "flops": fl_how},
            sizes={"triad_elements": bw_n, "gemm_n": fl_n},
            date=_dt.date.today().isoformat(),
            meta={"threads": _timing.thread_counts(), "quick": settings.quick()},
        )
        stored[key] = result.to_dict()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(stored, indent=1))
        except OSError:
            pass  # a read-only home still gets the in-memory cache
    _MEMORY_CACHE[key] = result
    return result


# ------------------------------------------------------------------------- course kernels


def course_kernels(device: str = "cpu", dtype: str = "float32", min_time: float = 0.1) -> list[Kernel]:
    """Time the course's kernels (elementwise add, dot, matvec, matmul at several sizes, softmax)
    on ``device`` (numpy on the CPU, torch on CUDA) and return them as timed :class:`Kernel`s.

    Outside quick mode the memory-bound kernels' data exceed the last-level cache (as the triad
    does), so they meet the DRAM roof; in quick mode they are small and may run from cache, above
    it. Outputs are preallocated, so no call pays for fresh pages.
    """
    dev = _device.parse_device(device, allow_auto=False, who="course_kernels")
    beyond_cache = triad_elements(dtype)[0] if dev == "cpu" else 1 << 26
    big = _session.size(small=1 << 20, default=beyond_cache, gpu=beyond_cache)
    mv = int(np.sqrt(big))
    mm_sizes = _session.size(small=[64, 256, 1024], default=[64, 256, 1024, 2048], gpu=[256, 1024, 4096, 8192])
    rows, cols = _session.size(small=(1024, 1000), default=(big // 2000, 1000), gpu=(big // 1000, 1000))
    # numpy functions on the CPU, torch ones on CUDA: the arrays they make and take are of either kind
    rand: Callable[..., Any]
    empty: Callable[..., Any]
    vdot: Callable[..., Any]
    if dev == "cpu":
        # drawn in float32: a float64 draw first would hold twice the array's bytes at once
        rand = lambda *shape: np.random.default_rng(0).standard_normal(shape, np.float32).astype(dtype, copy=False)  # noqa: E731
        empty = lambda *shape: np.empty(shape, dtype=dtype)  # noqa: E731
        add = lambda a, b, out: np.add(a, b, out=out)  # noqa: E731
        mmul = lambda a, b, out: np.matmul(a, b, out=out)  # noqa: E731
        vdot = np.dot

        def soft(z):
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
    else:
        import torch

        rand = lambda *shape: torch.randn(*shape, device="cuda", dtype=getattr(torch, dtype))  # noqa: E731
        empty = lambda *shape: torch.empty(*shape, device="cuda", dtype=getattr(torch, dtype))  # noqa: E731
        add = lambda a, b, out: torch.add(a, b, out=out)  # noqa: E731
        mmul = lambda a, b, out: torch.matmul(a, b, out=out)  # noqa: E731
        vdot = torch.dot
        soft = lambda z: torch.softmax(z, dim=1)  # noqa: E731
    label = "this CPU" if dev == "cpu" else "this GPU"
    bench_dev = "cpu" if dev == "cpu" else "cuda"
    out: list[Kernel] = []

    def run(kernel: Kernel, fn, *args) -> None:
        m = _timing.benchmark(fn, *args, device=bench_dev, min_time=min_time, label=kernel.name)
        out.append(kernel.timed(m.median, label))

    a, b = rand(big), rand(big)
    run(elementwise(big, dtype, name=f"add n={big:,}"), add, a, b, empty(big))
    run(dot(big, dtype), vdot, a, b)
    del a, b
    A, v = rand(mv, mv), rand(mv)
    run(matvec(mv, mv, dtype), mmul, A, v, empty(mv))
    del A
    for n in mm_sizes:
        run(matmul(n, n, n, dtype), mmul, rand(n, n), rand(n, n), empty(n, n))
    run(softmax(rows, cols, dtype), soft, rand(rows, cols))
    return out
