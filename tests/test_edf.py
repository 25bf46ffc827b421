"""coursekit.edf.framework against torch.autograd (float64), as micrograd's tests check micrograd.

The CuPy path is the same code with another array module; without a GPU it is tested here only
through the dispatch (a fake ``cupy`` whose array module records what is called).
"""

from __future__ import annotations

import inspect
import sys
import types

import numpy as np
import pytest
import torch

from coursekit.edf import framework as edf

BATCHES = [1, 3, 7]
WIDTHS = [1, 5, 13]


@pytest.fixture(autouse=True)
def _fresh_graph():
    with edf.fresh_graph():
        yield


def run_component(make, arrays: list[np.ndarray], out_grad: np.ndarray):
    """``make(*inputs)`` on ``arrays``: forward, then backward from ``out_grad``. Returns value, input grads."""
    nodes = []
    for a in arrays:
        node = edf.Input()
        node.set(a)
        nodes.append(node)
    component = make(*nodes)
    component.forward()
    for node in nodes:
        node.grad = np.zeros_like(node.value) if node.value.dtype.kind == "f" else None
    component.grad = out_grad
    component.backward()
    return component.value, [node.grad for node in nodes if node.grad is not None]


def torch_reference(fn, arrays: list[np.ndarray], out_grad: np.ndarray):
    """``fn(*tensors)`` and the vector-Jacobian product with ``out_grad`` for the floating arguments."""
    tensors = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(*tensors)
    floating = [t for t in tensors if t.requires_grad]
    grads = torch.autograd.grad(out, floating, torch.tensor(out_grad))
    return out.detach().numpy(), [g.numpy() for g in grads]


def assert_matches_torch(make, fn, arrays, out_grad):
    value, grads = run_component(make, arrays, out_grad)
    expected_value, expected_grads = torch_reference(fn, arrays, out_grad)
    np.testing.assert_allclose(value, expected_value, rtol=1e-10, atol=1e-12)
    assert len(grads) == len(expected_grads)
    for got, expected in zip(grads, expected_grads, strict=True):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


UNARY = {
    "Sigmoid": (edf.Sigmoid, torch.sigmoid),
    "Tanh": (edf.Tanh, torch.tanh),
    "ReLU": (edf.ReLU, torch.relu),
    "Softmax": (edf.Softmax, lambda x: torch.softmax(x, dim=1)),
}


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("width", WIDTHS)
def test_unary_components_match_torch(name, batch, width):
    rng = np.random.default_rng(batch * 100 + width)
    make, fn = UNARY[name]
    x, g = 3 * rng.standard_normal((batch, width)), rng.standard_normal((batch, width))
    assert_matches_torch(make, fn, [x], g)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("width", WIDTHS)
def test_add_bias_matches_torch(batch, width):
    rng = np.random.default_rng(batch * 100 + width)
    x, beta, g = rng.standard_normal((batch, width)), rng.standard_normal(width), rng.standard_normal((batch, width))
    assert_matches_torch(edf.AddBias, torch.add, [x, beta], g)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n_in", WIDTHS)
@pytest.mark.parametrize("n_out", WIDTHS)
def test_vdot_matches_torch(batch, n_in, n_out):
    rng = np.random.default_rng(batch * 10_000 + n_in * 100 + n_out)
    x, g = rng.standard_normal((batch, n_in)), rng.standard_normal((batch, n_out))
    w = rng.standard_normal((n_in, n_out))
    assert_matches_torch(edf.VDot, torch.matmul, [x, w], g)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("width", WIDTHS)
def test_aref_matches_torch(batch, width):
    rng = np.random.default_rng(batch * 100 + width)
    x, g, y = rng.standard_normal((batch, width)), rng.standard_normal(batch), rng.integers(0, width, batch)
    assert_matches_torch(edf.Aref, lambda xt, yt: xt[torch.arange(batch), yt], [x, y], g)


@pytest.mark.parametrize("batch", BATCHES)
def test_log_loss_matches_torch(batch):
    rng = np.random.default_rng(batch)
    p, g = rng.uniform(0.01, 1.0, batch), rng.standard_normal(batch)
    assert_matches_torch(edf.LogLoss, lambda t: -torch.log(t), [p], g)


def test_softmax_is_stable_for_large_scores():
    x = edf.Input()
    x.set(np.array([[1000.0, 999.0, -1000.0]]))
    p = edf.Softmax(x)
    edf.Forward()
    assert np.all(np.isfinite(p.value))
    np.testing.assert_allclose(p.value.sum(axis=1), 1.0)


