"""coursekit.edf.minibatch: thread settings, throughput sweeps, the fixed-cost fit, EDF training helpers."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.datasets.clusters import gaussian_clusters
from coursekit.edf import framework as edf
from coursekit.edf import minibatch
from coursekit.machine import threads


def test_set_threads_round_trip():
    before = threads.blas_threads()
    if before is None:
        pytest.skip("numpy's BLAS is not an OpenBLAS found by minibatch")
    try:
        previous = threads.set_threads(1)
        assert previous["numpy BLAS"] == before and threads.blas_threads() == 1
    finally:
        threads.set_threads(before)
    assert threads.blas_threads() == before


def test_limited_covers_numpy_torch_and_numba_and_puts_them_back():
    """One limiter for every pool (the roofline's triads run numba and torch under it)."""
    torch = pytest.importorskip("torch")
    numba = pytest.importorskip("numba")
    before = {"numpy BLAS": threads.blas_threads(), "torch": torch.get_num_threads(), "numba": numba.get_num_threads()}
    with threads.limited(1) as previous:
        assert previous == before
        assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
        assert threads.blas_threads() in (None, 1)
    after = {"numpy BLAS": threads.blas_threads(), "torch": torch.get_num_threads(), "numba": numba.get_num_threads()}
    assert after == before
    with threads.limited(numba.config.NUMBA_NUM_THREADS + 1):  # past numba's pool: capped, not an error
        assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    assert numba.get_num_threads() == before["numba"]


def test_throughput_sweep_keeps_the_best_round():
    calls = {1: [], 4: []}

    def make_step(b):
        return lambda: calls[b].append(1)

    rows = minibatch.throughput_sweep(make_step, [1, 4], rounds=2, min_time=0.001)
    assert [r["batch"] for r in rows] == [1, 4]
    for r in rows:
        assert r["examples_per_s"] == pytest.approx(r["batch"] / r["median_s"])
    assert all(len(c) > 2 for c in calls.values()), "each size timed in each round"


def test_fit_fixed_cost_recovers_a_line():
    batches = [1, 2, 4, 8, 16]
    fixed, per_example = minibatch.fit_fixed_cost(batches, [30e-6 + 2e-7 * b for b in batches])
    assert fixed == pytest.approx(30e-6) and per_example == pytest.approx(2e-7)


def test_vdot_traffic():
    flop, nbytes = minibatch.vdot_traffic(1, 784, 128)
    assert flop == 2 * 784 * 128 and nbytes == 4 * (784 + 784 * 128 + 128)
    assert minibatch.vdot_traffic(1024, 784, 128, itemsize=8)[1] == 8 * (1024 * 784 + 784 * 128 + 1024 * 128)


@pytest.fixture
def clusters():
    X, onehot = gaussian_clusters(700, 784, 10, seed=3)
    y = onehot.argmax(axis=1)
    return X[:500], y[:500], X[500:], y[500:]


def test_train_to_accuracy_reaches_an_easy_target(clusters):
    with edf.fresh_graph():
        run = minibatch.train_to_accuracy(*clusters, batch=20, eta=0.1, target=0.9, eval_every=100, max_epochs=5)
    assert run.reached and run.curve[-1][2] >= 0.9 and 0 < run.epochs <= 5 and run.train_s > 0
    assert run.epoch_s == pytest.approx(run.train_s / run.epochs)


def test_train_to_accuracy_stops_at_max_epochs(clusters):
    with edf.fresh_graph():
        run = minibatch.train_to_accuracy(*clusters, batch=50, eta=0.0, target=1.01, eval_every=100, max_epochs=1)
    assert not run.reached and run.epochs == pytest.approx(1.0)


def test_profile_edf_shares_add_up(clusters):
    X, y = clusters[0], clusters[1]
    with edf.fresh_graph():
        table = minibatch.profile_edf(minibatch.edf_mlp(), X.astype(np.float32), y, batch=100)
    assert table["share"].sum() == pytest.approx(1.0)
    assert table.loc["VDot", "calls"] == 2 * 5 and table.loc["Softmax", "calls"] == 5


def test_edf_model_accuracy_in_chunks(clusters):
    X, y = clusters[2], clusters[3]
    with edf.fresh_graph():
        model = minibatch.edf_mlp()
        whole = model.accuracy(X, y, chunk=len(X))
        assert model.accuracy(X, y, chunk=7) == pytest.approx(whole)


def test_live_plot_draws_without_a_notebook(capsys):
    import matplotlib

    matplotlib.use("Agg")
    live = minibatch.LivePlot("t", min_interval_s=0)
    live.update(0.5, loss=1.0)
    live.update(1.0, loss=0.5, accuracy=0.7)
    live.close("done")
    assert live.loss == [(0.5, 1.0), (1.0, 0.5)] and live.accuracy == [(1.0, 0.7)]
    assert live.ax_loss.get_title() == "done"


def test_softmax_regression_step_numpy_matches_torch():
    torch = pytest.importorskip("torch")
    X, onehot = gaussian_clusters(200, 30, 4, seed=1)
    w0 = np.random.default_rng(0).standard_normal((30, 4)).astype(np.float32)
    w_np, w_t = w0.copy(), torch.tensor(w0, requires_grad=True)
    for _ in range(5):
        loss_np = minibatch.softmax_regression_step(np, X, onehot, w_np)
        loss_t = minibatch.torch_softmax_regression_step(torch, torch.from_numpy(X), torch.from_numpy(onehot), w_t)
    assert float(loss_np) == pytest.approx(loss_t.item(), rel=1e-4)
    np.testing.assert_allclose(w_np, w_t.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_measure_functions_on_the_cpu():
    pytest.importorskip("torch")
    rows = minibatch.measure_softmax_grad("cpu", batch_sizes=(1, 8))["softmax_grad"]
    assert [r["batch"] for r in rows] == [1, 8] and all(r["examples_per_s"] > 0 for r in rows)
    rows = minibatch.measure_softmax_regression("cpu", n_samples=100, n_features=20)["softmax_regression"]
    assert [r["impl"] for r in rows] == ["numpy (cpu)", "torch autograd (cpu)"]
    assert all(r["iteration_s"] > 0 for r in rows)


def test_recorded_gpu_sections_have_the_shape_the_notebook_reads(tmp_path):
    """A reference file with this module's measurements (CPU stand-ins) is read back by gpu_result."""
    import json

    pytest.importorskip("torch")
    from coursekit.perf import reference

    recorded = {
        "recorded": {"device": "NVIDIA H100 80GB HBM3", "date": "2026-12-01"},
        "ceilings": {"name": "NVIDIA H100 80GB HBM3"},
        "minibatch": minibatch.measure_softmax_grad("cpu", batch_sizes=(1, 4)),
        "softmax_regression": minibatch.measure_softmax_regression("cpu", n_samples=50, n_features=10),
    }
    (tmp_path / "h100.json").write_text(json.dumps(recorded))
    sweep = reference.gpu_result("minibatch", gpu=False, directory=tmp_path)
    assert sweep.source == "recorded" and [r["batch"] for r in sweep.value["softmax_grad"]] == [1, 4]
    per_iteration = reference.gpu_result("softmax_regression", gpu=False, directory=tmp_path)
    assert {"impl", "iteration_s"} <= set(per_iteration.value["softmax_regression"][0])
