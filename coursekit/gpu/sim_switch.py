"""numba-cuda's CPU simulator switch: the package's one subtle invariant, decided in one place.

numba reads ``NUMBA_ENABLE_CUDASIM`` once, when ``numba`` is first imported (its config module),
and ``numba.cuda`` picks the real or the simulated CUDA target when *it* is first imported. So the
switch must be decided before either import: a notebook that imports numba first and then asks
for the simulator gets the real target, which fails without a GPU.

:func:`switch` decides it. ``coursekit.setup()`` calls it as the first thing a notebook does, and
the tests' configuration (``conftest.py``) calls it before any test imports numba. Importing a
module of the CUDA room never switches anything: :func:`require`, called by
:mod:`coursekit.gpu.kernels` and :mod:`coursekit.gpu.streams` when they load, raises a clear
error when the switch was not decided. This module imports nothing heavy.
"""

from __future__ import annotations

import os
import sys

from coursekit import settings

SIMULATOR_ENV = "NUMBA_ENABLE_CUDASIM"


def enabled() -> bool:
    """True when numba-cuda runs kernels on its CPU simulator in this process."""
    config = sys.modules.get("numba.core.config")
    if config is not None and hasattr(config, "ENABLE_CUDASIM"):
        return bool(config.ENABLE_CUDASIM)
    return settings.flag(SIMULATOR_ENV)


def switch(gpu_present: bool) -> bool:
    """Turn the simulator on when there is no GPU (off when there is one); returns whether it is on.

    An explicit ``NUMBA_ENABLE_CUDASIM`` in the environment is respected. When numba is loaded but
    ``numba.cuda`` is not, numba's config is re-read, which is enough. When ``numba.cuda`` was
    already imported the other way, raises ``RuntimeError`` saying to restart the kernel.
    """
    settings.set_default(SIMULATOR_ENV, "0" if gpu_present else "1")
    wanted = settings.flag(SIMULATOR_ENV)
    if "numba" in sys.modules and enabled() != wanted:
        if "numba.cuda" in sys.modules:
            raise RuntimeError(
                "numba.cuda was imported before coursekit.setup(), so numba-cuda's simulator "
                "could not be switched "
                + ("on (this machine has no GPU)" if wanted else "off")
                + ". Restart the kernel and run `import coursekit as ck; ck.setup()` first."
            )
        sys.modules["numba.core.config"].reload_config()
    return wanted


def require(who: str) -> None:
    """The CUDA room's guard: raise ``RuntimeError`` unless the switch was decided (by
    ``ck.setup()``, by the tests' configuration, or by ``NUMBA_ENABLE_CUDASIM`` set by hand) and
    numba agrees with it. ``who`` names the module that needs it, for the message."""
    if SIMULATOR_ENV not in os.environ:
        raise RuntimeError(
            f"{who} needs numba-cuda's simulator switch decided before numba loads: run "
            "`import coursekit as ck; ck.setup()` first (a script may instead call "
            "`coursekit.machine.device.use_simulator_if_no_gpu()`, or set NUMBA_ENABLE_CUDASIM=1 to "
            "simulate, 0 for a real GPU)."
        )
    if "numba.core.config" in sys.modules and enabled() != settings.flag(SIMULATOR_ENV):
        raise RuntimeError(
            f"{who}: numba was configured before the simulator switch ({SIMULATOR_ENV}="
            f"{os.environ[SIMULATOR_ENV]}, but numba has it {'on' if enabled() else 'off'}). Restart the "
            "kernel and run `import coursekit as ck; ck.setup()` first."
        )
