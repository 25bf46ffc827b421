"""``python -m coursekit.datasets build``: regenerate data/ from Debian's packages."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coursekit.datasets.build import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursekit.datasets")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="regenerate the shipped datasets from Debian's packages")
    b.add_argument("--out", type=Path, default=None, help="folder to write (default: the course's data/)")
    args = parser.parse_args(argv)
    try:
        sums = build(args.out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, digest in sums.items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
