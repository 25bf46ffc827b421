"""The bounds checker for Triton's interpreter (coursekit.gpu.triton_bounds) raises on unmasked,
off-by-one, negative-offset and unmasked-store kernels, naming the program and the offsets, before
the access happens; correct kernels and masked-out lanes pass."""

from __future__ import annotations

import pytest

from coursekit.gpu import triton_setup

if not triton_setup.triton_available():
    pytest.skip(triton_setup.MISSING, allow_module_level=True)
if not triton_setup.switch():
    pytest.skip(
        "a CUDA GPU is here: Triton compiles for it, and the checker needs the interpreter", allow_module_level=True
    )

import torch
import triton
import triton.language as tl
from triton.runtime import interpreter

from coursekit.gpu import triton_bounds
from coursekit.gpu.kernels import triton_kernels as tk
from coursekit.gpu.triton_bounds import TritonBoundsError, checked_bounds

N, BLOCK = 300, 128  # 3 programs; the last has 44 live lanes


@triton.jit
def copy_unmasked(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs))  # no mask at all


@triton.jit
def copy_load_unmasked(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)  # the load forgot its mask, the store did not
    tl.store(out_ptr + offs, x, mask=offs < n)


@triton.jit
def copy_store_unmasked(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    tl.store(out_ptr + offs, x)  # the store forgot its mask


@triton.jit
def copy_off_by_one(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs <= n  # one lane too many
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask), mask=mask)


@triton.jit
def shift_right(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs - 1, mask=mask), mask=mask)  # reads x[-1] in program 0


@triton.jit
def shift_right_masked(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs - 1, mask=mask & (offs >= 1), other=0.0)
    tl.store(out_ptr + offs, x, mask=mask)


