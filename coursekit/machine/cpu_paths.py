"""Which SIMD code path each library takes on this CPU, and how to make an AVX-512 machine take
the AVX2 ones.

Most students' laptops and many cloud pods have AVX2 only, while the machines this course is
written on have AVX-512. Libraries pick their kernels at run time from the CPU's features, so a
number summed in another order on AVX2 can differ in its last digits. :func:`code_paths` says which
path each library took here; :func:`avx2_env` is the environment that makes each library that
allows it take its AVX2 path, as an AVX2-only CPU would:

==============  ==============================  ============================================
library         variable                        honoured here? (checked by :func:`code_paths`)
==============  ==============================  ============================================
numpy           ``NPY_DISABLE_CPU_FEATURES``    yes: its AVX-512 dispatch targets switch off
OpenBLAS        ``OPENBLAS_CORETYPE=Haswell``   yes: threadpoolctl reports the core type
torch (ATen)    ``ATEN_CPU_CAPABILITY=avx2``    yes: ``torch.backends.cpu.get_cpu_capability()``
oneDNN          ``ONEDNN_MAX_CPU_ISA=AVX2``     yes: its verbose line names the ISA it runs
numba / LLVM    ``NUMBA_CPU_NAME=haswell``      yes: ``numba.config.CPU_NAME``
torch.compile   ``ATEN_CPU_CAPABILITY=avx2``    yes: inductor's ``pick_vec_isa()`` (its C++ vector width)
MKL (in torch)  ``MKL_ENABLE_INSTRUCTIONS=AVX2`` unknown: MKL's verbose line names no ISA on AMD
==============  ==============================  ============================================

Run ``python -m coursekit.machine.cpu_paths --avx2 --one-cpu -- COMMAND`` to run COMMAND so (``make
test-portable`` runs the notebooks under nbval that way); it first checks that every library took
the forced path and stops if one did not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

# numpy's dispatch targets above AVX2 (x86-64-v3), named as numpy >= 2.0 names them.
NUMPY_ABOVE_AVX2 = ("X86_V4", "AVX512_SKX", "AVX512_CLX", "AVX512_CNL", "AVX512_ICL", "AVX512_SPR")
AVX2_PATHS = {
    "numpy": "X86_V3",
    "OpenBLAS": "Haswell",
    "torch": "AVX2",
    "oneDNN": "AVX2",
    "numba": "haswell",
    "inductor": "avx2",
}


def numpy_dispatch() -> str:
    """The highest of numpy's run-time dispatch targets this process enables, e.g. ``AVX512_ICL``."""
    from numpy._core import _multiarray_umath as umath

    enabled = [t for t in umath.__cpu_dispatch__ if umath.__cpu_features__.get(t)]
    return enabled[-1] if enabled else "baseline " + "+".join(umath.__cpu_baseline__)


def openblas_core() -> str:
    """OpenBLAS's kernel family for numpy here (``Haswell``, ``SkylakeX``, ``Zen``...), via threadpoolctl."""
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (threadpoolctl is not installed)"
    import numpy  # noqa: F401  (loads numpy's BLAS so that threadpoolctl sees it)

    cores = [i.get("architecture", "?") for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"]
    return cores[0] if cores else "no OpenBLAS loaded"


def onednn_isa() -> str:
    """The ISA oneDNN runs a small convolution with, from its verbose line (a subprocess: the line
    is printed once per process, at oneDNN's first use)."""
    code = "import torch; torch.nn.Conv2d(1, 8, 5)(torch.ones(4, 1, 28, 28))"
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    for line in (done.stdout + done.stderr).splitlines():
        if ",isa:" in line:
            return line.split(",isa:", 1)[1].strip()
    return "unknown (no oneDNN verbose line)"


def inductor_isa() -> str:
    """The vector ISA torch.compile's C++ code is generated for here (``avx512``, ``avx2``...), or
    why there is none."""
    try:
        from torch._inductor.cpu_vec_isa import pick_vec_isa

        return str(pick_vec_isa()) or "none (no vectorisation)"
    except Exception as exc:  # noqa: BLE001 - any failure of inductor's probe is reported, not raised
        return f"unknown ({type(exc).__name__})"


def code_paths() -> dict[str, str]:
    """The SIMD path each library took in this process (oneDNN: in a child with the same environment)."""
    import numba
    import torch

    return {
        "numpy": numpy_dispatch(),
        "OpenBLAS": openblas_core(),
        "torch": torch.backends.cpu.get_cpu_capability(),
        # getattr: numba.config sets its attributes at run time from the environment (invisible to mypy)
        "numba": getattr(numba.config, "CPU_NAME", None) or "host",
        "oneDNN": onednn_isa(),
        "inductor": inductor_isa(),
    }


def paths_line() -> str:
    """One line for a benchmark's header: ``code paths: numpy X86_V4, OpenBLAS Zen, ...``."""
    return "code paths: " + ", ".join(f"{k} {v}" for k, v in code_paths().items())


def avx2_env() -> dict[str, str]:
    """Environment variables that make numpy, OpenBLAS, torch, oneDNN, MKL and numba take their
    AVX2 paths on a CPU that has AVX-512 (on an AVX2-only CPU they change nothing)."""
    from numpy._core import _multiarray_umath as umath

    env = {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",
        "NUMBA_CPU_NAME": "haswell",
    }
    # numpy refuses to disable a feature this CPU lacks: name only the targets it would enable.
    above = [t for t in NUMPY_ABOVE_AVX2 if umath.__cpu_features__.get(t)]
    if above:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(above)
    return env


def check_avx2_paths(paths: dict[str, str]) -> list[str]:
    """The libraries whose path in ``paths`` is not the AVX2 one (empty when all took it)."""
    wrong = []
    for lib, wanted in AVX2_PATHS.items():
        got = paths.get(lib, "")
        ok = wanted.lower() in got.lower() and "512" not in got
        if not ok and not (lib == "OpenBLAS" and got.startswith("unknown")):
            wrong.append(f"{lib}: {got!r}, expected {wanted}")
    return wrong


def _probe(env: dict[str, str]) -> dict[str, str]:
    """:func:`code_paths` as a fresh process with ``env`` sees them."""
    code = "import json; from coursekit.machine.cpu_paths import code_paths; print(json.dumps(code_paths()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"probing the code paths failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--avx2", action="store_true", help="force the AVX2 code paths (see avx2_env)")
    parser.add_argument("--one-cpu", action="store_true", help="pin to the first usable CPU, as on a 1-vCPU pod")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND to run so (default: only report)")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.avx2:
        forced = avx2_env()
        env.update(forced)
        print("forcing the AVX2 paths: " + " ".join(f"{k}={v!r}" for k, v in forced.items()), flush=True)
    if args.one_cpu:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})  # inherited by every child: the probe, the command, its kernels
        print(f"pinned to CPU {cpu} (as taskset -c {cpu})", flush=True)
    paths = _probe(env)
    print("code paths: " + ", ".join(f"{k} {v}" for k, v in paths.items()), flush=True)  # as paths_line()
    if args.avx2 and (wrong := check_avx2_paths(paths)):
        print("NOT ON THE AVX2 PATH: " + "; ".join(wrong), file=sys.stderr)
        return 1
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        return 0
    return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
