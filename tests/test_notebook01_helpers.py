"""Helpers behind notebook 01: MIMD tasks, the background queue, OpenCL, SIMT kernels, crossover."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from coursekit import plot_labels, show
from coursekit.gpu.kernels import simt
from coursekit.machine import device
from coursekit.perf import asyncqueue, crossover, mimd, reference, roofline


def test_mimd_tasks_compute_known_answers():
    assert mimd.count_primes(100) == 25
    assert mimd.collatz_longest(10) == 9  # 9 has the longest sequence below 10 (20 steps)
    assert abs(mimd.monte_carlo_pi(20_000) - math.pi) < 0.1
    assert mimd.word_histogram(100) == 100
    tasks = mimd.mixed_tasks(copies=2, scale=0.02)
    assert len(tasks) == 8 and len({fn for fn, _ in tasks}) == 4, "four different kinds of work"


def test_parallel_run_returns_the_serial_results():
    tasks = mimd.mixed_tasks(copies=1, scale=0.02)
    serial = [mimd.run_task(t) for t in tasks]
    seconds, results = mimd.run_with_workers(tasks, workers=2)
    assert results == serial and seconds > 0


def test_background_queue_is_asynchronous_and_ordered():
    done = []
    gate = threading.Event()
    with asyncqueue.BackgroundQueue() as q:
        start = time.perf_counter()
        q.submit(gate.wait, 5)
        q.submit(done.append, 1)
        q.submit(done.append, 2)
        assert time.perf_counter() - start < 0.5, "submit must not wait for the work"
        assert done == [], "the work runs later, in order"
        gate.set()
        q.synchronize()
        assert done == [1, 2]


def test_divergence_data_makes_warps_agree_or_alternate():
    """The divergence demo's data, launched in this process (conftest switched the simulator on
    without a GPU): on ``agree`` every warp but one takes a single branch, on ``alternate`` every warp
    takes both, and heavy_branches computes the same function on either. The kernels themselves are
    checked on sizes that are not multiples of the block in tests/test_kernels.py."""
    n = 3 * simt.WARP_SIZE + 10  # even, and not a multiple of the warp
    blocks = (n + simt.WARP_SIZE - 1) // simt.WARP_SIZE
    agree, alternate = simt.divergence_data(n)
    np.testing.assert_array_equal(np.abs(agree), np.abs(alternate))
    mixed = {}
    for name, x in (("agree", agree), ("alternate", alternate)):
        branch = np.zeros(n, np.int32)
        simt.branch_record[blocks, simt.WARP_SIZE](x, branch)
        np.testing.assert_array_equal(branch, np.where(x > 0, 1, 2))
        mixed[name] = sum(len(set(branch[w : w + simt.WARP_SIZE])) > 1 for w in range(0, n, simt.WARP_SIZE))
        out = np.zeros(n, np.float32)
        simt.heavy_branches[blocks, simt.WARP_SIZE](x, out, 3)
        v = x.astype(np.float64)
        for _ in range(3):
            v = np.where(x > 0, np.sin(v) + 1, np.cos(v) - 1)
        np.testing.assert_allclose(out, v, rtol=1e-5, atol=1e-5, err_msg=name)
    assert mixed["agree"] <= 1 and mixed["alternate"] == blocks


def test_crossover_costs_and_bounds():
    assert crossover.cost("add", 10) == (10.0, 120.0, 120.0)
    assert crossover.cost("matmul", 4) == (128.0, 192.0, 192.0)
    with pytest.raises(ValueError):
        crossover.cost("conv", 3)
    h100 = reference.PUBLISHED["NVIDIA H100 SXM"]
    bound = crossover.bound_from_published(h100, "matmul", [1024], launch_s=0, copy_latency_s=0)
    assert bound.loc[0, "compute_s"] == pytest.approx(2 * 1024**3 / h100.flop_per_s)
    assert bound.loc[0, "with_copies_s"] == pytest.approx(bound.loc[0, "compute_s"] + 3 * 1024**2 * 4 / 64e9)
    floor = crossover.bound_from_published(h100, "add", [16])
    assert floor.loc[0, "compute_s"] >= crossover.LAUNCH_LATENCY_S  # a launch costs microseconds at any size
    assert floor.loc[0, "with_copies_s"] >= crossover.LAUNCH_LATENCY_S + 3 * crossover.COPY_LATENCY_S


def test_crossover_measure_on_cpu_and_recorded_rows():
    frame = crossover.measure("add", [1024, 4096], min_time=0.01)
    assert list(frame["n"]) == [1024, 4096] and (frame["compute_s"] == frame["with_copies_s"]).all()
    rows = [
        {"op": "add", "n": 1, "compute_s": 1.0, "with_copies_s": 2.0},
        {"op": "matmul", "n": 2, "compute_s": 3.0, "with_copies_s": 4.0},
    ]
    assert crossover.from_recorded(rows, "matmul")["n"].tolist() == [2]


def test_devices_table_adds_this_machine_and_plots(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    here = roofline.Ceilings("this CPU: test", "cpu", "float32", 20e9, 300e9, date="2026-01-01")
    table = reference.devices_table(here)
    assert table.loc["this CPU: test", "source"].startswith("measured")
    assert table.loc["this CPU: test", "bandwidth_gbs"] == 20.0
    ax = reference.plot_devices(table)
    assert ax.get_xscale() == "log" and "bytes/s" in ax.get_xlabel() and "FLOP/s" in ax.get_ylabel()
    assert len(ax.get_lines()) == len(table)
    plotted = sorted((line.get_xdata()[0], line.get_ydata()[0]) for line in ax.get_lines())
    expected = sorted(zip(table["bandwidth_gbs"] * 1e9, table["fp32_tflops"] * 1e12, strict=True))
    np.testing.assert_allclose(plotted, expected, rtol=1e-9)
    assert len(ax.texts) == len(table) and plot_labels.overlapping_pairs(ax.texts) == []
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["CPU (published)", "GPU (published)", "this machine (measured)"]


def test_place_labels_keeps_crowded_labels_apart():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    points = [(1.0, 1.0), (1.08, 1.0), (1.0, 1.08), (1.08, 1.08), (2.0, 2.0)]
    ax.plot(*zip(*points, strict=True), "o")
    ax.set_xlim(0.5, 2.5)
    ax.set_ylim(0.5, 2.5)
    texts = plot_labels.place_labels(ax, points, ["first device", "second", "third one", "fourth", "far away"])
    assert [t.get_text() for t in texts] == ["first device", "second", "third one", "fourth", "far away"]
    assert plot_labels.overlapping_pairs(texts) == []
    plt.close(fig)


def test_cpu_clock_and_show():
    hz = device.cpu_clock_hz()
    assert math.isnan(hz) or hz > 1e8
    code = show(mimd.count_primes)
    assert "def count_primes" in getattr(code, "data", code)