@triton.jit
def copy_far_masked(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    far = tl.where(mask, offs, offs + 10_000_000)  # masked-out lanes point far outside every tensor
    tl.store(out_ptr + far, tl.load(x_ptr + far, mask=mask), mask=mask)


@triton.jit
def rows_off_by_one(x_ptr, out_ptr, rows, cols, BLOCK: tl.constexpr):
    r = tl.program_id(0)
    c = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = c <= cols  # one column too many
    tl.store(out_ptr + r * cols + c, tl.load(x_ptr + r * cols + c, mask=mask), mask=mask)


@triton.jit
def atomic_count(out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.atomic_add(out_ptr + offs % (n + 1), 1.0)  # n + 1 bins written into n


@triton.jit
def copy_descriptor(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    src = tl.make_tensor_descriptor(x_ptr, shape=[n], strides=[1], block_shape=[BLOCK])
    dst = tl.make_tensor_descriptor(out_ptr, shape=[n], strides=[1], block_shape=[BLOCK])
    dst.store([tl.program_id(0) * BLOCK], src.load([tl.program_id(0) * BLOCK]))


def _x():
    return torch.arange(N, dtype=torch.float32)


def _launch(kernel, x=None, out=None, n=N):
    x = _x() if x is None else x
    out = torch.zeros_like(x) if out is None else out
    kernel[(triton.cdiv(n, BLOCK),)](x, out, n, BLOCK=BLOCK)
    return out


@pytest.mark.parametrize(
    ("kernel", "op", "tensor", "program", "offsets"),
    [
        (copy_unmasked, "load", "x_ptr", (2, 0, 0), list(range(N, 3 * BLOCK))),
        (copy_load_unmasked, "load", "x_ptr", (2, 0, 0), list(range(N, 3 * BLOCK))),
        (copy_store_unmasked, "store", "out_ptr", (2, 0, 0), list(range(N, 3 * BLOCK))),
        (copy_off_by_one, "load", "x_ptr", (2, 0, 0), [N]),
        (shift_right, "load", "x_ptr", (0, 0, 0), [-1]),
    ],
)
def test_bad_kernels_raise_naming_program_tensor_and_offsets(kernel, op, tensor, program, offsets):
    x, out = _x(), torch.full((N,), -7.0)
    with checked_bounds(), pytest.raises(TritonBoundsError) as info:
        _launch(kernel, x, out)
    err = info.value
    assert (err.op, err.tensor, err.program) == (op, tensor, program)
    assert err.offsets.tolist() == offsets
    message = str(err)
    assert f"program {program}" in message and f"`{tensor}`" in message and str(offsets[0]) in message
    assert f"{len(offsets)} of" in message, "the message counts the offending lanes"


def test_the_bad_store_does_not_happen():
    """The checker raises before the store: the program that stores out of bounds writes nothing,
    and the programs before it ran as usual."""
    x, out = _x(), torch.full((N,), -7.0)
    with checked_bounds(), pytest.raises(TritonBoundsError):
        _launch(copy_store_unmasked, x, out)
    # the interpreter copies results back only after every program ran: nothing changed at all
    assert torch.equal(out, torch.full((N,), -7.0))


def test_a_block_running_into_the_next_tensor_is_caught():
    """x and out are neighbours in one buffer: out-of-bounds reads of x land inside out."""
    buf = torch.arange(2 * N, dtype=torch.float32)
    x, out = buf[:N], buf[N:]
    with checked_bounds(), pytest.raises(TritonBoundsError, match="`x_ptr`") as info:
        _launch(copy_off_by_one, x, out)
    assert info.value.offsets.tolist() == [N]


def test_two_dimensional_grid_names_both_program_ids():
    rows, cols = 3, 100
    x = torch.randn(rows * cols)
    with checked_bounds(), pytest.raises(TritonBoundsError) as info:
        rows_off_by_one[(rows, triton.cdiv(cols, 64))](x, torch.zeros_like(x), rows, cols, BLOCK=64)
    assert info.value.program == (2, 1, 0), "the last row's last column block reads past the end"
    assert info.value.offsets.tolist() == [rows * cols]


def test_atomics_are_checked():
    out = torch.zeros(N)
    with checked_bounds(), pytest.raises(TritonBoundsError, match="atomic") as info:
        atomic_count[(triton.cdiv(N, BLOCK),)](out, N, BLOCK=BLOCK)
    assert info.value.offsets.tolist() == [N]


@pytest.mark.parametrize("kernel", [shift_right_masked, copy_far_masked])
def test_correct_kernels_and_masked_out_lanes_pass(kernel):
    x = _x()
    with checked_bounds():
        out = _launch(kernel, x)
    expect = torch.cat([torch.zeros(1), x[:-1]]) if kernel is shift_right_masked else x
    assert torch.equal(out, expect)


def test_tensor_descriptors_are_checked():
    """A descriptor masks to its declared shape: right shape passes, a shape past the tensor raises."""
    x = _x()
    with checked_bounds():
        assert torch.equal(_launch(copy_descriptor, x), x)
    with checked_bounds(), pytest.raises(TritonBoundsError) as info:
        _launch(copy_descriptor, x, n=N + 4)  # declares 4 elements more than x and out hold
    assert info.value.offsets.tolist() == [N, N + 1, N + 2, N + 3]


def test_course_kernels_pass_on_sizes_not_multiples_of_their_blocks():
    a, b = torch.randn(45, 37), torch.randn(37, 50)
    s, w, bias = torch.randn(5, 100), torch.randn(100), torch.randn(100)
    with checked_bounds():
        x, y = torch.randn(1000), torch.randn(1000)
        torch.testing.assert_close(tk.add(x, y), x + y)
        torch.testing.assert_close(tk.matmul(a, b), a @ b, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(tk.softmax(s), torch.softmax(s, dim=1))
        torch.testing.assert_close(tk.layernorm(s, w, bias), torch.nn.functional.layer_norm(s, (100,), w, bias))


def test_a_strided_view_is_bounded_by_its_own_elements():
    """A column of a matrix (stride > 1) as a tensor argument: its span ends at its last element."""
    m = torch.arange(40.0).reshape(10, 4)
    col = m[:, 1]
    regions = triton_bounds._regions(lambda x_ptr: None, [col], {})
    assert regions[0].span == (9 * 4 + 1) * 4 and regions[0].numel == 10


def test_the_interpreter_is_restored_after_the_block_even_on_error():
    before = (interpreter.InterpreterBuilder.create_masked_load, interpreter.GridExecutor.__call__)
    with pytest.raises(TritonBoundsError), checked_bounds():
        _launch(copy_off_by_one)
    assert (interpreter.InterpreterBuilder.create_masked_load, interpreter.GridExecutor.__call__) == before
    out = _launch(copy_off_by_one)  # unchecked again: the off-by-one lane is read, nothing raises here
    assert torch.equal(out[:N], _x())


def test_nested_blocks_keep_checking_until_the_outer_one_ends():
    with checked_bounds():
        with checked_bounds():
            pass
        with pytest.raises(TritonBoundsError):
            _launch(copy_off_by_one)


def test_pinned_version():
    assert triton.__version__ == triton_setup.PINNED, "the checker patches interpreter internals of this version"
