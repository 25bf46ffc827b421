"""Today's graphs in PyTorch, for notebook 04: ``torch.compile`` timed apart from its steady state, graph
breaks found with ``torch._dynamo.explain`` (quietly, with the line each break is on), the kernel calls
of inductor's generated code (:func:`inductor_calls`: what it fused), ``torch.export`` to a file and back,
and the GPU measurements
:func:`measure_compile_speedup` (eager vs compiled on a GPU) for ``benchmarks/record_reference.py`` and
:func:`measure_compile_break_even` (from how many ops on a tiny tensor a compiled call beats eager).

Nothing here prints to stderr: dynamo's and inductor's log warnings are held back inside
:func:`quiet_torch` and handed to the caller as text.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coursekit.machine import threads as pools
from coursekit.perf import timing

_LOGGERS = ("torch._dynamo", "torch._inductor", "torch.fx", "torch.export", "torch._export", "torch._subclasses")
_LABEL = re.compile(r"#\s*\(([A-Za-z0-9]+)\)")


class _Collect(logging.Handler):
    def __init__(self, sink: list[str]):
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"[{record.name}] {record.getMessage()}")


@contextlib.contextmanager
def quiet_torch() -> Iterator[list[str]]:
    """Inside the block, torch's logged warnings and Python warnings are collected (a list of strings,
    yielded) instead of written to stderr."""
    held: list[str] = []
    handler = _Collect(held)
    saved = []
    for name in _LOGGERS:
        log = logging.getLogger(name)
        saved.append((log, log.propagate, list(log.handlers)))
        log.handlers = [handler]
        log.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield held
        held.extend(f"{w.category.__name__}: {w.message}" for w in caught)
    finally:
        for log, propagate, handlers in saved:
            log.handlers, log.propagate = handlers, propagate


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Inside the block, numpy's OpenBLAS, torch (:func:`coursekit.machine.threads.limited`) and
    coursekit.graph's fused kernels use ``n`` threads each; all restored after.

    On a small machine shared with other work, one pool's thread waits at every barrier for a core that
    another process holds (:mod:`coursekit.machine.threads` records what that cost on a 2-core VM); one
    thread each keeps a comparison of frameworks about the frameworks."""
    from coursekit.graph import config as graph_config

    before = graph_config.n_threads
    try:
        with pools.limited(n):
            graph_config.n_threads = n
            yield
    finally:
        graph_config.n_threads = before


