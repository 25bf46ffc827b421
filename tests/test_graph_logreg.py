"""The Theano lecture's logistic regression, run with coursekit.graph, against the same model in numpy."""

from __future__ import annotations

import numpy as np
import pytest

import coursekit.graph as T
from coursekit.graph import function, shared


def _numpy_step(xv, yv, w, b):
    """One step of the lecture's model by hand: outputs first, then the update (L2 0.01, lr 0.1)."""
    z = xv @ w + b
    p = 1 / (1 + np.exp(-z))
    xent = -yv * np.log(p) - (1 - yv) * np.log(1 - p)
    gz = (p - yv) / len(yv)  # d mean(xent) / dz
    gw, gb = xv.T @ gz + 2 * 0.01 * w, gz.sum()
    cost = xent.mean() + 0.01 * (w**2).sum()
    return p > 0.5, xent, cost, w - 0.1 * gw, b - 0.1 * gb


@pytest.mark.parametrize("optimize", [True, False])
def test_the_lectures_logistic_regression_trains_and_matches_numpy_step_by_step(optimize):
    rng = np.random.default_rng(0)
    n, feats = 40, 100
    x = T.matrix()
    y = T.vector()
    w0 = rng.standard_normal(feats)
    w = shared(w0.copy(), "w")
    b = shared(np.zeros(()), "b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    prediction = p_1 > 0.5
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = function(
        inputs=[x, y], outputs=[prediction, xent, cost], updates={w: w - 0.1 * gw, b: b - 0.1 * gb}, optimize=optimize
    )
    predict = function(inputs=[x], outputs=prediction, optimize=optimize)
    xv, yv = rng.standard_normal((n, feats)) * 0.2, rng.integers(size=n, low=0, high=2)
    wn, bn = w0.copy(), 0.0
    costs = []
    for _ in range(10):
        pred, err, c = train(xv, yv)
        pred_n, err_n, c_n, wn, bn = _numpy_step(xv, yv, wn, bn)
        np.testing.assert_array_equal(pred, pred_n)
        np.testing.assert_allclose(err, err_n, rtol=1e-10)
        np.testing.assert_allclose(c, c_n, rtol=1e-10)
        np.testing.assert_allclose(w.get_value(), wn, rtol=1e-10)
        np.testing.assert_allclose(b.get_value(), bn, rtol=1e-10, atol=1e-14)
        costs.append(float(c))
    assert all(b2 < a for a, b2 in zip(costs, costs[1:], strict=False)), costs
    np.testing.assert_array_equal(predict(xv), xv @ wn + bn > 0)
    if optimize:
        fired = train.fired()
        assert fired["gemv"] >= 2 and fired["softplus_stability"] == 2 and fired["elementwise_fusion"] >= 1


def test_float32_model_stays_float32_and_trains():
    rng = np.random.default_rng(1)
    x, y = T.matrix("x", "float32"), T.vector("y", "float32")
    w = shared(np.zeros(20, np.float32), "w")
    b = shared(np.float32(0), "b")
    p = T.sigmoid(T.dot(x, w) + b)
    cost = (-y * T.log(p) - (1 - y) * T.log(1 - p)).mean()
    gw, gb = T.grad(cost, [w, b])
    train = function([x, y], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)])
    xv = rng.standard_normal((200, 20)).astype(np.float32)
    yv = (xv[:, 0] + 0.5 * xv[:, 1] > 0).astype(np.float32)
    first = train(xv, yv)
    for _ in range(30):
        last = train(xv, yv)
    assert first.dtype == np.float32 and w.get_value().dtype == np.float32
    assert last < 0.5 * first


def test_the_lectures_code_runs_almost_verbatim(capsys):
    """The slide's program with Python 3 prints and a seeded RandomState for ``numpy.random``."""
    import numpy

    import coursekit.graph as T
    from coursekit.graph import function, shared

    rng = numpy.random.RandomState(42)

    # Declare Theano variables
    x = T.matrix()
    y = T.vector()
    w = shared(rng.randn(100))
    b = shared(numpy.zeros(()))
    print("Initial model:")
    print(w.value, b.value)

    # Construct Theano expression graph
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    prediction = p_1 > 0.5
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = T.grad(cost, [w, b])

    # Compile expressions to functions
    train = function(inputs=[x, y], outputs=[prediction, xent], updates={w: w - 0.1 * gw, b: b - 0.1 * gb})
    predict = function(inputs=[x], outputs=prediction)

    N = 4
    feats = 100
    D = (rng.randn(N, feats), rng.randint(size=4, low=0, high=2))
    training_steps = 10
    for _ in range(training_steps):
        pred, err = train(D[0], D[1])
    print("Final model:")
    print(w.value, b.value)
    print("target values for D")
    print(D[1])
    print("prediction on D")
    print(predict(D[0]))
    np.testing.assert_array_equal(predict(D[0]), D[1] == 1)
    assert "prediction on D" in capsys.readouterr().out
