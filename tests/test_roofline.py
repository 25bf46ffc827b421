"""coursekit.perf.roofline: kernel arithmetic, ceilings, cache, references and the plot."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from coursekit import settings
from coursekit.machine import cpu_peak
from coursekit.perf import ceilings, reference, roofline
from coursekit.perf.roofline import Ceilings, Kernel

from conftest import ROOT


def test_kernel_flops_and_bytes_from_shapes():
    add = roofline.elementwise(1000, "float32")
    assert (add.flop, add.nbytes) == (1000, 3 * 1000 * 4)
    relu = roofline.elementwise(1000, "float64", inputs=1)
    assert relu.nbytes == 2 * 1000 * 8
    d = roofline.dot(500, "float32")
    assert (d.flop, d.nbytes) == (1000, 4000)
    mv = roofline.matvec(30, 20, "float32")
    assert (mv.flop, mv.nbytes) == (2 * 30 * 20, (600 + 20 + 30) * 4)
    mm = roofline.matmul(64, 32, 16, "float32")  # (64 x 16) @ (16 x 32)
    assert mm.flop == 2 * 64 * 32 * 16
    assert mm.nbytes == (64 * 16 + 16 * 32 + 64 * 32) * 4
    assert roofline.matmul(8, 8, 8).name == "matmul n=8"
    sm = roofline.softmax(10, 100, "float32")
    assert (sm.flop, sm.nbytes) == (5000, 8000)


def test_square_matmul_intensity_grows_with_n():
    # 2n^3 / (3 n^2 * 4 bytes) = n / 6 FLOP/byte in float32
    for n in (64, 512, 4096):
        assert roofline.matmul(n, n, n).intensity == pytest.approx(n / 6)


def test_kernel_rates_once_timed():
    k = roofline.dot(1_000_000).timed(1e-3, "this CPU")
    assert k.flop_per_s == pytest.approx(2e9)
    assert k.bytes_per_s == pytest.approx(8e9)
    assert k.device == "this CPU"
    assert Kernel("x", 1, 1).flop_per_s is None


def test_ceilings_ridge_roof_and_bound():
    c = Ceilings("dev", "cpu", "float32", bytes_per_s=10e9, flop_per_s=100e9)
    assert c.ridge == pytest.approx(10.0)
    assert c.attainable(1.0) == pytest.approx(10e9)
    assert c.attainable(1000.0) == pytest.approx(100e9)
    assert c.bound(roofline.elementwise(10)) == "memory-bound"
    assert c.bound(roofline.matmul(1024, 1024, 1024)) == "compute-bound"
    assert Ceilings.from_dict(c.to_dict()) == c


def test_published_devices_have_sources_and_consistent_peaks():
    table = reference.published_peaks()
    for name in (
        "Intel Core i7-7700K",
        "Intel Core i7-6950X",
        "NVIDIA Titan Xp",
        "NVIDIA GTX 1070",
        "NVIDIA TITAN X (Pascal)",
        "NVIDIA P100 SXM2 (1/8 of a DGX-1)",
        "AMD EPYC 9654",
        "NVIDIA V100 SXM2",
        "NVIDIA A100 SXM 80GB",
        "NVIDIA H100 SXM",
        "NVIDIA H200 SXM",
    ):
        assert name in table.index
        assert reference.PUBLISHED[name].source
    # GPU FP32 peaks follow cores x clock x 2 within 5 %
    for name in ("NVIDIA Titan Xp", "NVIDIA GTX 1070", "NVIDIA TITAN X (Pascal)"):
        d = reference.PUBLISHED[name]
        assert d.flop_per_s == pytest.approx(d.cores * d.clock_ghz * 1e9 * 2, rel=0.05)
    assert table.loc["NVIDIA GTX 1070", "gflops_per_usd"] == pytest.approx(6460 / 399, rel=0.01)
    # CPUs: cores x clock x 32 FP32 FLOP per cycle (two 256-bit FMA pipes), not x 2
    for name in ("Intel Core i7-7700K", "Intel Core i7-6950X", "AMD EPYC 9654"):
        d = reference.PUBLISHED[name]
        assert d.flop_per_s == pytest.approx(d.cores * d.clock_ghz * 1e9 * 32)
    # HBM sold as "80GB" is 80 GiB: shown as 80.0 in the GiB column, not 74.5
    assert table.loc["NVIDIA H100 SXM", "memory_gib"] == 80.0
    assert table.loc["NVIDIA H200 SXM", "memory_gib"] == 141.0
    # one device per row: no 8-GPU aggregate above the H100
    assert table["fp32_tflops"].idxmax() in ("NVIDIA H100 SXM", "NVIDIA H200 SXM")


def test_cpu_peak_is_positive_and_explained():
    peak, how = cpu_peak.cpu_peak_flops()
    if peak == peak:  # a microarchitecture this course knows: the derivation is given
        assert peak > 1e9 and "cores" in how and "FMA" in how
    else:  # unknown: said so, not guessed
        assert "not derived" in how or "unknown" in how


@pytest.fixture
def fake_measurements(monkeypatch, tmp_path):
    """Ceiling measurements replaced by counters that say which mode measured them (10 GB/s in
    quick mode, 20 GB/s in full mode); default (full) mode; cache in a temporary folder."""
    calls = {"bw": 0, "flops": 0}

    def bw(dtype, repeats):
        calls["bw"] += 1
        return (10e9 if settings.quick() else 20e9), "fake triad", 123

    def fl(dtype, repeats):
        calls["flops"] += 1
        return 200e9, "fake gemm", 64

    monkeypatch.setattr(ceilings, "_cpu_bandwidth", bw)
    monkeypatch.setattr(ceilings, "_cpu_flops", fl)
    monkeypatch.setenv("COURSEKIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(settings.QUICK_ENV, raising=False)
    monkeypatch.setattr(ceilings, "_MEMORY_CACHE", {})
    return calls, tmp_path


def test_ceilings_are_cached_in_memory_and_on_disk(fake_measurements, monkeypatch):
    calls, cache = fake_measurements
    first = ceilings.measure_ceilings("cpu")
    assert (first.bytes_per_s, first.flop_per_s, first.source) == (20e9, 200e9, "measured")
    assert ceilings.measure_ceilings("cpu") is first
    assert calls == {"bw": 1, "flops": 1}
    stored = json.loads((cache / "ceilings.json").read_text())
    assert len(stored) == 1
    monkeypatch.setattr(ceilings, "_MEMORY_CACHE", {})  # a new process: read back from disk
    again = ceilings.measure_ceilings("cpu")
    assert again == first and calls["bw"] == 1
    ceilings.measure_ceilings("cpu", refresh=True)
    assert calls["bw"] == 2
    ceilings.measure_ceilings("cpu", dtype="float64")  # another dtype is another entry
    assert calls["bw"] == 3
    assert len(json.loads((cache / "ceilings.json").read_text())) == 2


def test_quick_result_is_never_served_to_default_mode(fake_measurements, monkeypatch):
    calls, cache = fake_measurements
    monkeypatch.setenv(settings.QUICK_ENV, "1")
    quick = ceilings.measure_ceilings("cpu")
    assert quick.bytes_per_s == 10e9 and quick.meta["quick"] is True and calls["bw"] == 1
    monkeypatch.delenv(settings.QUICK_ENV)
    full = ceilings.measure_ceilings("cpu")  # measures again, in full mode
    assert full.bytes_per_s == 20e9 and full.meta["quick"] is False and calls["bw"] == 2
    assert ceilings.measure_ceilings("cpu") is full  # each mode reuses its own result ...
    monkeypatch.setenv(settings.QUICK_ENV, "1")
    assert ceilings.measure_ceilings("cpu") is quick
    assert calls["bw"] == 2
    monkeypatch.setattr(ceilings, "_MEMORY_CACHE", {})  # ... from disk too, in a new process
    assert ceilings.measure_ceilings("cpu").bytes_per_s == 10e9
    monkeypatch.delenv(settings.QUICK_ENV)
    assert ceilings.measure_ceilings("cpu").bytes_per_s == 20e9
    assert calls["bw"] == 2
    keys = list(json.loads((cache / "ceilings.json").read_text()))
    assert len(keys) == 2 and any("|quick|" in k for k in keys) and any("|full|" in k for k in keys)


def test_results_of_older_methods_are_measured_again(fake_measurements, monkeypatch):
    calls, cache = fake_measurements
    old = Ceilings("this CPU: old", "cpu", "float32", 1e9, 1e9).to_dict()  # the key before method versions
    (cache / "ceilings.json").write_text(json.dumps({f"{ceilings._signature('cpu')}|float32": old}))
    assert ceilings.measure_ceilings("cpu").bytes_per_s == 20e9 and calls["bw"] == 1
    monkeypatch.setattr(ceilings, "_MEMORY_CACHE", {})
    monkeypatch.setattr(ceilings, "METHOD_VERSION", ceilings.METHOD_VERSION + 1)
    ceilings.measure_ceilings("cpu")
    assert calls["bw"] == 2


def test_corrupt_cache_is_remeasured(fake_measurements):
    calls, cache = fake_measurements
    (cache / "ceilings.json").write_text("{not json")
    assert ceilings.measure_ceilings("cpu").bytes_per_s == 20e9
    assert calls["bw"] == 1


def test_measure_ceilings_errors(monkeypatch):
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        ceilings.measure_ceilings("tpu")
    monkeypatch.setattr(ceilings._device, "gpu_available", lambda: False)
    with pytest.raises(RuntimeError, match="no GPU"):
        ceilings.measure_ceilings("cuda")


def test_triad_arrays_are_4x_the_cache_and_128_mib_within_memory(monkeypatch):
    monkeypatch.setattr(ceilings._memory, "available_bytes", lambda: 64 * 2**30)
    monkeypatch.setattr(ceilings._caches, "last_level_nbytes", lambda: 16 * 2**20)
    assert ceilings.triad_elements("float32")[0] * 4 == 128 * 2**20  # 4 x 16 MiB < 128 MiB
    assert ceilings.triad_elements("float64")[0] * 8 == 128 * 2**20
    monkeypatch.setattr(ceilings._caches, "last_level_nbytes", lambda: 384 * 2**20)  # e.g. 12 CCDs x 32 MiB
    n, note = ceilings.triad_elements("float32")
    assert n * 4 == 4 * 384 * 2**20 and "cache-assisted" not in note and "capped" not in note
    # a 2 GB Binder pod with 1200 MiB left: 3 arrays <= 40 % of it, 160 MiB each, and the note says so
    monkeypatch.setattr(ceilings._memory, "available_bytes", lambda: 1200 * 2**20)
    n, note = ceilings.triad_elements("float32")
    assert n * 4 == int(0.4 * 1200 * 2**20 / 3) // 4 * 4
    assert "cache-assisted" in note and "capped from 1536 MiB by the memory available" in note


def test_triad_assumes_64_mib_of_cache_where_sysfs_is_silent(monkeypatch):
    monkeypatch.setattr(ceilings._caches, "last_level_nbytes", lambda: None)
    monkeypatch.setattr(ceilings._memory, "available_bytes", lambda: 64 * 2**30)
    n, note = ceilings.triad_elements("float32")
    assert n * 4 == 4 * ceilings.UNKNOWN_CACHE_NBYTES and "last-level cache 64 MiB" in note


def test_interleaved_timing_leaves_out_the_first_call_and_keeps_the_best():
    order = []
    fns = {name: (lambda name=name: order.append(name)) for name in ("x", "y")}
    best = ceilings._best_seconds_interleaved(fns, repeats=5, burst=2)
    assert order == ["x", "y"] + ["x", "x", "y", "y"] * 2 + ["x", "y"]  # 1 untimed + 5 timed each, in turns
    assert set(best) == {"x", "y"} and all(0 <= t < 0.1 for t in best.values())


def test_cpu_bandwidth_runs_every_triad_and_names_the_winner(monkeypatch):
    torch = pytest.importorskip("torch")
    threads_before = torch.get_num_threads()
    monkeypatch.setattr(ceilings, "triad_elements", lambda dtype: (3 * 2**16 + 5, "tiny arrays"))
    monkeypatch.setenv(settings.QUICK_ENV, "1")
    rate, how, n = ceilings._cpu_bandwidth("float32", 1)
    assert rate > 1e8 and n == 3 * 2**16 + 5
    assert f"best of {ceilings.TRIAD_REPEATS['quick']}" in how and "tiny arrays" in how
    winner = how.split("counted: ")[1].split(";")[0]
    assert winner.split(" (")[0] in ("numba prange loop", "torch.add(b, c, alpha=s, out=a)", "numpy in 1 MiB blocks")
    assert all(m in how for m in ("numba prange loop", "torch.add", "numpy in 1 MiB blocks"))
    assert torch.get_num_threads() == threads_before  # thread counts are put back


def test_load_reference_falls_back_to_published(tmp_path):
    ceilings, kernels = reference.load_reference("H100", directory=tmp_path)
    assert ceilings.source == "published" and kernels == []
    assert "H100" in ceilings.name
    with pytest.raises(KeyError):
        reference.load_reference("no such device", directory=tmp_path)


def test_plot_returns_axes_with_roofs_and_points():
    import matplotlib

    matplotlib.use("Agg")
    cpu = Ceilings("this CPU: test", "cpu", "float32", 20e9, 200e9)
    gpu = reference.PUBLISHED["NVIDIA H100 SXM"].ceilings()
    kernels = [roofline.dot(10**6).timed(1e-4, "this CPU"), roofline.matmul(512, 512, 512).timed(2e-3, "this CPU")]
    ax = roofline.plot([cpu, gpu], kernels)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "FLOP/byte" in ax.get_xlabel() and "FLOP/s" in ax.get_ylabel()
    lines = ax.get_lines()
    roofs = [line for line in lines if len(line.get_xdata()) > 2]
    assert len(roofs) == 2 and roofs[0].get_color() != roofs[1].get_color()
    points = [line for line in lines if line.get_marker() == "s"]
    assert len(points) == 2 and all(p.get_color() == roofs[0].get_color() for p in points)
    assert len(ax.get_legend().get_texts()) == 2
    for roof, ceil in zip(roofs, (cpu, gpu), strict=True):  # the plotted roof is min(P, W * I)
        x, y = np.asarray(roof.get_xdata()), np.asarray(roof.get_ydata())
        np.testing.assert_allclose(y, ceil.attainable(x), rtol=1e-9)
    plotted = sorted((p.get_xdata()[0], p.get_ydata()[0]) for p in points)
    expected = sorted((k.intensity, k.flop_per_s) for k in kernels)
    np.testing.assert_allclose(plotted, expected, rtol=1e-9)


def test_kernel_table_reports_fraction_of_roof():
    cpu = Ceilings("this CPU: test", "cpu", "float32", 10e9, 100e9)
    table = roofline.kernel_table(cpu, [roofline.dot(10**6).timed(1e-3, "this CPU")])
    # 2e6 FLOP in 1 ms = 2 GFLOP/s; roof at intensity 0.25 is 2.5 GFLOP/s
    assert table.loc[0, "of_roof"] == pytest.approx(0.8)
    assert table.loc[0, "bound"] == "memory-bound"


@pytest.mark.slow
def test_record_reference_dry_run_round_trips(tmp_path):
    """record_reference.py's own --cpu-dry-run path, on the sections the roofline loads back (every
    section runs in tests/test_gpu_lane.py's dry run, which records through the same STEPS)."""
    env_code = (
        "import os, sys; os.environ['COURSEKIT_CACHE_DIR'] = sys.argv[1]; sys.path.insert(0, 'benchmarks'); "
        "import record_reference as r; "
        "r.STEPS = {k: r.STEPS[k] for k in ('recorded', 'ceilings', 'kernels', 'async_pitfall', 'crossover')}; "
        "sys.exit(r.main(['--cpu-dry-run', '--out', sys.argv[1]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", env_code, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**__import__("os").environ, "COURSEKIT_QUICK": "1"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (path,) = [p for p in tmp_path.glob("*.json") if p.name != "ceilings.json"]
    data = json.loads(path.read_text())
    assert "NOT a GPU reference" in data["recorded"]["device"]
    assert {"date", "versions", "host_cpu"} <= set(data["recorded"])
    assert data["async_pitfall"]["synchronised_s"] > 0
    assert {row["op"] for row in data["crossover"]} == {"add", "matmul"}
    ceilings, kernels = reference.load_reference("dry run", directory=tmp_path)
    assert ceilings.source == "recorded" and len(kernels) >= 5
    assert all(k.device == ceilings.name for k in kernels)


def test_record_reference_refuses_without_gpu():
    out = subprocess.run(
        [sys.executable, "benchmarks/record_reference.py"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**__import__("os").environ, "COURSEKIT_FORCE_CPU": "1"},
    )
    assert out.returncode == 2
    assert "No CUDA GPU here" in out.stderr


def test_the_triad_starts_as_many_threads_as_the_cpu_quota_allows(monkeypatch):
    """A Binder pod shows every core of its host but its cgroup quota allows 1 or 2: the triad's
    thread count is device.usable_cpus() (affinity and quota), not the affinity mask alone."""
    import contextlib

    monkeypatch.setattr(ceilings._device, "usable_cpus", lambda: 1)
    monkeypatch.setattr(ceilings._device, "affinity_cpus", lambda: {0, 1, 2, 3})
    monkeypatch.setattr(ceilings, "triad_elements", lambda dtype: (3 * 2**12, "tiny arrays"))
    seen = []

    @contextlib.contextmanager
    def spy(threads):
        seen.append(threads)
        yield

    monkeypatch.setattr(ceilings._threads, "limited", spy)
    ceilings._cpu_bandwidth("float32", repeats=1)
    assert seen == [1]
    assert ceilings._timing.thread_counts()["cpus"] == 1


def test_ceilings_measured_on_other_thread_counts_are_cached_apart(monkeypatch):
    """A roof measured with 2 threads must not stand in for one measured with 1 (a pod pinned to
    one CPU, `taskset -c 0`), since points timed on 1 thread are placed under it."""
    monkeypatch.setattr(ceilings._threads, "blas_threads", lambda: None)  # as if no OpenBLAS were found
    monkeypatch.setattr(ceilings._device, "usable_cpus", lambda: 2)
    two = ceilings._cache_key("cpu", "float32")
    monkeypatch.setattr(ceilings._device, "usable_cpus", lambda: 1)
    one = ceilings._cache_key("cpu", "float32")
    assert one != two and "|1 threads|" in one and "|2 threads|" in two


def test_ceilings_inside_a_thread_limit_are_cached_apart(monkeypatch):
    """Points timed inside `threads.limited(1)` on a 2-CPU machine go under a 1-thread roof: the
    limit is part of the key (issue: notebook 03 put 1-thread points under a 2-thread GEMM roof)."""
    import torch  # noqa: F401  (loaded, so its thread count counts)

    monkeypatch.setattr(ceilings._device, "usable_cpus", lambda: 2)
    with ceilings._threads.limited(2):
        two = ceilings._cache_key("cpu", "float32")
    with ceilings._threads.limited(1):
        one = ceilings._cache_key("cpu", "float32")
        assert ceilings._threads.in_effect() == 1
    assert "|1 threads|" in one and "|2 threads|" in two