def cxx_compiler() -> str | None:
    """Path of the C++ compiler inductor would use on the CPU (``$CXX``, g++, clang++, c++), or None."""
    import os

    for name in (os.environ.get("CXX"), "g++", "clang++", "c++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@dataclass
class Compiled:
    """A ``torch.compile``'d function with its first call timed apart: ``fn`` (None when compiling failed,
    then ``error`` says why), ``first_call_s`` (tracing + code generation + the call, seconds) and the
    warnings torch logged meanwhile."""

    fn: Callable | None
    first_call_s: float | None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.fn is not None


def compile_timed(fn: Callable, *args: Any, **compile_kwargs: Any) -> Compiled:
    """``torch.compile(fn)`` and its first call on ``args``, timed. Never raises for a missing toolchain:
    without a C++ compiler (CPU inductor needs one) or on any compile failure, returns ``ok == False``."""
    import torch

    if compile_kwargs.get("backend", "inductor") == "inductor" and cxx_compiler() is None:
        dev = [a.device.type for a in args if isinstance(a, torch.Tensor)]
        if not dev or dev[0] == "cpu":
            return Compiled(None, None, "no C++ compiler found (g++/clang++): inductor cannot build CPU kernels")
    with quiet_torch() as held:
        try:
            cf = torch.compile(fn, **compile_kwargs)
            t0 = time.perf_counter()
            cf(*args)
            if any(isinstance(a, torch.Tensor) and a.is_cuda for a in args):
                torch.cuda.synchronize()
            first = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - any toolchain failure becomes one line
            msg = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            return Compiled(None, None, f"{type(exc).__name__}: {msg}", held)
    return Compiled(cf, first, None, held)


_CALL = re.compile(r"^\s*(?:\w+\s*=\s*)?((?:extern_kernels|torch\.ops)\.[\w.]+|cpp_fused_\w+|triton_\w+\.run)\(")


def kernel_calls(source: str) -> list[str]:
    """The kernel calls in the ``call`` function of inductor's generated module ``source``, in order: one
    line each, e.g. ``extern_kernels.convolution(buf1, buf0, ...)`` or ``cpp_fused_relu_1(buf2, buf3)``
    (assignments and surrounding whitespace dropped)."""
    lines = source.splitlines()
    start = next((k for k, line in enumerate(lines) if line.strip().startswith("def call(")), None)
    if start is None:
        return []
    calls = []
    for line in lines[start + 1 :]:
        if line.strip().startswith("return"):
            break
        m = _CALL.match(line)
        if m:
            calls.append(line.strip()[line.strip().index(m.group(1)) :])
    return calls


def inductor_calls(fn: Callable, *args: Any, freezing: bool = False) -> tuple[Any, list[str], float]:
    """``torch.compile(fn)`` run once on ``args`` (quietly): returns (its output, the kernel calls of the
    generated code (:func:`kernel_calls`), the seconds it took). ``freezing=True`` compiles for inference,
    as inductor's ``freezing`` option: weights become constants and the CPU's oneDNN fusions (e.g. a
    convolution with its activation) may apply; run under ``torch.no_grad()``."""
    import torch
    from torch._inductor import config as inductor_config
    from torch._inductor.utils import run_and_get_code

    with quiet_torch(), inductor_config.patch(freezing=freezing), torch.no_grad():
        t0 = time.perf_counter()
        out, sources = run_and_get_code(torch.compile(fn), *args)
        seconds = time.perf_counter() - t0
    return out, [c for src in sources for c in kernel_calls(src)], seconds


@dataclass(frozen=True)
class GraphBreak:
    """Where dynamo broke the graph: ``line`` (counted from the ``def`` line, which is 0), the ``label`` of
    that line (a ``# (a)`` comment on it, else ""), the source line, and dynamo's reason (first line)."""

    line: int
    label: str
    code: str
    reason: str


def _labels(fn: Callable) -> tuple[list[str], int]:
    lines, first = inspect.getsourcelines(fn)
    return lines, first


def graph_breaks(fn: Callable, *args: Any) -> tuple[int, list[GraphBreak]]:
    """Run ``torch._dynamo.explain(fn)(*args)`` quietly; returns (number of graphs, the breaks in ``fn``'s
    own code, in order). ``fn`` runs once (its prints print)."""
    import torch

    with quiet_torch():
        torch._dynamo.reset()
        ex = torch._dynamo.explain(fn)(*args)
        torch._dynamo.reset()
    lines, first = _labels(fn)
    filename = inspect.getsourcefile(fn) or fn.__code__.co_filename
    out = []
    for r in ex.break_reasons:
        frames = [f for f in r.user_stack if f.filename in (filename, fn.__code__.co_filename)]
        if not frames:
            continue
        k = frames[-1].lineno - first
        code = lines[k].rstrip("\n") if 0 <= k < len(lines) else ""
        m = _LABEL.search(code)
        out.append(GraphBreak(k, m.group(1) if m else "", code.strip(), str(r.reason).strip().splitlines()[0][:120]))
    return ex.graph_count, out


def export_roundtrip(module: Any, args: tuple, path: str | Path) -> tuple[Any, Any]:
    """``torch.export.export(module, args)``, saved to ``path`` (a .pt2 file) and loaded back; returns
    (the loaded ExportedProgram, its output on ``args``)."""
    import torch

    with quiet_torch():
        ep = torch.export.export(module, args)
        torch.export.save(ep, str(path))
        loaded = torch.export.load(str(path))
        out = loaded.module()(*args)
    return loaded, out


def measure_compile_speedup(dev: str, n: int = 10_000_000, with_compile: bool = True) -> dict:
    """Eager vs ``torch.compile`` on ``dev`` (``"cuda"`` on a GPU): the lecture's cross-entropy over ``n``
    float32 and the MLP step (60x784 . 784x500, tanh, . 500x10, softmax cross-entropy, backprop).
    Returns milliseconds per call and compile seconds, for ``data/reference`` (key ``compile_speedup``).
    ``with_compile=False`` (a CPU dry run of the recorder) times eager only."""
    import torch
    import torch.nn.functional as F

    device = torch.device(dev)
    g = torch.Generator(device="cpu").manual_seed(0)
    z = (torch.randn(n, generator=g) * 3).to(device)
    y = (torch.rand(n, generator=g) < 0.5).float().to(device)

    def xent(z, y):
        p = 1 / (1 + torch.exp(-z))
        return -y * torch.log(p) - (1 - y) * torch.log(1 - p)

    w1 = (torch.randn(784, 500, generator=g) * 0.05).to(device).requires_grad_()
    w2 = (torch.randn(500, 10, generator=g) * 0.05).to(device).requires_grad_()
    x = torch.randn(60, 784, generator=g).to(device)
    t = torch.randint(0, 10, (60,), generator=g).to(device)

    def step(x, t):
        loss = F.cross_entropy(torch.tanh(x @ w1) @ w2, t)
        loss.backward()
        return loss

    out: dict[str, Any] = {"device": str(device)}
    for name, fn, args in (("xent", xent, (z, y)), ("mlp_step", step, (x, t))):
        out[f"{name}_eager_ms"] = timing.benchmark(fn, *args, device=device.type).median * 1e3
        if not with_compile:
            continue
        c = compile_timed(fn, *args)
        if c.fn is not None:  # c.ok
            out[f"{name}_compile_s"] = c.first_call_s
            out[f"{name}_compiled_ms"] = timing.benchmark(c.fn, *args, device=device.type).median * 1e3
        else:
            out[f"{name}_error"] = c.error
    return out


def measure_compile_break_even(dev: str, ks: tuple[int, int] = (2, 16), n: int = 4096) -> dict[str, Any]:
    """From how many element-wise ops ``k`` a ``torch.compile``'d chain beats eager on a tiny tensor.

    A chain ``x = x + 1.0`` repeated ``k`` times on ``n`` float32 numbers on ``dev`` (``"cuda"`` or
    ``"cpu"``): eager makes ``k`` calls, the compiled function one. Each is timed (synchronised on a
    GPU, by :func:`coursekit.perf.timing.benchmark`) at the two lengths ``ks``, which gives each a line
    ``time(k) = fixed + per_op * k``; :func:`coursekit.graph.gpu_figures.break_even` solves where they
    cross. Returns microseconds (``eager_us`` and ``compiled_us`` at ``ks``, the fitted
    ``*_fixed_us`` and ``*_per_op_us``), ``break_even`` (ops, inf when compiled never catches up) and
    ``wins_from`` (the smallest whole k at which compiled is faster, None for never); ``error``
    instead when ``torch.compile`` fails here."""
    import torch

    from coursekit.graph import gpu_figures

    device = torch.device(dev)
    x = torch.ones(n, device=device)
    out: dict[str, Any] = {"device": str(device), "n": n, "ks": list(ks), "eager_us": [], "compiled_us": []}
    for k in ks:

        def chain(t: Any, k: int = k) -> Any:
            for _ in range(k):
                t = t + 1.0
            return t

        c = compile_timed(chain, x)
        if c.fn is None:
            out["error"] = c.error
            return out
        for key, fn in (("eager_us", chain), ("compiled_us", c.fn)):
            out[key].append(timing.benchmark(fn, x, device=device.type, min_time=0.1, max_time=1.0).median * 1e6)
    lines = {}
    for key in ("eager", "compiled"):
        (t1, t2), (k1, k2) = out[f"{key}_us"], ks
        per_op = (t2 - t1) / (k2 - k1)
        lines[key] = (t1 - per_op * k1, per_op)
        out[f"{key}_fixed_us"], out[f"{key}_per_op_us"] = lines[key]
    out["break_even"] = gpu_figures.break_even(*lines["eager"], *lines["compiled"])
    out["wins_from"] = gpu_figures.wins_from(out["break_even"])
    return out