def build_mlp(sizes, activation, batch, seed=0, dtype=np.float64):
    """The lecture's MLP with a per-example log loss, its inputs set to random data."""
    rng = np.random.default_rng(seed)
    x, y = edf.Input(name="x"), edf.Input(name="y")
    probs = edf.mlp(x, sizes, activation=activation, seed=seed, dtype=dtype)
    loss = edf.LogLoss(edf.Aref(probs, y))
    x.set(rng.standard_normal((batch, sizes[0])).astype(dtype))
    y.set(rng.integers(0, sizes[-1], batch))
    return x, y, loss


def torch_mlp_loss(params: list[torch.Tensor], x: np.ndarray, y: np.ndarray, activation) -> torch.Tensor:
    """Batch-mean cross-entropy of the same MLP in torch; params are W1, b1, W2, b2, ..."""
    h = torch.tensor(x)
    for k in range(0, len(params), 2):
        h = h @ params[k] + params[k + 1]
        if k + 2 < len(params):
            h = activation(h)
    return torch.nn.functional.cross_entropy(h, torch.tensor(y))


TORCH_ACTIVATIONS = {edf.Sigmoid: torch.sigmoid, edf.Tanh: torch.tanh, edf.ReLU: torch.relu}


@pytest.mark.parametrize("activation", list(TORCH_ACTIVATIONS))
def test_mlp_loss_and_gradients_match_torch(activation):
    x, y, loss = build_mlp([20, 17, 10], activation, batch=7)
    edf.Forward()
    edf.Backward(loss)
    assert loss.value.shape == (7,)
    params = [torch.tensor(p.value, requires_grad=True) for p in edf.parameters]
    expected = torch_mlp_loss(params, x.value, y.value, TORCH_ACTIVATIONS[activation])
    expected.backward()
    np.testing.assert_allclose(loss.value.mean(), expected.item(), rtol=1e-12)
    assert [p.name for p in edf.parameters] == ["W1", "b1", "W2", "b2"]
    for p, t in zip(edf.parameters, params, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-9, atol=1e-14)


def test_node_used_twice_gets_both_gradients():
    rng = np.random.default_rng(0)
    x, y = edf.Input(), edf.Input()
    w = edf.Parameter(rng.standard_normal((4, 4)))
    loss = edf.LogLoss(edf.Aref(edf.Softmax(edf.VDot(edf.Tanh(edf.VDot(x, w)), w)), y))
    x.set(rng.standard_normal((3, 4)))
    y.set(np.array([0, 3, 1]))
    edf.Forward()
    edf.Backward(loss)
    wt = torch.tensor(w.value, requires_grad=True)
    torch.nn.functional.cross_entropy(torch.tanh(torch.tensor(x.value) @ wt) @ wt, torch.tensor(y.value)).backward()
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-10)


