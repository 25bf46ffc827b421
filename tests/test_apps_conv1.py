"""Notebook 05's capstone (nb05_conv1: LeNet's first convolution as a CUDA kernel) bites, and the
pieces around it work: the serial runner, the launch, the LeNet comparison.

Plausible wrong kernels fail :func:`coursekit.grading.hidden.conv.check_conv1_kernel` (the tracer,
against conv2d and the memory contract) and, where they give wrong numbers, the notebook's visible
check as well; the instructor's kernel (copied from the notebook) passes both.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numba import cuda, float32  # the tracer and the serial runner bind their own `cuda` in its place

from coursekit.apps import conv1, lenet
from coursekit.checks import check_close
from coursekit.datasets import load_fashion_mnist
from coursekit.gpu import serial
from coursekit.grading.hidden import conv as checks


def right(x, w, b, out):  # the notebook's solution
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    if n < out.shape[0] and row < out.shape[2] and col < out.shape[3]:
        acc = b[c]
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                acc += w[c, 0, p, q] * x[n, 0, row + p, col + q]
        out[n, c, row, col] = acc


def right_other_order(x, w, b, out):  # columns of the filter outside, bias last, float32 zero
    col, row, z = cuda.grid(3)
    n, c = z // out.shape[1], z % out.shape[1]
    if row >= out.shape[2] or col >= out.shape[3]:
        return
    acc = float32(0)
    for q in range(w.shape[3]):
        for p in range(w.shape[2]):
            acc += x[n, 0, row + p, col + q] * w[c, 0, p, q]
    out[n, c, row, col] = acc + b[c]


def no_bounds_check(x, w, b, out):
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    acc = b[c]
    for p in range(w.shape[2]):
        for q in range(w.shape[3]):
            acc += w[c, 0, p, q] * x[n, 0, row + p, col + q]
    out[n, c, row, col] = acc


def bound_one_too_far(x, w, b, out):  # the output size off by one: H - K + 2 rows and columns
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    if row <= x.shape[2] - w.shape[2] + 1 and col <= x.shape[3] - w.shape[3] + 1:
        acc = b[c]
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                acc += w[c, 0, p, q] * x[n, 0, row + p, col + q]
        out[n, c, row, col] = acc


def bound_one_short(x, w, b, out):  # the output size off by one: H - K rows and columns
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    if row < x.shape[2] - w.shape[2] and col < x.shape[3] - w.shape[3]:
        acc = b[c]
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                acc += w[c, 0, p, q] * x[n, 0, row + p, col + q]
        out[n, c, row, col] = acc


def flipped_filter(x, w, b, out):  # the textbook convolution; torch's conv2d does not flip
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    k = w.shape[2]
    if row < out.shape[2] and col < out.shape[3]:
        acc = b[c]
        for p in range(k):
            for q in range(k):
                acc += w[c, 0, k - 1 - p, k - 1 - q] * x[n, 0, row + p, col + q]
        out[n, c, row, col] = acc


def transposed_filter(x, w, b, out):
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    if row < out.shape[2] and col < out.shape[3]:
        acc = b[c]
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                acc += w[c, 0, q, p] * x[n, 0, row + p, col + q]
        out[n, c, row, col] = acc


def z_split_by_images(x, w, b, out):  # z = n * C + c split by N instead of C
    col, row, z = cuda.grid(3)
    n, c = z // x.shape[0], z % x.shape[0]
    if row < out.shape[2] and col < out.shape[3]:
        acc = b[c]
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                acc += w[c, 0, p, q] * x[n, 0, row + p, col + q]
        out[n, c, row, col] = acc


def image_transposed(x, w, b, out):  # the image's row and column strides swapped
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    if row < out.shape[2] and col < out.shape[3]:
        acc = b[c]
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                acc += w[c, 0, p, q] * x[n, 0, col + q, row + p]
        out[n, c, row, col] = acc


def no_bias(x, w, b, out):
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    if row < out.shape[2] and col < out.shape[3]:
        acc = float32(0)
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                acc += w[c, 0, p, q] * x[n, 0, row + p, col + q]
        out[n, c, row, col] = acc


def bias_every_tap(x, w, b, out):
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    if row < out.shape[2] and col < out.shape[3]:
        acc = float32(0)
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                acc += w[c, 0, p, q] * x[n, 0, row + p, col + q] + b[c]
        out[n, c, row, col] = acc


def accumulates_in_out(x, w, b, out):  # right values, through K*K + 1 writes (and K*K reads) of `out`
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    if row < out.shape[2] and col < out.shape[3]:
        out[n, c, row, col] = b[c]
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                out[n, c, row, col] += w[c, 0, p, q] * x[n, 0, row + p, col + q]


def rows_on_x(x, w, b, out):  # threadIdx.x walks down a column: uncoalesced (or wrong when not square)
    row, col, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    if row < out.shape[2] and col < out.shape[3]:
        acc = b[c]
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                acc += w[c, 0, p, q] * x[n, 0, row + p, col + q]
        out[n, c, row, col] = acc


def lenet_only(x, w, b, out):  # the filter size hard-coded to LeNet's 5
    col, row, z = cuda.grid(3)
    n, c = z // w.shape[0], z % w.shape[0]
    if row < out.shape[2] and col < out.shape[3]:
        acc = b[c]
        for p in range(5):
            for q in range(5):
                acc += w[c, 0, p, q] * x[n, 0, row + p, col + q]
        out[n, c, row, col] = acc


RIGHT = [right, right_other_order]
WRONG = [
    no_bounds_check,
    bound_one_too_far,
    bound_one_short,
    flipped_filter,
    transposed_filter,
    z_split_by_images,
    image_transposed,
    no_bias,
    bias_every_tap,
    accumulates_in_out,
    rows_on_x,
    lenet_only,
]
# Wrong on values, so that the notebook's visible check (serial run against conv2d) fails them too
# (an index past an edge raises IndexError there, a value check AssertionError).
WRONG_VALUES = [
    flipped_filter,
    transposed_filter,
    z_split_by_images,
    image_transposed,
    no_bias,
    bias_every_tap,
    bound_one_short,
]


@pytest.mark.parametrize("kernel", RIGHT + WRONG, ids=lambda k: k.__name__)
def test_conv1_kernel_checker(kernel):
    if kernel in RIGHT:
        checks.check_conv1_kernel(kernel)
    else:
        with pytest.raises(AssertionError, match="expected|should|must|wrong|bounds"):
            checks.check_conv1_kernel(kernel)


def _visible_check(kernel):
    """The notebook's visible check: a small batch, sizes not multiples of the block, vs conv2d."""
    g = torch.Generator().manual_seed(5)
    x, w, b = torch.randn(3, 1, 11, 14, generator=g), torch.randn(4, 1, 5, 5, generator=g), torch.randn(4, generator=g)
    got = conv1.apply(kernel, x, w, b, block=(8, 8))
    check_close(got, torch.nn.functional.conv2d(x, w, b), what="conv1_kernel on a batch of 3 images", rtol=1e-4)


