"""Checker for notebook 02's Exercise 2.8 (pick a block size from occupancy): the cases and their
answers. In the instructor's room: the shipped :mod:`coursekit.gpu.occupancy` holds the calculator
the student uses, not the answers."""

from __future__ import annotations

import numbers
from collections.abc import Callable

from coursekit.gpu.occupancy import H100, KIB, occupancy

# Exercise 2.8's cases: (registers per thread, shared bytes per block, the answer, why the case is
# there). The answers were found by trying every block size with :func:`occupancy`
# (tests/test_occupancy.py does it again); they are stated, not computed, so that this checker does not
# hold the exercise's solution either.
PICK_CASES: tuple[tuple[int, int, int, str], ...] = (
    (32, 0, 64, "32 registers, no shared memory: one-warp blocks stop at 32 blocks (50 %); 64 threads reach 100 %"),
    (64, 0, 32, "64 registers: every size is capped at 50 % by registers; the smallest is 32"),
    (33, 0, 96, "33 registers take 1280 per warp (units of 256), 51 warps: 96 threads (3 warps x 17) beat 64"),
    (32, 48 * KIB, 512, "48 KiB of shared memory: 4 blocks per SM, so it takes 512 threads to fill 64 warps"),
    (128, 0, 32, "128 registers: 1024-thread blocks cannot launch; 25 % from 32 threads on"),
)


def check_pick_block_size(fn: Callable[[int, int], int]) -> None:
    """Exercise 2.8: ``fn(registers_per_thread, shared_bytes_per_block)`` returns the smallest block
    size (multiple of 32, 32 to 1024) with the highest H100 occupancy. Raises ``AssertionError``
    saying which case failed, what was expected and what came back."""
    for regs, shared, want, why in PICK_CASES:
        got = fn(regs, shared)
        valid = isinstance(got, numbers.Integral) and not isinstance(got, bool)
        if not valid or got != want:
            best = occupancy(want, regs, shared).fraction
            have = (
                f"{100 * occupancy(got, regs, shared).fraction:.1f} %"
                if valid and 1 <= got <= H100.max_threads_per_block
                else "not a valid block size"
            )
            raise AssertionError(
                f"pick_block_size({regs}, {shared}): expected {want} threads ({100 * best:.1f} % occupancy), "
                f"got {got!r} ({have}). Case: {why}"
            )
