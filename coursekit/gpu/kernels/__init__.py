"""CUDA kernels the course reuses, written with numba-cuda.

They run anywhere: on a GPU, or on numba-cuda's CPU simulator without one. numba reads that choice
once, when it loads, so it must be made first, by ``ck.setup()``: importing this package without it
raises a clear error (:func:`coursekit.gpu.sim_switch.require`) instead of switching silently.

The kernels compute in float32 throughout: constants are written ``float32(0)``, never ``0.0``,
which numba types as float64 (and float64 spreads to everything it touches, e.g. an accumulator).
:mod:`coursekit.gpu.kernels.precision` checks that with numba-cuda's own compiler, without a GPU.
"""

from coursekit.gpu import sim_switch

sim_switch.require("coursekit.gpu.kernels")