def test_backward_seeds_one_over_batch_and_gradients_are_batch_means():
    x, y, loss = build_mlp([6, 5, 3], edf.Sigmoid, batch=4)
    edf.Forward()
    edf.Backward(loss)
    np.testing.assert_array_equal(loss.grad, np.full(4, 0.25))
    assert y.grad is None  # integer labels get no gradient
    single = [p.grad.copy() for p in edf.parameters]
    x.set(np.concatenate([x.value, x.value]))  # the same batch twice: the mean is unchanged
    y.set(np.concatenate([y.value, y.value]))
    edf.Forward()
    edf.Backward(loss)
    np.testing.assert_array_equal(loss.grad, np.full(8, 0.125))
    for p, grad in zip(edf.parameters, single, strict=True):
        np.testing.assert_allclose(p.grad, grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_torch_optim_sgd(momentum):
    rng = np.random.default_rng(1)
    x, y, loss = build_mlp([6, 5, 3], edf.Tanh, batch=4)
    params = [torch.tensor(p.value, requires_grad=True) for p in edf.parameters]
    optimizer = torch.optim.SGD(params, lr=0.3, momentum=momentum)
    for _ in range(4):
        x.set(rng.standard_normal((4, 6)))
        y.set(rng.integers(0, 3, 4))
        edf.Forward()
        edf.Backward(loss)
        edf.SGD(0.3, momentum=momentum)
        optimizer.zero_grad()
        torch_mlp_loss(params, x.value, y.value, torch.tanh).backward()
        optimizer.step()
        for p, t in zip(edf.parameters, params, strict=True):
            np.testing.assert_allclose(p.value, t.detach().numpy(), rtol=1e-10, atol=1e-13)


def test_parameter_copies_its_initial_value():
    w0 = np.ones((2, 2))
    w = edf.Parameter(w0)
    w.value -= 1.0
    np.testing.assert_array_equal(w0, np.ones((2, 2)))


def test_clear_starts_a_new_graph():
    x, y, loss = build_mlp([4, 3, 2], edf.Sigmoid, batch=2)
    old_params = list(edf.parameters)
    edf.Forward()
    edf.Backward(loss)
    before, old_values = loss.value.copy(), [p.value.copy() for p in old_params]
    edf.clear()
    assert edf.inputs == [] and edf.parameters == [] and edf.components == []
    x2, y2 = edf.Input(), edf.Input()
    w2 = edf.Parameter(np.ones((4, 2)))
    new_loss = edf.LogLoss(edf.Aref(edf.Softmax(edf.VDot(x2, w2)), y2))
    x2.set(np.zeros((3, 4)))
    y2.set([0, 1, 0])
    x.set(np.full((2, 4), 9.0))  # the old graph's input changes, but Forward no longer runs the old graph
    edf.Forward()
    edf.Backward(new_loss)
    edf.SGD(1.0)
    np.testing.assert_allclose(new_loss.value, np.log(2))
    np.testing.assert_array_equal(loss.value, before)
    assert edf.parameters == [w2] and len(edf.components) == 4
    with pytest.raises(ValueError, match="current graph"):
        edf.Backward(loss)
    for p, value in zip(old_params, old_values, strict=True):  # SGD no longer updates the old parameters
        np.testing.assert_array_equal(p.value, value)


def test_fresh_graph_restores_the_previous_graph():
    x = edf.Input()
    t = edf.Tanh(x)
    with edf.fresh_graph():
        edf.Input()
        assert edf.components == []
    assert edf.inputs == [x] and edf.components == [t]


def test_input_set_replaces_the_value():
    x = edf.Input()
    s = edf.Sigmoid(x)
    x.set(np.zeros((2, 3)))
    edf.Forward()
    np.testing.assert_array_equal(s.value, np.full((2, 3), 0.5))
    x.set(np.full((5, 1), 100.0))
    edf.Forward()
    assert s.value.shape == (5, 1)
    np.testing.assert_allclose(s.value, 1.0)


def test_float32_stays_float32():
    x, y, loss = build_mlp([8, 6, 3], edf.Sigmoid, batch=5, dtype=np.float32)
    extra = [edf.Tanh(x), edf.ReLU(x)]
    assert all(p.value.dtype == np.float32 for p in edf.parameters)
    edf.Forward()
    edf.Backward(loss)
    edf.SGD(0.1, momentum=0.9)
    edf.Forward()
    edf.Backward(loss)
    edf.SGD(0.1, momentum=0.9)
    for node in [x, *edf.parameters, *edf.components, *extra]:
        assert node.value.dtype == np.float32, node
        assert node.grad.dtype == np.float32, node
    assert all(p.velocity.dtype == np.float32 for p in edf.parameters)


def test_mlp_without_bias_is_the_lecture_graph():
    x = edf.Input()
    probs = edf.mlp(x, [784, 128, 10], bias=False)
    assert [type(c).__name__ for c in edf.components] == ["VDot", "Sigmoid", "VDot", "Softmax"]
    assert [p.value.shape for p in edf.parameters] == [(784, 128), (128, 10)]
    x.set(np.zeros((2, 784), dtype=np.float32))
    edf.Forward()
    assert probs.value.shape == (2, 10)


def test_numpy_in_numpy_out_without_importing_cupy(monkeypatch):
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    assert edf.array_module(np.zeros(2)) is np
    x, y, loss = build_mlp([5, 4, 3], edf.ReLU, batch=3)
    edf.Forward()
    edf.Backward(loss)
    for node in [*edf.parameters, *edf.components]:
        assert type(node.value) is np.ndarray and type(node.grad) is np.ndarray, node
    assert "cupy" not in sys.modules
    assert "import cupy" not in inspect.getsource(edf)


class RecordingXP:
    """An array module that is numpy underneath and records which functions the framework asked for."""

    def __init__(self):
        self.used: set[str] = set()

    def __getattr__(self, name):
        self.used.add(name)
        return getattr(np, name)


def test_array_module_comes_from_the_values(monkeypatch):
    fake = RecordingXP()
    seen = []

    def get_array_module(*arrays):
        seen.extend(type(a) for a in arrays)
        return fake

    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(get_array_module=get_array_module))
    x, y, loss = build_mlp([5, 4, 3], edf.Sigmoid, batch=3)
    edf.Tanh(x), edf.ReLU(x)
    edf.Forward()
    edf.Backward(loss)
    assert {"exp", "tanh", "maximum", "log", "arange", "zeros_like"} <= fake.used
    assert seen and all(t is np.ndarray for t in seen)
