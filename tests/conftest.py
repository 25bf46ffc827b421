"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (so numba/cupy import state starts clean)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "COURSEKIT_FORCE_CPU")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture
def fresh_device(monkeypatch):
    """coursekit.device with its caches cleared and no GPU, however the host is equipped."""
    from coursekit import device

    device._probe_cuda_driver.cache_clear()
    monkeypatch.setenv(device.FORCE_CPU_ENV, "1")
    yield device
    device._probe_cuda_driver.cache_clear()
