"""The course's Triton kernels (coursekit.gpu.kernels.triton_kernels) equal their torch reference
on sizes that are not multiples of their blocks, keep their memory contract (counted under the
interpreter by the bounds checker's record), and :func:`costs` counts the bytes they really move."""

from __future__ import annotations

import collections

import pytest

from coursekit.gpu import triton_setup

if not triton_setup.triton_available():
    pytest.skip(triton_setup.MISSING, allow_module_level=True)

import torch

from coursekit.gpu.kernels import triton_kernels as tk

INTERPRETING = triton_setup.switch()
DEVICE = triton_setup.device()


def _recorded(run):
    """The accesses of ``run()`` under the bounds checker (interpreter only), and its result."""
    from coursekit.gpu.triton_bounds import checked_bounds

    record: list = []
    with checked_bounds(record):
        out = run()
    return record, out


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(DEVICE)


@pytest.mark.parametrize("n", [1, 1000, 3 * tk.ADD_BLOCK + 5])
def test_add_equals_torch(n):
    x, y = _rand(n, seed=1), _rand(n, seed=2)
    torch.testing.assert_close(tk.add(x, y), x + y)


@pytest.mark.parametrize(("m", "k", "n"), [(45, 37, 50), (1, 70, 3), (33, 33, 33)])
def test_matmul_equals_torch(m, k, n):
    a, b = _rand(m, k, seed=3), _rand(k, n, seed=4)
    torch.testing.assert_close(tk.matmul(a, b), a @ b, rtol=1e-4, atol=1e-4)


def test_matmul_takes_strided_operands():
    a, b = _rand(40, 30, seed=5), _rand(50, 30, seed=6)
    torch.testing.assert_close(tk.matmul(a, b.t()), a @ b.t(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("rows", "cols"), [(7, 100), (3, 1), (2, 129)])
def test_softmax_equals_torch(rows, cols):
    x = 10 * _rand(rows, cols, seed=7)
    torch.testing.assert_close(tk.softmax(x), torch.softmax(x, dim=1))


def test_softmax_of_a_row_slice_uses_its_stride():
    x = _rand(6, 130, seed=8)[:, :100]  # row stride 130, 100 columns
    torch.testing.assert_close(tk.softmax(x), torch.softmax(x, dim=1))


@pytest.mark.parametrize(("rows", "cols"), [(5, 100), (3, 257)])
def test_layernorm_equals_torch(rows, cols):
    x, w, b = 3 + 2 * _rand(rows, cols, seed=9), _rand(cols, seed=10), _rand(cols, seed=11)
    torch.testing.assert_close(tk.layernorm(x, w, b), torch.nn.functional.layer_norm(x, (cols,), w, b, 1e-5))


needs_interpreter = pytest.mark.skipif(not INTERPRETING, reason="accesses are counted by Triton's interpreter")


@needs_interpreter
def test_add_contract_per_program():
    n = 2 * tk.ADD_BLOCK + 5
    record, _ = _recorded(lambda: tk.add(_rand(n), _rand(n, seed=1)))
    per = collections.Counter((a.program[0], a.op, a.tensor) for a in record for _ in range(a.lanes))
    for p, live in enumerate([tk.ADD_BLOCK, tk.ADD_BLOCK, 5]):
        assert per[(p, "load", "x_ptr")] == per[(p, "load", "y_ptr")] == per[(p, "store", "out_ptr")] == live


@needs_interpreter
def test_matmul_contract_each_element_loaded_once_per_tile_row_or_column():
    from coursekit.gpu.triton_bounds import traffic_bytes

    m, k, n = 45, 37, 50
    record, _ = _recorded(lambda: tk.matmul(_rand(m, k), _rand(k, n, seed=1)))
    lanes = collections.Counter()
    for a in record:
        lanes[(a.op, a.tensor)] += a.lanes
    blocks_m, blocks_n = -(-m // tk.MM_BLOCK), -(-n // tk.MM_BLOCK)
    assert lanes[("load", "a_ptr")] == blocks_n * m * k
    assert lanes[("load", "b_ptr")] == blocks_m * k * n
    assert lanes[("store", "c_ptr")] == m * n
    assert traffic_bytes(record) == tk.costs("matmul", m, n, k).nbytes


@needs_interpreter
@pytest.mark.parametrize("kernel", ["add", "softmax", "layernorm"])
def test_costs_count_the_bytes_the_kernel_moves(kernel):
    from coursekit.gpu.triton_bounds import traffic_bytes

    rows, cols = 5, 100
    runs = {
        "add": (lambda: tk.add(_rand(rows * cols), _rand(rows * cols, seed=1)), (rows * cols,)),
        "softmax": (lambda: tk.softmax(_rand(rows, cols)), (rows, cols)),
        "layernorm": (lambda: tk.layernorm(_rand(rows, cols), _rand(cols), _rand(cols)), (rows, cols)),
    }
    run, shape = runs[kernel]
    record, _ = _recorded(run)
    assert traffic_bytes(record) == tk.costs(kernel, *shape).nbytes
    if kernel in ("softmax", "layernorm"):
        assert {a.program[0] for a in record} == set(range(rows)), "one program per row"
        assert all(a.lanes == cols for a in record), "each row loaded and stored once, in one access"


def test_costs_intensity_of_a_square_matmul_is_block_over_four_less_the_stores():
    n, block = 256, 32  # 2n^3 FLOP over 4 (2 n^3 / block + n^2) bytes
    assert tk.costs("matmul", n, n, n, block=block).intensity == pytest.approx((block / 4) / (1 + block / (2 * n)))
    with pytest.raises(ValueError, match="unknown kernel"):
        tk.costs("conv", 3)
