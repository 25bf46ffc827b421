"""Record a real GPU's reference results into data/reference/, for CPU-only readers.

Run on a CUDA machine (a CUDA build of torch, and ``pip install -e '.[gpu]'`` for a CUDA 12 driver
or ``'.[gpu-cuda13]'`` for CUDA 13):  python benchmarks/record_reference.py
(``benchmarks/gpu_lane.py`` runs these same steps and every other GPU check of the course in one
go, with logs.) It measures on the GPU everything the notebooks show from a recorded reference:

- ``ceilings`` and ``kernels``: the roofline ceilings (triad bandwidth, FP32 GEMM) and the course's
  kernels (notebook 01's roofline);
- ``async_pitfall``: a 4096 x 4096 matmul read without and with synchronisation, after a warm-up:
  median and IQR of 7 launches (notebook 01, section 7);
- ``crossover``: element-wise add and matmul over sizes, with and without host<->device copies;
- ``matmul_kernels``: notebook 02's naive, tiled and cuBLAS matmul (n = 2048, each result checked)
  and the shared-memory stencil on 2^24 elements;
- ``divergence``: notebook 01's ``heavy_branches`` on warps that agree vs lanes that alternate;
- ``reduction`` and ``transpose``: notebook 02's atomic vs tree sum, and its transposes (naive,
  tiled with bank conflicts, padded) against a copy;
- ``divergence_sweep``, ``block_size`` and ``streams``: notebook 02's warps-and-memory section
  measured: ``heavy_branches`` with the branch sign flipping every L = 1 ... 128 elements (the
  cliff at L = 32), a grid-stride copy of 2^26 floats over block sizes 32 ... 1024 (GB/s, with the
  kernel's registers and the occupancy they imply), and pageable vs pinned copies and a chunked
  copy-kernel-copy pipeline on one stream vs four;
- ``minibatch``: examples per second over batch sizes, for LeNet inference (notebook 05; also in
  float16 autocast) and batched softmax-regression gradients (notebook 03);
- ``softmax_regression``: seconds per iteration of notebook 03's softmax regression, CuPy and torch;
- ``compile_speedup``: notebook 04's eager vs ``torch.compile`` (cross-entropy, MLP step);
- ``applications``: notebook 05's training examples/s of LeNet, the char-LSTM and the seq2seq
  (fp32 and float16 autocast), and LeNet's seconds per 60,000-image epoch.

It writes data/reference/<device>.json, labelled with device, date, driver, CUDA and library
versions. ``--cpu-dry-run --out DIR`` runs the same steps on the CPU and numba-cuda's simulator at
tiny sizes into DIR: it checks the wiring and the file format (the tests use it) and is never a
GPU reference.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from coursekit.apps.lenet import lenet
from coursekit.apps.throughput import measure_applications
from coursekit.edf import minibatch as _minibatch
from coursekit.graph import torch_graphs
from coursekit.machine import device
from coursekit.perf import crossover, timing
from coursekit.perf.ceilings import course_kernels, measure_ceilings

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = ROOT / "data" / "reference"
DRY_RUN_LABEL = "(CPU dry run: NOT a GPU reference)"
# A dry run times each thing as briefly as a median and a spread allow (the simulator is slow).
DRY_RUN_TIMING = {"warmup": 0, "min_time": 0.0, "max_time": 0.0, "min_samples": 3}

DISTRIBUTIONS = (
    "coursekit",
    "numpy",
    "torch",
    "cupy-cuda12x",
    "cupy-cuda13x",
    "numba",
    "numba-cuda",
    "cuda-bindings",
    "cuda-core",
    "cuda-toolkit",
    "llvmlite",
)


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in DISTRIBUTIONS:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def _cuda_versions() -> dict[str, str]:
    """The CUDA versions each library was built for or loaded (whichever it can say)."""
    found: dict[str, str] = {}
    try:
        import torch

        found["torch built for"] = str(torch.version.cuda)
    except ImportError:
        pass
    try:
        from numba import cuda

        found["numba-cuda runtime"] = ".".join(map(str, cuda.runtime.get_version()))
    except Exception as err:  # noqa: BLE001 - a missing runtime is reported, not fatal
        found["numba-cuda runtime"] = f"unavailable ({type(err).__name__})"
    try:
        import cupy

        v = cupy.cuda.runtime.runtimeGetVersion()
        found["cupy runtime"] = f"{v // 1000}.{(v % 1000) // 10}"
    except Exception:  # noqa: BLE001 - CuPy is optional
        pass
    return found


def _driver_release() -> str:
    """The NVIDIA driver's release number (e.g. 550.54.15) from nvidia-smi; '' without it."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ""
    try:
        out = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def device_label(dev: str) -> str:
    """The name every section is labelled with: the GPU's, or the CPU's marked as a dry run."""
    return device.gpus()[0].name if dev == "cuda" else f"{device.cpu().name} {DRY_RUN_LABEL}"


