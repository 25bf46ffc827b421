"""Checkers for the graded exercises on ``coursekit.graph`` (notebook 04).

Each raises ``AssertionError`` saying what was expected and what came back:

* :func:`check_grad_rule` (and :func:`check_tanh_grad`, :func:`check_maximum_grad`): a gradient rule
  ``rule(inputs, output, g) -> [grad per input]`` against torch.autograd;
* :func:`check_exp_log_rewrite`, :func:`check_mul_one_rewrite`: a rewrite (``node -> node | None``,
  or a graph pass) fires where it should, nowhere else, and never changes a value;
* :func:`check_foldl_recurrence`: ``y_t = (y_{t-1} + x_t) * w`` built with ``T.foldl``, values and
  gradients against a Python loop in torch.
"""

from __future__ import annotations

import numpy as np

from coursekit.checks import check_close
from coursekit.graph import ops as O
from coursekit.graph.compile import function
from coursekit.graph.grad import grad, grad_rule
from coursekit.graph.nodes import Variable, as_list, scalar, toposort, vector
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


def _eval_grads(op_name, rule, values, c):
    op = O.ELEMWISE[op_name]
    xs = [vector(f"x{k}", "float64") for k in range(op.nin)]
    cv = vector("c", "float64")
    try:
        with grad_rule(op_name, rule):
            gs = grad((cv * op(*xs)).sum(), xs, stabilize=False)
        f = function([*xs, cv], gs, optimize=False)
        return f(*values, c)
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"building or running the gradient with your rule for '{op_name}' failed: {type(exc).__name__}: {exc}"
        ) from exc


def check_grad_rule(op_name: str, rule, low: float = -2.0, high: float = 2.0, seed: int = 0) -> None:
    """``rule`` (for the elementwise op ``op_name``) gives torch.autograd's gradients, for an upstream
    gradient that is not all ones, on random inputs in ``[low, high)``."""
    import torch

    op = O.ELEMWISE[op_name]
    rng = np.random.default_rng(seed)
    values = [rng.uniform(low, high, 9) for _ in range(op.nin)]
    c = rng.uniform(0.5, 2.0, 9) * rng.choice([-1.0, 1.0], 9)
    got = _eval_grads(op_name, rule, values, c)
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


def check_tanh_grad(rule) -> None:
    """The gradient of tanh: ``g * (1 - tanh(x)**2)``."""
    check_grad_rule("tanh", rule, -3.0, 3.0)


def check_maximum_grad(rule) -> None:
    """The gradient of ``maximum(a, b)`` goes to the larger input only; at a tie the two parts must add up
    to ``g`` (not ``2 g``)."""
    check_grad_rule("maximum", rule)
    a = np.array([1.0, -2.0, 0.5, 3.0])
    c = np.array([1.0, 2.0, -1.5, 0.5])
    ga, gb = _eval_grads("maximum", rule, [a, a.copy()], c)
    check_close(
        np.asarray(ga) + np.asarray(gb), c, "at ties maximum(a, a), the two gradients added up", rtol=RTOL, atol=ATOL
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
    return function(inputs, outputs, optimize=False)(*args)


def _check_rewrite_cases(rewrite, x, args, fire_cases, keep_cases, forbidden, name):
    for label, expr in fire_cases:
        new, fired = _apply(rewrite, [expr])
        left = [o for o in _ops_in(new) if o in forbidden]
        if not fired or left:
            raise AssertionError(
                f"{name}: on {label} the rewrite should fire and remove every {'/'.join(forbidden)}"
                f" node; it fired {fired} time(s) and left {left or 'none'} "
                f"(rewritten graph: {new[0]!r})"
            )
        check_close(
            _values([x], new, args)[0],
            _values([x], [expr], args)[0],
            f"{name}: value of {label} after rewriting",
            rtol=RTOL,
            atol=ATOL,
        )
    for label, expr in keep_cases:
        new, _ = _apply(rewrite, [expr])
        check_close(
            _values([x], new, args)[0],
            _values([x], [expr], args)[0],
            f"{name}: {label} must keep its value after rewriting (rewritten graph: {new[0]!r})",
            rtol=RTOL,
            atol=ATOL,
        )


def check_exp_log_rewrite(rewrite) -> None:
    """``exp(log(x)) -> x``: fires on it wherever it sits in the graph (nested, repeated), and leaves
    every other expression's value unchanged (log(exp(x)), exp(exp(x)), exp(2 log x), ...)."""
    x = vector("x", "float64")
    args = [np.array([0.5, 1.0, 2.0, 3.5])]
    fire = [
        ("exp(log(x))", O.exp(O.log(x))),
        ("exp(log(x)) * 2 + 1", O.exp(O.log(x)) * 2 + 1),
        ("exp(log(exp(log(x))))", O.exp(O.log(O.exp(O.log(x))))),
        ("exp(log(x)) + exp(log(x + 1))", O.exp(O.log(x)) + O.exp(O.log(x + 1))),
    ]
    keep = [
        ("log(exp(x))", O.log(O.exp(x))),
        ("exp(exp(x))", O.exp(O.exp(x))),
        ("log(log(x + 2))", O.log(O.log(x + 2))),
        ("exp(2 * log(x))", O.exp(2 * O.log(x))),
        ("exp(log(x) + 1)", O.exp(O.log(x) + 1)),
        ("exp(x)", O.exp(x)),
        ("log(x)", O.log(x)),
    ]
    _check_rewrite_cases(rewrite, x, args, fire, keep, ("exp", "log"), "exp(log(x)) -> x")
    new, fired = _apply(rewrite, [O.exp(O.log(x))])
    if new[0] is not x:
        raise AssertionError(f"exp(log(x)) should become x itself, got {new[0]!r}")


def check_mul_one_rewrite(rewrite) -> None:
    """``x * 1 -> x`` and ``1 * x -> x``: fires on both, nested too; leaves ``x * 2`` alone; and does not
    fire where dropping the 1 would change the result's type (``x_int * 1.0`` is float, a scalar times
    ``ones(3)`` is a vector)."""
    x = vector("x", "float64")
    args = [np.array([0.5, -1.0, 2.0])]
    fire = [
        ("x * 1", x * 1),
        ("1 * x", 1 * x),
        ("(x * 1) * 1", (x * 1) * 1),
        ("exp(x * 1) + 1 * x", O.exp(x * 1) + 1 * x),
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
