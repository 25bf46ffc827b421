"""Property-based: coursekit.gpu.tracer runs kernels as numba-cuda does, for random launch shapes.

Each kernel below is launched through ``numba.cuda.jit`` (numba-cuda's simulator, which
tests/conftest.py switched on without a GPU; the GPU itself where there is one) and traced with
:func:`coursekit.gpu.tracer.trace`, on random 1-D and 2-D grids and blocks that may cover the arrays only
in part, or more than cover them; array sizes are arbitrary, so rarely multiples of the block. Both
must leave the same output arrays, and both must match numpy where the launch reached. Data are small
integers in float32, so every result is exact on any device.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numba import cuda, float32

from coursekit.gpu import tracer

# On a GPU, numba-cuda advises against small grids and host arrays: these launches are small on purpose.
pytestmark = [
    pytest.mark.filterwarnings(r"ignore:.*Grid size \d+ will likely result in GPU under-utilization"),
    pytest.mark.filterwarnings("ignore:.*Host array used in CUDA kernel will incur copy overhead"),
]

# deadline=None: the first simulator launch of a kernel (or a GPU's compile) is slow.
PROPERTY = settings(max_examples=25, deadline=None)
MAX_BLOCK = 64  # threads a 1-D block may have: the shared tile's size must be a compile-time constant
BARRIER_BLOCK = 32  # at most, for the kernel with a barrier: the tracer wakes a block's threads in turn


def vector_add(a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]


def scale_grid_stride(x, out):
    """A grid-stride loop: any grid covers the whole array."""
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        out[i] = x[i] * float32(2)


def reverse_each_block(x, out):
    """Each block reverses its part of ``x`` through shared memory (needs the barrier)."""
    tile = cuda.shared.array(MAX_BLOCK, float32)
    t = cuda.threadIdx.x
    start = cuda.blockIdx.x * cuda.blockDim.x
    if start + t < x.size:
        tile[t] = x[start + t]
    cuda.syncthreads()
    last = min(cuda.blockDim.x, x.size - start) - 1
    if start + t < x.size:
        out[start + t] = tile[last - t]


def affine_2d(img, out):
    """out[row, col] = 3 img[row, col] - row + col, rows from y and columns from x."""
    col, row = cuda.grid(2)
    if row < img.shape[0] and col < img.shape[1]:
        out[row, col] = img[row, col] * float32(3) - float32(row) + float32(col)


JITTED = {k: cuda.jit(k) for k in (vector_add, scale_grid_stride, reverse_each_block, affine_2d)}


def small_ints(shape) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.int16, shape, elements=st.integers(-(2**12), 2**12)).map(lambda a: a.astype(np.float32))


def both(kernel, grid, block, *args) -> tuple[list, list, tracer.Trace]:
    """Launch with numba-cuda and trace, each on its own copies of ``args``."""
    launched = [a.copy() for a in args]
    JITTED[kernel][grid, block](*launched)
    traced = [a.copy() for a in args]
    return launched, traced, tracer.trace(kernel, grid, block, *traced)


@st.composite
def launch_1d(draw, max_block: int = MAX_BLOCK):
    n = draw(st.integers(1, 300))
    return n, draw(st.integers(1, 8)), draw(st.integers(1, max_block))


@PROPERTY
@given(launch_1d(), st.data())
def test_vector_add_agrees(launch, data):
    n, grid, block = launch
    a, b = data.draw(small_ints(n)), data.draw(small_ints(n))
    (*_, got), (*_, traced), tr = both(vector_add, grid, block, a, b, np.full(n, np.nan, np.float32))
    np.testing.assert_array_equal(traced, got)
    reached = np.arange(n) < grid * block
    np.testing.assert_array_equal(got, np.where(reached, a + b, np.nan))
    # element i written once, by thread i, when the grid reached it
    np.testing.assert_array_equal(tr.writers("out"), np.where(reached, np.arange(n), -1))
    assert len([x for x in tr.accesses if x.op == "write"]) == reached.sum()


@PROPERTY
@given(launch_1d(), st.data())
def test_grid_stride_loop_agrees_and_covers_everything(launch, data):
    n, grid, block = launch
    x = data.draw(small_ints(n))
    (_, got), (_, traced), tr = both(scale_grid_stride, grid, block, x, np.full(n, np.nan, np.float32))
    np.testing.assert_array_equal(traced, got)
    np.testing.assert_array_equal(got, 2 * x)
    np.testing.assert_array_equal(tr.writers("out"), np.arange(n) % (grid * block))


@PROPERTY
@given(launch_1d(max_block=BARRIER_BLOCK), st.data())
def test_shared_memory_block_reverse_agrees(launch, data):
    n, grid, block = launch
    x = data.draw(small_ints(n))
    (_, got), (_, traced), tr = both(reverse_each_block, grid, block, x, np.full(n, np.nan, np.float32))
    np.testing.assert_array_equal(traced, got)
    expected = np.full(n, np.nan, np.float32)
    for start in range(0, min(n, grid * block), block):
        expected[start : start + block] = x[start : start + block][::-1]
    np.testing.assert_array_equal(got, expected)
    shared = [a for a in tr.accesses if a.space == "shared"]
    assert {a.phase for a in shared if a.op == "write"} <= {0} and {a.phase for a in shared if a.op == "read"} <= {1}


@PROPERTY
@given(
    st.tuples(st.integers(1, 40), st.integers(1, 40)),  # rows, columns
    st.tuples(st.integers(1, 4), st.integers(1, 4)),  # grid (x, y)
    st.tuples(st.integers(1, 8), st.integers(1, 8)),  # block (x, y)
    st.data(),
)
def test_2d_elementwise_agrees(shape, grid, block, data):
    img = data.draw(small_ints(shape))
    (_, got), (_, traced), tr = both(affine_2d, grid, block, img, np.full(shape, np.nan, np.float32))
    np.testing.assert_array_equal(traced, got)
    rows, cols = np.indices(shape)
    reached = (rows < grid[1] * block[1]) & (cols < grid[0] * block[0])
    np.testing.assert_array_equal(got, np.where(reached, 3 * img - rows + cols, np.nan))
    assert tr.grid == (*grid, 1) and tr.block == (*block, 1)
    assert len([a for a in tr.accesses if a.op == "write"]) == reached.sum()
