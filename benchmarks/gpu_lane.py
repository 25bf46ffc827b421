"""The GPU lane: every GPU path of the course in one go, measured, checked and recorded.

On a CUDA machine (a CUDA build of torch; ``pip install -e '.[gpu]'`` for a CUDA 12 driver,
``'.[gpu-cuda13]'`` for CUDA 13)::

    python benchmarks/gpu_lane.py               # measure, check, write data/reference/<gpu>.json
    python benchmarks/gpu_lane.py --notebooks   # ... then every notebook under nbval, default sizes

Steps (each logged with its duration; a failing step is logged with its traceback and the others
still run):

 1. ``preflight``: torch sees the GPU, numba-cuda uses the real target and finds NVVM, CuPy works;
 2. ``precision``: every kernel of ``coursekit.gpu.kernels`` compiled by numba-cuda's own compiler for
    float32 arguments has no float64 variable, operation or LLVM instruction (on a GPU also: no
    ``.f64`` PTX instruction) — so the timings below measure FP32;
 3. the recording of ``benchmarks/record_reference.py``, one step per section: ``recorded``
    (device, driver, CUDA and library versions, date), ``ceilings`` (measure_ceilings("cuda")),
    ``kernels`` (course_kernels("cuda")), ``async_pitfall``, ``crossover``, ``matmul_kernels``
    (naive/tiled/cuBLAS, stencil), ``divergence``, ``reduction``, ``transpose``, ``divergence_sweep``,
    ``block_size``, ``streams``, ``minibatch``, ``softmax_regression``, ``compile_speedup``,
    ``applications``;
 4. ``reference``: when every section succeeded, ``data/reference/<gpu>.json`` is written (and a
    copy under ``--out``) and read back with ``coursekit.perf.reference.load_reference``;
 5. ``notebooks`` (``--notebooks``): ``pytest --nbval`` on every notebook, one log each.

Everything lands under ``--out`` (default ``gpu-lane-<UTC time>`` in the current folder):
``lane.log``, ``summary.json`` (per step: status, seconds, result or error), the reference JSON,
``notebooks/<name>.log``. Exit status 0 when every step passed.

Without a GPU, or with ``--dry-run``, it makes a **dry run**: every step on the CPU and numba-cuda's
simulator at tiny sizes, the reference file written only under ``--out`` (default: a new temporary
folder) and never into data/reference/. That proves the lane is wired and its file loads; it
measures nothing about GPUs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import record_reference  # noqa: E402  (a sibling script)

from coursekit.gpu import sim_switch  # noqa: E402  (imports nothing that loads numba)
from coursekit.machine import device  # noqa: E402  (imports nothing that loads numba)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NBVAL = [
    "--nbval",
    "--nbval-current-env",
    "--nbval-sanitize-with",
    "tests/nbval_sanitize.cfg",
    "--nbval-cell-timeout",
    "900",
]


class Lane:
    """Runs named steps, logging each one's duration and result; a failure does not stop the rest."""

    def __init__(self, log: logging.Logger):
        self.log = log
        self.steps: list[dict[str, Any]] = []
        self.results: dict[str, Any] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> bool:
        self.log.info("[%s] ...", name)
        start = time.perf_counter()
        try:
            value = fn()
        except Exception as err:  # noqa: BLE001 - every failure is logged and reported
            seconds = time.perf_counter() - start
            self.log.error(
                "[%s] FAILED after %.1f s: %s: %s\n%s", name, seconds, type(err).__name__, err, traceback.format_exc()
            )
            self.steps.append(
                {"step": name, "status": "failed", "seconds": seconds, "error": f"{type(err).__name__}: {err}"}
            )
            return False
        seconds = time.perf_counter() - start
        self.results[name] = value
        self.log.info("[%s] ok in %.1f s: %s", name, seconds, _brief(value))
        self.steps.append({"step": name, "status": "ok", "seconds": seconds})
        return True

    def skip(self, name: str, why: str) -> None:
        self.log.warning("[%s] skipped: %s", name, why)
        self.steps.append({"step": name, "status": "skipped", "reason": why})

    @property
    def ok(self) -> bool:
        return all(s["status"] == "ok" for s in self.steps)


