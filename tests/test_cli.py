"""The coursekit command line."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_info_prints_cpu_and_backends():
    out = subprocess.run(
        [sys.executable, "-m", "coursekit.cli", "info"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("CPU: ")
    assert "numba-cuda-simulator" in out.stdout


def test_unknown_command_fails_with_usage():
    command = [sys.executable, "-m", "coursekit.cli", "frobnicate"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert "usage: coursekit" in out.stderr


def test_bench_writes_csvs_and_roofline_png(tmp_path):
    import os

    import pandas as pd

    env = {**os.environ, "COURSEKIT_QUICK": "1", "COURSEKIT_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-m", "coursekit.cli", "bench", "--out", str(tmp_path / "res")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    ceilings = pd.read_csv(tmp_path / "res" / "ceilings.csv")
    kernels = pd.read_csv(tmp_path / "res" / "kernels.csv")
    assert (ceilings["bandwidth_bytes_per_s"] > 1e8).all() and (ceilings["flop_per_s"] > 1e8).all()
    assert {"add", "dot", "matvec", "matmul", "softmax"} <= {k.split()[0] for k in kernels["kernel"]}
    assert set(kernels["bound"]) == {"memory-bound", "compute-bound"}
    assert (tmp_path / "res" / "roofline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in out.stdout


def test_kernel_installs_jupyter_kernel_with_the_thread_settings(tmp_path):
    import json

    from coursekit.machine.threads import KERNEL_ENV

    command = [sys.executable, "-m", "coursekit.cli", "jupyter-kernel", "--prefix", str(tmp_path)]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    spec = json.loads((tmp_path / "share" / "jupyter" / "kernels" / "python3" / "kernel.json").read_text())
    assert spec["env"] == KERNEL_ENV == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert spec["argv"][0] == sys.executable and "ipykernel_launcher" in spec["argv"]
    assert "OMP_WAIT_POLICY=PASSIVE" in out.stdout


def test_without_the_grading_room_only_the_students_commands_are_listed(monkeypatch):
    """The student edition leaves out coursekit/grading: its `coursekit --help` lists only what works."""
    import importlib.util

    from coursekit import cli
    from coursekit.grading.edition_venv import STUDENT_COMMANDS

    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "coursekit.grading" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == list(STUDENT_COMMANDS)
    monkeypatch.setattr(importlib.util, "find_spec", real)
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert {"release", "publish", "grade", "nbgrader-course"} <= set(sub.choices)
