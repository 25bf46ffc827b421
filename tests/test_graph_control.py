"""coursekit.graph.control: ifelse and foldl/scan against Python control flow (values and gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import coursekit.graph as T


def test_ifelse_matches_python_if_the_lectures_example():
    n, d, h = 3, 4, 5
    x, z = T.matrix("x"), T.scalar("z")
    w1, w2 = T.matrix("w1"), T.matrix("w2")
    f = T.function([x, z, w1, w2], T.ifelse(z < 0, T.dot(x, w1), T.dot(x, w2)))
    rng = np.random.default_rng(0)
    xv, w1v, w2v = rng.standard_normal((n, d)), rng.standard_normal((d, h)), rng.standard_normal((d, h))
    for zv in (10.0, -10.0):
        want = xv @ w1v if zv < 0 else xv @ w2v
        np.testing.assert_allclose(f(xv, zv, w1v, w2v), want)


def test_ifelse_is_lazy_only_the_branch_taken_runs():
    calls = []

    class Spy(T.Op):
        name = "spy"

        def infer(self, inputs):
            return inputs[0].dtype, inputs[0].broadcastable

        def perform(self, v):
            calls.append(1)
            return v

    c, v = T.scalar("c"), T.vector("v")
    shared_part = T.exp(v)  # needed by both the output list and a branch: computed once, unconditionally
    f = T.function([c, v], [T.ifelse(c > 0, Spy()(v) * 2, shared_part), shared_part])
    out, sp = f(-1.0, [0.0, 1.0])
    assert calls == [] and np.allclose(out, sp)
    f(1.0, [0.0, 1.0])
    assert calls == [1]


def test_ifelse_gradients_flow_into_the_branch_taken():
    c, a, b = T.scalar("c"), T.vector("a"), T.vector("b")
    out = T.ifelse(c > 0, T.tanh(a) * b, b**2).sum()
    f = T.function([c, a, b], T.grad(out, [a, b]))
    av, bv = np.array([0.3, -1.0]), np.array([2.0, 0.5])
    ga, gb = f(1.0, av, bv)
    np.testing.assert_allclose(ga, (1 - np.tanh(av) ** 2) * bv)
    np.testing.assert_allclose(gb, np.tanh(av))
    ga, gb = f(-1.0, av, bv)
    np.testing.assert_allclose(ga, 0.0)
    np.testing.assert_allclose(gb, 2 * bv)


def _torch_loop(xv, y0v, wv):
    xt, y0t, wt = (torch.tensor(a, requires_grad=True) for a in (xv, y0v, wv))
    ys = [y0t]
    for t in range(len(xv)):
        ys.append((ys[-1] + xt[t]) * wt)
    return xt, y0t, wt, ys


@pytest.mark.parametrize("steps", [0, 1, 5])
def test_foldl_recurrence_of_the_lecture_values_and_gradients(steps):
    x, y0, w = T.matrix("x"), T.vector("y0"), T.vector("w")
    y = T.foldl(lambda prev, x_t: (prev + x_t) * w, x, y0)
    f = T.function([x, y0, w], [y, *T.grad((y * y).sum(), [x, y0, w])])
    rng = np.random.default_rng(steps)
    xv, y0v, wv = rng.standard_normal((steps, 4)), rng.standard_normal(4), rng.standard_normal(4)
    xt, y0t, wt, ys = _torch_loop(xv, y0v, wv)
    (ys[-1] ** 2).sum().backward()
    got = f(xv, y0v, wv)
    np.testing.assert_allclose(got[0], ys[-1].detach().numpy(), rtol=1e-12)
    for g, t in zip(got[1:], (xt, y0t, wt), strict=False):
        want = np.zeros_like(t.detach().numpy()) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(g, want, rtol=1e-10)


def test_scan_returns_every_state_and_backpropagates_through_time():
    x, h0, u = T.matrix("x"), T.vector("h0"), T.matrix("u")
    hs = T.scan(lambda x_t, h: T.tanh(T.dot(u, h) + x_t), x, h0)  # Theano's order: fn(x_t, previous)
    cost = (hs * hs).sum() + hs[-1].sum()
    f = T.function([x, h0, u], [hs, *T.grad(cost, [x, h0, u])])
    rng = np.random.default_rng(1)
    xv, h0v, uv = rng.standard_normal((6, 3)), rng.standard_normal(3), rng.standard_normal((3, 3)) * 0.5
    xt, h0t, ut = (torch.tensor(a, requires_grad=True) for a in (xv, h0v, uv))
    h, states = h0t, []
    for t in range(6):
        h = torch.tanh(ut @ h + xt[t])
        states.append(h)
    st = torch.stack(states)
    ((st * st).sum() + st[-1].sum()).backward()
    got = f(xv, h0v, uv)
    assert got[0].shape == (6, 3)
    np.testing.assert_allclose(got[0], st.detach().numpy(), rtol=1e-12)
    for g, t in zip(got[1:], (xt, h0t, ut), strict=False):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10)


def test_loop_body_can_use_shared_variables_and_several_sequences():
    a, b = T.matrix("a"), T.matrix("b")
    k = T.shared(np.array([2.0, 3.0]), "k")
    total = T.foldl(lambda acc, a_t, b_t: acc + a_t * b_t * k, [a, b], np.zeros(2))
    gk = T.grad(total.sum(), k)
    f = T.function([a, b], [total, gk])
    av, bv = np.arange(6.0).reshape(3, 2), np.ones((3, 2))
    out, g = f(av, bv)
    np.testing.assert_allclose(out, (av * bv).sum(0) * [2, 3])
    np.testing.assert_allclose(g, (av * bv).sum(0))
    with pytest.raises(ValueError, match="same length"):
        f(av, np.ones((2, 2)))


def test_nested_ifelse_and_a_node_shared_by_both_branches():
    a, b, v = T.scalar("a"), T.scalar("b"), T.vector("v")
    common = T.exp(v) * 2  # needed by both branches only: computed lazily, once
    out = T.ifelse(a > 0, T.ifelse(b > 0, common + 1, common - 1), T.ifelse(b > 0, common * 3, v))
    f = T.function([a, b, v], out)
    vv = np.array([0.0, 1.0])
    for av, bv, want in [
        (1, 1, np.exp(vv) * 2 + 1),
        (1, -1, np.exp(vv) * 2 - 1),
        (-1, 1, np.exp(vv) * 6),
        (-1, -1, vv),
    ]:
        np.testing.assert_allclose(f(av, bv, vv), want)
    g = T.function([a, b, v], T.grad(out.sum(), v))
    np.testing.assert_allclose(g(-1, 1, vv), np.exp(vv) * 6)
    np.testing.assert_allclose(g(-1, -1, vv), [1.0, 1.0])
