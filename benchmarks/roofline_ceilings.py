"""Check coursekit.roofline's CPU ceilings against independent references, measured in one run.

- bandwidth: must reach >= 80 % of a STREAM-style triad written in C (benchmarks/stream_triad.c,
  compiled -O3 -march=native -fopenmp, all cores) on arrays of the same size;
- GEMM: must reach >= 90 % of numpy's best float32 matmul over several sizes.

Prints both ratios; exits 1 if either target is missed. Run: python benchmarks/roofline_ceilings.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from coursekit import roofline, timing

HERE = Path(__file__).resolve().parent


def c_triad_bandwidth(n: int, repeats: int = 10) -> tuple[float, int]:
    """Best bytes/s of the C triad on ``n`` floats per array, and its thread count."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("no C compiler (cc/gcc) found: cannot build the reference triad")
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "stream_triad"
        subprocess.run([cc, "-O3", "-march=native", "-fopenmp", str(HERE / "stream_triad.c"), "-o", str(exe)],
                       check=True)
        out = subprocess.run([str(exe), str(n), str(repeats)], check=True, capture_output=True, text=True)
    rate, threads = out.stdout.split()
    return float(rate), int(threads)


def numpy_best_matmul(sizes=(1024, 2048, 4096), repeats: int = 5) -> tuple[float, int]:
    """numpy's best float32 matmul FLOP/s over ``sizes``, and the size that achieved it."""
    best = (0.0, 0)
    for n in sizes:
        x = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
        y = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
        m = timing.benchmark(np.matmul, x, y, min_samples=repeats, min_time=0, max_time=60)
        best = max(best, (2 * n**3 / m.best, n))
    return best


def main() -> int:
    ceilings = roofline.measure_ceilings("cpu", refresh=True)
    n = ceilings.sizes["triad_elements"]
    c_rate, c_threads = c_triad_bandwidth(n)
    np_rate, np_n = numpy_best_matmul()
    bw_ratio = ceilings.bandwidth / c_rate
    gemm_ratio = ceilings.flops / np_rate
    print(f"bandwidth: coursekit {ceilings.bandwidth / 1e9:.2f} GB/s ({ceilings.method['bandwidth']})")
    print(f"           C triad   {c_rate / 1e9:.2f} GB/s ({c_threads} OpenMP threads, {n:,} floats per array)")
    print(f"           ratio     {bw_ratio:.1%} (target >= 80 %)")
    print(f"GEMM:      coursekit {ceilings.flops / 1e9:.1f} GFLOP/s ({ceilings.method['flops']})")
    print(f"           numpy     {np_rate / 1e9:.1f} GFLOP/s (best float32 matmul, n={np_n})")
    print(f"           ratio     {gemm_ratio:.1%} (target >= 90 %)")
    ok = bw_ratio >= 0.8 and gemm_ratio >= 0.9
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
