"""Every environment switch the course reads, read here and only here.

The ``COURSEKIT_*`` switches (the table in the README lists them with the other variables the
course reads or sets):

- ``COURSEKIT_QUICK``: small problem sizes, so a notebook runs in minutes (:func:`quick`);
- ``COURSEKIT_FORCE_CPU``: behave as a machine without a GPU, even on one (:func:`force_cpu`);
- ``COURSEKIT_NO_OPENCL``: behave as a machine without a working OpenCL driver (:func:`no_opencl`);
- ``COURSEKIT_DATA_DIR``: where the course's ``data/`` folder is (:func:`data_dir`);
- ``COURSEKIT_CACHE_DIR``: where measured ceilings are cached (:func:`cache_dir`).

A variable that a library reads once, when it loads (numba's ``NUMBA_ENABLE_CUDASIM``, OpenMP's
``OMP_WAIT_POLICY``, the thread-pool sizes), is written only through :func:`set_default` and
:func:`set_value`, which ``ck.setup()`` and the tests' configuration call; importing a module of
the package never writes one.
"""

from __future__ import annotations

import os
from pathlib import Path

QUICK_ENV = "COURSEKIT_QUICK"
FORCE_CPU_ENV = "COURSEKIT_FORCE_CPU"
NO_OPENCL_ENV = "COURSEKIT_NO_OPENCL"
DATA_DIR_ENV = "COURSEKIT_DATA_DIR"
CACHE_DIR_ENV = "COURSEKIT_CACHE_DIR"
SWITCHES = (QUICK_ENV, FORCE_CPU_ENV, NO_OPENCL_ENV, DATA_DIR_ENV, CACHE_DIR_ENV)

OFF_VALUES = ("", "0", "false", "no", "off")


def truthy(value: str | None) -> bool:
    """How the course reads an on/off variable: unset, "", 0, false, no and off (any case,
    surrounding spaces ignored) are off; anything else is on.

    >>> [truthy(v) for v in (None, "", " 0 ", "False", "off", "1", "yes", "anything")]
    [False, False, False, False, False, True, True, True]
    """
    return (value or "").strip().lower() not in OFF_VALUES


def flag(name: str) -> bool:
    """Whether the on/off variable ``name`` is on (:func:`truthy`)."""
    return truthy(os.environ.get(name))


def quick() -> bool:
    """``COURSEKIT_QUICK``: small sizes (the tests set it)."""
    return flag(QUICK_ENV)


def force_cpu() -> bool:
    """``COURSEKIT_FORCE_CPU``: ignore any GPU, as a CPU-only machine would."""
    return flag(FORCE_CPU_ENV)


def no_opencl() -> bool:
    """``COURSEKIT_NO_OPENCL``: report no OpenCL device, as a machine without a driver would."""
    return flag(NO_OPENCL_ENV)


def data_dir() -> Path | None:
    """``COURSEKIT_DATA_DIR`` as a path, or None when unset or empty."""
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Where measured results are cached: ``$COURSEKIT_CACHE_DIR``, else ``~/.cache/coursekit``."""
    value = os.environ.get(CACHE_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "coursekit"


def set_default(name: str, value: str) -> bool:
    """Set the environment variable ``name`` to ``value`` unless it is already set (a user's
    choice wins); returns whether it was set now."""
    if name in os.environ:
        return False
    os.environ[name] = value
    return True


def set_value(name: str, value: str) -> None:
    """Set the environment variable ``name`` to ``value`` (for a switch the course must decide,
    such as numba-cuda's simulator once it knows whether a GPU is here)."""
    os.environ[name] = value
