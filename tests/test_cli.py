"""The coursekit command line."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_info_prints_cpu_and_backends():
    out = subprocess.run([sys.executable, "-m", "coursekit.cli", "info"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("CPU: ")
    assert "numba-cuda-simulator" in out.stdout


def test_unknown_command_fails_with_usage():
    out = subprocess.run([sys.executable, "-m", "coursekit.cli", "frobnicate"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert "usage: coursekit" in out.stderr
