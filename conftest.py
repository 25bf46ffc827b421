"""pytest's settings for the whole repository, read before any test module or notebook kernel starts.

A bare ``pytest`` behaves like ``make test``: quick mode (the course's small sizes), and torch's
OpenMP workers sleeping when idle instead of spinning on the cores numpy's BLAS needs next
(coursekit/threads.py). Both are read when a library loads, so they are set here, before anything
imports torch; notebook kernels that nbval starts inherit them. A value set by the caller wins.
"""

import os

os.environ.setdefault("COURSEKIT_QUICK", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pytest_collection_modifyitems(items):
    """Cells of a notebook run under nbval carry the ``notebook`` mark (``make test-fast`` leaves them out)."""
    import pytest

    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
