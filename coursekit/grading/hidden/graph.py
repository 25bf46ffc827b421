"""Checkers for the graded exercises on ``coursekit.graph`` and ``torch.compile`` (notebook 04).

Each raises ``AssertionError`` saying what was expected and what came back:

* :func:`check_mish_grad`: the gradient rule ``rule(inputs, output, g) -> [gradient]`` of mish, an op the
  library declares without one, against finite differences and torch.autograd on a grid that reaches
  +-1e4, alone and inside an optimised, fused graph (:func:`check_grad_rule` and
  :func:`check_maximum_grad` do the same for the library's own ops);
* :func:`check_safe_exp_log_rewrite`, :func:`check_mul_one_rewrite`: a rewrite (``node -> node | None``,
  or a graph pass) fires where it should, nowhere else, and never changes a value that the graph as
  written computes, on negative numbers, zeros, infinities and NaN too;
* :func:`check_foldl_recurrence`: ``y_t = (y_{t-1} + x_t) * w`` built with ``T.foldl``, values and
  gradients against a Python loop in torch;
* :func:`check_graph_break_prediction`: the lines where ``torch.compile`` breaks the graph, as
  ``torch._dynamo.explain`` finds them.

The stable ``log1mexp`` of the same notebook is checked in :mod:`.stability`.
"""

from __future__ import annotations

import inspect
import re

import numpy as np

from coursekit.checks import check_close
from coursekit.graph import ops as O
from coursekit.graph.compile import function
from coursekit.graph.grad import grad, grad_rule
from coursekit.graph.nodes import Variable, as_list, matrix, scalar, toposort, vector
from coursekit.graph.rewrites import RewriteError, as_pass, run_passes

RTOL, ATOL = 1e-6, 1e-9  # float64 values of the student's graph against torch's


# ---- gradient rules -------------------------------------------------------------------------------------


def _torch_op(name):
    import torch
    import torch.nn.functional as F

    table = {
        "tanh": torch.tanh,
        "exp": torch.exp,
        "log": torch.log,
        "log1p": torch.log1p,
        "sqrt": torch.sqrt,
        "sigmoid": torch.sigmoid,
        "softplus": F.softplus,
        "neg": torch.neg,
        "abs": torch.abs,
        "expm1": torch.expm1,
        "maximum": torch.maximum,
        "minimum": torch.minimum,
        "add": torch.add,
        "sub": torch.sub,
        "mul": torch.mul,
        "true_div": torch.div,
        "pow": torch.pow,
        "mish": F.mish,
    }
    if name not in table:
        raise ValueError(f"no torch reference for op {name!r}")
    return table[name]


def _reference_grad(t, what: str) -> np.ndarray:
    """The gradient torch.autograd left in the reference tensor ``t`` (the reference computations use
    every input, so it is always there; a missing one is a bug of this checker, not of the answer)."""
    if t.grad is None:
        raise RuntimeError(f"checker bug: torch computed no reference gradient for {what}")
    return t.grad.numpy()


def _eval_grads(op, rule, values, c):
    """The gradients of ``sum(c * op(*xs))`` with respect to each input, built with ``rule`` for ``op``
    and evaluated node by node (no rewrite can hide or repair what the rule wrote) at ``values``."""
    xs = [vector(f"x{k}", "float64") for k in range(op.nin)]
    cv = vector("c", "float64")
    try:
        with grad_rule(op.name, rule), np.errstate(all="ignore"):
            gs = grad((cv * op(*xs)).sum(), xs, stabilize=False)
            f = function([*xs, cv], gs, optimize=False)
            return f(*values, c)
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"building or running the gradient with your rule for '{op.name}' failed: {type(exc).__name__}: {exc}"
        ) from exc