# ------------------------------------------------------------------------------------- steps
# Each step takes the device ("cuda", or "cpu" for a dry run) and returns one JSON section.


def environment(dev: str) -> dict[str, Any]:
    """Device, driver, CUDA versions, date (UTC), host CPU and library versions."""
    if dev == "cuda":
        gpu = device.gpus()[0]
        where = {
            "device": gpu.name,
            "driver": gpu.driver_version,
            "driver_release": _driver_release(),
            "sms": gpu.multiprocessors,
            "memory_bytes": gpu.memory_bytes,
            "compute_capability": list(gpu.compute_capability),
            "cuda": _cuda_versions(),
        }
    else:
        where = {"device": device_label(dev), "driver": "", "cuda": {}}
    return {
        **where,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host_cpu": device.cpu().name,
        "platform": platform.platform(),
        "versions": _versions(),
    }


def ceilings(dev: str) -> dict[str, Any]:
    """The roofline ceilings, measured afresh, labelled as a recording of this device."""
    measured = measure_ceilings(dev, refresh=True, repeats=5 if dev == "cuda" else 2)
    return {**measured.to_dict(), "name": device_label(dev), "source": "recorded"}


def kernels(dev: str) -> list[dict[str, Any]]:
    """The course's kernels timed on the device (coursekit.perf.ceilings.course_kernels)."""
    return [{**vars(k), "device": device_label(dev)} for k in course_kernels(dev)]


def async_pitfall(dev: str) -> dict[str, Any]:
    """A matmul read the wrong way (clock when the call returns) and the right way (after
    synchronising): warm-up, then the median and IQR of 7 launches; plus CUDA-event timing."""
    import torch

    from coursekit.perf.asyncqueue import time_launches

    n = 4096 if dev == "cuda" else 256
    x = torch.randn(n, n, device=dev)
    out = torch.empty_like(x)
    times = time_launches(lambda: torch.matmul(x, x, out=out), lambda: device.sync(dev), repeats=7, warmup=2)
    synced = timing.benchmark(torch.matmul, x, x, device=dev, min_time=0.2 if dev == "cuda" else 0.0)
    return {
        "n": n,
        **times.to_dict(),
        "benchmark_s": synced.median,
        "benchmark_iqr_s": synced.iqr,
        "host_enqueue_s": synced.host_median,
    }  # None (null) on the CPU: no separate host time


def crossover_rows(dev: str) -> list[dict[str, Any]]:
    """Per-size medians (seconds) of add and matmul on the device, compute-only and with copies."""
    if dev == "cuda":
        sizes_add = [2**k for k in range(10, 29, 2)]
        sizes_mm = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
    else:
        sizes_add, sizes_mm = [2**10, 2**14], [16, 64]
    frames = [crossover.measure("add", sizes_add, device=dev), crossover.measure("matmul", sizes_mm, device=dev)]
    return [row for frame in frames for row in frame.to_dict("records")]


