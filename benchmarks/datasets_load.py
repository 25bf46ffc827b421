"""Check that loading the shipped Fashion-MNIST subset (10,000 + 2,000 images) takes under 1 second.

Times a cold load (checksum verification, gunzip, parse, normalise) of each split in a fresh
process state; prints the times and PASS/FAIL. Run: python benchmarks/datasets_load.py
"""

from __future__ import annotations

import sys
import time

from coursekit.datasets import load_fashion_mnist

TARGET_SECONDS = 1.0


def main() -> int:
    ok = True
    for split in ("train", "test"):
        t0 = time.perf_counter()
        X, y = load_fashion_mnist(split, source="shipped", verbose=False)
        seconds = time.perf_counter() - t0
        ok &= seconds < TARGET_SECONDS
        print(f"{split:<5} {len(y):>6,} images in {seconds:.3f} s (target < {TARGET_SECONDS} s)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
