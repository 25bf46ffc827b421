"""Exercise 2.9 of notebook 02 (a row-wise log-sum-exp in Triton, ``nb02_triton_lse``) bites:
plausible wrong answers fail its checker, the instructor solution (copied from the notebook) passes."""

from __future__ import annotations

import pytest

from coursekit.gpu import triton_setup

if not triton_setup.triton_available():
    pytest.skip(triton_setup.MISSING, allow_module_level=True)

import torch
import triton
import triton.language as tl

from coursekit.grading.hidden.blocks import check_row_logsumexp

NEG_INF = -float("inf")


@triton.jit
def lse_right(x_ptr, out_ptr, n_cols, row_stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < n_cols
    x = tl.load(x_ptr + row * row_stride + offs, mask=mask, other=-float("inf"))
    m = tl.max(x, axis=0)
    s = tl.sum(tl.exp(x - m), axis=0)
    tl.store(out_ptr + row, m + tl.log(s))


@triton.jit
def lse_no_mask(x_ptr, out_ptr, n_cols, row_stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * row_stride + offs)  # reads past the row (and past the tensor in the last one)
    m = tl.max(x, axis=0)
    tl.store(out_ptr + row, m + tl.log(tl.sum(tl.exp(x - m), axis=0)))


@triton.jit
def lse_off_by_one(x_ptr, out_ptr, n_cols, row_stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs <= n_cols
    x = tl.load(x_ptr + row * row_stride + offs, mask=mask, other=-float("inf"))
    m = tl.max(x, axis=0)
    tl.store(out_ptr + row, m + tl.log(tl.sum(tl.exp(x - m), axis=0)))


@triton.jit
def lse_zero_for_masked_lanes(x_ptr, out_ptr, n_cols, row_stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * row_stride + offs, mask=offs < n_cols, other=0.0)  # 0 is not neutral here
    m = tl.max(x, axis=0)
    tl.store(out_ptr + row, m + tl.log(tl.sum(tl.exp(x - m), axis=0)))


@triton.jit
def lse_without_the_maximum(x_ptr, out_ptr, n_cols, row_stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * row_stride + offs, mask=offs < n_cols, other=-float("inf"))
    tl.store(out_ptr + row, tl.log(tl.sum(tl.exp(x), axis=0)))  # exp(1000) overflows


def _launcher(kernel, block=None, stride=None):
    """``row_logsumexp`` around ``kernel``: BLOCK the next power of two of the row (or ``block``),
    the row stride from the tensor (or ``stride(x)``)."""

    def row_logsumexp(x):
        rows, cols = x.shape
        out = torch.empty(rows, dtype=x.dtype, device=x.device)
        row_stride = x.stride(0) if stride is None else stride(x)
        kernel[(rows,)](x, out, cols, row_stride, BLOCK=block or triton.next_power_of_2(cols))
        return out

    return row_logsumexp


def row_logsumexp_rows_loop(x):
    """Right values, wrong contract: one launch per row."""
    out = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for r in range(x.shape[0]):
        out[r : r + 1] = _launcher(lse_right)(x[r : r + 1])
    return out


def test_instructor_solution_passes():
    check_row_logsumexp(_launcher(lse_right))


WRONG = {
    "no mask": _launcher(lse_no_mask),
    "off-by-one mask (offs <= n_cols)": _launcher(lse_off_by_one),
    "masked lanes read as 0, not -inf": _launcher(lse_zero_for_masked_lanes),
    "no row maximum subtracted": _launcher(lse_without_the_maximum),
    "row stride = row length": _launcher(lse_right, stride=lambda x: x.shape[1]),
    "a fixed block of 1024, too small for a row of 1500": _launcher(lse_right, block=1024),
    "a fixed block of 128, too small for most rows": _launcher(lse_right, block=128),
}


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
@pytest.mark.parametrize("name", WRONG)
def test_wrong_answer_fails(name):
    with pytest.raises(AssertionError):
        check_row_logsumexp(WRONG[name])


def test_block_equal_to_the_row_length_fails():
    """BLOCK = n_cols (not a power of two): tl.arange refuses it, so the student's cell errors."""
    with pytest.raises(Exception, match="power of 2|power of two"):
        check_row_logsumexp(_launcher(lse_right, block=100))


@pytest.mark.skipif(not triton_setup.interpreting(), reason="the contract is counted by Triton's interpreter")
def test_one_launch_per_row_fails_the_contract():
    with pytest.raises(AssertionError, match="one program per row"):
        check_row_logsumexp(row_logsumexp_rows_loop)


@pytest.mark.skipif(not triton_setup.interpreting(), reason="the bounds checker needs Triton's interpreter")
def test_bounds_errors_name_the_program_and_offsets():
    with pytest.raises(AssertionError, match=r"out of bounds.*program \(\d+, 0, 0\).*element offsets"):
        check_row_logsumexp(WRONG["off-by-one mask (offs <= n_cols)"])