def _brief(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=record_reference._json_default)
    return text if len(text) <= limit else text[:limit] + " ..."


# ------------------------------------------------------------------------------------- steps


def preflight(gpu: bool) -> dict[str, Any]:
    """What the GPU paths need: torch with CUDA, numba-cuda's real target with NVVM, CuPy."""
    import torch

    checks: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_cuda": torch.cuda.is_available(),
        "simulator": sim_switch.enabled(),
    }
    from numba import cuda

    checks["numba_cuda_available"] = bool(cuda.is_available())
    if not sim_switch.enabled():
        from numba.cuda.cudadrv import nvvm

        checks["nvvm"] = bool(nvvm.is_available())
    checks["cupy"] = device.backends().get("cupy", False)
    if gpu:
        missing = [
            what
            for what, ok in (
                ("a CUDA build of torch", checks["torch_cuda"]),
                ("numba-cuda's CUDA target", checks["numba_cuda_available"]),
                ("NVVM (libnvvm)", checks.get("nvvm")),
                ("CuPy", checks["cupy"]),
            )
            if not ok
        ]
        if missing:
            raise RuntimeError(
                f"missing on this GPU machine: {', '.join(missing)}. Install a CUDA build of "
                "torch, then `pip install -e '.[gpu]'` (CUDA 12 driver) or '.[gpu-cuda13]'"
            )
    return checks


def precision(gpu: bool) -> dict[str, Any]:
    """coursekit.gpu.kernels.precision.check_course_kernels in a fresh interpreter on numba-cuda's real
    target (the simulator infers no types); with a GPU, the PTX as well."""
    code = (
        "import json\nfrom coursekit.gpu.kernels import precision\n"
        f"print(json.dumps(precision.check_course_kernels(ptx={gpu!r})))\n"
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"the precision check did not run:\n{out.stderr[-3000:]}")
    found = json.loads(out.stdout.strip().splitlines()[-1])
    bad = {name: lines for name, lines in found.items() if lines}
    if bad:
        raise AssertionError("kernels with float64 work:\n" + json.dumps(bad, indent=1))
    return {"kernels": sorted(found), "float64_findings": 0, "ptx_checked": gpu}


def reference(results: dict[str, Any], out: Path, reference_dir: Path | None) -> dict[str, Any]:
    """Write the recording under ``out`` (and into ``reference_dir`` unless None) and read it back."""
    from coursekit.perf import reference as references

    data = {key: results[key] for key in record_reference.STEPS}
    copy = record_reference.write(data, out)
    written = record_reference.write(data, reference_dir) if reference_dir is not None else None
    name = data["recorded"]["device"]
    ceilings, kernels = references.load_reference(name, directory=copy.parent)
    assert ceilings.source == "recorded" and ceilings.name == name, ceilings
    assert len(kernels) == len(data["kernels"]) and all(k.seconds and k.seconds > 0 for k in kernels)
    back = references.reference_data(name, directory=copy.parent)
    assert set(record_reference.STEPS) <= set(back), "every section reads back"
    return {
        "path": str(copy),
        "reference": str(written) if written else None,
        "device": name,
        "bandwidth_gbs": ceilings.bytes_per_s / 1e9,
        "fp32_tflops": ceilings.flop_per_s / 1e12,
        "kernels": len(kernels),
    }


def notebooks(out: Path, dry: bool, log: logging.Logger) -> dict[str, Any]:
    """Every notebook under nbval in a fresh kernel: default sizes on a GPU, quick sizes in a dry run."""
    folder = out / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "COURSEKIT_QUICK")}
    if dry:
        env["COURSEKIT_QUICK"] = "1"
    results = {}
    for nb in NOTEBOOKS:
        start = time.perf_counter()
        with open(folder / f"{nb.stem}.log", "w") as handle:
            rc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    str(nb.relative_to(ROOT)),
                    *NBVAL,
                    "-q",
                    "-rs",
                    "-p",
                    "no:cacheprovider",
                ],
                cwd=ROOT,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            ).returncode
        results[nb.stem] = {"passed": rc == 0, "seconds": time.perf_counter() - start}
        log.info(
            "  %s: %s in %.0f s", nb.stem, "passed" if rc == 0 else f"FAILED (rc {rc})", results[nb.stem]["seconds"]
        )
    failed = [name for name, r in results.items() if not r["passed"]]
    if failed:
        raise AssertionError(f"nbval failed for {failed}: see {folder}")
    return results


