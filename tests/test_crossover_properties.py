"""Property-based: the reference reading of two timing curves (Exercise 1.4's hidden checker), for
random curves.

``crossover_size`` (in the instructor's room, coursekit/grading/hidden/basics.py) is Exercise 1.4's
answer: the smallest size from which on the GPU is faster at that size and every larger one (None
when it is not faster at the largest), not the naive first size at which it wins, which a lucky dip
fools. Checked on arbitrary curves and on straight lines that cross once.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.grading.hidden.basics import crossover_size

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)

SIZES = st.lists(st.integers(min_value=1, max_value=2**30), min_size=1, max_size=12, unique=True)
TIMES = st.integers(min_value=1, max_value=1000)  # integer times: no float ties to reason about


@st.composite
def curves(draw):
    """Sizes in any order, and a CPU and a GPU time at each (any shape: dips, plateaus, ties)."""
    sizes = draw(SIZES)
    t_cpu = draw(st.lists(TIMES, min_size=len(sizes), max_size=len(sizes)))
    t_gpu = draw(st.lists(TIMES, min_size=len(sizes), max_size=len(sizes)))
    return sizes, t_cpu, t_gpu


@PROPERTY
@given(curves())
def test_crossover_is_the_start_of_the_gpus_last_winning_run(curve):
    sizes, t_cpu, t_gpu = curve
    at = crossover_size(sizes, t_cpu, t_gpu)
    points = sorted(zip(sizes, t_cpu, t_gpu, strict=True))
    if at is None:
        n, c, g = points[-1]
        assert g >= c, "the GPU is faster at the largest size, so a crossover exists"
        return
    assert at in sizes
    assert all(g < c for n, c, g in points if n >= at), "the GPU is faster at every size from the crossover on"
    below = [(c, g) for n, c, g in points if n < at]
    if below:
        c, g = below[-1]
        assert g >= c, "the crossover is the smallest such size: at the size below it the GPU is not faster"


@PROPERTY
@given(curves())
def test_crossover_ignores_the_order_of_the_measurements(curve):
    sizes, t_cpu, t_gpu = curve
    backwards = (sizes[::-1], t_cpu[::-1], t_gpu[::-1])
    assert crossover_size(sizes, t_cpu, t_gpu) == crossover_size(*backwards)


@PROPERTY
@given(curves())
def test_a_lucky_dip_never_moves_the_crossover_earlier(curve):
    """The naive first win (the first size, in increasing order, at which the GPU is faster) is never
    after the crossover, and differs from it only where the GPU loses again at a larger size."""
    points = sorted(zip(*curve, strict=True))
    at = crossover_size(*curve)
    first = next((n for n, c, g in points if g < c), None)
    if at is not None:
        assert first is not None and first <= at
    if first is not None and first != at:
        assert any(g >= c for n, c, g in points if n > first), "a later loss is what moved the crossover"


@PROPERTY
@given(
    SIZES,
    st.integers(min_value=0, max_value=10**6),  # CPU: no fixed cost ...
    st.integers(min_value=1, max_value=100),  # ... and a steeper slope
    st.integers(min_value=0, max_value=10**9),  # GPU: a launch and copy floor ...
    st.integers(min_value=0, max_value=99),  # ... and a gentler slope
)
def test_straight_lines_that_cross_once_give_the_first_win(sizes, cpu_floor, cpu_slope, gpu_floor, gpu_slope):
    """Monotone curves whose difference changes sign once: the crossover is the first size the GPU wins at."""
    gpu_slope = min(gpu_slope, cpu_slope - 1)
    sizes = sorted(sizes)
    t_cpu = [cpu_floor + cpu_slope * n for n in sizes]
    t_gpu = [gpu_floor + gpu_slope * n for n in sizes]
    expected = next((n for n, c, g in zip(sizes, t_cpu, t_gpu, strict=True) if g < c), None)
    assert crossover_size(sizes, t_cpu, t_gpu) == expected