def check_grad_rule(op_name: str, rule, low: float = -2.0, high: float = 2.0, seed: int = 0) -> None:
    """``rule`` (for the library's elementwise op ``op_name``) gives torch.autograd's gradients, for an
    upstream gradient that is not all ones, on random inputs in ``[low, high)``."""
    import torch

    op = O.ELEMWISE[op_name]
    rng = np.random.default_rng(seed)
    values = [rng.uniform(low, high, 9) for _ in range(op.nin)]
    c = rng.uniform(0.5, 2.0, 9) * rng.choice([-1.0, 1.0], 9)
    got = _eval_grads(op, rule, values, c)
    ts = [torch.tensor(v, requires_grad=True) for v in values]
    (torch.tensor(c) * _torch_op(op_name)(*ts)).sum().backward()
    for k, t in enumerate(ts):
        check_close(
            got[k],
            _reference_grad(t, f"input {k} of {op_name}"),
            f"gradient of {op_name} with respect to input {k} (cost = sum(c * {op_name}(...)), random c)",
            rtol=RTOL,
            atol=ATOL,
        )


def check_maximum_grad(rule) -> None:
    """The gradient of ``maximum(a, b)`` goes to the larger input only; at a tie the two parts must add up
    to ``g`` (not ``2 g``)."""
    check_grad_rule("maximum", rule)
    a = np.array([1.0, -2.0, 0.5, 3.0])
    c = np.array([1.0, 2.0, -1.5, 0.5])
    ga, gb = _eval_grads(O.ELEMWISE["maximum"], rule, [a, a.copy()], c)
    check_close(
        np.asarray(ga) + np.asarray(gb), c, "at ties maximum(a, a), the two gradients added up", rtol=RTOL, atol=ATOL
    )


def np_mish(x):
    """mish(x) = x tanh(softplus(x)) in numpy (softplus as ``logaddexp(0, x)``: no overflow)."""
    return x * np.tanh(np.logaddexp(0.0, x))


def mish_op() -> O.Elemwise:
    """mish as notebook 04 declares it: an elementwise op with every backend's formula and no gradient
    rule (not listed in ``ops.ELEMWISE``: the library does not hold it)."""
    return O.Elemwise(
        "mish",
        1,
        np_mish,
        "({0} * math.tanh(max({0}, 0.0) + math.log1p(math.exp(-abs({0})))))",
        cuda="({0} * tanh(fmax({0}, 0.0) + log1p(exp(-fabs({0})))))",
        np_code="np.logaddexp(0.0, {0}, {tmp}); np.tanh({tmp}, {tmp}); np.multiply({0}, {tmp}, {out})",
        cost="transcendental",
    )


def _check_pointwise(got, want, xs, what: str, rtol: float, atol: float) -> None:
    """Like check_close, naming the first x where ``got`` is off (NaN only where ``want`` is NaN)."""
    got = np.asarray(got, np.float64)
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        k = int(np.argmax(bad))
        raise AssertionError(
            f"{what}: at x = {xs[k]:g} expected {want[k]:.12g}, got {got[k]:.12g} "
            f"({int(bad.sum())} of {bad.size} points differ; tolerance {rtol:g} relative)"
        )


# the extremes (where exp overflows, tanh saturates, x is 0) and values in between
MISH_GRID = np.array([-1e4, -1e3, -50.0, -20.0, -3.0, -1.0, -1e-8, 0.0, 1e-8, 0.5, 1.0, 3.0, 20.0, 50.0, 1e3, 1e4])