# -------------------------------------------------------------------------------------- main


def _logger(out: Path) -> logging.Logger:
    log = logging.getLogger("gpu_lane")
    log.handlers.clear()
    log.setLevel(logging.INFO)
    log.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    for handler in (logging.FileHandler(out / "lane.log"), logging.StreamHandler(sys.stdout)):
        handler.setFormatter(fmt)
        log.addHandler(handler)
    return log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", help="folder for logs and results (default: gpu-lane-<time>, or a temporary folder in a dry run)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="CPU and simulator at tiny sizes (automatic without a GPU)"
    )
    parser.add_argument("--notebooks", action="store_true", help="also run every notebook under nbval")
    parser.add_argument(
        "--reference-dir",
        default=str(record_reference.REFERENCE_DIR),
        help="where a GPU run writes <gpu>.json (never used by a dry run)",
    )
    args = parser.parse_args(argv)

    gpu_here = device.gpu_available()
    dry = args.dry_run or not gpu_here
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    if args.out:
        out = Path(args.out)
    elif dry:
        out = Path(tempfile.mkdtemp(prefix="gpu-lane-dry-run-"))
    else:
        out = Path.cwd() / f"gpu-lane-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    if dry:
        os.environ["COURSEKIT_QUICK"] = "1"  # tiny sizes everywhere
        os.environ["COURSEKIT_CACHE_DIR"] = str(out / "cache")  # keep quick ceilings out of the real cache
        if gpu_here:
            os.environ["COURSEKIT_FORCE_CPU"] = "1"  # a dry run on a GPU machine still uses the CPU only
    else:
        os.environ.pop("COURSEKIT_QUICK", None)  # a reference is recorded at full size
    device.use_simulator_if_no_gpu()  # before anything imports numba
    log = _logger(out)
    dev = "cpu" if dry else "cuda"
    log.info(
        "GPU lane %s: %s; results in %s",
        stamp,
        "DRY RUN on the CPU and the simulator (not a GPU measurement)" if dry else f"on {device.gpus()[0].name}",
        out,
    )

    lane = Lane(log)
    lane.run("preflight", lambda: preflight(not dry))
    lane.run("precision", lambda: precision(not dry))
    for key, step in record_reference.STEPS.items():
        lane.run(key, lambda step=step: step(dev))
    missing = [key for key in record_reference.STEPS if key not in lane.results]
    if missing:
        partial = {key: lane.results[key] for key in record_reference.STEPS if key in lane.results}
        text = json.dumps(partial, indent=1, default=record_reference._json_default)
        (out / "partial-recording.json").write_text(text)
        lane.skip(
            "reference", f"sections failed: {missing}; nothing written to data/reference (see partial-recording.json)"
        )
    else:
        reference_dir = None if dry else Path(args.reference_dir)
        lane.run("reference", lambda: reference(lane.results, out, reference_dir))
    if args.notebooks:
        lane.run("notebooks", lambda: notebooks(out, dry, log))

    summary = {
        "lane": stamp,
        "dry_run": dry,
        "device": lane.results.get("recorded", {}).get("device"),
        "ok": lane.ok,
        "out": str(out),
        "steps": lane.steps,
        "results": {k: v for k, v in lane.results.items() if k not in ("kernels", "crossover")},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=record_reference._json_default))
    width = max(len(s["step"]) for s in lane.steps)
    for s in lane.steps:
        seconds = f"{s['seconds']:6.1f} s" if "seconds" in s else "        "
        log.info("  %-*s %-8s %s %s", width, s["step"], s["status"], seconds, s.get("error", s.get("reason", "")))
    log.info("%s: %s", "ALL STEPS PASSED" if lane.ok else "SOME STEPS FAILED", out / "summary.json")
    return 0 if lane.ok else 1


if __name__ == "__main__":
    sys.exit(main())
