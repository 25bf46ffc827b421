"""Notebook 03's graded EDF components' checkers (coursekit.grading.hidden.edf) against right and wrong solutions.

Each exercise: the reference solution and another correct way of writing it pass its checker;
every wrong one fails it with an AssertionError saying what was expected and what came back.
"""

from __future__ import annotations

import linecache

import numpy as np
import pytest

from coursekit.edf import framework as edf
from coursekit.grading.hidden import edf as edf_checks

# --- BatchNorm backward (nb03_batchnorm) -------------------------------------------------------------


class BatchNormForward(edf.Component):
    """The notebook's given forward: x (B, J) normalised per feature over the batch, then gamma * xhat + beta."""

    eps = 1e-5

    def __init__(self, x, gamma, beta):
        super().__init__()
        self.x, self.gamma, self.beta = x, gamma, beta

    def forward(self):
        mean = self.x.value.mean(axis=0)
        var = self.x.value.var(axis=0)  # the batch's variance, dividing by B
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.xhat = (self.x.value - mean) * self.inv_std
        self.value = self.gamma.value * self.xhat + self.beta.value


class BatchNorm(BatchNormForward):  # the instructor's solution
    def backward(self):
        g = self.grad
        self.beta.grad += g.sum(axis=0)
        self.gamma.grad += (g * self.xhat).sum(axis=0)
        gx = g * self.gamma.value
        self.x.grad += self.inv_std * (gx - gx.mean(axis=0) - self.xhat * (gx * self.xhat).mean(axis=0))


class BatchNormStaged(BatchNormForward):  # cs231n's staged form: through the variance, then the mean
    def backward(self):
        x, g, n = self.x.value, self.grad, len(self.grad)
        mean = x.mean(axis=0)
        self.beta.grad += g.sum(axis=0)
        self.gamma.grad += (g * self.xhat).sum(axis=0)
        dxhat = g * self.gamma.value
        dvar = (dxhat * (x - mean)).sum(axis=0) * -0.5 * self.inv_std**3
        dmean = -(dxhat * self.inv_std).sum(axis=0) + dvar * (-2 * (x - mean)).mean(axis=0)
        self.x.grad += dxhat * self.inv_std + dvar * 2 * (x - mean) / n + dmean / n


def _bn_x_grad(bn, gx, mean_term=True, var_term=True, reduce=np.mean):
    out = gx.copy()
    if mean_term:
        out -= reduce(gx, axis=0)
    if var_term:
        out -= bn.xhat * reduce(gx * bn.xhat, axis=0)
    return bn.inv_std * out


class BatchNormPerExample(BatchNormForward):  # treats the batch mean and variance as constants
    def backward(self):
        self.beta.grad += self.grad.sum(axis=0)
        self.gamma.grad += (self.grad * self.xhat).sum(axis=0)
        self.x.grad += self.grad * self.gamma.value * self.inv_std


class BatchNormNoVariancePath(BatchNormForward):
    def backward(self):
        self.beta.grad += self.grad.sum(axis=0)
        self.gamma.grad += (self.grad * self.xhat).sum(axis=0)
        self.x.grad += _bn_x_grad(self, self.grad * self.gamma.value, var_term=False)


class BatchNormNoMeanPath(BatchNormForward):
    def backward(self):
        self.beta.grad += self.grad.sum(axis=0)
        self.gamma.grad += (self.grad * self.xhat).sum(axis=0)
        self.x.grad += _bn_x_grad(self, self.grad * self.gamma.value, mean_term=False)


class BatchNormSumsInsteadOfMeans(BatchNormForward):  # forgets the 1/B of the batch statistics
    def backward(self):
        self.beta.grad += self.grad.sum(axis=0)
        self.gamma.grad += (self.grad * self.xhat).sum(axis=0)
        self.x.grad += _bn_x_grad(self, self.grad * self.gamma.value, reduce=np.sum)


class BatchNormForgetsGamma(BatchNormForward):
    def backward(self):
        self.beta.grad += self.grad.sum(axis=0)
        self.gamma.grad += (self.grad * self.xhat).sum(axis=0)
        self.x.grad += _bn_x_grad(self, self.grad)


class BatchNormUnbiasedVariance(BatchNormForward):  # B - 1 in the variance's derivative, B in the forward
    def backward(self):
        n = len(self.grad)
        self.beta.grad += self.grad.sum(axis=0)
        self.gamma.grad += (self.grad * self.xhat).sum(axis=0)
        gx = self.grad * self.gamma.value
        self.x.grad += self.inv_std * (gx - gx.mean(axis=0) - self.xhat * (gx * self.xhat).sum(axis=0) / (n - 1))


