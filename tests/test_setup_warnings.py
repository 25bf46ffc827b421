"""ck.setup() keeps numba-cuda's performance advice off stderr, without importing numba.

On a GPU, numba-cuda warns (NumbaPerformanceWarning) about grids of fewer than 128 blocks and
about numpy arrays passed straight to a kernel; notebook 02 does both on purpose, and nbval fails
a notebook that writes to stderr. The simulator never warns, so these tests raise numba-cuda's own
warning objects, with the messages its dispatcher and device-array code use, after setup().
"""

from __future__ import annotations

import json

from conftest import run_python

CHECK = r"""
import json, sys, warnings
import coursekit as ck

ck.setup(verbose=False)
numba_loaded_by_setup = "numba" in sys.modules
installed = [f for f in warnings.filters if f[0] == "ignore" and f[1] is not None and "Grid size" in f[1].pattern]

from numba.cuda.core.errors import NumbaPerformanceWarning  # numba-cuda's category (what it raises)
from numba.core.errors import NumbaPerformanceWarning as CoreNumbaPerformanceWarning

advice = [
    NumbaPerformanceWarning("Grid size 1 will likely result in GPU under-utilization due to low occupancy."),
    NumbaPerformanceWarning("Host array used in CUDA kernel will incur copy overhead to/from device."),
    CoreNumbaPerformanceWarning("Grid size 4 will likely result in GPU under-utilization due to low occupancy."),
]
other = NumbaPerformanceWarning("np.dot() is faster on contiguous arrays")
with warnings.catch_warnings(record=True) as caught:
    for w in advice:
        warnings.warn(w)
    warnings.warn(other)
print(json.dumps({"numba_loaded_by_setup": numba_loaded_by_setup, "installed": len(installed),
                  "shown": [str(w.message) for w in caught]}))
"""


def test_setup_filters_numba_performance_advice_and_only_that():
    out = run_python(CHECK, env={"COURSEKIT_FORCE_CPU": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["numba_loaded_by_setup"] is False, "setup() must not import numba (the simulator switch comes first)"
    assert result["installed"] >= 1, "setup() installs a warnings filter for the low-occupancy advice"
    assert len(result["shown"]) == 1 and "contiguous" in result["shown"][0], (
        f"only the unrelated warning should get through, got {result['shown']}"
    )


def test_without_setup_the_advice_is_shown():
    """The control: the same warnings do reach the user when setup() has not run."""
    code = CHECK.replace(
        "ck.setup(verbose=False)", "import coursekit.machine.device; coursekit.machine.device.use_simulator_if_no_gpu()"
    )
    out = run_python(code, env={"COURSEKIT_FORCE_CPU": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["installed"] == 0 and len(result["shown"]) == 4


def test_threads_fitted_only_when_fewer_cpus_are_usable(monkeypatch):
    import os

    import torch

    from coursekit.machine import threads

    for name in threads.THREAD_ENV:  # set, then deleted: monkeypatch restores each one's absence afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 8)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        assert threads.fit_to_cpus(8) == 8
        assert torch.get_num_threads() == 4 and "OMP_NUM_THREADS" not in os.environ, "nothing changes"
        assert threads.fit_to_cpus(1) == 1
        assert torch.get_num_threads() == 1
        assert all(os.environ[name] == "1" for name in threads.THREAD_ENV)
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        threads.fit_to_cpus(2)
        assert os.environ["OMP_NUM_THREADS"] == "3", "a setting the user made is kept"
    finally:
        torch.set_num_threads(before)


def test_setup_makes_openmp_wait_passively_when_torch_is_not_loaded_yet():
    """OpenMP reads OMP_WAIT_POLICY when torch loads: setup() sets it only if it still can."""
    import os
    import subprocess
    import sys

    script = (
        "import os, coursekit as ck; ck.setup(verbose=False); print(os.environ.get('OMP_WAIT_POLICY'));"
        "import torch; ck.setup(verbose=False)"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["PASSIVE"]
    late = "import os, torch, coursekit as ck; ck.setup(verbose=False); print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", late], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["None"], "after torch loaded the setting would be a lie: leave it unset"