def check_mish_grad(rule, op: O.Elemwise | None = None) -> None:
    """The gradient rule of mish: against torch.autograd on :data:`MISH_GRID` and random points (a random
    upstream gradient), against central finite differences of :func:`np_mish` on moderate values, and
    inside a compiled, optimised graph ``sum(c * mish(W x + b))`` (gradients for W, x and b)."""
    import torch
    import torch.nn.functional as F

    op = op or mish_op()
    rng = np.random.default_rng(0)
    values = np.concatenate([MISH_GRID, rng.uniform(-6.0, 6.0, 24)])
    c = rng.uniform(0.5, 2.0, values.size) * rng.choice([-1.0, 1.0], values.size)
    (got,) = _eval_grads(op, rule, [values], c)
    t = torch.tensor(values, requires_grad=True)
    (torch.tensor(c) * F.mish(t)).sum().backward()
    _check_pointwise(
        got, _reference_grad(t, "mish"), values, "gradient of sum(c * mish(x)) (torch.autograd)", 1e-10, 1e-13
    )
    xs, h = rng.uniform(-5.0, 5.0, 16), 1e-6
    fd = (np_mish(xs + h) - np_mish(xs - h)) / (2 * h)
    (got_fd,) = _eval_grads(op, rule, [xs], np.ones_like(xs))
    _check_pointwise(got_fd, fd, xs, "d mish(x)/dx (central finite differences, h = 1e-6)", 1e-6, 1e-8)
    W, x, b, cv = matrix("W"), vector("x"), vector("b"), vector("c")
    Wv, xv, bv, cw = (
        rng.standard_normal((6, 5)) * 3,
        rng.standard_normal(5),
        rng.standard_normal(6),
        rng.standard_normal(6),
    )
    try:
        with grad_rule("mish", rule), np.errstate(all="ignore"):
            cost = (cv * op(O.dot(W, x) + b)).sum()
            f = function([W, x, b, cv], [cost, *grad(cost, [W, x, b])])
            got_all = f(Wv, xv, bv, cw)
    except Exception as exc:
        raise AssertionError(
            f"compiling a graph that uses mish with your rule failed: {type(exc).__name__}: {exc}"
        ) from exc
    Wt, xt, bt = (torch.tensor(v, requires_grad=True) for v in (Wv, xv, bv))
    ct = (torch.tensor(cw) * F.mish(Wt @ xt + bt)).sum()
    ct.backward()
    for g, ref, nm in zip(got_all[1:], (Wt, xt, bt), ("W", "x", "b"), strict=True):
        check_close(
            g,
            _reference_grad(ref, nm),
            f"gradient of sum(c * mish(W x + b)) with respect to {nm}, compiled and optimised",
            rtol=RTOL,
            atol=ATOL,
        )


# ---- rewrites -----------------------------------------------------------------------------------------


def _apply(rewrite, outputs):
    p = as_pass(rewrite)
    try:
        new, reports = run_passes(outputs, [p])
    except RewriteError as exc:
        raise AssertionError(f"your rewrite produced a replacement of the wrong type: {exc}") from exc
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"your rewrite raised {type(exc).__name__}: {exc}") from exc
    return new, reports[0].fired


def _ops_in(outputs) -> list[str]:
    return [v.op.name for v in toposort(as_list(outputs)) if v.op is not None]


def _values(inputs, outputs, args):
    with np.errstate(all="ignore"):  # log of a negative number is part of the test
        return function(inputs, outputs, optimize=False)(*args)


def _check_rewrite_cases(rewrite, x, args, fire_cases, keep_cases, forbidden, name):
    """``fire_cases``: (label, expression, exact value as a function of the argument, or None for "the
    value of the graph as written"): the rewrite must fire, leave no op in ``forbidden`` and give that
    value. ``keep_cases``: (label, expression): the value of the graph as written must not change."""
    for label, expr, exact in fire_cases:
        new, fired = _apply(rewrite, [expr])
        left = [o for o in _ops_in(new) if o in forbidden]
        if not fired or left:
            raise AssertionError(
                f"{name}: on {label} the rewrite should fire and remove every {'/'.join(forbidden)}"
                f" node; it fired {fired} time(s) and left {left or 'none'} "
                f"(rewritten graph: {new[0]!r})"
            )
        want = _values([x], [expr], args)[0] if exact is None else exact(*args)
        check_close(
            _values([x], new, args)[0],
            want,
            f"{name}: value of {label} after rewriting, at x = {_show(args[0])} (rewritten graph: {new[0]!r})",
            rtol=RTOL,
            atol=ATOL,
        )
    for label, expr in keep_cases:
        new, _ = _apply(rewrite, [expr])
        check_close(
            _values([x], new, args)[0],
            _values([x], [expr], args)[0],
            f"{name}: {label} must keep its value after rewriting, at x = {_show(args[0])} "
            f"(rewritten graph: {new[0]!r})",
            rtol=RTOL,
            atol=ATOL,
        )


def _show(v) -> str:
    return "[" + ", ".join(f"{float(e):g}" for e in np.ravel(v)) + "]"


# every kind of float: -inf, negative, -0.0, 0, the smallest subnormal, tiny, moderate, huge, +inf, NaN
SPECIAL = np.array(
    [-np.inf, -1e300, -2.5, -1e-300, -0.0, 0.0, 5e-324, 1e-300, 0.5, 1.0, 2.5, 700.0, 1e300, np.inf, np.nan]
)

