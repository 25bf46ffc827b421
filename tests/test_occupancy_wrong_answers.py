"""Exercise 2.8 of notebook 02 (pick a block size, ``nb02_blocksize``) bites: plausible wrong
answers fail its checker, the instructor solution (copied from the notebook) passes."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.gpu import occupancy
from coursekit.grading.hidden.occupancy import check_pick_block_size


def pick_right(registers_per_thread, shared_bytes_per_block):
    sizes = range(32, 1025, 32)
    occ = {b: occupancy.occupancy(b, registers_per_thread, shared_bytes_per_block).fraction for b in sizes}
    return min(b for b in sizes if occ[b] == max(occ.values()))


def pick_largest_of_the_best(registers_per_thread, shared_bytes_per_block):
    sizes = range(32, 1025, 32)
    occ = {b: occupancy.occupancy(b, registers_per_thread, shared_bytes_per_block).fraction for b in sizes}
    return max(b for b in sizes if occ[b] == max(occ.values()))


def pick_powers_of_two_only(registers_per_thread, shared_bytes_per_block):
    sizes = [32, 64, 128, 256, 512, 1024]
    occ = {b: occupancy.occupancy(b, registers_per_thread, shared_bytes_per_block).fraction for b in sizes}
    return min(b for b in sizes if occ[b] == max(occ.values()))


def pick_ignoring_shared_memory(registers_per_thread, shared_bytes_per_block):
    return pick_right(registers_per_thread, 0)


def pick_most_blocks(registers_per_thread, shared_bytes_per_block):
    sizes = range(32, 1025, 32)
    return max(sizes, key=lambda b: occupancy.occupancy(b, registers_per_thread, shared_bytes_per_block).blocks_per_sm)


def pick_always_256(registers_per_thread, shared_bytes_per_block):
    return 256


def pick_always_1024(registers_per_thread, shared_bytes_per_block):
    return 1024


def pick_without_register_granularity(registers_per_thread, shared_bytes_per_block):
    # registers counted exactly (threads x registers), not per warp in units of 256
    sizes = range(32, 1025, 32)

    def warps(b):
        w = -(-b // 32)
        blocks = min(64 // w, 32, 65536 // (b * registers_per_thread), 228 * 1024 // (shared_bytes_per_block + 1024))
        return blocks * w

    return min(b for b in sizes if warps(b) == max(warps(s) for s in sizes))


def pick_returns_a_fraction(registers_per_thread, shared_bytes_per_block):
    return occupancy.occupancy(pick_right(registers_per_thread, shared_bytes_per_block), registers_per_thread).fraction


def pick_numpy_int(registers_per_thread, shared_bytes_per_block):  # right, as a numpy integer: accepted
    return np.int64(pick_right(registers_per_thread, shared_bytes_per_block))


def test_the_instructor_solution_passes():
    check_pick_block_size(pick_right)
    check_pick_block_size(pick_numpy_int)


@pytest.mark.parametrize(
    "wrong",
    [
        pick_largest_of_the_best,
        pick_powers_of_two_only,
        pick_ignoring_shared_memory,
        pick_most_blocks,
        pick_always_256,
        pick_always_1024,
        pick_without_register_granularity,
        pick_returns_a_fraction,
    ],
)
def test_wrong_answers_fail_and_say_why(wrong):
    with pytest.raises(AssertionError, match=r"expected \d+ threads .* got .*Case: "):
        check_pick_block_size(wrong)
