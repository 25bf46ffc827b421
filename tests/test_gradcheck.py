"""coursekit.edf.gradcheck: the relative error, the check itself, and the lecture's VDot bug caught by it."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.edf import framework as edf
from coursekit.edf import gradcheck
from coursekit.edf.slide_bug import VDotSlideBug


@pytest.fixture(autouse=True)
def _fresh_graph():
    with edf.fresh_graph():
        yield


class Weights:
    """A parameter-like object: an array ``.value`` and its ``.grad``."""

    def __init__(self, value, name=None):
        self.value, self.grad, self.name = np.array(value, dtype=np.float64), None, name


def test_relative_error_on_known_numbers():
    got = gradcheck.relative_error([1.0, 0.0, -1.0, 2.0, 1e-12, 3.0], [1.1, 0.0, 1.0, 2.0, 0.0, -3.0])
    np.testing.assert_allclose(got, [0.1 / 1.1, 0.0, 2.0, 0.0, 1e-12 / 1e-8, 2.0])
    assert gradcheck.relative_error(1e-12, 0.0, floor=1e-20) == pytest.approx(1.0)


def test_check_passes_right_gradients_and_fails_wrong_ones():
    w = Weights([[1.0, -2.0], [0.5, 3.0]], name="w")

    def f():
        return 0.5 * np.sum(w.value**3)

    def right():
        w.grad = 1.5 * w.value**2

    def wrong():
        w.grad = 3.0 * w.value**2

    ok = gradcheck.check(f, [w], right)
    assert ok.passed and bool(ok) and ok.failed() == []
    assert ok.max_rel_error < 1e-8
    bad = gradcheck.check(f, [w], wrong)
    assert not bad.passed and bad.failed() == ["w"]
    assert bad.max_rel_error == pytest.approx(0.5)
    assert "FAIL" in repr(bad) and "w " in repr(bad) and "PASS" in repr(ok)


def test_check_reads_grad_set_by_f_and_restores_values():
    w = Weights([1.0, 2.0, 3.0])
    original = w.value

    def f():  # computes the loss and its gradient at once
        w.grad = np.cos(w.value)
        return np.sum(np.sin(w.value))

    result = gradcheck.check(f, [w])
    assert result.passed and result.params[0].name == "param0"
    assert w.value is original


def test_nan_gradient_fails():
    w = Weights([1.0, 2.0])

    def f():
        w.grad = np.array([1.0, np.nan])
        return float(w.value.sum())

    result = gradcheck.check(f, [w])
    assert not result.passed and np.isnan(result.max_rel_error)
    assert result.params[0].worst_index == (1,)


def mlp_graph(activation, dtype=np.float64, sizes=(6, 5, 4), batch=7, seed=0):
    rng = np.random.default_rng(seed)
    x, y = edf.Input(), edf.Input()
    loss = edf.LogLoss(edf.Aref(edf.mlp(x, list(sizes), activation=activation, dtype=dtype, seed=seed), y))
    x.set(rng.standard_normal((batch, sizes[0])).astype(dtype))
    y.set(rng.integers(0, sizes[-1], batch))
    return x, loss


@pytest.mark.parametrize("activation", [edf.Sigmoid, edf.Tanh, edf.ReLU])
def test_edf_mlp_passes(activation):
    _, loss = mlp_graph(activation)
    result = gradcheck.check_edf(loss)
    assert result.passed, result
    assert [p.name for p in result.params] == ["W1", "b1", "W2", "b2"]


def test_float32_graph_is_checked_in_float64_and_restored():
    x, loss = mlp_graph(edf.Sigmoid, dtype=np.float32)
    result = gradcheck.check_edf(loss)
    assert result.passed, result
    assert result.max_rel_error < 1e-6  # float32 arithmetic could not get this close
    assert x.value.dtype == np.float32 and all(p.value.dtype == np.float32 for p in edf.parameters)


def test_large_parameters_are_sampled():
    _, loss = mlp_graph(edf.Tanh, sizes=(20, 17, 10))
    result = gradcheck.check_edf(loss, max_entries=12)
    assert [p.entries_checked for p in result.params] == [12, 12, 12, 10]  # W1 340, b1 17, W2 170, b2 10 entries
    assert result.passed, result


def slide_graph(vdot_cls, n=4, batch=5):
    rng = np.random.default_rng(3)
    x, y = edf.Input(), edf.Input()
    w = edf.Parameter(rng.standard_normal((n, n)), name="W")
    loss = edf.LogLoss(edf.Aref(edf.Softmax(vdot_cls(edf.Tanh(x), w)), y))
    x.set(rng.standard_normal((batch, n)))
    y.set(rng.integers(0, n, batch))
    return loss


def test_gradcheck_flags_the_slide_bug_and_passes_the_fix():
    bug = gradcheck.check_edf(slide_graph(VDotSlideBug))
    assert not bug.passed and bug.failed() == ["W"]
    assert bug.max_rel_error > 0.1
    edf.clear()
    fixed = gradcheck.check_edf(slide_graph(edf.VDot))
    assert fixed.passed, fixed


def test_slide_bug_only_runs_for_a_square_weight():
    x = edf.Input()
    bad = VDotSlideBug(x, edf.Parameter(np.ones((3, 2))))
    x.set(np.ones((2, 3)))
    edf.Forward()
    with pytest.raises(ValueError, match="square"):
        edf.Backward(bad)
