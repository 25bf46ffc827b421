"""CUDA kernels the course reuses, written with numba-cuda.

Importing this package switches numba-cuda to its CPU simulator first when there is no GPU
(numba reads that setting once, when it is imported), so these kernels run anywhere.

The kernels compute in float32 throughout: constants are written ``float32(0)``, never ``0.0``,
which numba types as float64 (and float64 spreads to everything it touches, e.g. an accumulator).
:mod:`coursekit.kernels.precision` checks that with numba-cuda's own compiler, without a GPU.
"""

from .. import device as _device

_device.use_simulator_if_no_gpu()
