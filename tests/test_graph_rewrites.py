"""coursekit.graph.rewrites: every pass keeps values, fires where it should and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

import coursekit.graph as T
from coursekit.graph import rewrites as R

x, y = T.vector("x"), T.vector("y")
s = T.scalar("s")
M = T.matrix("M")
RNG = np.random.default_rng(0)
ARGS = {x: RNG.uniform(0.1, 2, 6), y: RNG.uniform(-2, 2, 6), s: np.array(0.3), M: RNG.standard_normal((6, 6))}


def _run(passes, expr):
    (new,), reports = T.optimize([expr], passes=passes)
    return new, reports[-1].fired if len(passes) == 1 else sum(r.fired for r in reports)


def _value(expr):
    ins = [v for v in (x, y, s, M) if v in set(T.nodes.inputs_of(expr))]
    return T.function(ins, expr, optimize=False)(*(ARGS[v] for v in ins))


def _ops(expr):
    return [v.op.name for v in T.nodes.toposort([expr]) if v.op is not None]


# (pass, expression where it must fire, expression where it must not, op that must disappear)
CASES = {
    "log1p": (R.LocalRewrite("log1p", R.log1p_rewrite), T.log(1 + x) + T.log(y**2 + 1), T.log(2 + x), "log"),
    "sigmoid": (R.LocalRewrite("sigmoid", R.sigmoid_recognition), 1 / (1 + T.exp(-x)), 2 / (1 + T.exp(-x)), "true_div"),
    "softplus": (
        R.LocalRewrite("softplus", R.softplus_stability),
        T.log(T.sigmoid(x)) + T.log(1 - T.sigmoid(y)),
        T.log(2 - T.sigmoid(x)),
        "log",
    ),
    "gemv": (R.LocalRewrite("gemv", R.gemv_rewrite), 2 * T.dot(M, x) + s * y, T.dot(M, M).sum(axis=0) + y, "dot"),
    "folding": (R.constant_folding, T.exp(T.constant(np.array([1.0, 2.0, 0, 0, 0, 0]))) * x, T.exp(x) * 2, "exp"),
    "merge": (R.cse, T.exp(x) * y + T.exp(x) * y, T.exp(x) + T.exp(y), None),
    "canonicalize": (R.canonicalize, T.ops.neg(-x) * 1 + 0, x - y, "neg"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_pass_fires_keeps_values_and_does_not_fire_elsewhere(name):
    p, fire, nofire, gone = CASES[name]
    new, fired = _run([p], fire)
    assert fired > 0, f"{name} did not fire on {T.pp(fire)}"
    if gone:
        assert gone not in _ops(new), f"{name}: {T.pp(new)}"
    np.testing.assert_allclose(_value(new), _value(fire), rtol=1e-12)
    new2, fired2 = _run([p], nofire)
    assert fired2 == 0 and new2 is nofire, f"{name} fired on {T.pp(nofire)} -> {T.pp(new2)}"


def test_merge_merges_commutative_duplicates_and_counts_nodes():
    expr = (x + y) * (y + x) + T.exp(x) * T.exp(x)
    new, fired = _run([R.cse], expr)
    assert fired == 2 and T.count_nodes(new) == T.count_nodes(expr) - 2


def test_gemv_forms_and_its_type_guard():
    for expr in (T.dot(M, x) + y, y - 3 * T.dot(M, x), -T.dot(M, x) + y * s, T.dot(M, x) + s):
        new, fired = _run([R.LocalRewrite("gemv", R.gemv_rewrite)], expr)
        assert fired == 1 and new.is_a("gemv"), T.pp(expr)
        np.testing.assert_allclose(_value(new), _value(expr), rtol=1e-12)
    new, fired = _run([R.LocalRewrite("gemv", R.gemv_rewrite)], x * T.dot(M, x) + y)  # x is not a scalar
    assert fired == 0


def test_the_lectures_cross_entropy_becomes_softplus_and_gemv():
    w, b, xm, yv = T.shared(RNG.standard_normal(6), "w"), T.shared(0.1, "b"), T.matrix("x"), T.vector("y")
    p_1 = 1 / (1 + T.exp(-T.dot(xm, w) - b))
    xent = -yv * T.log(p_1) - (1 - yv) * T.log(1 - p_1)
    f = T.function([xm, yv], xent, fusion="none")
    fired = f.fired()
    for name in ("sigmoid", "softplus_stability", "gemv", "canonicalize"):
        assert fired[name] > 0, f.report()
    ops = _ops(f.outputs[0])
    assert "log" not in ops and "softplus" in ops and "gemv" in ops and "dot" not in ops
    xv, yvv = RNG.standard_normal((5, 6)) * 400, (RNG.random(5) > 0.5).astype(float)
    z = xv @ w.get_value() + 0.1
    want = yvv * np.logaddexp(0, -z) + (1 - yvv) * np.logaddexp(0, z)
    np.testing.assert_allclose(f(xv, yvv), want, rtol=1e-12)  # saturated: unoptimised gives inf/nan
    with np.errstate(all="ignore"):
        assert not np.isfinite(T.function([xm, yv], xent, optimize=False)(xv, yvv)).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softplus_and_log_sigmoid_are_stable_at_plus_minus_1000(dtype):
    v = T.vector("v", dtype)
    f = T.function([v], [T.softplus(v), T.log(T.sigmoid(v)), T.log(1 - T.sigmoid(v))])
    sp, ls, l1s = f(np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype))
    want = np.logaddexp(0, np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0]))
    rtol = 1e-6 if dtype == "float32" else 1e-14
    for got, w in ((sp, want), (ls, -want[::-1]), (l1s, -want)):
        assert np.isfinite(got).all() and got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, w, rtol=rtol, atol=1e-30)


def test_log1p_rewrite_keeps_tiny_x_in_float32():
    v = T.vector("v", "float32")
    tiny = np.array([1e-10], np.float32)
    assert T.function([v], T.log(1 + v), optimize=False)(tiny)[0] == 0.0  # float32 1 + 1e-10 == 1
    got = T.function([v], T.log(1 + v))(tiny)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [1e-10], rtol=1e-6)


def test_a_rewrite_returning_the_wrong_type_is_refused():
    def bad(node):  # x * ones(3) -> x would turn a scalar expression into... a scalar: wrong shape
        if node.is_a("mul"):
            return node.inputs[0]
        return None

    with pytest.raises(R.RewriteError, match="same dtype and shape"):
        T.optimize([s * np.ones(3)], passes=[bad])


def test_user_passes_run_in_function_and_are_reported():
    @T.local_rewrite
    def log_of_exp(node):  # safe on every float (exp(log(x)) -> x is not: it turns NaN into x for x < 0)
        if node.is_a("log") and node.inputs[0].is_a("exp"):
            return node.inputs[0].inputs[0]
        return None

    f = T.function([x], T.log(T.exp(x)) * 2, extra_passes=[log_of_exp])
    assert f.fired()["log_of_exp"] == 1
    assert "log_of_exp" in f.report()
    np.testing.assert_allclose(f(ARGS[x]), 2 * ARGS[x])


def test_graph_rewrite_and_apply_local_engine_recurse_into_replacements():
    calls = []

    def neg_neg(node):
        calls.append(node)
        if node.is_a("neg") and node.inputs[0].is_a("neg"):
            return node.inputs[0].inputs[0]
        return None

    neg = T.ops.neg
    (out,) = T.apply_local([neg(neg(neg(neg(x))))], [neg_neg])
    assert out is x
    g = T.graph_rewrite(lambda outs: [o * 1 for o in outs], name="times_one")
    (new,), (rep,) = T.optimize([x], passes=[g])
    assert rep.name == "times_one" and new.is_a("mul")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_one_plus_exp_becomes_softplus_and_stays_finite(dtype):
    v = T.vector("v", dtype)
    f = T.function([v], T.log(1 + T.exp(v)))
    assert f.fired().get("softplus_recognition") == 1
    xs = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], dtype)
    with np.errstate(all="raise", under="ignore"):
        got = f(xs)
    np.testing.assert_allclose(got, np.logaddexp(0, xs.astype(np.float64)), rtol=1e-6)
    raw = T.function([v], T.log(1 + T.exp(v)), optimize=False)
    with np.errstate(over="ignore"):
        assert np.isinf(raw(xs)[-1]) and raw(xs)[0] == 0  # the naive form: inf at 1000
