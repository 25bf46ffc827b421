"""coursekit.perf.timing: statistics, batching of short calls, tables and plots."""

from __future__ import annotations

import time

import numpy as np
import pytest

from coursekit.perf import compare, timing


def _measurement(samples, label="m", **kw):
    return timing.Measurement(label=label, times=np.asarray(samples, float), n=len(samples), batch=1, cold=1.0, **kw)


def test_measurement_statistics_on_synthetic_samples():
    m = _measurement([1.0, 2.0, 3.0, 4.0, 100.0], flop=8.0, nbytes=4.0)
    assert m.median == 3.0
    assert m.mean == pytest.approx(22.0)
    assert m.iqr == pytest.approx(2.0)  # numpy's linear percentiles: q1 = 2, q3 = 4
    assert m.flop_per_s == pytest.approx(8.0 / 3.0)
    assert m.bytes_per_s == pytest.approx(4.0 / 3.0)
    assert "median 3 s" in repr(m) and "GFLOP/s" in repr(m)


@pytest.mark.parametrize("seconds, text", [(2.5, "2.5 s"), (1.5e-3, "1.5 ms"), (2e-6, "2 us"), (3.2e-8, "32 ns")])
def test_format_seconds_picks_units(seconds, text):
    assert timing.format_seconds(seconds) == text


def test_benchmark_batches_tiny_calls_and_reports_per_call_time():
    calls = []
    m = timing.benchmark(lambda: calls.append(1), min_time=0.02, label="append")
    assert m.batch > 1, "a sub-microsecond call must be timed in batches"
    assert len(calls) >= m.n + 1  # + the cold call
    assert 0 < m.median < 1e-5
    assert m.label == "append" and m.device == "cpu"


def test_benchmark_times_a_sleep_within_reason():
    """A 10 ms sleep: one call per sample, the median in seconds per call. Only the lower bound is
    tight (a sleep never returns early); a busy machine may wake the sleeper late, so the upper
    bound only rules out a wrong unit or a sum over samples."""
    m = timing.benchmark(time.sleep, 0.01, min_time=0.05, min_samples=3, warmup=0)
    assert m.batch == 1
    assert 0.0099 < m.median < 0.5
    assert min(m.times) <= m.median <= max(m.times)


def test_benchmark_passes_arguments():
    seen = []
    timing.benchmark(lambda a, b=0: seen.append((a, b)), 1, b=2, min_time=0.001)
    assert set(seen) == {(1, 2)}


def test_compare_speedups_relative_to_baseline():
    slow, fast = _measurement([4.0] * 3, "slow"), _measurement([1.0] * 3, "fast")
    table = compare.compare([slow, fast])
    assert table.loc["fast", "speedup"] == pytest.approx(4.0)
    assert table.loc["slow", "speedup"] == pytest.approx(1.0)
    assert compare.compare([slow, fast], baseline="fast").loc["slow", "speedup"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="baseline"):
        compare.compare([slow, fast], baseline="nope")
    with pytest.raises(ValueError, match="distinct"):
        compare.compare([slow, slow])


def test_plot_comparison_returns_labelled_axes():
    import matplotlib

    matplotlib.use("Agg")
    ax = compare.plot_comparison([_measurement([2e-3] * 3, "a"), _measurement([1e-3] * 3, "b")])
    assert ax.get_xscale() == "log"
    assert "seconds" in ax.get_xlabel()
    assert len(ax.patches) == 2
    np.testing.assert_allclose(sorted(p.get_width() for p in ax.patches), [1e-3, 2e-3])  # bar length = median