class BatchNormGammaMean(BatchNormForward):  # divides by B again: loss.grad already holds 1/B
    def backward(self):
        self.beta.grad += self.grad.mean(axis=0)
        self.gamma.grad += (self.grad * self.xhat).mean(axis=0)
        self.x.grad += _bn_x_grad(self, self.grad * self.gamma.value)


class BatchNormGammaUsesInput(BatchNormForward):  # x where the normalised xhat is needed
    def backward(self):
        self.beta.grad += self.grad.sum(axis=0)
        self.gamma.grad += (self.grad * self.x.value).sum(axis=0)
        self.x.grad += _bn_x_grad(self, self.grad * self.gamma.value)


class BatchNormBetaWrongAxis(BatchNormForward):
    def backward(self):
        self.beta.grad += self.grad.sum(axis=1)
        self.gamma.grad += (self.grad * self.xhat).sum(axis=0)
        self.x.grad += _bn_x_grad(self, self.grad * self.gamma.value)


class BatchNormOverwrites(BatchNormForward):
    def backward(self):
        self.beta.grad += self.grad.sum(axis=0)
        self.gamma.grad += (self.grad * self.xhat).sum(axis=0)
        self.x.grad = _bn_x_grad(self, self.grad * self.gamma.value)


# --- Dropout (nb03_dropout) --------------------------------------------------------------------------


class DropoutBase(edf.Component):
    def __init__(self, x, p, rng):
        super().__init__()
        self.x, self.p, self.rng = x, p, rng
        self.training = True


class Dropout(DropoutBase):  # the instructor's solution: inverted dropout
    def forward(self):
        if self.training:
            self.mask = (self.rng.random(self.x.value.shape) >= self.p) / (1 - self.p)
            self.value = self.x.value * self.mask
        else:
            self.value = self.x.value

    def backward(self):
        self.x.grad += self.grad * self.mask if self.training else self.grad


class DropoutBooleanMask(DropoutBase):  # the mask kept as booleans, scaled where it is used
    def forward(self):
        self.keep = self.rng.random(self.x.value.shape) > self.p
        self.value = np.where(self.keep, self.x.value / (1 - self.p), 0.0) if self.training else self.x.value.copy()

    def backward(self):
        self.x.grad += np.where(self.keep, self.grad / (1 - self.p), 0.0) if self.training else self.grad


class DropoutNoScaling(Dropout):
    def forward(self):
        super().forward()
        if self.training:
            self.mask = self.mask * (1 - self.p)
            self.value = self.x.value * self.mask


class DropoutScalesAtInference(DropoutBase):  # the original (non-inverted) dropout: not what is asked
    def forward(self):
        self.mask = self.rng.random(self.x.value.shape) >= self.p
        self.value = self.x.value * self.mask if self.training else self.x.value * (1 - self.p)

    def backward(self):
        self.x.grad += self.grad * self.mask if self.training else self.grad * (1 - self.p)


class DropoutKeepProbability(DropoutBase):  # reads p as the probability of keeping
    def forward(self):
        self.mask = (self.rng.random(self.x.value.shape) < self.p) / self.p
        self.value = self.x.value * self.mask if self.training else self.x.value

    def backward(self):
        self.x.grad += self.grad * self.mask if self.training else self.grad


class DropoutSharedMask(Dropout):  # one mask for the whole batch: every example loses the same features
    def forward(self):
        if self.training:
            self.mask = (self.rng.random(self.x.value.shape[1]) >= self.p) / (1 - self.p)
            self.value = self.x.value * self.mask
        else:
            self.value = self.x.value


class DropoutAlsoAtInference(Dropout):
    def forward(self):
        self.mask = (self.rng.random(self.x.value.shape) >= self.p) / (1 - self.p)
        self.value = self.x.value * self.mask

    def backward(self):
        self.x.grad += self.grad * self.mask


class DropoutNewMaskInBackward(Dropout):
    def backward(self):
        if self.training:
            self.x.grad += self.grad * (self.rng.random(self.grad.shape) >= self.p) / (1 - self.p)
        else:
            self.x.grad += self.grad


class DropoutBackwardIgnoresMask(Dropout):
    def backward(self):
        self.x.grad += self.grad


