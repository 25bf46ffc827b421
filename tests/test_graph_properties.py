"""Property-based: the rewrite passes and elementwise fusion keep values, on random graphs over leaves of
broadcast shapes ((3, 1), (1, 4), (3, 4), (4,) and scalars)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import coursekit.graph as T
from coursekit.graph import ops as O
from coursekit.graph import rewrites as R
from coursekit.graph.nodes import Input, inputs_of

PROPERTY = settings(max_examples=40, deadline=None, derandomize=True)

COL = Input("float64", (False, True), "col")  # shape (3, 1), known to broadcast along axis 1
ROW = Input("float64", (True, False), "row")  # shape (1, 4)
MAT, VEC, S = T.matrix("mat"), T.vector("vec"), T.scalar("s")
LEAVES = [COL, ROW, MAT, VEC, S]
SHAPES = {COL: (3, 1), ROW: (1, 4), MAT: (3, 4), VEC: (4,), S: ()}

# Unary and binary builders, including the patterns the rewrites look for (1/(1+exp(-x)), log(1+x),
# log(sigmoid(x)), x*1, -(-x), constants to fold...), on domains where the values stay moderate.
UNARY = [
    lambda e: -e,
    abs,
    T.tanh,
    T.sigmoid,
    T.softplus,
    lambda e: T.exp(T.tanh(e)),
    lambda e: 1 / (1 + T.exp(-e)),
    lambda e: T.log(1 + e * e),
    lambda e: T.log(T.sigmoid(e)),
    lambda e: T.log(1 - T.sigmoid(e)),
    lambda e: T.log1p(T.exp(T.tanh(e) * 3)),
    lambda e: T.sqrt(e * e + 0.5),
    lambda e: O.neg(O.neg(e)) * 1 + 0,
    lambda e: e**2,
    lambda e: (2.0 * 3.0) * e - (1 - 0.5),
    lambda e: T.maximum(e, 0),
    lambda e: T.expm1(T.tanh(e)),
    lambda e: T.sign(e) * e,
    lambda e: e - e.mean(),
    lambda e: T.ones_like(e) * 2 + T.zeros_like(e),
]
BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a - (-b),
    lambda a, b: a / (1 + b * b),
    T.maximum,
    T.minimum,
    lambda a, b: T.switch(a > b, a, 2 * b),
    lambda a, b: T.switch(T.eq(a, b) + T.le(a, b), a * b, a - b),
]


def recipes() -> st.SearchStrategy:
    """Expression trees: a leaf index, ``("u", k, child)`` or ``("b", k, left, right)``."""
    return st.recursive(
        st.integers(0, len(LEAVES) - 1),
        lambda kids: st.one_of(
            st.tuples(st.just("u"), st.integers(0, len(UNARY) - 1), kids),
            st.tuples(st.just("b"), st.integers(0, len(BINARY) - 1), kids, kids),
        ),
        max_leaves=7,
    )


def build(recipe):
    if isinstance(recipe, int):
        return LEAVES[recipe]
    if recipe[0] == "u":
        return UNARY[recipe[1]](build(recipe[2]))
    return BINARY[recipe[1]](build(recipe[2]), build(recipe[3]))


def _case(recipe, seed):
    expr = build(recipe)
    ins = [v for v in LEAVES if v in set(inputs_of(expr))]
    rng = np.random.default_rng(seed)
    args = [rng.uniform(-1.5, 1.5, SHAPES[v]) for v in ins]
    with np.errstate(all="ignore"):
        want = np.asarray(T.function(ins, expr, optimize=False)(*args))  # op by op, the numpy implementations
    assume(np.all(np.isfinite(want)) and np.abs(want).max(initial=0) < 1e8)
    return expr, ins, args, want


def _close(got, want, what):
    got = np.asarray(got)
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=what)


@PROPERTY
@given(recipe=recipes(), seed=st.integers(0, 2**16))
def test_rewrite_passes_keep_values(recipe, seed):
    expr, ins, args, want = _case(recipe, seed)
    passes = {"default": R.default_passes(), "stability": R.stability_passes(), "prelude": R.fusion_prelude()}
    for name, chosen in passes.items():
        (new,), _ = T.optimize([expr], passes=chosen)
        assert new.dtype == expr.dtype and new.broadcastable == expr.broadcastable, name
        got = T.function(ins, new, optimize=False)(*args)
        _close(got, want, f"{name} passes on {T.pp(expr)} -> {T.pp(new)}")


@PROPERTY
@given(recipe=recipes(), seed=st.integers(0, 2**16), fusion=st.sampled_from(["none", "numpy", "numba", "hybrid"]))
def test_optimised_and_fused_functions_keep_values(recipe, seed, fusion):
    if fusion in ("numba", "hybrid"):
        pytest.importorskip("numba")
    expr, ins, args, want = _case(recipe, seed)
    f = T.function(ins, expr, fusion=fusion)
    _close(f(*args), want, f"fusion={fusion} on {T.pp(expr)}\n{f.source}")
