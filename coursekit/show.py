"""Show a function's source in a notebook, so library code the course teaches can be read in place."""

from __future__ import annotations

import inspect
from typing import Any


def python_function(fn: Any) -> Any:
    """The Python function behind ``fn``: a numba kernel or jitted function keeps it in
    ``py_func``, a Triton kernel in ``fn``; anything else is returned as it is."""
    if hasattr(fn, "py_func"):
        return fn.py_func
    inner = getattr(fn, "fn", None)  # triton's JITFunction (compiled or interpreted)
    return inner if callable(inner) and type(fn).__module__.startswith("triton.") else fn


def show(fn: Any):
    """Display the source of ``fn`` (a function, or a numba kernel) with syntax highlighting.

    Returns an IPython ``Code`` object (rendered by Jupyter); plain text outside IPython.
    """
    source = inspect.getsource(python_function(fn))
    try:
        from IPython.display import Code
    except ImportError:  # pragma: no cover - IPython is a core dependency through ipykernel
        return source
    return Code(source, language="python")