class DropoutOneMaskForever(Dropout):  # draws the mask once, in the constructor
    def __init__(self, x, p, rng):
        super().__init__(x, p, rng)
        self.fixed = None

    def forward(self):
        if self.fixed is None:
            self.fixed = (self.rng.random(self.x.value.shape) >= self.p) / (1 - self.p)
        self.mask = self.fixed
        self.value = self.x.value * self.mask if self.training else self.x.value


class DropoutOverwrites(Dropout):
    def backward(self):
        self.x.grad = self.grad * self.mask if self.training else self.grad


# --- Softmax and LogLoss backward --------------------------------------------------------------------


class SoftmaxJacobian(edf.Softmax):
    def backward(self):
        p = self.value
        jacobian = np.einsum("bi,ij->bij", p, np.eye(p.shape[1])) - np.einsum("bi,bj->bij", p, p)
        self.x.grad += np.einsum("bi,bij->bj", self.grad, jacobian)


class SoftmaxDiagonalOnly(edf.Softmax):  # treats softmax as elementwise
    def backward(self):
        self.x.grad += self.grad * self.value * (1 - self.value)


class SoftmaxNoCrossTerm(edf.Softmax):
    def backward(self):
        self.x.grad += self.value * self.grad


class SoftmaxSumsOverBatch(edf.Softmax):
    def backward(self):
        weighted = (self.grad * self.value).sum(axis=0)
        self.x.grad += self.value * (self.grad - weighted)


class SoftmaxOverwrites(edf.Softmax):
    def backward(self):
        self.x.grad = self.value * (self.grad - (self.grad * self.value).sum(axis=1, keepdims=True))


class SoftmaxUnstable(edf.Softmax):  # right backward, forward without subtracting the maximum
    def forward(self):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(self.x.value)
            self.value = e / e.sum(axis=1, keepdims=True)


class LogLossSubtracts(edf.LogLoss):
    def backward(self):
        self.x.grad -= self.grad / self.x.value


class LogLossWrongSign(edf.LogLoss):
    def backward(self):
        self.x.grad += self.grad / self.x.value


class LogLossIgnoresGrad(edf.LogLoss):  # forgets loss.grad, and with it the 1/B
    def backward(self):
        self.x.grad += -1 / self.x.value


class LogLossUsesOutput(edf.LogLoss):
    def backward(self):
        self.x.grad += -self.grad / self.value


class LogLossOverwrites(edf.LogLoss):
    def backward(self):
        self.x.grad = -self.grad / self.x.value


# --- SoftmaxLogLoss with label smoothing (nb03_softmax_logloss) --------------------------------------


class SmoothedLossForward(edf.Component):
    """The notebook's given forward: -(1 - s) log p[b, y[b]] - (s / J) sum_k log p[b, k], p = softmax(x)."""

    smoothing = 0.1

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def forward(self):
        shifted = self.x.value - self.x.value.max(axis=1, keepdims=True)
        self.log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.p = np.exp(self.log_p)
        s, rows = self.smoothing, np.arange(len(shifted))
        self.value = -(1 - s) * self.log_p[rows, self.y.value] - s * self.log_p.mean(axis=1)

    def onehot(self):
        return np.eye(self.p.shape[1])[self.y.value]


class SoftmaxLogLoss(SmoothedLossForward):  # the instructor's solution
    def backward(self):
        s, n_classes = self.smoothing, self.p.shape[1]
        target = (1 - s) * self.onehot() + s / n_classes
        self.x.grad += self.grad[:, None] * (self.p - target)


class SmoothedTwoTerms(SmoothedLossForward):  # the two terms' gradients, added
    def backward(self):
        s = self.smoothing
        d = (1 - s) * (self.p - self.onehot()) + s * (self.p - 1 / self.p.shape[1])
        self.x.grad += self.grad[:, None] * d


class SmoothedIgnoresSmoothing(SmoothedLossForward):  # the hard-label gradient p - onehot
    def backward(self):
        self.x.grad += self.grad[:, None] * (self.p - self.onehot())


class SmoothedForgetsUniformTerm(SmoothedLossForward):  # p - (1 - s) onehot: rows no longer sum to 0
    def backward(self):
        self.x.grad += self.grad[:, None] * (self.p - (1 - self.smoothing) * self.onehot())


class SmoothedWholeSmoothingPerClass(SmoothedLossForward):  # s where s / J is needed
    def backward(self):
        s = self.smoothing
        self.x.grad += self.grad[:, None] * (self.p - (1 - s) * self.onehot() - s)


