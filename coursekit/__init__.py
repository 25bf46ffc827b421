"""coursekit: helpers for the GPU-vs-CPU deep-learning notebook course.

Start every notebook with ``import coursekit as ck; ck.setup()``. Importing coursekit is
cheap and never imports numba, torch or cupy.
"""

from coursekit.session import Setup, seed_everything, setup, size
from coursekit.show import show

__version__ = "0.1.0"

__all__ = ["Setup", "__version__", "seed_everything", "setup", "show", "size"]
