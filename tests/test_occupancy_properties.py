"""Property-based: coursekit.gpu.occupancy's arithmetic for any block the hardware allows.

Whatever the threads, registers and shared memory of a block, what :func:`occupancy` puts on one SM fits
the SM's limits, the occupancy is a fraction, and asking for more registers or more shared memory never
raises it. Pure arithmetic: no numba, no GPU.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.gpu.occupancy import H100, occupancy

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)

THREADS = st.integers(min_value=1, max_value=H100.max_threads_per_block)
REGISTERS = st.integers(min_value=0, max_value=H100.max_registers_per_thread)
SHARED = st.integers(min_value=0, max_value=H100.max_shared_bytes_per_block)


@PROPERTY
@given(THREADS, REGISTERS, SHARED)
def test_what_is_resident_fits_the_sm(threads, regs, shared):
    occ = occupancy(threads, regs, shared)
    warps_per_block = math.ceil(threads / H100.warp_size)
    assert 0 <= occ.fraction <= 1
    assert occ.warps_per_sm == occ.blocks_per_sm * warps_per_block <= H100.max_warps_per_sm
    assert occ.blocks_per_sm <= H100.max_blocks_per_sm
    assert occ.blocks_per_sm * threads <= H100.max_threads_per_sm
    assert occ.fraction == occ.warps_per_sm / H100.max_warps_per_sm
    # Registers are allocated per warp in units of 256, shared memory per block in units of 128 bytes
    # with 1 KiB reserved: what the resident blocks take stays within the SM's register file and memory.
    regs_per_warp = math.ceil(regs * H100.warp_size / H100.register_unit) * H100.register_unit
    assert occ.warps_per_sm * regs_per_warp <= H100.registers_per_sm
    assert occ.blocks_per_sm * (shared + H100.reserved_shared_bytes_per_block) <= H100.shared_bytes_per_sm


@PROPERTY
@given(THREADS, REGISTERS, SHARED)
def test_the_limit_named_is_the_one_reached(threads, regs, shared):
    occ = occupancy(threads, regs, shared)
    assert occ.blocks_per_sm == min(occ.blocks_by_limit.values())
    assert occ.limited_by and set(occ.limited_by) <= set(occ.blocks_by_limit)
    assert all(occ.blocks_by_limit[name] == occ.blocks_per_sm for name in occ.limited_by)


@PROPERTY
@given(THREADS, REGISTERS, SHARED)
def test_only_registers_can_stop_a_launch(threads, regs, shared):
    """Shared memory up to the per-block maximum always fits once; a block that cannot launch has too many
    registers (more than the register file for its warps), and every other block reaches some occupancy."""
    occ = occupancy(threads, regs, shared)
    warps_per_block = math.ceil(threads / H100.warp_size)
    regs_per_warp = math.ceil(regs * H100.warp_size / H100.register_unit) * H100.register_unit
    cannot = warps_per_block * regs_per_warp > H100.registers_per_sm
    assert (occ.blocks_per_sm == 0) == cannot
    if not cannot:
        assert occ.fraction > 0
    else:
        assert occ.limited_by == ("registers",)


@PROPERTY
@given(THREADS, REGISTERS, REGISTERS, SHARED)
def test_more_registers_never_raise_occupancy(threads, regs_a, regs_b, shared):
    fewer, more = sorted((regs_a, regs_b))
    assert occupancy(threads, more, shared).blocks_per_sm <= occupancy(threads, fewer, shared).blocks_per_sm


@PROPERTY
@given(THREADS, REGISTERS, SHARED, SHARED)
def test_more_shared_memory_never_raises_occupancy(threads, regs, shared_a, shared_b):
    less, more = sorted((shared_a, shared_b))
    assert occupancy(threads, regs, more).blocks_per_sm <= occupancy(threads, regs, less).blocks_per_sm


@PROPERTY
@given(st.integers(min_value=1, max_value=H100.max_threads_per_block // H100.warp_size), REGISTERS, SHARED)
def test_a_partial_warp_costs_a_whole_warp(warps, regs, shared):
    """Blocks of 32 (w - 1) + 1 ... 32 w threads occupy w warps each: the same blocks per SM."""
    whole = occupancy(warps * H100.warp_size, regs, shared)
    partial = occupancy((warps - 1) * H100.warp_size + 1, regs, shared)
    assert (partial.blocks_per_sm, partial.warps_per_sm) == (whole.blocks_per_sm, whole.warps_per_sm)