class SmoothedScalesP(SmoothedLossForward):  # (1 - s) p + s p / J - target: p's coefficient is 1
    def backward(self):
        s, n_classes = self.smoothing, self.p.shape[1]
        target = (1 - s) * self.onehot() + s / n_classes
        self.x.grad += self.grad[:, None] * ((1 - s) * self.p + s * self.p / n_classes - target)


class SmoothedHardCodedSmoothing(SmoothedLossForward):  # 0.1 instead of self.smoothing
    def backward(self):
        target = 0.9 * self.onehot() + 0.1 / self.p.shape[1]
        self.x.grad += self.grad[:, None] * (self.p - target)


class SmoothedIgnoresGrad(SmoothedLossForward):  # forgets loss.grad, and with it the 1/B
    def backward(self):
        s = self.smoothing
        self.x.grad += self.p - (1 - s) * self.onehot() - s / self.p.shape[1]


class SmoothedDividesByBatchItself(SmoothedLossForward):  # right only when the incoming grad is exactly 1/B
    def backward(self):
        s = self.smoothing
        self.x.grad += (self.p - (1 - s) * self.onehot() - s / self.p.shape[1]) / len(self.p)


class SmoothedOverwrites(SmoothedLossForward):
    def backward(self):
        s = self.smoothing
        self.x.grad = self.grad[:, None] * (self.p - (1 - s) * self.onehot() - s / self.p.shape[1])


EXERCISES = {
    "batchnorm": (
        edf_checks.check_batchnorm_backward,
        [BatchNorm, BatchNormStaged],
        [
            BatchNormPerExample,
            BatchNormNoVariancePath,
            BatchNormNoMeanPath,
            BatchNormSumsInsteadOfMeans,
            BatchNormForgetsGamma,
            BatchNormUnbiasedVariance,
            BatchNormGammaMean,
            BatchNormGammaUsesInput,
            BatchNormBetaWrongAxis,
            BatchNormOverwrites,
        ],
    ),
    "dropout": (
        edf_checks.check_dropout,
        [Dropout, DropoutBooleanMask],
        [
            DropoutNoScaling,
            DropoutScalesAtInference,
            DropoutKeepProbability,
            DropoutSharedMask,
            DropoutAlsoAtInference,
            DropoutNewMaskInBackward,
            DropoutBackwardIgnoresMask,
            DropoutOneMaskForever,
            DropoutOverwrites,
        ],
    ),
    "softmax_logloss": (
        edf_checks.check_smoothed_logloss_backward,
        [SoftmaxLogLoss, SmoothedTwoTerms],
        [
            SmoothedIgnoresSmoothing,
            SmoothedForgetsUniformTerm,
            SmoothedWholeSmoothingPerClass,
            SmoothedScalesP,
            SmoothedHardCodedSmoothing,
            SmoothedIgnoresGrad,
            SmoothedDividesByBatchItself,
            SmoothedOverwrites,
        ],
    ),
    "softmax": (  # the library's own components, against the same kind of checker
        edf_checks.check_softmax_backward,
        [edf.Softmax, SoftmaxJacobian],
        [SoftmaxDiagonalOnly, SoftmaxNoCrossTerm, SoftmaxSumsOverBatch, SoftmaxOverwrites, SoftmaxUnstable],
    ),
    "logloss": (
        edf_checks.check_logloss_backward,
        [edf.LogLoss, LogLossSubtracts],
        [LogLossWrongSign, LogLossIgnoresGrad, LogLossUsesOutput, LogLossOverwrites],
    ),
}

RIGHT = [(name, answer) for name, (_, rights, _) in EXERCISES.items() for answer in rights]
WRONG = [(name, answer) for name, (_, _, wrongs) in EXERCISES.items() for answer in wrongs]


@pytest.mark.parametrize(("exercise", "answer"), RIGHT, ids=[f"{e}-{a.__name__}" for e, a in RIGHT])
def test_right_answers_pass(exercise, answer):
    checker = EXERCISES[exercise][0]
    checker(answer)


@pytest.mark.parametrize(("exercise", "answer"), WRONG, ids=[f"{e}-{a.__name__}" for e, a in WRONG])
def test_wrong_answers_fail_saying_expected_and_got(exercise, answer):
    checker = EXERCISES[exercise][0]
    with pytest.raises(AssertionError) as failure:
        checker(answer)
    message = str(failure.value)
    assert ("expected" in message and "got" in message) or " raised " in message, message


