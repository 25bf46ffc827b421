"""The exercise checkers of coursekit.grading.hidden.graph: right answers pass, plausible wrong ones fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import coursekit.graph as T
from coursekit.grading.hidden import graph as checks

# ---- gradient rules -----------------------------------------------------------------------------------

TANH = {
    "right: g * (1 - out**2)": (lambda ins, out, g: [g * (1 - out**2)], True),
    "right: from the input": (lambda ins, out, g: [g * (1 - T.tanh(ins[0]) ** 2)], True),
    "wrong: tanh(x)": (lambda ins, out, g: [g * T.tanh(ins[0])], False),
    "wrong: 1 - x**2": (lambda ins, out, g: [g * (1 - ins[0] ** 2)], False),
    "wrong: forgets g": (lambda ins, out, g: [1 - out**2], False),
    "wrong: (1 - out)**2": (lambda ins, out, g: [g * (1 - out) ** 2], False),
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


@pytest.mark.parametrize("name", list(TANH))
def test_tanh_gradient_rules(name):
    rule, ok = TANH[name]
    _expect(checks.check_tanh_grad, rule, ok)
    assert "tanh" in T.GRAD_RULES and T.GRAD_RULES["tanh"] is not rule  # the checker restores the built-in


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


# ---- rewrites ---------------------------------------------------------------------------------------


def exp_log_right(node):
    if node.is_a("exp") and node.inputs[0].is_a("log"):
        return node.inputs[0].inputs[0]
    return None


@T.graph_rewrite
def exp_log_right_graph_pass(outputs):
    """A correct whole-graph version: rebuild bottom-up, rewriting as it goes."""
    return T.apply_local(outputs, [exp_log_right])


def exp_log_greedy(node):  # any exp(f(...)) -> first argument of f
    if node.is_a("exp") and node.inputs[0].op is not None:
        return node.inputs[0].inputs[0]
    return None


def exp_log_either_order(node):  # also "cancels" exp(exp(x)) and log(log(x))
    if (
        node.op is not None
        and node.op.name in ("exp", "log")
        and node.inputs[0].op is not None
        and node.inputs[0].op.name in ("exp", "log")
    ):
        return node.inputs[0].inputs[0]
    return None


def log_exp_wrongly(node):  # right on exp(log(x)), but turns log(exp(x)) into exp(x)
    if node.is_a("log") and node.inputs[0].is_a("exp"):
        return node.inputs[0]
    return exp_log_right(node)


def exp_log_one_level_short(node):  # returns log(x) instead of x
    if node.is_a("exp") and node.inputs[0].is_a("log"):
        return node.inputs[0]
    return None


@T.graph_rewrite
def exp_log_top_only(outputs):  # forgets to recurse: looks at the outputs only
    return [o.inputs[0].inputs[0] if o.is_a("exp") and o.inputs[0].is_a("log") else o for o in outputs]


@T.graph_rewrite
def exp_log_no_recursion_into_result(outputs):  # recurses, but not into what it returns
    def visit(v):
        if v.is_a("exp") and v.inputs[0].is_a("log"):
            return v.inputs[0].inputs[0]
        return v if v.op is None else T.nodes.rebuild(v, [visit(i) for i in v.inputs])

    return [visit(o) for o in outputs]


EXP_LOG = {
    "right (local)": (exp_log_right, True),
    "right (graph pass)": (exp_log_right_graph_pass, True),
    "wrong: greedy": (exp_log_greedy, False),
    "wrong: either order": (exp_log_either_order, False),
    "wrong: log(exp(x)) -> exp(x)": (log_exp_wrongly, False),
    "wrong: returns log(x)": (exp_log_one_level_short, False),
    "wrong: outputs only": (exp_log_top_only, False),
    "wrong: no recursion into the result": (exp_log_no_recursion_into_result, False),
}


@pytest.mark.parametrize("name", list(EXP_LOG))
def test_exp_log_rewrites(name):
    rewrite, ok = EXP_LOG[name]
    _expect(checks.check_exp_log_rewrite, rewrite, ok)


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


# ---- foldl --------------------------------------------------------------------------------------------

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
        checks.check_tanh_grad(TANH["wrong: 1 - x**2"][0])
    assert "expected" in str(info.value) and "got" in str(info.value) and "tanh" in str(info.value)
    with pytest.raises(AssertionError, match="should fire"):
        checks.check_exp_log_rewrite(exp_log_top_only)


# ---- notebook 04's stable softplus: its test cell, run as written in the notebook ------------------------


def _softplus_test_cell() -> str:
    import nbformat

    from coursekit.grading import assignments

    path = Path(__file__).resolve().parents[1] / "notebooks" / "04_static_vs_dynamic.ipynb"
    for cell in nbformat.read(path, 4).cells:
        if assignments.nbgrader_meta(cell).get("grade_id") == "nb04_softplus_tests":
            return cell.source
    raise AssertionError("notebook 04 has no nb04_softplus_tests cell")


SOFTPLUS = {
    "right: max(x, 0) + log1p(exp(-|x|))": (lambda x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))), True),
    "right: numpy's logaddexp": (lambda x: np.logaddexp(0, x), True),
    "wrong: as written, log(1 + exp(x))": (lambda x: np.log(1 + np.exp(x)), False),
    "wrong: log1p(exp(x)) overflows": (lambda x: np.log1p(np.exp(x)), False),
    "wrong: log instead of log1p": (lambda x: np.maximum(x, 0) + np.log(1 + np.exp(-np.abs(x))), False),
    "wrong: exp(-x) instead of exp(-|x|)": (lambda x: np.maximum(x, 0) + np.log1p(np.exp(-x)), False),
    "wrong: |x| instead of max(x, 0)": (lambda x: np.abs(x) + np.log1p(np.exp(-np.abs(x))), False),
    "wrong: plain ReLU": (lambda x: np.maximum(x, 0), False),
}


@pytest.mark.parametrize("name", list(SOFTPLUS))
def test_softplus_answers_against_the_notebooks_tests(name, capsys):
    import coursekit as ck
    from coursekit.checks import check_close

    answer, ok = SOFTPLUS[name]
    namespace = {"np": np, "ck": ck, "check_close": check_close, "softplus": answer}
    source = _softplus_test_cell()
    if ok:
        with np.errstate(under="ignore"):
            exec(source, namespace)  # the notebook's own test cell
        assert "PASSED nb04_softplus" in capsys.readouterr().out
    else:
        with pytest.raises((AssertionError, FloatingPointError)), np.errstate(over="ignore", invalid="ignore"):
            exec(source, namespace)  # the notebook's own test cell
