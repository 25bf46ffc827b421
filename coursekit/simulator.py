"""numba-cuda's CPU simulator switch: the package's one subtle invariant.

numba reads ``NUMBA_ENABLE_CUDASIM`` once, when ``numba`` is first imported (its config module),
and ``numba.cuda`` picks the real or the simulated CUDA target when *it* is first imported. So the
switch must be decided before either import: a notebook that imports numba first and then asks
for the simulator gets the real target, which fails without a GPU. :func:`switch` is called by
``coursekit.setup()`` as the first thing a notebook does. It imports nothing heavy.
"""

from __future__ import annotations

import os
import sys

SIMULATOR_ENV = "NUMBA_ENABLE_CUDASIM"


def truthy(value: str | None) -> bool:
    """How the course reads on/off environment variables: unset, "", 0, false, no, off are off."""
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def enabled() -> bool:
    """True when numba-cuda runs kernels on its CPU simulator in this process."""
    config = sys.modules.get("numba.core.config")
    if config is not None and hasattr(config, "ENABLE_CUDASIM"):
        return bool(config.ENABLE_CUDASIM)
    return truthy(os.environ.get(SIMULATOR_ENV))


def switch(gpu_present: bool) -> bool:
    """Turn the simulator on when there is no GPU (off when there is one); returns whether it is on.

    An explicit ``NUMBA_ENABLE_CUDASIM`` in the environment is respected. When numba is loaded but
    ``numba.cuda`` is not, numba's config is re-read, which is enough. When ``numba.cuda`` was
    already imported the other way, raises ``RuntimeError`` saying to restart the kernel.
    """
    if SIMULATOR_ENV not in os.environ:
        os.environ[SIMULATOR_ENV] = "0" if gpu_present else "1"
    wanted = truthy(os.environ[SIMULATOR_ENV])
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
