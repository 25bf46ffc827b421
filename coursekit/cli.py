"""The ``coursekit`` command line.

``coursekit info`` prints what hardware and backends this machine has; ``coursekit bench``
measures its roofline and the course's kernels and writes a report; ``coursekit jupyter-kernel``
installs Jupyter's Python kernel with the course's thread settings. The instructor's commands
(``release``, ``publish``, ``grade``, ``nbgrader-course``: :mod:`coursekit.grading.commands`) are
listed only where :mod:`coursekit.grading` is installed, which the student edition is not.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys


def _info(args: argparse.Namespace) -> int:
    from coursekit.machine import device

    device.use_simulator_if_no_gpu()
    print(device.summary_line())
    print()
    print(device.describe().to_string())
    print()
    for name, ok in device.backends().items():
        print(f"  {name:<22} {'yes' if ok else 'no'}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from coursekit.machine import device
    from coursekit.perf.bench import run_bench

    device.use_simulator_if_no_gpu()
    out = Path(args.out)
    ceilings, kernels = run_bench(out, refresh=args.refresh)
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(ceilings[["name", "bandwidth_bytes_per_s", "flop_per_s", "ridge_flop_per_byte"]].to_string(index=False))
        print()
        print(
            kernels[["device", "kernel", "intensity", "time", "gflops", "of_roof", "bound"]].to_string(
                index=False, float_format=lambda v: f"{v:.3g}"
            )
        )
    print(f"\nwrote {out / 'ceilings.csv'}, {out / 'kernels.csv'} and {out / 'roofline.png'}")
    return 0


def _jupyter_kernel(args: argparse.Namespace) -> int:
    from coursekit.machine.threads import KERNEL_ENV, install_kernel

    where = install_kernel(args.prefix)
    settings = " ".join(f"{k}={v}" for k, v in KERNEL_ENV.items())
    print(f"installed Jupyter kernel 'python3' ({sys.executable}, {settings}) in {where}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursekit", description="Tools for the coursekit GPU-vs-CPU course.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show this machine's CPU, GPUs and array backends")
    info.set_defaults(func=_info)
    bench = sub.add_parser("bench", help="measure this machine's roofline and the course's kernels")
    bench.add_argument("--out", default="bench-results", help="folder for the CSVs and PNG (default: bench-results/)")
    bench.add_argument("--refresh", action="store_true", help="measure the ceilings again instead of using the cache")
    bench.set_defaults(func=_bench)
    ker = sub.add_parser(
        "jupyter-kernel", help="install this Python as Jupyter's kernel with the course's thread settings"
    )
    ker.add_argument("--prefix", help="install prefix (default: this environment)")
    ker.set_defaults(func=_jupyter_kernel)
    if importlib.util.find_spec("coursekit.grading") is not None:  # the student edition leaves it out
        from coursekit.grading.commands import add_commands

        add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``coursekit`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