@pytest.mark.parametrize("kernel", RIGHT + WRONG_VALUES, ids=lambda k: k.__name__)
def test_conv1_visible_check(kernel):
    if kernel in RIGHT:
        _visible_check(kernel)
    else:
        with pytest.raises((AssertionError, IndexError)):
            _visible_check(kernel)


@pytest.fixture(scope="module")
def small_lenet():
    torch.manual_seed(0)
    net = lenet.lenet().eval()
    X, y = load_fashion_mnist("test", source="shipped", limit=6, verbose=False)
    return net, torch.from_numpy(X).unsqueeze(1), y


def test_conv1_in_lenet_predicts_what_lenet_predicts(small_lenet):
    net, X, y = small_lenet
    agree = checks.check_conv1_lenet(right, net, X, y)
    assert agree.n == 6 and agree.same + agree.ties == 6 and agree.max_abs_diff < 1e-4
    assert abs(agree.accuracy_kernel - agree.accuracy_torch) <= agree.ties / agree.n
    for kernel in (flipped_filter, no_bias):
        with pytest.raises(AssertionError, match="should"):
            checks.check_conv1_lenet(kernel, net, X, y)


def test_launch_grid_covers_the_output_with_one_thread_per_pixel():
    assert conv1.output_shape((2, 1, 28, 28), (20, 1, 5, 5)) == (2, 20, 24, 24)
    assert conv1.launch_grid((2, 20, 24, 24), (16, 16)) == (2, 2, 40)
    assert conv1.launch_grid((1, 3, 9, 7), (8, 4)) == (1, 3, 3)


def test_serial_runner_matches_the_tracer_and_numba_cuda():
    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(2, 1, 9, 10, generator=g), torch.randn(3, 1, 3, 3, generator=g), torch.randn(3, generator=g)
    on_serial = conv1.apply(right, x, w, b, block=(4, 4))
    on_numba = conv1.apply(right, x, w, b, block=(4, 4), on="numba")  # the simulator here, or a GPU
    np.testing.assert_allclose(on_serial, torch.nn.functional.conv2d(x, w, b).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(on_numba, on_serial, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="serial"):
        conv1.apply(right, x, w, b, on="opencl")


def test_serial_runner_refuses_barriers_and_shared_memory():
    def with_barrier(out):
        cuda.syncthreads()

    def with_shared(out):
        cuda.shared.array(4, float32)

    for kernel in (with_barrier, with_shared):
        with pytest.raises(RuntimeError, match="tracer.trace"):
            serial.run(kernel, 1, 4, np.zeros(4))


def test_serial_runner_visits_every_thread_once_in_order():
    def record(out):
        i = cuda.grid(1)
        out[i] = out[i] + 1 + cuda.blockIdx.x * 0 + cuda.gridsize(1) * 0

    out = np.zeros(12)
    serial.run(record, 3, 4, out)
    assert out.tolist() == [1.0] * 12
