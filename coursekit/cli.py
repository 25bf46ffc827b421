"""The ``coursekit`` command line for instructors.

``coursekit info`` prints what hardware and backends this machine has.
"""

from __future__ import annotations

import argparse
import sys


def _info(args: argparse.Namespace) -> int:
    from . import device

    device.use_simulator_if_no_gpu()
    print(device.summary_line())
    print()
    print(device.describe().to_string())
    print()
    for name, ok in device.backends().items():
        print(f"  {name:<22} {'yes' if ok else 'no'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursekit", description="Tools for the coursekit GPU-vs-CPU course.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show this machine's CPU, GPUs and array backends")
    info.set_defaults(func=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``coursekit`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
