"""Notebook 04's exercise checkers (coursekit.grading.hidden.graph and .stability): the instructor's answers
pass, and plausible wrong ones fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import coursekit.graph as T
from coursekit.grading.hidden import graph as checks
from coursekit.grading.hidden import stability

torch = pytest.importorskip("torch")

# ---- gradient rules: nb04_mish_grad (mish), and maximum's -----------------------------------------------


def _tsp(x):
    return T.tanh(T.softplus(x))


MISH = {
    "right: tanh(sp) + x sigmoid(x) (1 - tanh(sp)**2)": (
        lambda ins, out, g: [g * (_tsp(ins[0]) + ins[0] * T.sigmoid(ins[0]) * (1 - _tsp(ins[0]) ** 2))],
        True,
    ),
    "right: out/x avoided, written with softplus's own pieces": (
        lambda ins, out, g: [g * _tsp(ins[0]) + g * ins[0] * (1 - T.tanh(T.softplus(ins[0])) ** 2) * T.sigmoid(ins[0])],
        True,
    ),
    "right: sigmoid as 1 / (1 + exp(-x)) (-0 at x = -1e4)": (
        lambda ins, out, g: [g * (_tsp(ins[0]) + ins[0] / (1 + T.exp(-ins[0])) * (1 - _tsp(ins[0]) ** 2))],
        True,
    ),
    "wrong: a finite difference inside the graph, h = 1e-5": (
        lambda ins, out, g: [g * (checks.mish_op()(ins[0] + 1e-5) - checks.mish_op()(ins[0] - 1e-5)) / 2e-5],
        False,
    ),
    "wrong: a finite difference inside the graph, h = 1e-3": (
        lambda ins, out, g: [g * (checks.mish_op()(ins[0] + 1e-3) - checks.mish_op()(ins[0] - 1e-3)) / 2e-3],
        False,
    ),
    "wrong: forgets g": (
        lambda ins, out, g: [_tsp(ins[0]) + ins[0] * T.sigmoid(ins[0]) * (1 - _tsp(ins[0]) ** 2)],
        False,
    ),
    "wrong: tanh(softplus(x)) taken as a constant": (lambda ins, out, g: [g * _tsp(ins[0])], False),
    "wrong: chain rule stops at tanh (no sigmoid)": (
        lambda ins, out, g: [g * (_tsp(ins[0]) + ins[0] * (1 - _tsp(ins[0]) ** 2))],
        False,
    ),
    "wrong: d tanh = 1 - tanh, not 1 - tanh**2": (
        lambda ins, out, g: [g * (_tsp(ins[0]) + ins[0] * T.sigmoid(ins[0]) * (1 - _tsp(ins[0])))],
        False,
    ),
    "wrong: tanh(softplus(x)) as output / x (NaN at x = 0)": (
        lambda ins, out, g: [g * (out / ins[0] + ins[0] * T.sigmoid(ins[0]) * (1 - (out / ins[0]) ** 2))],
        False,
    ),
    "wrong: sigmoid written out as exp(x) / (1 + exp(x)) (NaN at x = 1e3)": (
        lambda ins, out, g: [
            g * (_tsp(ins[0]) + ins[0] * T.exp(ins[0]) / (1 + T.exp(ins[0])) * (1 - _tsp(ins[0]) ** 2))
        ],
        False,
    ),
    "wrong: the sign of the second term": (
        lambda ins, out, g: [g * (_tsp(ins[0]) - ins[0] * T.sigmoid(ins[0]) * (1 - _tsp(ins[0]) ** 2))],
        False,
    ),
}

MAXIMUM = {
    "right: ties to the first": (lambda ins, out, g: [g * (ins[0] >= ins[1]), g * (ins[0] < ins[1])], True),
    "right: ties split in half": (
        lambda ins, out, g: [
            g * (ins[0] > ins[1]) + 0.5 * g * T.eq(ins[0], ins[1]),
            g * (ins[0] < ins[1]) + 0.5 * g * T.eq(ins[0], ins[1]),
        ],
        True,
    ),
    "wrong: g to both inputs": (lambda ins, out, g: [g, g], False),
    "wrong: ties get nothing": (lambda ins, out, g: [g * (ins[0] > ins[1]), g * (ins[0] < ins[1])], False),
    "wrong: ties get g twice": (lambda ins, out, g: [g * (ins[0] >= ins[1]), g * (ins[0] <= ins[1])], False),
    "wrong: swapped": (lambda ins, out, g: [g * (ins[0] < ins[1]), g * (ins[0] >= ins[1])], False),
    "wrong: one gradient only": (lambda ins, out, g: [g * (ins[0] >= ins[1])], False),
}


@pytest.mark.parametrize("name", list(MISH))
def test_mish_gradient_rules(name):
    rule, ok = MISH[name]
    _expect(checks.check_mish_grad, rule, ok)
    assert "mish" not in T.GRAD_RULES and "mish" not in T.ELEMWISE  # the checker leaves the library as it was


def test_the_library_holds_no_mish():
    x = T.vector("x")
    with pytest.raises(NotImplementedError, match="no gradient rule for op 'mish'"):
        T.grad(checks.mish_op()(x).sum(), x)


@pytest.mark.parametrize("name", list(MAXIMUM))
def test_maximum_gradient_rules(name):
    rule, ok = MAXIMUM[name]
    _expect(checks.check_maximum_grad, rule, ok)


def _expect(checker, answer, ok, *more):
    if ok:
        checker(answer, *more)
    else:
        with pytest.raises(AssertionError, match="expected|should|must|failed|wrong"):
            checker(answer, *more)


# ---- rewrites: nb04_safe_exp_log, and x * 1 -> x ---------------------------------------------------------


def _guard(x):
    """exp(log(x)) where it is defined: x for x >= 0, NaN (of x's dtype) elsewhere."""
    return T.switch(x >= 0, x, np.asarray(np.nan, x.dtype))


def safe_right(node):
    if node.is_a("log") and node.inputs[0].is_a("exp"):
        return node.inputs[0].inputs[0]
    if node.is_a("exp") and node.inputs[0].is_a("log"):
        return _guard(node.inputs[0].inputs[0])
    return None


def safe_right_python_nan(node):  # the NaN as a bare Python float: a weak constant, keeps float32
    if node.is_a("log") and node.inputs[0].is_a("exp"):
        return node.inputs[0].inputs[0]
    if node.is_a("exp") and node.inputs[0].is_a("log"):
        x = node.inputs[0].inputs[0]
        return T.switch(x < 0, float("nan"), x)
    return None


@T.graph_rewrite
def safe_right_graph_pass(outputs):
    """A correct whole-graph version: rebuild bottom-up, rewriting as it goes."""
    return T.apply_local(outputs, [safe_right])


def _both_to(exp_log, log_exp=lambda x: x):
    def rewrite(node):
        if node.is_a("log") and node.inputs[0].is_a("exp"):
            return log_exp(node.inputs[0].inputs[0])
        if node.is_a("exp") and node.inputs[0].is_a("log"):
            return exp_log(node.inputs[0].inputs[0])
        return None

    return rewrite


def unguarded(node):  # the unsafe rewrite: exp(log(x)) -> x turns NaN into x for x < 0
    return _both_to(lambda x: x)(node)


def guard_excludes_zero(node):  # x > 0: exp(log(0)) = exp(-inf) = 0, not NaN
    return _both_to(lambda x: T.switch(x > 0, x, np.asarray(np.nan, x.dtype)))(node)


def guard_gives_zero(node):  # a number where the graph as written says NaN
    return _both_to(lambda x: T.switch(x >= 0, x, np.asarray(0.0, x.dtype)))(node)


def guard_abs(node):  # |x|: a positive number instead of NaN
    return _both_to(lambda x: abs(x))(node)


def guard_float64_nan(node):  # np.float64(nan) makes a float32 graph float64: the wrong type
    return _both_to(lambda x: T.switch(x >= 0, x, np.float64(np.nan)))(node)


def guard_sqrt_trick(node):  # x + 0 * sqrt(x): NaN for x < 0, but 0 * inf = NaN at x = inf
    return _both_to(lambda x: x + 0 * T.sqrt(x))(node)


def guards_both(node):  # log(exp(x)) guarded too: NaN for negative x, where the answer is x
    return _both_to(_guard, _guard)(node)


def only_log_exp(node):  # safe, but leaves exp(log(x)) in the graph
    if node.is_a("log") and node.inputs[0].is_a("exp"):
        return node.inputs[0].inputs[0]
    return None


def greedy(node):  # any exp(f(...)) or log(f(...)) -> the first argument of f
    if node.op is not None and node.op.name in ("exp", "log") and node.inputs[0].op is not None:
        return node.inputs[0].inputs[0]
    return None


def one_level_short(node):  # exp(log(x)) -> log(x) and log(exp(x)) -> exp(x): one node too few removed
    if (node.is_a("exp") and node.inputs[0].is_a("log")) or (node.is_a("log") and node.inputs[0].is_a("exp")):
        return node.inputs[0]
    return None


@T.graph_rewrite
def outputs_only(outputs):  # forgets to recurse: looks at the outputs only
    return [o if safe_right(o) is None else safe_right(o) for o in outputs]


@T.graph_rewrite
def no_recursion_into_the_result(outputs):  # recurses, but not into what it returns
    def visit(v):
        r = safe_right(v)
        if r is not None:
            return r
        return v if v.op is None else T.nodes.rebuild(v, [visit(i) for i in v.inputs])

    return [visit(o) for o in outputs]


SAFE_EXP_LOG = {
    "right: switch(x >= 0, x, nan)": (safe_right, True),
    "right: switch(x < 0, nan, x), nan a Python float": (safe_right_python_nan, True),
    "right (graph pass)": (safe_right_graph_pass, True),
    "wrong: exp(log(x)) -> x unguarded": (unguarded, False),
    "wrong: guard x > 0 (zero)": (guard_excludes_zero, False),
    "wrong: 0 instead of NaN": (guard_gives_zero, False),
    "wrong: abs(x)": (guard_abs, False),
    "wrong: float64 NaN in a float32 graph": (guard_float64_nan, False),
    "wrong: x + 0 * sqrt(x)": (guard_sqrt_trick, False),
    "wrong: log(exp(x)) guarded too": (guards_both, False),
    "wrong: only log(exp(x))": (only_log_exp, False),
    "wrong: greedy": (greedy, False),
    "wrong: one level short": (one_level_short, False),
    "wrong: outputs only": (outputs_only, False),
    "wrong: no recursion into the result": (no_recursion_into_the_result, False),
}


@pytest.mark.parametrize("name", list(SAFE_EXP_LOG))
def test_safe_exp_log_rewrites(name):
    rewrite, ok = SAFE_EXP_LOG[name]
    _expect(checks.check_safe_exp_log_rewrite, rewrite, ok)


def mul_one_right(node):
    if node.is_a("mul"):
        for x, one in (node.inputs, node.inputs[::-1]):
            if (
                one.is_const(1)
                and np.size(one.value) == 1
                and x.dtype == node.dtype
                and x.broadcastable == node.broadcastable
            ):
                return x
    return None


def mul_one_right_side_only(node):
    a, b = node.inputs if node.is_a("mul") else (None, None)
    if b is not None and b.is_const(1) and a.dtype == node.dtype and a.broadcastable == node.broadcastable:
        return a
    return None


def mul_one_any_constant(node):
    if node.is_a("mul"):
        for x, c in (node.inputs, node.inputs[::-1]):
            if c.is_const() and x.dtype == node.dtype and x.broadcastable == node.broadcastable:
                return x
    return None


def mul_one_ignores_types(node):
    if node.is_a("mul"):
        for x, one in (node.inputs, node.inputs[::-1]):
            if one.is_const(1):
                return x
    return None


MUL_ONE = {
    "right": (mul_one_right, True),
    "wrong: only x * 1, not 1 * x": (mul_one_right_side_only, False),
    "wrong: any constant": (mul_one_any_constant, False),
    "wrong: ignores dtype and shape": (mul_one_ignores_types, False),
}


@pytest.mark.parametrize("name", list(MUL_ONE))
def test_mul_one_rewrites(name):
    rewrite, ok = MUL_ONE[name]
    _expect(checks.check_mul_one_rewrite, rewrite, ok)


# ---- nb04_foldl ---------------------------------------------------------------------------------------

FOLDL = {
    "right": (lambda x, y0, w: T.foldl(lambda prev, x_t: (prev + x_t) * w, x, y0), True),
    "right, arguments named the other way": (lambda x, y0, w: T.foldl(lambda a, b: (b + a) * w, x, y0), True),
    "wrong: prev + x_t * w": (lambda x, y0, w: T.foldl(lambda prev, x_t: prev + x_t * w, x, y0), False),
    "wrong: prev * w + x_t": (lambda x, y0, w: T.foldl(lambda prev, x_t: prev * w + x_t, x, y0), False),
    "wrong: every state (scan)": (lambda x, y0, w: T.scan(lambda x_t, prev: (prev + x_t) * w, x, y0), False),
    "wrong: starts from zeros": (
        lambda x, y0, w: T.foldl(lambda prev, x_t: (prev + x_t) * w, x, T.zeros_like(y0)),
        False,
    ),
    "wrong: always x[0]": (lambda x, y0, w: T.foldl(lambda prev, x_t: (prev + x[0]) * w, x, y0), False),
}


@pytest.mark.parametrize("name", list(FOLDL))
def test_foldl_recurrences(name):
    build, ok = FOLDL[name]
    x, y0, w = T.matrix("x"), T.vector("y0"), T.vector("w")
    _expect(lambda y: checks.check_foldl_recurrence(y, x, y0, w), build(x, y0, w), ok)


def test_messages_say_what_was_expected_and_what_came_back():
    with pytest.raises(AssertionError) as info:
        checks.check_mish_grad(MISH["wrong: tanh(softplus(x)) taken as a constant"][0])
    assert "expected" in str(info.value) and "got" in str(info.value) and "mish" in str(info.value)
    with pytest.raises(AssertionError, match="should fire"):
        checks.check_safe_exp_log_rewrite(outputs_only)
    with pytest.raises(AssertionError, match="NaN where"):
        checks.check_safe_exp_log_rewrite(guard_excludes_zero)


# ---- nb04_log1mexp (checked by coursekit.grading.hidden.stability) ----------------------------------------


def log1mexp_right(a):
    return np.where(a > np.log(2), np.log1p(-np.exp(-a)), np.log(-np.expm1(-a)))


def log1mexp_float64_inside(a):  # the same in float64, cast back: as accurate
    return log1mexp_right(np.asarray(a, np.float64)).astype(np.asarray(a).dtype)


LOG1MEXP = {
    "right: Maechler's two branches, cut at log 2": (log1mexp_right, True),
    "right: cut at 1": (lambda a: np.where(a > 1, np.log1p(-np.exp(-a)), np.log(-np.expm1(-a))), True),
    "right: computed in float64, cast back": (log1mexp_float64_inside, True),
    "wrong: as written, log(1 - exp(-a))": (lambda a: np.log(1 - np.exp(-a)), False),
    "wrong: log1p(-exp(-a)) everywhere (small a)": (lambda a: np.log1p(-np.exp(-a)), False),
    "wrong: log(-expm1(-a)) everywhere (large a)": (lambda a: np.log(-np.expm1(-a)), False),
    "wrong: as written, in float64": (
        lambda a: np.log(1 - np.exp(-np.asarray(a, np.float64))).astype(np.asarray(a).dtype),
        False,
    ),
    "wrong: branches swapped": (
        lambda a: np.where(a > np.log(2), np.log(-np.expm1(-a)), np.log1p(-np.exp(-a))),
        False,
    ),
    "wrong: cut far from where the errors cross (a = 5)": (
        lambda a: np.where(a > 5, np.log1p(-np.exp(-a)), np.log(-np.expm1(-a))),
        False,
    ),
    "wrong: float64 result for a float32 input": (lambda a: log1mexp_right(np.asarray(a, np.float64)), False),
    "wrong: |a| (a number for a < 0)": (lambda a: log1mexp_right(np.abs(a)), False),
    "wrong: a clipped to the smallest normal (finite at 0)": (
        lambda a: log1mexp_right(np.maximum(a, np.finfo(np.asarray(a).dtype).tiny)),
        False,
    ),
    "wrong: a list, not an array of the input's shape": (lambda a: [float(v) for v in np.ravel(a)], False),
}


@pytest.mark.parametrize("name", list(LOG1MEXP))
def test_log1mexp_answers(name):
    answer, ok = LOG1MEXP[name]
    _expect(stability.check_log1mexp, answer, ok)


def test_the_float32_reference_is_far_below_a_float32_ulp():
    """The checker's float64 reference against the asymptotic series where those are exact."""
    small, large = np.array([1e-30, 1e-8], np.float32), np.array([40.0, 80.0], np.float32)
    for a, series in ((small, np.log(small.astype(float)) - small / 2), (large, -np.exp(-large.astype(float)))):
        assert stability.ulp_errors(series.astype(np.float32), stability._reference64(a)).max() <= 0.5


# ---- nb04_graph_breaks: the notebook's function, predicted ----------------------------------------------


def mixed(x):
    y = torch.sin(x) * 2  # (a)
    if x.shape[0] > 2:  # (b)
        y = y + 1
    for _ in range(3):  # (c)
        y = y * 0.5
    print("checkpoint")  # (d)
    y = torch.where(y > 0, y, -y)  # (e)
    big = y[y > 0.5]  # (f)
    n_max = int(y.max())  # (g)
    z = y.numpy()  # (h)
    return torch.from_numpy(z) + n_max + big.sum()  # (i)


ARGS = (torch.randn(6),)


def _notebook_source() -> str:
    import nbformat

    path = Path(__file__).resolve().parents[1] / "notebooks" / "04_static_vs_dynamic.ipynb"
    return "\n".join(c.source for c in nbformat.read(path, 4).cells if c.cell_type == "code")


def test_the_checker_declares_mish_as_the_notebook_does():
    op, source = checks.mish_op(), _notebook_source()
    assert all(text in source for text in (op.py, op.cuda, op.np_code)), "notebook 04's mish differs from the checker's"


def test_the_notebook_asks_about_this_function():
    import inspect

    assert inspect.getsource(mixed).strip() in _notebook_source()


BREAKS_RIGHT = [{"d", "f", "g"}, ["g", "f", "d"], {"(d)", "F", "g"}]
BREAKS_WRONG = {
    "the shape branch breaks": {"b", "d", "f", "g"},
    "print does not break": {"f", "g"},
    "the loop breaks": {"c", "d", "f", "g"},
    "torch.where breaks (a value-dependent choice, but no branch)": {"d", "e", "f", "g"},
    "masking does not break (the size depends on the values)": {"d", "g"},
    ".item() does not break": {"d", "f"},
    "numpy breaks": {"d", "f", "g", "h"},
    "nothing breaks": set(),
    "everything breaks": set("abcdefghi"),
}


@pytest.mark.parametrize("answer", BREAKS_RIGHT)
def test_right_predictions_pass(answer):
    checks.check_graph_break_prediction(mixed, ARGS, answer)


@pytest.mark.parametrize("name", list(BREAKS_WRONG))
def test_wrong_predictions_fail_and_say_why(name):
    with pytest.raises(AssertionError, match="expected the breaks at"):
        checks.check_graph_break_prediction(mixed, ARGS, BREAKS_WRONG[name])


@pytest.mark.parametrize("answer", ["def", {"z"}, 3])
def test_malformed_predictions_fail_clearly(answer):
    with pytest.raises(AssertionError, match="expected a set|not in the function"):
        checks.check_graph_break_prediction(mixed, ARGS, answer)
