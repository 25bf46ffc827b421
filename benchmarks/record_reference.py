"""Record a real GPU's reference results into data/reference/, for CPU-only readers.

Run on a CUDA machine (with a CUDA build of torch):  python benchmarks/record_reference.py
It measures, on the GPU: the roofline ceilings (triad bandwidth, FP32 GEMM), the course's
kernels, the asynchronous-launch pitfall (a matmul timed without and with synchronisation) and
CPU-vs-GPU crossover sweeps (elementwise add and matmul, with and without host<->device
copies), and notebook 02's kernels (naive, tiled and cuBLAS matmul; the shared-memory stencil).
It writes data/reference/<device>.json, labelled with device, date, driver and versions.

``--cpu-dry-run --out DIR`` runs the same recording on the CPU in quick sizes into DIR: it checks
the file format (the tests use it) and is never a GPU reference.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import platform
import re
import sys
from pathlib import Path

import numpy as np

from coursekit import crossover, device, roofline, timing

ROOT = Path(__file__).resolve().parents[1]


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("coursekit", "numpy", "torch", "cupy-cuda12x", "cupy-cuda13x", "numba", "numba-cuda"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def _async_pitfall(dev: str) -> dict[str, float]:
    """Median seconds of a 4096 matmul timed without synchronising vs with (per call)."""
    import torch

    n = 4096 if dev == "cuda" else 256
    x = torch.randn(n, n, device=dev)
    y = torch.randn(n, n, device=dev)
    torch.matmul(x, y)
    unsynced = []
    for _ in range(20):  # the wrong way: a host clock around one call, as a naive time.time() would
        device.sync(dev)
        with timing.Timer("cpu") as t:
            torch.matmul(x, y)
        unsynced.append(t.elapsed)
    device.sync(dev)
    synced = timing.benchmark(torch.matmul, x, y, device=dev, min_time=0.2)
    return {"n": n, "unsynchronised_s": float(np.median(unsynced)), "synchronised_s": synced.median,
            "host_enqueue_s": synced.host_median if synced.host_median is not None else float("nan")}


def _crossover(dev: str, sizes_add: list[int], sizes_mm: list[int]) -> list[dict]:
    """Per-size medians (seconds) of add and matmul on ``dev``, compute-only and with copies."""
    frames = [crossover.measure("add", sizes_add, device=dev), crossover.measure("matmul", sizes_mm, device=dev)]
    return [row for frame in frames for row in frame.to_dict("records")]


def _notebook02_kernels() -> dict:
    """Notebook 02's kernels on the GPU: naive, tiled and cuBLAS matmul (n = 2048), and the
    shared-memory stencil on 2^24 elements; median seconds per call."""
    from numba import cuda

    from coursekit.kernels import matmul, stencil

    timings = matmul.time_on_gpu(2048)
    rng = np.random.default_rng(0)
    m = 1 << 24
    inp = cuda.to_device(rng.standard_normal(m + 2 * stencil.RADIUS).astype(np.float32))
    out = cuda.device_array(m, np.float32)
    blocks = (m + stencil.BLOCK - 1) // stencil.BLOCK
    st = timing.benchmark(lambda: stencil.stencil_1d[blocks, stencil.BLOCK](inp, out), device="cuda").median
    return {**timings, "tiled_over_cublas": timings["tiled_s"] / timings["cublas_s"], "stencil_n": m, "stencil_s": st}


def record(dev: str) -> dict:
    """Everything the notebooks show for a GPU, measured on ``dev`` ('cuda'; 'cpu' for a dry run)."""
    ceilings = roofline.measure_ceilings(dev, refresh=True, repeats=5 if dev == "cuda" else 2)
    kernels = roofline.course_kernels(dev)
    if dev == "cuda":
        gpu = device.gpus()[0]
        where = {"device": gpu.name, "driver": gpu.driver_version, "sms": gpu.multiprocessors,
                 "memory_bytes": gpu.memory_bytes, "compute_capability": list(gpu.compute_capability)}
        sizes_add = [2**k for k in range(10, 29, 2)]
        sizes_mm = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
    else:
        where = {"device": f"{device.cpu().name} (CPU dry run: NOT a GPU reference)", "driver": ""}
        sizes_add, sizes_mm = [2**10, 2**14], [16, 64]
    extra = {"matmul_kernels": _notebook02_kernels()} if dev == "cuda" else {}
    return {
        **extra,
        "recorded": {**where, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "host_cpu": device.cpu().name, "versions": _versions()},
        "ceilings": {**ceilings.to_dict(), "name": where["device"], "source": "recorded"},
        "kernels": [{**vars(k), "device": where["device"]} for k in kernels],
        "async_pitfall": _async_pitfall(dev),
        "crossover": _crossover(dev, sizes_add, sizes_mm),
    }


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "data" / "reference"), help="folder for the JSON file")
    parser.add_argument("--cpu-dry-run", action="store_true", help="record on the CPU to check the format only")
    args = parser.parse_args(argv)
    if args.cpu_dry_run:
        dev = "cpu"
        if Path(args.out).resolve() == (ROOT / "data" / "reference").resolve():
            parser.error("--cpu-dry-run must write elsewhere (--out DIR): it is not a GPU reference")
    elif not device.gpu_available():
        print("No CUDA GPU here: nothing to record. Run this on a GPU machine "
              "(or use --cpu-dry-run --out DIR to check the format).", file=sys.stderr)
        return 2
    else:
        dev = "cuda"
    data = record(dev)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{slug(data['recorded']['device'])}.json"
    path.write_text(json.dumps(data, indent=1, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))
    c = data["ceilings"]
    print(f"wrote {path}: {c['bandwidth'] / 1e9:.0f} GB/s, {c['flops'] / 1e12:.2f} TFLOP/s, "
          f"{len(data['kernels'])} kernels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
