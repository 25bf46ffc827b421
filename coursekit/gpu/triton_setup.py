"""Triton's switch between a real GPU and its CPU interpreter, decided before ``triton`` loads.

Triton compiles ``@triton.jit`` kernels for a CUDA GPU. Without one, its interpreter
(``TRITON_INTERPRET=1``) runs the same kernels program by program on CPU torch tensors, with numpy
doing each block's arithmetic: slow, but every ``tl.load``, mask and ``tl.dot`` means what it means
on a GPU. Triton reads the variable when a kernel is decorated, so :func:`switch` must run before any
module that defines kernels is imported: ``ck.setup()`` and the tests' ``conftest.py`` call it, as
they decide numba-cuda's simulator. Importing a module switches nothing: :func:`load`, which the
kernel module calls, raises a clear error when the switch was not decided. With a CUDA GPU nothing is forced:
pip's ``triton`` is the compiler torch's CUDA build uses, and kernels run on the GPU.

Triton is an optional extra (``pip install -e '.[triton]'``, about 1 GB installed): the course runs
without it, and each Triton cell then prints :data:`MISSING` and nothing else.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType, SimpleNamespace

from coursekit import settings

INTERPRET_ENV = "TRITON_INTERPRET"
PINNED = "3.9.0"  # requirements/constraints.txt; the bounds checker is tested against this version
MISSING = "Triton is not installed: its cells are skipped (the course runs without it; pip install -e '.[triton]')."


def triton_available() -> bool:
    """True when the ``triton`` package can be imported here (nothing is imported)."""
    return importlib.util.find_spec("triton") is not None


def switch(gpu_present: bool | None = None) -> bool:
    """Turn Triton's interpreter on when no CUDA GPU is visible; returns whether it is on.

    ``gpu_present`` defaults to what :func:`coursekit.machine.device.gpu_available` finds. A
    ``TRITON_INTERPRET`` already in the environment wins. Triton reads the variable when a kernel is
    decorated, so this raises ``RuntimeError`` when ``triton`` was imported before and the choice
    changes (kernels decorated before it would keep the old one).
    """
    if gpu_present is None:
        from coursekit.machine import device

        gpu_present = device.gpu_available()
    loaded = sys.modules.get("triton")
    before = bool(loaded.knobs.runtime.interpret) if loaded is not None else None
    settings.set_default(INTERPRET_ENV, "0" if gpu_present else "1")
    wanted = interpreting()
    if before is not None and before != wanted:  # kernels decorated so far took the other choice
        raise RuntimeError(
            f"triton was imported before coursekit decided {INTERPRET_ENV}; restart the kernel and run "
            "`import coursekit as ck; ck.setup()` (or coursekit.gpu.triton_setup.switch()) first."
        )
    return wanted


def interpreting() -> bool:
    """True when Triton kernels run on its CPU interpreter in this process."""
    return settings.flag(INTERPRET_ENV)


def load() -> ModuleType | None:
    """``triton``, imported, or None when it is not installed. Raises ``RuntimeError`` when
    :func:`switch` was not called first (``ck.setup()`` does) and ``TRITON_INTERPRET`` is unset."""
    if not triton_available():
        return None
    if INTERPRET_ENV not in os.environ and "triton" not in sys.modules:
        raise RuntimeError(
            f"decide {INTERPRET_ENV} before triton loads: run `import coursekit as ck; ck.setup()` "
            "(or coursekit.gpu.triton_setup.switch()) first"
        )
    import triton

    return triton


def stand_ins() -> tuple[SimpleNamespace, SimpleNamespace]:
    """(``triton``, ``tl``) stand-ins for a notebook without triton: ``@triton.jit`` returns the
    function unchanged and ``tl.constexpr`` is a plain annotation, so a cell can still *define* a
    kernel (an exercise's solution cell runs); nothing can launch one."""

    def jit(fn=None, **_options):
        return fn if fn is not None else (lambda f: f)

    return SimpleNamespace(jit=jit, __version__=None), SimpleNamespace(constexpr=object)


def device() -> str:
    """The torch device Triton kernels take their tensors on: ``"cpu"`` under the interpreter, else ``"cuda"``."""
    return "cpu" if interpreting() else "cuda"
