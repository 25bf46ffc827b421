"""coursekit.graph.grad: gradients built on the graph agree with torch.autograd (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import coursekit.graph as T
from coursekit.graph import ops as O

F = torch.nn.functional

# ---- random expressions, built twice (graph and torch) from one recipe drawn by hypothesis ----------------

# unary recipes: (graph, torch), on domains where they are smooth (log of a positive value...)
UNARY = [
    (T.tanh, torch.tanh),
    (T.sigmoid, torch.sigmoid),
    (T.softplus, F.softplus),
    (lambda g: T.exp(T.tanh(g)), lambda t: torch.exp(torch.tanh(t))),
    (lambda g: -g, lambda t: -t),
    (lambda g: g**2, lambda t: t**2),
    (lambda g: T.log(T.softplus(g) + 0.5), lambda t: torch.log(F.softplus(t) + 0.5)),
    (lambda g: T.sqrt(T.softplus(g) + 0.1), lambda t: torch.sqrt(F.softplus(t) + 0.1)),
    (lambda g: T.log1p(T.sigmoid(g)), lambda t: torch.log1p(torch.sigmoid(t))),
    (abs, torch.abs),
    (lambda g: T.expm1(T.tanh(g)), lambda t: torch.expm1(torch.tanh(t))),
    (lambda g: g + g.mean() * 0.5, lambda t: t + t.mean() * 0.5),
]
BINARY = [
    (lambda a, b: a + b, lambda a, b: a + b),
    (lambda a, b: a - b, lambda a, b: a - b),
    (lambda a, b: a * b, lambda a, b: a * b),
    (lambda a, b: a / (1 + b**2), lambda a, b: a / (1 + b**2)),
    (T.maximum, torch.maximum),
    (T.minimum, torch.minimum),
    (lambda a, b: T.switch(a > b, a, 2 * b), lambda a, b: torch.where(a > b, a, 2 * b)),
]
LEAVES = ("a", "b", "s", "a*s", "Ma")  # Ma: 0.1 * M.T (M a), a matrix-vector path to M


def recipes(max_leaves: int = 8) -> st.SearchStrategy:
    """Expression trees: a leaf name, ``("u", k, child)`` or ``("b", k, left, right)``."""
    return st.recursive(
        st.sampled_from(LEAVES),
        lambda kids: st.one_of(
            st.tuples(st.just("u"), st.integers(0, len(UNARY) - 1), kids),
            st.tuples(st.just("b"), st.integers(0, len(BINARY) - 1), kids, kids),
        ),
        max_leaves=max_leaves,
    )


def build(recipe, leaves: dict, side: int):
    """The expression of ``recipe`` over ``leaves`` (name -> graph or torch value); ``side`` 0: graph, 1: torch."""
    if isinstance(recipe, str):
        return leaves[recipe]
    if recipe[0] == "u":
        return UNARY[recipe[1]][side](build(recipe[2], leaves, side))
    return BINARY[recipe[1]][side](build(recipe[2], leaves, side), build(recipe[3], leaves, side))


A, B, S, C, M = T.vector("a"), T.vector("b"), T.scalar("s"), T.vector("c"), T.matrix("M")
GRAPH_LEAVES = {"a": A, "b": B, "s": S, "a*s": A * S, "Ma": T.dot(M.T, T.dot(M, A)) * 0.1}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(recipe=recipes(), seed=st.integers(0, 2**16))
def test_random_expressions_match_torch_autograd(recipe, seed):
    rng = np.random.default_rng(seed)
    values = dict(a=rng.standard_normal(5), b=rng.standard_normal(5), s=rng.standard_normal(()))
    values.update(M=rng.standard_normal((3, 5)), c=rng.standard_normal(5))
    ts = {n: torch.tensor(v, requires_grad=n != "c") for n, v in values.items()}
    torch_leaves = {"a": ts["a"], "b": ts["b"], "s": ts["s"], "a*s": ts["a"] * ts["s"]}
    torch_leaves["Ma"] = (ts["M"].T @ (ts["M"] @ ts["a"])) * 0.1
    eg, et = build(recipe, GRAPH_LEAVES, 0), build(recipe, torch_leaves, 1)
    cost_g = (C * eg).sum() if eg.ndim else eg * C.sum()
    cost_t = (ts["c"] * et).sum() if et.ndim else et * ts["c"].sum()
    cost_t.backward()
    wrt = [A, B, S, M]
    grads = T.grad(cost_g, wrt, disconnected_inputs="zero")
    args = [values[n] for n in "absMc"]
    for optimize in (False, True):
        got = T.function([A, B, S, M, C], [cost_g, *grads], optimize=optimize)(*args)
        np.testing.assert_allclose(got[0], cost_t.item(), rtol=1e-10, err_msg=T.pp(cost_g))
        for name, g in zip("absM", got[1:], strict=True):
            want = ts[name].grad
            want = np.zeros_like(values[name]) if want is None else want.numpy()
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
    for g, w in zip(f(mv, vv, sv), want, strict=True):
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
    for g, w in zip(f(av, bv), want, strict=True):
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
    for g, w in zip(f(xv, pv, mv, yv), want, strict=True):
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