def test_simulator_times_are_labelled_and_cpu_times_are_not():
    from conftest import run_python

    out = run_python(
        "import coursekit as ck\nck.setup(verbose=False)\nimport numpy as np\nfrom coursekit.perf import timing\n"
        "from numba import cuda\n"
        "@cuda.jit\n"
        "def k(x):\n"
        "    i = cuda.grid(1)\n"
        "    if i < x.size:\n"
        "        x[i] += 1\n"
        "x = np.zeros(40)\n"
        "sim = timing.benchmark(lambda: k[1, 64](x), device='cuda', min_time=0.01, min_samples=2, warmup=0)\n"
        "cpu = timing.benchmark(np.add, x, x, min_time=0.01)\n"
        "print(sim.simulator, sim.device, cpu.simulator, cpu.device, 'simulator' in repr(sim))\n",
        env={"COURSEKIT_FORCE_CPU": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "cuda", "False", "cpu", "True"]


class FakeAsyncGPU:
    """A device whose work runs asynchronously in a background thread, like a GPU queue."""

    def __init__(self, seconds: float):
        import threading

        self.seconds = seconds
        self.threading = threading
        self.pending = []
        self.syncs = 0

    def launch(self):
        t = self.threading.Thread(target=time.sleep, args=(self.seconds,))
        t.start()
        self.pending.append(t)

    def sync(self, device="auto"):
        self.syncs += 1
        for t in self.pending:
            t.join()
        self.pending.clear()


@pytest.fixture
def fake_gpu(monkeypatch):
    gpu = FakeAsyncGPU(0.02)
    monkeypatch.setattr(timing._device, "sync", gpu.sync)
    return gpu


def test_gpu_path_synchronises_every_sample(fake_gpu):
    m = timing.benchmark(fake_gpu.launch, device="cuda", warmup=1, min_time=0, min_samples=4)
    # cold (before + after), warm-up, then one sync per sample
    assert fake_gpu.syncs >= 3 + len(m.times)
    assert m.median >= 0.018, "a synchronised time includes the queued work"


def test_async_launch_pitfall_unsynchronised_time_is_only_the_launch(fake_gpu):
    """Without synchronising, the timer sees only the launch (the best of three, so that one stall
    of a busy machine cannot pose as the work); synchronised, it always includes the 20 ms of work."""
    wrong_s = []
    for _ in range(3):
        with timing.Timer("cpu") as wrong:
            fake_gpu.launch()
        fake_gpu.sync()
        wrong_s.append(wrong.elapsed)
    with timing.Timer("cuda") as right:
        fake_gpu.launch()
    assert min(wrong_s) < 0.01 < 0.018 <= right.elapsed


def test_timer_rejects_unknown_devices():
    with pytest.raises(ValueError):
        timing.Timer("tpu")


def test_infer_device_from_arguments():
    assert timing.infer_device(np.zeros(3), 1.0) == "cpu"
    torch = pytest.importorskip("torch")
    assert timing.infer_device(torch.zeros(3)) == "cpu"

    class FakeCupyArray:
        pass

    FakeCupyArray.__module__ = "cupy._core.core"
    assert timing.infer_device(FakeCupyArray()) == "cuda"


def test_thread_counts_are_recorded_not_changed():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    m = timing.benchmark(torch.add, torch.ones(10), torch.ones(10), min_time=0.01)
    assert m.threads["torch"] == before == torch.get_num_threads()
    assert m.threads["cpus"] >= 1


def test_compare_callables_runs_interleaved_and_checks_results():
    order = []

    def make(tag, value):
        def fn(x):
            order.append(tag)
            time.sleep(0.001)  # long enough that each sample is one call
            return x * value

        return fn

    table = compare.compare({"A": make("A", 2), "B": make("B", 2)}, np.ones(4), min_time=0.02, min_samples=5)
    assert list(table.index) == ["A", "B"]
    assert table.loc["A", "speedup"] == 1.0
    # after cold calls, warm-up and batch sizing, samples alternate A, B, A, B ...
    assert "".join(order[-10:]) == "AB" * 5
    with pytest.raises(ValueError, match="different result"):
        compare.compare({"A": make("A", 2), "B": make("B", 3)}, np.ones(4), min_time=0.01)


def test_max_time_caps_a_slow_function():
    start = time.perf_counter()
    m = timing.benchmark(time.sleep, 0.05, min_time=10, max_time=0.2, warmup=0)
    assert time.perf_counter() - start < 2
    assert len(m.times) >= 3


def test_interleaved_holds_no_result_while_timing():
    """Each contender's first result is checked, then dropped: ten contenders of 40 MB each held
    through the timing loop pushed notebook 04 past a Binder pod's memory."""
    import weakref

    class Result:
        pass

    alive: weakref.WeakSet = weakref.WeakSet()
    seen: list[int] = []

    def contender() -> Result:
        seen.append(len(alive))  # results still referenced when this call starts
        r = Result()
        alive.add(r)
        return r

    compare.interleaved({"a": contender, "b": contender, "c": contender}, check=False, min_time=0.01, max_time=0.2)
    assert max(seen) <= 2, f"up to {max(seen)} earlier results were held during a call"
    assert max(seen[6:]) == 0, "results held during the timing loop"
