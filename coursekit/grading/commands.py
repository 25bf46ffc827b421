"""The instructor's commands of ``coursekit``: ``release``, ``publish``, ``nbgrader-course`` and
``grade``. :mod:`coursekit.cli` adds them when this room is installed (never in the student
edition, whose command line then lists only what works there)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _release(args: argparse.Namespace) -> int:
    from pathlib import Path

    from coursekit.grading.assignments import release

    for path in release(Path(args.out), [Path(p) for p in args.notebooks] or None):
        print(f"wrote {path}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from pathlib import Path

    from coursekit.grading.leak_scan import leaks
    from coursekit.grading.publish import publish

    out = Path(args.out)
    released = publish(out)
    found = leaks(out)
    for problem in found:
        print(f"LEAK {problem}")
    print(
        f"wrote the student edition to {out}: {len(released)} notebooks, coursekit, data/, binder/, README.md, tests/"
    )
    if found:
        return 1
    if args.check:
        from coursekit.grading.edition_venv import RegistryUnreachable, check

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

    from coursekit.grading.nbgrader_course import make_course

    names = make_course(Path(args.dir), [Path(p) for p in args.notebooks] or None, course_id=args.course_id)
    print(f"wrote {Path(args.dir) / 'nbgrader_config.py'} and source/ for: {', '.join(names)}")
    print(f"next: cd {args.dir} && nbgrader generate_assignment {names[0]}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from pathlib import Path

    from coursekit.grading.assignments import format_scores, grade
    from coursekit.grading.autograde_times import fitting_timeout_s, load

    timeout = args.timeout or fitting_timeout_s(load())
    scores = grade(Path(args.notebook), Path(args.instructor) if args.instructor else None, timeout=timeout)
    print(format_scores(scores))
    return 0 if all(not s.error for s in scores) else 1


def add_commands(sub: Any) -> None:
    """Add the instructor's subcommands to ``sub`` (an ``argparse`` subparsers object)."""
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
    grd.add_argument(
        "--timeout",
        type=int,
        help="seconds allowed per cell (default: what nbgrader-course writes, from the measured times)",
    )
    grd.set_defaults(func=_grade)
