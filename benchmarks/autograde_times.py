"""How long autograding one submission of each notebook takes here (instructor's tool).

For each notebook: the student version with the instructor's answers pasted in is graded as
``nbgrader autograde`` would (hidden tests restored, every cell run) in quick mode, with an empty
cache of measured ceilings (a grading machine's first run). Writes
coursekit/grading/autograde_times.json (wall time, heaviest cell, heaviest graded cell, machine,
date), from which ``coursekit nbgrader-course`` sets its per-cell time-out, and prints the README's
table. Takes a few minutes.

    .venv/bin/python benchmarks/autograde_times.py [NOTEBOOK.ipynb ...]
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from coursekit import settings
from coursekit.grading import assignments, autograde_times, nbgrader_course
from coursekit.machine import device


def main(argv: list[str]) -> int:
    notebooks = [Path(p) for p in argv] or sorted(assignments.NOTEBOOKS_DIR.glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        settings.set_value(settings.QUICK_ENV, "1")
        settings.set_value(settings.CACHE_DIR_ENV, str(Path(tmp) / "cache"))  # no ceilings measured yet
        rows = {}
        for path in notebooks:
            instructor = nbformat.read(path, as_version=4)
            solved = nbgrader_course.paste_solutions(assignments.student_version(instructor), instructor)
            start = time.perf_counter()
            executed = assignments.run_graded(solved, instructor, cwd=path.parent)
            wall_s = time.perf_counter() - start
            scores = assignments.score(executed)
            lost = [s for s in scores if s.error]
            if lost:
                print(assignments.format_scores(scores))
                print(f"{path.name}: the instructor's answers lost points; not recording", file=sys.stderr)
                return 1
            rows[path.stem] = autograde_times.summary(executed, wall_s)
            print(f"{path.stem}: {wall_s:.0f} s, heaviest cell {rows[path.stem]['heaviest_cell']}", flush=True)
    cpu = device.cpu()
    record = {
        "what": "autograding one solved submission per notebook: quick mode, empty ceilings cache, "
        "every cell run with the hidden tests (benchmarks/autograde_times.py)",
        "measured_on": dt.date.today().isoformat(),
        "machine": f"{cpu.name} ({', '.join(cpu.simd)}), {device.usable_cpus()} usable CPUs, "
        f"Python {platform.python_version()}",
        "notebooks": rows,
    }
    if len(notebooks) == len(list(assignments.NOTEBOOKS_DIR.glob("*.ipynb"))):
        autograde_times.TIMES_FILE.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {autograde_times.TIMES_FILE}")
    print(autograde_times.readme_table(record))
    print(f"per-cell time-out for nbgrader: {autograde_times.fitting_timeout_s(record)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
