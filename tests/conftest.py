"""Shared test helpers.

Importing this module switches numba-cuda's CPU simulator on when there is no GPU (off when there is
one), with the switch ``coursekit.setup()`` uses. pytest imports conftest before any test module, so
this happens before anything imports numba: kernel tests launch kernels in-process, as ordinary pytest
functions, on the simulator or on the real GPU. Tests that need a fresh interpreter (another simulator
setting, numba imported before the switch) use :func:`run_python`, which leaves the switch out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import device

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# True: kernels run on numba-cuda's simulator; False: on the GPU. Decided before numba is imported.
SIMULATOR = device.use_simulator_if_no_gpu()


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (so numba/cupy import state starts clean)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "COURSEKIT_FORCE_CPU")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT
    )


@pytest.fixture
def fresh_device(monkeypatch):
    """coursekit.device with its caches cleared and no GPU, however the host is equipped."""
    device._probe_cuda_driver.cache_clear()
    monkeypatch.setenv(device.FORCE_CPU_ENV, "1")
    yield device
    device._probe_cuda_driver.cache_clear()
