"""Shared test helpers.

The repository's ``conftest.py`` decides numba-cuda's simulator switch before any test module
loads (:data:`SIMULATOR`). Tests that need a fresh interpreter (another simulator setting, numba
imported before the switch) use :func:`run_python`, which leaves the switch out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import settings
from coursekit.gpu import sim_switch
from coursekit.machine import device

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# True: kernels run on numba-cuda's simulator; False: on the GPU (decided by the root conftest.py).
SIMULATOR = sim_switch.enabled()


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (so numba/cupy import state starts clean)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "COURSEKIT_FORCE_CPU")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT
    )


@pytest.fixture
def fresh_device(monkeypatch):
    """coursekit.machine.device with its caches cleared and no GPU, however the host is equipped."""
    device._probe_cuda_driver.cache_clear()
    monkeypatch.setenv(settings.FORCE_CPU_ENV, "1")
    yield device
    device._probe_cuda_driver.cache_clear()
