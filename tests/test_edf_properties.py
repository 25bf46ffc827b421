"""Property-based: EDF's backward pass against finite differences, for random batch sizes and layer widths.

A two-layer network ``LogLoss(Aref(Softmax(AddBias(VDot(act(AddBias(VDot(x, W1), b1)), W2), b2)), y))``
with random shapes, weights, biases, inputs and labels passes :func:`coursekit.edf.gradcheck.check_edf`
(float64, relative error <= 1e-5 on every checked entry of every parameter).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.edf import framework as edf
from coursekit.edf import gradcheck

PROPERTY = settings(max_examples=30, deadline=None, derandomize=True)

BATCH = st.integers(min_value=1, max_value=9)
WIDTH = st.integers(min_value=1, max_value=7)
CLASSES = st.integers(min_value=2, max_value=6)
ACTIVATIONS = st.sampled_from([edf.Tanh, edf.Sigmoid, edf.ReLU])
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def two_layer(rng, batch, fan_in, hidden, classes, activation):
    """The graph, on random float64 data; returns (x, y, loss)."""
    x, y = edf.Input(), edf.Input()
    w1 = edf.Parameter(rng.standard_normal((fan_in, hidden)) / np.sqrt(fan_in), name="W1")
    b1 = edf.Parameter(0.5 * rng.standard_normal(hidden), name="b1")
    w2 = edf.Parameter(rng.standard_normal((hidden, classes)) / np.sqrt(hidden), name="W2")
    b2 = edf.Parameter(0.5 * rng.standard_normal(classes), name="b2")
    hidden_layer = activation(edf.AddBias(edf.VDot(x, w1), b1))
    probs = edf.Softmax(edf.AddBias(edf.VDot(hidden_layer, w2), b2))
    loss = edf.LogLoss(edf.Aref(probs, y))
    x.set(rng.standard_normal((batch, fan_in)))
    y.set(rng.integers(0, classes, batch))
    return x, y, loss


@PROPERTY
@given(BATCH, WIDTH, WIDTH, CLASSES, ACTIVATIONS, SEEDS)
def test_two_layer_network_passes_the_gradient_check(batch, fan_in, hidden, classes, activation, seed):
    with edf.fresh_graph():
        _, _, loss = two_layer(np.random.default_rng(seed), batch, fan_in, hidden, classes, activation)
        result = gradcheck.check_edf(loss)
        assert [p.name for p in result.params] == ["W1", "b1", "W2", "b2"]
        assert [p.shape for p in result.params] == [(fan_in, hidden), (hidden,), (hidden, classes), (classes,)]
        assert result.passed, result


@PROPERTY
@given(BATCH, WIDTH, WIDTH, CLASSES, ACTIVATIONS, SEEDS, st.integers(min_value=2, max_value=4))
def test_gradients_are_batch_means(batch, fan_in, hidden, classes, activation, seed, copies):
    """Backward seeds 1/B: a batch repeated k times has the same parameter gradients as the batch once."""
    with edf.fresh_graph():
        x, y, loss = two_layer(np.random.default_rng(seed), batch, fan_in, hidden, classes, activation)
        edf.Forward()
        edf.Backward(loss)
        once = [p.grad.copy() for p in edf.parameters]
        x.set(np.tile(x.value, (copies, 1)))
        y.set(np.tile(y.value, copies))
        edf.Forward()
        edf.Backward(loss)
        for p, grad in zip(edf.parameters, once, strict=True):
            np.testing.assert_allclose(p.grad, grad, rtol=1e-12, atol=1e-15, err_msg=p.name)
