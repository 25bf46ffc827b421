"""CUDA kernels the course reuses, written with numba-cuda.

Importing this package switches numba-cuda to its CPU simulator first when there is no GPU
(numba reads that setting once, when it is imported), so these kernels run anywhere.
"""

from .. import device as _device

_device.use_simulator_if_no_gpu()
