"""asyncqueue.time_launches: the asynchronous-launch pitfall measured with warm-up and repeats."""

from __future__ import annotations

import time

import pytest

from coursekit.perf.asyncqueue import BackgroundQueue, LaunchTimes, time_launches

WORK_S = 0.02  # time.sleep releases the interpreter lock, like a GPU working beside the host


def test_launch_alone_misses_the_work_and_synchronising_catches_it():
    calls = []
    with BackgroundQueue() as q:
        times = time_launches(
            lambda: (calls.append(1), q.submit(time.sleep, WORK_S)), q.synchronize, repeats=5, warmup=2
        )
    assert len(calls) == 2 + 5, "warm-up launches, then the timed ones"
    assert len(times.unsynchronised) == len(times.synchronised) == 5
    assert all(right >= WORK_S for right in times.synchronised), "synchronised: every launch includes the work"
    assert times.wrong_median < WORK_S / 2, "the launch alone returns before the work is done"
    assert times.ratio > 2
    d = times.to_dict()
    assert d["repeats"] == 5 and d["synchronised_s"] == times.right_median
    assert d["unsynchronised_iqr_s"] >= 0 and d["synchronised_iqr_s"] >= 0
    assert "median of 5 launches" in times.summary()


def test_synchronous_work_reads_the_same_both_ways():
    times = time_launches(lambda: time.sleep(0.005), lambda: None, repeats=3, warmup=0)
    assert all(w >= 0.005 for w in times.unsynchronised)
    assert all(r >= w for r, w in zip(times.synchronised, times.unsynchronised, strict=True))


def test_needs_three_repeats_for_a_median_and_a_spread():
    with pytest.raises(ValueError, match="at least 3"):
        time_launches(lambda: None, lambda: None, repeats=2)


def test_spread_is_the_interquartile_range():
    t = LaunchTimes(unsynchronised=(1.0, 2.0, 3.0, 4.0, 5.0), synchronised=(10.0, 10.0, 10.0, 10.0, 50.0))
    assert t.wrong_median == 3.0 and t.wrong_iqr == pytest.approx(2.0)
    assert t.right_median == 10.0 and t.right_iqr == 0.0
