"""Notebook session set-up: the simulator switch, seeds, plot style, quick mode and sizes.

Every notebook starts with::

    import coursekit as ck
    ck.setup()

which must run before anything imports numba (see :func:`coursekit.machine.device.use_simulator_if_no_gpu`).
"""

from __future__ import annotations

import random
import sys
import warnings
from dataclasses import dataclass
from typing import TypeVar

from coursekit import settings
from coursekit.gpu import triton_setup
from coursekit.machine import device, threads
from coursekit.machine import load as machine_load

DEFAULT_SEED = 0

T = TypeVar("T")


def size(small: T, default: T, gpu: T | None = None) -> T:
    """Pick a problem size: ``small`` in quick mode (``COURSEKIT_QUICK``, :func:`coursekit.settings.quick`),
    ``gpu`` when a GPU is here, else ``default``."""
    if settings.quick():
        return small
    if gpu is not None and device.gpu_available():
        return gpu
    return default


def seed_everything(seed: int = DEFAULT_SEED) -> None:
    """Seed Python's, numpy's and (if imported) torch's random generators."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def plot_defaults() -> None:
    """Small, readable figures: modest DPI keeps notebook outputs small."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 3.8),
            "figure.dpi": 80,
            "savefig.dpi": 80,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


# numba-cuda's performance advice, given on a real GPU only (the simulator stays silent): a grid
# of fewer than 128 blocks ("low occupancy") and a numpy array passed straight to a kernel (an
# implicit copy each way). The course's small teaching launches do both on purpose, and warnings
# go to stderr, which a notebook test (nbval) counts as a failure. Matched by message, so that
# numba need not be imported (it must not be, before the simulator switch); the category is
# numba's NumbaPerformanceWarning, a subclass of Warning.
NUMBA_ADVICE = (
    r".*Grid size \d+ will likely result in GPU under-utilization",
    r".*Host array used in CUDA kernel will incur copy overhead",
)


def quiet_numba_advice() -> None:
    """Hide numba-cuda's low-occupancy and implicit-copy performance warnings (and only those)."""
    for message in NUMBA_ADVICE:
        warnings.filterwarnings("ignore", message=message, category=Warning)


@dataclass(frozen=True)
class Setup:
    """What :func:`setup` decided."""

    quick: bool
    gpu: bool
    simulator: bool
    seed: int
    cpus: int = 1  # CPUs this process may use (affinity mask and cgroup quota)
    load: machine_load.Load | None = None  # how busy the machine was at set-up

    def __str__(self) -> str:
        mode = "quick mode (small sizes)" if self.quick else "full sizes"
        line = f"{device.summary_line()} · {mode}" + (f" · {self.load}" if self.load else "")
        busy = machine_load.busy_line(self.load)
        return f"{line}\n{busy}" if busy else line


def setup(seed: int = DEFAULT_SEED, verbose: bool = True) -> Setup:
    """Prepare a notebook: simulator switch (before numba loads), Triton's interpreter switch (before
    triton loads, :func:`coursekit.gpu.triton_setup.switch`), thread pools fitted to the CPUs
    this process may use (:func:`coursekit.machine.threads.fit_to_cpus`), numba-cuda's performance advice silenced
    (:func:`quiet_numba_advice`), seeds, plot style.

    Prints one line describing the machine unless ``verbose=False``. Returns a :class:`Setup`.
    """
    simulator = device.use_simulator_if_no_gpu()
    triton_setup.switch(device.gpu_available())  # Triton's interpreter, likewise before triton loads
    cpus = threads.fit_to_cpus()
    quiet_numba_advice()
    seed_everything(seed)
    plot_defaults()
    info = Setup(
        quick=settings.quick(),
        gpu=device.gpu_available(),
        simulator=simulator,
        seed=seed,
        cpus=cpus,
        load=machine_load.current(),
    )
    if verbose:
        print(info)
    return info