SPECIAL32 = np.array(
    [-np.inf, -1e30, -2.5, -1e-30, -0.0, 0.0, 1e-45, 1e-30, 0.5, 1.0, 2.5, 80.0, 1e30, np.inf, np.nan], np.float32
)


def _where_defined(v):
    """The value of exp(log(v)) in exact arithmetic: v where log is defined (v >= 0, +inf), else NaN."""
    with np.errstate(invalid="ignore"):
        return np.where(v >= 0, v, np.nan)


def check_safe_exp_log_rewrite(rewrite) -> None:
    """A rewrite that removes ``exp``/``log`` pairs **safely**. ``log(exp(x))`` is ``x`` for every real x
    (exp is positive), so it may become ``x`` (that even repairs the overflow at x > 709). ``exp(log(x))``
    is ``x`` only where log is defined: for x < 0 (and NaN) the graph as written gives NaN, and an
    unguarded ``-> x`` would turn that NaN into a number (Theano/Aesara guard it: PyTensor rewrites it to
    ``switch(x >= 0, x, nan)``). Checked on every kind of float (:data:`SPECIAL`), nested and repeated,
    in float32 too (the replacement keeps the dtype), and other exp/log expressions keep their values."""
    x = vector("x", "float64")
    args = [SPECIAL.copy()]
    fire = [
        ("log(exp(x))", O.log(O.exp(x)), lambda v: v),
        ("exp(log(x))", O.exp(O.log(x)), _where_defined),
        ("exp(log(x)) * 2 + log(exp(x))", O.exp(O.log(x)) * 2 + O.log(O.exp(x)), lambda v: 2 * _where_defined(v) + v),
        ("exp(log(log(exp(x))))", O.exp(O.log(O.log(O.exp(x)))), _where_defined),
        ("log(exp(exp(log(x))))", O.log(O.exp(O.exp(O.log(x)))), _where_defined),
        ("exp(log(x - 1))", O.exp(O.log(x - 1)), lambda v: _where_defined(v - 1)),
    ]
    keep = [
        ("exp(exp(x))", O.exp(O.exp(x))),
        ("log(log(x))", O.log(O.log(x))),
        ("exp(2 * log(x))", O.exp(2 * O.log(x))),
        ("exp(log(x) + 1)", O.exp(O.log(x) + 1)),
        ("log(1 + exp(x))", O.log(1 + O.exp(x))),
        ("log(exp(x) - 1)", O.log(O.exp(x) - 1)),
        ("exp(x)", O.exp(x)),
        ("log(x)", O.log(x)),
    ]
    _check_rewrite_cases(rewrite, x, args, fire, keep, ("exp", "log"), "safe exp/log rewrite")
    x32 = vector("x32", "float32")
    args32 = [SPECIAL32.copy()]
    fire32 = [
        ("exp(log(x)), x float32", O.exp(O.log(x32)), _where_defined),
        ("log(exp(x)), x float32", O.log(O.exp(x32)), lambda v: v),
    ]
    _check_rewrite_cases(rewrite, x32, args32, fire32, [], ("exp", "log"), "safe exp/log rewrite")


def check_mul_one_rewrite(rewrite) -> None:
    """``x * 1 -> x`` and ``1 * x -> x``: fires on both, nested too; leaves ``x * 2`` alone; and does not
    fire where dropping the 1 would change the result's type (``x_int * 1.0`` is float, a scalar times
    ``ones(3)`` is a vector)."""
    x = vector("x", "float64")
    args = [np.array([0.5, -1.0, 2.0])]
    fire = [
        ("x * 1", x * 1, None),
        ("1 * x", 1 * x, None),
        ("(x * 1) * 1", (x * 1) * 1, None),
        ("exp(x * 1) + 1 * x", O.exp(x * 1) + 1 * x, None),
    ]
    keep = [("x * 2", x * 2), ("x * 0", x * 0), ("x + 1", x + 1), ("x * -1", x * -1)]
    _check_rewrite_cases(rewrite, x, args, fire, keep, ("mul",), "x * 1 -> x")
    k, s = vector("k", "int64"), scalar("s", "float64")
    for label, var, expr, arg in [
        ("x_int * 1.0 (a float vector)", k, k * 1.0, np.array([1, 2, 3])),
        ("s * ones(3) (a vector, s a scalar)", s, s * np.ones(3), np.array(2.0)),
    ]:
        new, _ = _apply(rewrite, [expr])
        want = _values([var], [expr], [arg])[0]
        got = _values([var], new, [arg])[0]
        if np.asarray(got).dtype != want.dtype:
            raise AssertionError(
                f"x * 1 -> x on {label}: the result must stay {want.dtype}, got {np.asarray(got).dtype}"
            )
        check_close(got, want, f"x * 1 -> x on {label}", rtol=RTOL, atol=ATOL)


