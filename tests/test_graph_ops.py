"""coursekit.graph.ops: every declared elementwise op is complete (gradient rule, cost class) and computes
the same formula in every CPU backend (numpy alone, numpy blocks, numba loop, hybrid), extremes included."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import coursekit.graph as T
from coursekit.graph import ops as O
from coursekit.graph.codegen import Instr, Program
from coursekit.graph.fusion import FusedKernel
from coursekit.graph.hybrid import _expensive

pytest.importorskip("numba")

EXTREMES = [-np.inf, -800.0, -100.0, -40.0, -20.0, -5.0, -1.0, -0.5, -1e-300, -0.0, 0.0, 1e-300, 0.25, 0.5, 1.0, 2.0]
EXTREMES += [20.0, 40.0, 100.0, 800.0, np.inf, np.nan]
OPS = sorted(O.ELEMWISE)


def _grid(op: O.Elemwise, dtype) -> list[np.ndarray]:
    """Every combination of extreme values (and a few random ones) for the op's inputs; a condition is boolean."""
    rng = np.random.default_rng(len(op.name))
    values = np.concatenate([EXTREMES, rng.uniform(-5, 5, 12), rng.standard_normal(6) * 50])
    if op.nin == 1:
        args = [values]
    else:
        args = [np.array(c) for c in zip(*itertools.product(values, repeat=op.nin), strict=True)]
    if op.name == "switch":
        args[0] = args[0] > 0
    return [a.astype(dtype) if a.dtype.kind == "f" else a for a in args]


def _kernel(op: O.Elemwise, args, backend: str) -> FusedKernel:
    with np.errstate(all="ignore"):
        dtype = np.asarray(op.impl(*(a[:1] for a in args))).dtype
    prog = Program([a.dtype for a in args], [f"x{k}" for k in range(len(args))])
    prog.instrs.append(Instr(op, [("in", k) for k in range(len(args))], dtype))
    return FusedKernel(prog, 1, f"k_{op.name}", backend)


@pytest.mark.parametrize("name", OPS)
def test_every_op_declares_a_gradient_rule_and_a_cost_class(name):
    op = O.ELEMWISE[name]
    assert callable(op.grad), f"op {name!r} declares no gradient rule"
    assert T.GRAD_RULES[name] is op.grad, f"GRAD_RULES[{name!r}] is not the rule declared with the op"
    assert op.cost in O.COSTS, f"op {name!r} has cost class {op.cost!r}, not one of {O.COSTS}"
    ins = Instr(op, [("in", k) for k in range(op.nin)], np.dtype(np.float64))
    assert _expensive(ins) == (op.cost == "transcendental"), "the hybrid generator follows the declared cost class"


def test_declaring_an_op_without_gradient_or_cost_fails():
    with pytest.raises(TypeError):
        O.declare("cube", 1, lambda x: x**3, "({0} ** 3)", cost="cheap")  # no grad
    with pytest.raises(ValueError, match="cost"):
        O.Elemwise("cube", 1, lambda x: x**3, "({0} ** 3)", cost="slow")
    assert "cube" not in O.ELEMWISE


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", OPS)
def test_every_backend_computes_the_same_formula(name, dtype):
    op = O.ELEMWISE[name]
    args = _grid(op, dtype)
    with np.errstate(all="ignore"):
        want = np.asarray(op.impl(*args))
    rtol = 1e-13 if dtype == "float64" else 2e-6  # numba computes float32 formulas' 1.0 literals in float64
    shape = want.shape
    for backend in ("numpy", "numba", "hybrid"):
        k = _kernel(op, args, backend)
        with np.errstate(all="ignore"):
            if backend == "numba":
                got = k.run_numba(args, shape)
            else:
                got = k.run_blocks(args, shape, True, 1, 64, backend)
        assert got.dtype == want.dtype, f"{name} on {backend}: dtype {got.dtype}, numpy gives {want.dtype}"
        bad = ~np.isclose(got, want, rtol=rtol, atol=0, equal_nan=True) & ~(got == want)
        if want.dtype.kind in "fc":
            bad |= np.signbit(got) != np.signbit(want)  # -0.0 and 0.0 too
            bad &= ~(np.isnan(got) & np.isnan(want))
        assert not bad.any(), (
            f"{name} ({dtype}) on {backend} differs from numpy at {[a[bad][:4] for a in args]}: "
            f"got {got[bad][:4]}, numpy gives {want[bad][:4]}\n{k.source()}"
        )


@pytest.mark.parametrize("x", [-745.0, -100.0, -40.0, -20.0, 0.0, 20.0, 40.0, 100.0])
def test_sigmoid_keeps_its_relative_precision_in_both_tails(x):
    exact = 1 / (1 + np.exp(np.longdouble(-x)))
    np.testing.assert_allclose(O._np_sigmoid(np.array(x)), float(exact), rtol=1e-15)


@pytest.mark.parametrize("name", [n for n in OPS if O.ELEMWISE[n].nin <= 2])
def test_every_gradient_rule_matches_finite_differences(name):
    op = O.ELEMWISE[name]
    rng = np.random.default_rng(7)
    values = [rng.uniform(0.5, 2.0, 6) for _ in range(op.nin)]  # away from 0: no kinks (abs, maximum...)
    xs, c = [T.vector(f"x{k}") for k in range(op.nin)], rng.uniform(0.5, 2.0, 6)
    cost = (c * op(*xs)).sum()
    f = T.function(xs, T.grad(cost, xs, disconnected_inputs="zero"), optimize=False)
    got = f(*values)

    def value(vals):
        return float((c * op.impl(*vals)).sum())

    h = 1e-6
    for k in range(op.nin):
        fd = np.zeros(6)
        for i in range(6):
            up = [v.copy() for v in values]
            down = [v.copy() for v in values]
            up[k][i] += h
            down[k][i] -= h
            fd[i] = (value(up) - value(down)) / (2 * h)
        np.testing.assert_allclose(got[k], fd, rtol=1e-6, atol=1e-8, err_msg=f"d {name} / d input {k}")


@pytest.mark.parametrize("backend", ["numpy", "numba", "hybrid"])
def test_templates_with_a_scratch_buffer_inside_a_fused_chain(backend):
    """sigmoid and softplus read their argument again after writing: the generators must not give their
    result the buffer of an argument that dies there."""
    x, y = T.vector("x"), T.vector("y")
    expr = T.sigmoid(x * y - 1) * 2 + T.nnet.sigmoid(T.sigmoid(-x) * 3 - y) - T.softplus(x * y) / 3
    v = np.linspace(-30, 30, 301)
    w = np.cos(v)
    want = T.function([x, y], expr, optimize=False)(v, w)
    f = T.function([x, y], expr, fusion=backend, passes=[])
    np.testing.assert_allclose(f(v, w), want, rtol=1e-13, err_msg=f.source)
