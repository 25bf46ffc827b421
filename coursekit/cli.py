"""The ``coursekit`` command line for instructors.

``coursekit info`` prints what hardware and backends this machine has; ``coursekit bench``
measures its roofline and the course's kernels and writes a report; ``coursekit kernel`` installs
the Jupyter kernel with the course's thread settings; ``coursekit release`` builds
the student version of the notebooks and ``coursekit grade`` grades a student's notebook.
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


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import device
    from .bench import run_bench

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


def _kernel(args: argparse.Namespace) -> int:
    from .threads import KERNEL_ENV, install_kernel

    where = install_kernel(args.prefix)
    settings = " ".join(f"{k}={v}" for k, v in KERNEL_ENV.items())
    print(f"installed Jupyter kernel 'python3' ({sys.executable}, {settings}) in {where}")
    return 0


def _release(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .assignments import release

    for path in release(Path(args.out), [Path(p) for p in args.notebooks] or None):
        print(f"wrote {path}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .publish import leaks, library_answers, publish

    out = Path(args.out)
    released = publish(out)
    for note in library_answers(out):
        print(f"note {note}")
    found = leaks(out)
    for problem in found:
        print(f"LEAK {problem}")
    print(
        f"wrote the student edition to {out}: {len(released)} notebooks, coursekit, data/, binder/, README.md, tests/"
    )
    if found:
        return 1
    if args.check:
        from .edition_venv import RegistryUnreachable, check

        venv = Path(args.venv or f"{out}-venv")
        print(f"installing it into a fresh venv, {venv}, and running its own test (several minutes)...", flush=True)
        try:
            print(f"edition's own test in {venv}: {check(out, venv)}")
        except RegistryUnreachable as exc:
            print(f"NOT CHECKED: {exc}", file=sys.stderr)
            return 1
    return 0


def _nbgrader_course(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .nbgrader_course import make_course

    names = make_course(Path(args.dir), [Path(p) for p in args.notebooks] or None, course_id=args.course_id)
    print(f"wrote {Path(args.dir) / 'nbgrader_config.py'} and source/ for: {', '.join(names)}")
    print(f"next: cd {args.dir} && nbgrader generate_assignment {names[0]}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .assignments import format_scores, grade

    scores = grade(Path(args.notebook), Path(args.instructor) if args.instructor else None, timeout=args.timeout)
    print(format_scores(scores))
    return 0 if all(not s.error for s in scores) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursekit", description="Tools for the coursekit GPU-vs-CPU course.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show this machine's CPU, GPUs and array backends")
    info.set_defaults(func=_info)
    bench = sub.add_parser("bench", help="measure this machine's roofline and the course's kernels")
    bench.add_argument("--out", default="bench-results", help="folder for the CSVs and PNG (default: bench-results/)")
    bench.add_argument("--refresh", action="store_true", help="measure the ceilings again instead of using the cache")
    bench.set_defaults(func=_bench)
    ker = sub.add_parser("kernel", help="install this Python as Jupyter's kernel with the course's thread settings")
    ker.add_argument("--prefix", help="install prefix (default: this environment)")
    ker.set_defaults(func=_kernel)
    rel = sub.add_parser("release", help="build the student version of the notebooks (needs nbgrader)")
    rel.add_argument("--out", default="release", help="folder for the student notebooks (default: release/)")
    rel.add_argument("notebooks", nargs="*", help="instructor notebooks (default: all of notebooks/)")
    rel.set_defaults(func=_release)
    pub = sub.add_parser("publish", help="write the student edition: a folder to push as the students' repository")
    pub.add_argument(
        "--out", default="student-edition", help="folder to write (emptied first; default: student-edition/)"
    )
    pub.add_argument("--check", action="store_true", help="then install it in a fresh venv and run its own test")
    pub.add_argument("--venv", help="where --check makes its venv (default: <out>-venv)")
    pub.set_defaults(func=_publish)
    nbg = sub.add_parser("nbgrader-course", help="write an nbgrader course directory (config + source/)")
    nbg.add_argument("dir", help="the course directory to write into")
    nbg.add_argument("--course-id", default="coursekit", help="nbgrader's course id (default: coursekit)")
    nbg.add_argument("notebooks", nargs="*", help="instructor notebooks (default: all of notebooks/)")
    nbg.set_defaults(func=_nbgrader_course)
    grd = sub.add_parser("grade", help="run a student's notebook with the hidden tests and print its score")
    grd.add_argument("notebook", help="the student's .ipynb")
    grd.add_argument("--instructor", help="the instructor version (default: notebooks/<same name>)")
    grd.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell (default: 900)")
    grd.set_defaults(func=_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``coursekit`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