def matmul_kernels(dev: str) -> dict[str, Any]:
    """Notebook 02's kernels: naive, tiled and cuBLAS matmul (n = 2048; each result checked
    against cuBLAS) and the shared-memory stencil on 2^24 elements; median seconds per call."""
    from numba import cuda

    from coursekit.gpu.kernels import matmul, stencil

    gpu = dev == "cuda"
    quick = {} if gpu else DRY_RUN_TIMING
    timings = matmul.time_on_gpu(2048 if gpu else 16, **quick)
    rng = np.random.default_rng(0)
    m = 1 << 24 if gpu else 2 * stencil.BLOCK
    padded = rng.standard_normal(m + 2 * stencil.RADIUS).astype(np.float32)
    inp, out = cuda.to_device(padded), cuda.device_array(m, np.float32)
    blocks = (m + stencil.BLOCK - 1) // stencil.BLOCK

    def launch():
        stencil.stencil_1d[blocks, stencil.BLOCK](inp, out)

    launch()
    k = min(m, 4096)  # check the first outputs against numpy
    expected = np.convolve(padded[: k + 2 * stencil.RADIUS], np.ones(2 * stencil.RADIUS + 1), "valid")
    np.testing.assert_allclose(out.copy_to_host()[:k], expected, rtol=1e-5, atol=1e-4, err_msg="stencil_1d")
    st = timing.benchmark(launch, device="cuda", **quick)
    return {
        **timings,
        "tiled_over_cublas": timings["tiled_s"] / timings["cublas_s"],
        "stencil_n": m,
        "stencil_s": st.median,
    }


def divergence(dev: str) -> dict[str, Any]:
    """Notebook 01's divergence: heavy_branches on warps that agree vs lanes that alternate."""
    from coursekit.gpu.kernels import simt

    if dev == "cuda":
        return simt.time_divergence(1 << 22, work=200)
    return simt.time_divergence(64, work=4, threads=32, **DRY_RUN_TIMING)


def minibatch(dev: str) -> dict[str, list[dict[str, float]]]:
    """Examples per second over batch sizes: LeNet inference (notebook 05; on a GPU also under
    float16 autocast) and the batched softmax-regression gradient of notebook 03 (500 features,
    5 classes), in torch on the device."""
    import contextlib

    import torch

    gpu = dev == "cuda"
    opts = {"min_time": 0.2} if gpu else DRY_RUN_TIMING
    model = lenet().to(dev).eval()
    result: dict[str, list[dict[str, float]]] = {}
    variants = [("lenet_inference", contextlib.nullcontext)]
    if gpu:
        variants.append(("lenet_inference_fp16_autocast", lambda: torch.autocast("cuda", dtype=torch.float16)))
    for key, context in variants:
        rows = []
        with torch.no_grad(), context():
            for b in [1, 16, 256, 4096, 16384] if gpu else [1, 8]:
                images = torch.randn(b, 1, 28, 28, device=dev)
                m = timing.benchmark(model, images, device=dev, **opts)
                rows.append({"batch": b, "median_s": m.median, "images_per_s": b / m.median})
        result[key] = rows
    batches = (1, 16, 256, 4096, 65536) if gpu else (1, 64)
    result.update(_minibatch.measure_softmax_grad(dev, batch_sizes=batches))
    return result


def softmax_regression(dev: str) -> dict[str, list[dict[str, Any]]]:
    """Notebook 03: seconds per full-batch iteration of the lecture's softmax regression (10,000 x
    500, 5 classes): the numpy code on CuPy, and torch autograd, on the GPU. The same dict as the
    notebook's own measurement (``{"softmax_regression": rows}``)."""
    sizes = {} if dev == "cuda" else {"n_samples": 200, "n_features": 20}
    return _minibatch.measure_softmax_regression(dev, **sizes)


def compile_speedup(dev: str) -> dict[str, Any]:
    """Notebook 04: eager vs torch.compile for the cross-entropy over 10^7 float32 and the MLP step."""
    if dev == "cuda":
        return torch_graphs.measure_compile_speedup(dev)
    return torch_graphs.measure_compile_speedup(dev, n=1000, with_compile=False)


def reduction(dev: str) -> dict[str, Any]:
    """Notebook 02 section 5: atomic_sum vs tree_sum on 2^24 floats, errors vs float64, median seconds."""
    from coursekit.gpu.kernels import reduce

    if dev == "cuda":
        return reduce.time_on_gpu(1 << 24)
    return reduce.time_on_gpu(300, **DRY_RUN_TIMING)  # 3 blocks, the last one partial


