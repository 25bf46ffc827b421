"""Show a function's source in a notebook, so library code the course teaches can be read in place."""

from __future__ import annotations

import inspect
from typing import Any


def show(fn: Any):
    """Display the source of ``fn`` (a function, or a numba kernel) with syntax highlighting.

    Returns an IPython ``Code`` object (rendered by Jupyter); plain text outside IPython.
    """
    target = getattr(fn, "py_func", fn)  # numba dispatchers keep the Python function here
    source = inspect.getsource(target)
    try:
        from IPython.display import Code
    except ImportError:  # pragma: no cover - IPython is a core dependency through ipykernel
        return source
    return Code(source, language="python")