def test_messages_name_the_component_and_the_mistake():
    with pytest.raises(AssertionError, match=r"(?s)BatchNormOverwrites\.backward: x\.grad.*\+=") as failure:
        edf_checks.check_batchnorm_backward(BatchNormOverwrites)
    assert "expected" in str(failure.value)
    with pytest.raises(AssertionError, match=r"BatchNormBetaWrongAxis\.backward\(\) raised ValueError"):
        edf_checks.check_batchnorm_backward(BatchNormBetaWrongAxis)
    with pytest.raises(AssertionError, match="its own mask"):
        edf_checks.check_dropout(DropoutSharedMask)
    with pytest.raises(AssertionError, match="fresh mask"):
        edf_checks.check_dropout(DropoutOneMaskForever)
    with pytest.raises(AssertionError, match=r"with smoothing = 0\.0: .*expected"):
        edf_checks.check_smoothed_logloss_backward(SmoothedHardCodedSmoothing)


def test_checkers_leave_the_notebook_graph_alone():
    x = edf.Input()
    t = edf.Sigmoid(x)
    w = edf.Parameter(np.ones(2))
    for checker, rights, wrongs in EXERCISES.values():
        checker(rights[0])
        with pytest.raises(AssertionError):
            checker(wrongs[0])
    assert edf.inputs == [x] and edf.components == [t] and edf.parameters == [w]
    edf.clear()


def test_the_batchnorm_gradient_couples_the_examples():
    """Why BatchNorm is the minibatch lesson: a change in one example's input moves every example's
    x-gradient, which the per-example answer (batch statistics held constant) misses."""
    rng = np.random.default_rng(0)
    x, gamma, beta, g = rng.standard_normal((5, 3)), np.ones(3), np.zeros(3), rng.standard_normal((5, 3))
    grads = {}
    for cls in (BatchNorm, BatchNormPerExample):
        for shift in (0.0, 1.0):
            moved = x.copy()
            moved[0] += shift
            with edf.fresh_graph():
                zeros = {"x": np.zeros_like(x), "gamma": np.zeros(3), "beta": np.zeros(3)}
                _, got = edf_checks._run(cls, {"x": moved, "gamma": gamma, "beta": beta}, g, zeros)
            grads[cls.__name__, shift] = got["x"]
    assert not np.allclose(grads["BatchNorm", 0.0][1:], grads["BatchNorm", 1.0][1:])  # examples 1..4 moved too
    assert not np.allclose(grads["BatchNorm", 0.0], grads["BatchNormPerExample", 0.0])


# --- the notebook's own exercise cells ---------------------------------------------------------------

NOTEBOOK_EXERCISES = {  # grade_id in notebooks/03_minibatch.ipynb -> (name the cell defines, exercise above)
    "nb03_batchnorm": ("BatchNorm", "batchnorm"),
    "nb03_dropout": ("Dropout", "dropout"),
    "nb03_softmax_logloss": ("SoftmaxLogLoss", "softmax_logloss"),
}


def notebook_solution_cells(student: bool = False) -> dict[str, str]:
    """grade_id -> source of notebook 03's solution cells (the student version's with ``student``)."""
    import nbformat

    from coursekit.grading import assignments

    from conftest import ROOT

    nb = nbformat.read(ROOT / "notebooks" / "03_minibatch.ipynb", as_version=4)
    if student:
        nb = assignments.student_version(nb)
    return {
        meta["grade_id"]: cell.source
        for cell in nb.cells
        if (meta := assignments.nbgrader_meta(cell)).get("grade_id", "").startswith("nb03_")
    }


def exec_cell(source: str, grade_id: str) -> dict:
    """Run a solution cell as the notebook would (numpy and EDF imported), its source readable by inspect."""
    filename = f"<notebook 03 cell {grade_id}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace = {"np": np, "edf": edf}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


@pytest.mark.parametrize("grade_id", list(NOTEBOOK_EXERCISES))
def test_notebook_solutions_pass_and_blank_cells_fail(grade_id):
    name, exercise = NOTEBOOK_EXERCISES[grade_id]
    checker = EXERCISES[exercise][0]
    for student, should_pass in ((False, True), (True, False)):
        namespace = exec_cell(notebook_solution_cells(student)[grade_id], grade_id)
        if should_pass:
            checker(namespace[name])
        else:
            with pytest.raises(AssertionError, match="NotImplementedError"):
                checker(namespace[name])
