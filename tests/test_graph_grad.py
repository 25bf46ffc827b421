"""coursekit.graph.grad: gradients built on the graph agree with torch.autograd (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import coursekit.graph as T
from coursekit.graph import ops as O


class Both:
    """An expression built twice, as a graph and as torch tensors, from the same random choices."""

    def __init__(self, g, t):
        self.g, self.t = g, t


def _unary(rng, e):
    k = rng.integers(11)
    g, t = e.g, e.t
    return [
        Both(T.tanh(g), torch.tanh(t)),
        Both(T.sigmoid(g), torch.sigmoid(t)),
        Both(T.softplus(g), torch.nn.functional.softplus(t)),
        Both(T.exp(T.tanh(g)), torch.exp(torch.tanh(t))),
        Both(-g, -t),
        Both(g**2, t**2),
        Both(T.log(T.softplus(g) + 0.5), torch.log(torch.nn.functional.softplus(t) + 0.5)),
        Both(T.sqrt(T.softplus(g) + 0.1), torch.sqrt(torch.nn.functional.softplus(t) + 0.1)),
        Both(T.log1p(T.sigmoid(g)), torch.log1p(torch.sigmoid(t))),
        Both(abs(g), torch.abs(t)),
        Both(T.expm1(T.tanh(g)), torch.expm1(torch.tanh(t))),
    ][k]


def _binary(rng, a, b):
    choices = [
        lambda: Both(a.g + b.g, a.t + b.t),
        lambda: Both(a.g - b.g, a.t - b.t),
        lambda: Both(a.g * b.g, a.t * b.t),
        lambda: Both(a.g / (1 + b.g**2), a.t / (1 + b.t**2)),
        lambda: Both(T.maximum(a.g, b.g), torch.maximum(a.t, b.t)),
        lambda: Both(T.minimum(a.g, b.g), torch.minimum(a.t, b.t)),
        lambda: Both(T.switch(a.g > b.g, a.g, 2 * b.g), torch.where(a.t > b.t, a.t, 2 * b.t)),
    ]
    if a.g.ndim == 1:
        choices.append(lambda: Both(T.dot(Mg.T, T.dot(Mg, a.g)) * 0.1 + b.g, (Mt.T @ (Mt @ a.t)) * 0.1 + b.t))
    return choices[rng.integers(len(choices))]()


def _expr(rng, leaves, depth):
    if depth == 0 or rng.random() < 0.15:
        return leaves[rng.integers(len(leaves))]
    if rng.random() < 0.45:
        return _unary(rng, _expr(rng, leaves, depth - 1))
    if rng.random() < 0.1:
        e = _expr(rng, leaves, depth - 1)
        return Both(e.g + e.g.mean() * 0.5, e.t + e.t.mean() * 0.5)
    return _binary(rng, _expr(rng, leaves, depth - 1), _expr(rng, leaves, depth - 1))


Mg = T.matrix("M")
Mt = None


@pytest.mark.parametrize("seed", range(24))
def test_random_expressions_match_torch_autograd(seed):
    global Mt
    rng = np.random.default_rng(seed)
    a, b, s, c = T.vector("a"), T.vector("b"), T.scalar("s"), T.vector("c")
    av, bv, cv = (rng.standard_normal(5) for _ in range(3))
    sv, mv = rng.standard_normal(()), rng.standard_normal((3, 5))
    ts = {n: torch.tensor(v, requires_grad=True) for n, v in dict(a=av, b=bv, s=sv, M=mv).items()}
    Mt = ts["M"]
    leaves = [Both(a, ts["a"]), Both(b, ts["b"]), Both(s, ts["s"]), Both(a * s, ts["a"] * ts["s"])]
    e = _expr(rng, leaves, 4)
    cost_g = (c * e.g).sum() if e.g.ndim else e.g * c.sum()
    cost_t = (torch.tensor(cv) * e.t).sum() if e.t.ndim else e.t * torch.tensor(cv).sum()
    cost_t.backward()
    wrt = [a, b, s, Mg]
    grads = T.grad(cost_g, wrt, disconnected_inputs="zero")
    for optimize in (False, True):
        f = T.function([a, b, s, Mg, c], [cost_g, *grads], optimize=optimize)
        got = f(av, bv, sv, mv, cv)
        np.testing.assert_allclose(got[0], cost_t.item(), rtol=1e-10, err_msg=T.pp(cost_g))
        for name, g in zip("absM", got[1:], strict=False):
            want = ts[name].grad
            want = np.zeros_like(ts[name].detach().numpy()) if want is None else want.numpy()
            np.testing.assert_allclose(
                g, want, rtol=1e-8, atol=1e-10, err_msg=f"d/d{name} of {T.pp(cost_g)} (optimize={optimize})"
            )


def _torch_grads(fn, *arrays):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    fn(*ts).backward()
    return [t.grad.numpy() for t in ts]


def test_broadcasting_gradients_are_summed_back():
    m, v, s = T.matrix("m"), T.vector("v"), T.scalar("s")
    rng = np.random.default_rng(1)
    mv, vv, sv = rng.standard_normal((4, 3)), rng.standard_normal(3), np.array(0.7)
    cost = (T.tanh(m * v + s) * m).sum() + (v * s).mean()
    f = T.function([m, v, s], T.grad(cost, [m, v, s]))
    want = _torch_grads(lambda m, v, s: (torch.tanh(m * v + s) * m).sum() + (v * s).mean(), mv, vv, sv)
    for g, w in zip(f(mv, vv, sv), want, strict=False):
        np.testing.assert_allclose(g, w, rtol=1e-10)


@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((3, 4), (4,)), ((4,), (4, 2)), ((4,), (4,))])
def test_dot_gradients_for_every_combination_of_ranks(shapes):
    rng = np.random.default_rng(2)
    av, bv = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    a, b = T.tensor(len(shapes[0]), "a"), T.tensor(len(shapes[1]), "b")
    out = T.dot(a, b)
    cost = T.tanh(out).sum()
    f = T.function([a, b], T.grad(cost, [a, b]))
    want = _torch_grads(lambda a, b: torch.tanh(a @ b).sum(), av, bv)
    for g, w in zip(f(av, bv), want, strict=False):
        np.testing.assert_allclose(g, w, rtol=1e-10)


def test_reductions_over_axes_and_indexing():
    m = T.matrix("m")
    rng = np.random.default_rng(3)
    mv = rng.standard_normal((3, 5))
    cost = (m.sum(axis=0) ** 2).sum() + T.exp(m.mean(axis=1)).sum() + (m[1] * m[2]).sum() + m[1:].mean()
    f = T.function([m], T.grad(cost, m))
    (want,) = _torch_grads(
        lambda m: (m.sum(0) ** 2).sum() + torch.exp(m.mean(1)).sum() + (m[1] * m[2]).sum() + m[1:].mean(), mv
    )
    np.testing.assert_allclose(f(mv), want, rtol=1e-10)


def test_pow_with_a_variable_exponent_and_gemv():
    x, p = T.vector("x"), T.scalar("p")
    m, y = T.matrix("m"), T.vector("y")
    rng = np.random.default_rng(4)
    xv, pv, mv, yv = rng.uniform(0.5, 2, 4), np.array(1.7), rng.standard_normal((4, 4)), rng.standard_normal(4)
    cost = (x**p).sum() + T.tanh(O.gemv(y, 0.5, m, x, p)).sum()
    f = T.function([x, p, m, y], T.grad(cost, [x, p, m, y]))
    want = _torch_grads(lambda x, p, m, y: (x**p).sum() + torch.tanh(p * y + 0.5 * (m @ x)).sum(), xv, pv, mv, yv)
    for g, w in zip(f(xv, pv, mv, yv), want, strict=False):
        np.testing.assert_allclose(g, w, rtol=1e-10)


def test_gradient_is_a_graph_that_gets_optimised():
    x = T.vector("x")
    g = T.grad(T.sigmoid(x).sum(), x)
    assert isinstance(g, T.Variable)
    f0, f1 = T.function([x], g, optimize=False), T.function([x], g)
    assert f1.nodes_after < f0.nodes_after
    v = np.linspace(-4, 4, 9)
    np.testing.assert_allclose(f1(v), f0(v))


def test_grad_errors_are_explained():
    x, y = T.vector("x"), T.vector("y")
    with pytest.raises(TypeError, match="scalar"):
        T.grad(x * 2, x)
    with pytest.raises(T.DisconnectedInputError, match="does not depend"):
        T.grad(x.sum(), y)
    g = T.grad(y.sum(), x, disconnected_inputs="zero")
    np.testing.assert_allclose(T.function([x], g)([1.0, 2.0]), [0.0, 0.0])


def test_register_grad_for_a_new_op_and_a_missing_rule():
    class Cube(O.Elemwise):
        def __init__(self):
            super().__init__("cube", 1, lambda x: x**3, "({0} ** 3)")

    cube = Cube()
    x = T.vector("x")
    with pytest.raises(NotImplementedError, match="register_grad"):
        T.grad(cube(x).sum(), x)
    with T.grad_rule("cube", lambda ins, out, g: [g * 3 * ins[0] ** 2]):
        g = T.grad(cube(x).sum(), x)
    np.testing.assert_allclose(T.function([x], g)([1.0, 2.0]), [3.0, 12.0])
    assert "cube" not in T.GRAD_RULES
