"""coursekit.gpu.occupancy: the rule of thumb against cases computed by hand from the CC 9.0 limits.

H100 (compute capability 9.0): 2048 threads, 32 blocks, 64 warps, 65,536 registers and 228 KiB of
shared memory per SM; registers allocated per warp in units of 256; 1 KiB of shared memory reserved
per block, allocated in units of 128 bytes.
"""

from __future__ import annotations

import dataclasses

import pytest

from coursekit.gpu.occupancy import H100, H100_SOURCE, KIB, occupancy, occupancy_table
from coursekit.grading.hidden.occupancy import PICK_CASES


@pytest.mark.parametrize(
    "threads, regs, shared, blocks, warps, limited_by",
    [
        # The notebook's example: registers 65,536 / (8 warps x 2048) = 4; shared 228 KiB / 49 KiB = 4.
        (256, 64, 48 * KIB, 4, 32, ("registers", "shared memory")),
        # One-warp blocks stop at 32 blocks per SM: 32 warps = 50 %.
        (32, 16, 0, 32, 32, ("blocks",)),
        # 24 registers: 768 per warp, 85 warps' worth -> 10 blocks of 8 warps; threads allow 8.
        (256, 24, 0, 8, 64, ("threads",)),
        # 33 registers round up to 1280 per warp (not 1056): 51 warps -> 6 blocks, not 7.
        (256, 33, 0, 6, 48, ("registers",)),
        # 1024 threads x 32 registers = the whole register file for 2 blocks; threads also allow 2.
        (1024, 32, 0, 2, 64, ("threads", "registers")),
        # 100 KiB + 1 KiB reserved per block: 2 blocks in 228 KiB.
        (128, 32, 100 * KIB, 2, 8, ("shared memory",)),
        # 48 threads take 2 whole warps: 32 blocks, 64 warps, every limit reached at once.
        (48, 32, 0, 32, 64, ("threads", "blocks", "registers")),
        # 1024 x 65 registers > 65,536: the block cannot launch at all.
        (1024, 65, 0, 0, 0, ("registers",)),
    ],
)
def test_occupancy_matches_hand_computed_cases(threads, regs, shared, blocks, warps, limited_by):
    occ = occupancy(threads, regs, shared)
    assert (occ.blocks_per_sm, occ.warps_per_sm, occ.limited_by) == (blocks, warps, limited_by)
    assert occ.fraction == pytest.approx(warps / 64)


def test_shared_memory_rounds_up_to_128_bytes_with_the_reserved_kib():
    # 1 byte + 1 KiB -> 1152 bytes per block: 228 KiB / 1152 = 202 blocks by shared memory alone.
    assert occupancy(64, 32, 1).blocks_by_limit["shared memory"] == 228 * KIB // 1152
    # 10 KiB exactly: 11 KiB per block -> 20 blocks (20 x 11 = 220 KiB).
    assert occupancy(64, 32, 10 * KIB).blocks_by_limit["shared memory"] == 20


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 32), "threads_per_block"),
        ((1025, 32), "threads_per_block"),
        ((256, 256), "registers_per_thread"),
        ((256, 32, 227 * KIB + 1), "shared_bytes_per_block"),
    ],
)
def test_impossible_blocks_are_rejected(args, message):
    with pytest.raises(ValueError, match=message):
        occupancy(*args)


def test_largest_block_of_shared_memory_fits_once():
    assert occupancy(256, 32, 227 * KIB).blocks_per_sm == 1


def test_limits_are_frozen_and_cited():
    with pytest.raises(dataclasses.FrozenInstanceError):
        H100.max_threads_per_sm = 4096  # type: ignore[misc]
    assert H100.compute_capability == (9, 0) and "Programming Guide" in H100_SOURCE
    assert "Features and Technical Specifications" in type(H100).__doc__


def test_table_has_one_row_per_case_and_says_what_limits():
    rows = occupancy_table((32, 256, 1024), (32, 128))
    assert len(rows) == 6
    by = {(r["threads_per_block"], r["registers_per_thread"]): r for r in rows}
    assert by[32, 32]["occupancy_pct"] == 50 and by[32, 32]["limited_by"] == "blocks"
    assert by[256, 128]["blocks_per_sm"] == 2 and by[256, 128]["limited_by"] == "registers"
    assert by[1024, 128]["limited_by"] == "cannot launch"


def test_exercise_answers_are_the_brute_force_ones():
    """Exercise 2.8's stated answers: of all block sizes 32, 64, ..., 1024, the smallest with the
    highest occupancy."""
    for regs, shared, want, _ in PICK_CASES:
        sizes = range(32, 1025, 32)
        best = max(occupancy(b, regs, shared).fraction for b in sizes)
        assert want == min(b for b in sizes if occupancy(b, regs, shared).fraction == best), (regs, shared)
