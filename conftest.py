"""pytest's settings for the whole repository, read before any test module or notebook kernel starts.

A bare ``pytest`` behaves like ``make test``: quick mode (the course's small sizes), and torch's
OpenMP workers sleeping when idle instead of spinning on the cores numpy's BLAS needs next
(coursekit/machine/threads.py). Both are read when a library loads, so they are set here, before anything
imports torch; notebook kernels that nbval starts inherit them. A value set by the caller wins.
numba-cuda's simulator switch is decided here too, for the same reason.
"""

import os

os.environ.setdefault("COURSEKIT_QUICK", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from coursekit.gpu import triton_setup
from coursekit.machine import device

# numba-cuda's simulator on when there is no GPU (off when there is one), decided before anything
# imports numba, as ck.setup() does in a notebook: kernel tests and the doctests of coursekit.gpu
# launch kernels in-process, on the simulator or on the real GPU.
SIMULATOR = device.use_simulator_if_no_gpu()
# Triton's CPU interpreter likewise, before anything imports triton (coursekit.gpu.triton_setup).
triton_setup.switch(device.gpu_available())
# Without the optional triton package, the module of Triton kernels cannot be imported (doctest collection).
collect_ignore = [] if triton_setup.triton_available() else ["coursekit/gpu/kernels/triton_kernels.py"]


def pytest_collection_modifyitems(items):
    """Cells of a notebook run under nbval carry the ``notebook`` mark (``make test-fast`` leaves them out)."""
    import pytest

    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