def transpose_kernels(dev: str) -> dict[str, Any]:
    """Notebook 02's warps-and-memory section: copy, naive, tiled (32-way bank conflicts) and padded
    transpose of a 4096 x 4096 float32 matrix."""
    import transpose_tiles  # a sibling module: the notebook's tiled transposes, not shipped

    from coursekit.gpu.kernels import transpose

    tiled = transpose_tiles.compiled()
    if dev == "cuda":
        return transpose.time_on_gpu(4096, tiled)
    return transpose.time_on_gpu(20, tiled, **DRY_RUN_TIMING)  # one partial 32 x 32 tile


def divergence_sweep(dev: str) -> list[dict[str, float]]:
    """Notebook 02 section 10: heavy_branches on 2^22 elements whose sign flips every L elements,
    L = 1 ... 128; seconds and ns per element for each L (each result checked against numpy)."""
    from coursekit.gpu.kernels import warps

    if dev == "cuda":
        return warps.time_divergence_sweep(1 << 22)
    return warps.time_divergence_sweep(64, segment_lengths=(1, 32, 64), work=3, threads=32, **DRY_RUN_TIMING)


def block_size(dev: str) -> dict[str, Any]:
    """Notebook 02 section 10: a grid-stride copy of 2^26 float32 for blocks of 32 ... 1024 threads:
    GB/s per block size, the kernel's registers per thread and the occupancy they imply."""
    from coursekit.gpu.kernels import warps

    if dev == "cuda":
        return warps.time_block_sizes(1 << 26)
    return warps.time_block_sizes(200, block_sizes=(32, 64, 128), **DRY_RUN_TIMING)


def streams(dev: str) -> dict[str, Any]:
    """Notebook 02 section 10: host<->device GB/s from pageable and pinned memory (256 MiB), and a
    chunked copy-in / kernel / copy-out pipeline of 2^26 float32 on one stream vs four."""
    from coursekit.gpu import streams as _streams

    if dev == "cuda":
        return _streams.measure()
    return _streams.measure(1000, 4096, chunks=4, n_streams=2, work=3, **DRY_RUN_TIMING)


# The recording, in order: JSON key -> step. "recorded" comes first: it names the device.
STEPS: dict[str, Callable[[str], Any]] = {
    "recorded": environment,
    "ceilings": ceilings,
    "kernels": kernels,
    "async_pitfall": async_pitfall,
    "crossover": crossover_rows,
    "matmul_kernels": matmul_kernels,
    "divergence": divergence,
    "reduction": reduction,
    "transpose": transpose_kernels,
    "divergence_sweep": divergence_sweep,
    "block_size": block_size,
    "streams": streams,
    "minibatch": minibatch,
    "softmax_regression": softmax_regression,
    "compile_speedup": compile_speedup,
    "applications": measure_applications,
}


def record(dev: str) -> dict:
    """Everything the notebooks show for a GPU, measured on ``dev`` ('cuda'; 'cpu' for a dry run)."""
    return {key: step(dev) for key, step in STEPS.items()}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _json_default(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def write(data: dict, folder: Path) -> Path:
    """Write ``data`` as ``<folder>/<device slug>.json``; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug(data['recorded']['device'])}.json"
    path.write_text(json.dumps(data, indent=1, default=_json_default))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REFERENCE_DIR), help="folder for the JSON file")
    parser.add_argument("--cpu-dry-run", action="store_true", help="record on the CPU to check the format only")
    args = parser.parse_args(argv)
    if args.cpu_dry_run:
        dev = "cpu"
        if Path(args.out).resolve() == REFERENCE_DIR.resolve():
            parser.error("--cpu-dry-run must write elsewhere (--out DIR): it is not a GPU reference")
    elif not device.gpu_available():
        print(
            "No CUDA GPU here: nothing to record. Run this on a GPU machine "
            "(or use --cpu-dry-run --out DIR to check the format).",
            file=sys.stderr,
        )
        return 2
    else:
        dev = "cuda"
    device.use_simulator_if_no_gpu()  # before numba is imported (the kernel steps import it)
    data = record(dev)
    path = write(data, Path(args.out))
    c = data["ceilings"]
    print(
        f"wrote {path}: {c['bytes_per_s'] / 1e9:.0f} GB/s, {c['flop_per_s'] / 1e12:.2f} TFLOP/s, "
        f"{len(data['kernels'])} kernels"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