# ---- foldl ------------------------------------------------------------------------------------------


def check_foldl_recurrence(y: Variable, x: Variable, y0: Variable, w: Variable) -> None:
    """``y`` must be the last state of ``y_t = (y_{t-1} + x_t) * w`` (x: T x D, y0 and w: D), with the right
    values and the right gradients with respect to x, y0 and w."""
    import torch

    if not isinstance(y, Variable):
        raise AssertionError(f"expected a symbolic variable (the result of T.foldl), got {type(y).__name__}")
    if y.ndim != 1:
        raise AssertionError(
            f"the result should be the last state, a vector (1-d); got a {y.ndim}-d variable "
            f"(T.scan returns every state: use T.foldl, or take [-1])"
        )
    rng = np.random.default_rng(3)
    for steps in (4, 1):
        xv, y0v, wv = rng.standard_normal((steps, 3)), rng.standard_normal(3), rng.uniform(0.5, 1.5, 3)
        xt, y0t, wt = (torch.tensor(a, requires_grad=True) for a in (xv, y0v, wv))
        state = y0t
        for s in range(steps):
            state = (state + xt[s]) * wt
        state.sum().backward()
        try:
            got = function([x, y0, w], [y, *grad(y.sum(), [x, y0, w], disconnected_inputs="zero")])(xv, y0v, wv)
        except Exception as exc:
            raise AssertionError(f"compiling or running your loop failed: {type(exc).__name__}: {exc}") from exc
        check_close(got[0], state.detach().numpy(), f"y after {steps} step(s)", rtol=RTOL, atol=ATOL)
        for g, t, nm in zip(got[1:], (xt, y0t, wt), ("x", "y0", "w"), strict=True):
            check_close(
                g,
                _reference_grad(t, nm),
                f"gradient of sum(y) with respect to {nm} after {steps} step(s)",
                rtol=RTOL,
                atol=ATOL,
            )


# ---- graph breaks -------------------------------------------------------------------------------------

_LABEL = re.compile(r"#\s*\(([A-Za-z0-9]+)\)")


def check_graph_break_prediction(fn, args: tuple, predicted) -> None:
    """``predicted``: the labels (``"a"``, ``"b"``, ... from ``# (a)`` comments in ``fn``'s source) of the lines
    where ``torch.compile`` breaks the graph. Raises AssertionError saying which labels were missed or
    wrongly named, as ``torch._dynamo.explain`` finds them (``fn`` runs once)."""
    from coursekit.graph.torch_graphs import graph_breaks

    if isinstance(predicted, str):
        raise AssertionError(f"expected a set of labels such as {{'a', 'c'}}, got the string {predicted!r}")
    try:
        got = {str(p).strip("() ").lower() for p in predicted}
    except TypeError as exc:
        raise AssertionError(f"expected a set of labels such as {{'a', 'c'}}, got {predicted!r}") from exc
    lines, _ = inspect.getsourcelines(fn)
    known = {m.group(1).lower() for ln in lines for m in [_LABEL.search(ln)] if m}
    unknown = got - known
    if unknown:
        raise AssertionError(f"labels {sorted(unknown)} are not in the function; its labels are {sorted(known)}")
    _, breaks = graph_breaks(fn, *args)
    truth = {b.label.lower() for b in breaks if b.label}
    missed, extra = truth - got, got - truth
    if missed or extra:
        parts = []
        if missed:
            parts.append(f"the graph also breaks at {sorted(missed)}")
        if extra:
            parts.append(f"it does not break at {sorted(extra)}")
        raise AssertionError(
            f"expected the breaks at {sorted(truth)}, you predicted {sorted(got)}: " + "; ".join(parts)
        )
