"""The graded EDF exercises' checkers (coursekit.grading.hidden.edf) against right and plausibly wrong solutions.

Each exercise: the reference solution and another correct way of writing it pass its checker;
every wrong one fails it with an AssertionError saying what was expected and what came back.
"""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.edf import framework as edf
from coursekit.edf.slide_bug import VDotSlideBug
from coursekit.grading.hidden import edf as edf_checks

# --- Tanh backward -----------------------------------------------------------------------------------


class TanhRecomputed(edf.Tanh):
    def backward(self):
        self.x.grad += self.grad * (1 - np.tanh(self.x.value) ** 2)


class TanhValueAsDerivative(edf.Tanh):  # tanh(x) instead of 1 - tanh(x)^2
    def backward(self):
        self.x.grad += self.grad * self.value


class TanhOverwrites(edf.Tanh):  # = instead of +=
    def backward(self):
        self.x.grad = self.grad * (1 - self.value**2)


class TanhNoChainRule(edf.Tanh):  # forgets the incoming gradient
    def backward(self):
        self.x.grad += 1 - self.value**2


class TanhInputSquared(edf.Tanh):  # 1 - x^2 instead of 1 - tanh(x)^2
    def backward(self):
        self.x.grad += self.grad * (1 - self.x.value**2)


class TanhSigmoidDerivative(edf.Tanh):  # copied from Sigmoid
    def backward(self):
        self.x.grad += self.grad * self.value * (1 - self.value)


class TanhWrongSign(edf.Tanh):
    def backward(self):
        self.x.grad += self.grad * (self.value**2 - 1)


# --- AddBias backward --------------------------------------------------------------------------------


class AddBiasEinsum(edf.AddBias):
    def backward(self):
        self.x.grad += self.grad
        self.beta.grad += np.einsum("bj->j", self.grad)


class AddBiasWrongAxis(edf.AddBias):
    def backward(self):
        self.x.grad += self.grad
        self.beta.grad += self.grad.sum(axis=1)


class AddBiasMean(edf.AddBias):  # divides by B again: loss.grad already holds 1/B
    def backward(self):
        self.x.grad += self.grad
        self.beta.grad += self.grad.mean(axis=0)


class AddBiasNoSum(edf.AddBias):
    def backward(self):
        self.x.grad += self.grad
        self.beta.grad += self.grad


class AddBiasFirstExample(edf.AddBias):
    def backward(self):
        self.x.grad += self.grad
        self.beta.grad += self.grad[0]


class AddBiasOverwrites(edf.AddBias):
    def backward(self):
        self.x.grad += self.grad
        self.beta.grad = self.grad.sum(axis=0)


class AddBiasForgetsX(edf.AddBias):
    def backward(self):
        self.beta.grad += self.grad.sum(axis=0)


# --- VDot backward -----------------------------------------------------------------------------------


class VDotEinsum(edf.VDot):
    def backward(self):
        self.x.grad += np.einsum("ij,bj->bi", self.W.value, self.grad)
        self.W.grad += np.einsum("bi,bj->ij", self.x.value, self.grad)


class VDotLectureForm(edf.VDot):  # the lecture's code, which is right (only the slide's formula is wrong)
    def backward(self):
        self.x.grad += np.matmul(self.W.value, self.grad.T).T
        self.W.grad += np.matmul(self.x.value.T, self.grad)


class VDotTransposedW(edf.VDot):
    def backward(self):
        self.x.grad += self.grad @ self.W.value.T
        self.W.grad += self.grad.T @ self.x.value


class VDotUntransposedX(edf.VDot):
    def backward(self):
        self.x.grad += self.grad @ self.W.value
        self.W.grad += self.x.value.T @ self.grad


class VDotDividesByBatch(edf.VDot):
    def backward(self):
        self.x.grad += self.grad @ self.W.value.T
        self.W.grad += self.x.value.T @ self.grad / len(self.grad)


class VDotOverwrites(edf.VDot):
    def backward(self):
        self.x.grad = self.grad @ self.W.value.T
        self.W.grad = self.x.value.T @ self.grad


class VDotForgetsX(edf.VDot):
    def backward(self):
        self.W.grad += self.x.value.T @ self.grad


class VDotFirstExample(edf.VDot):  # the per-example formula, applied to one example only
    def backward(self):
        self.x.grad += self.grad @ self.W.value.T
        self.W.grad += np.outer(self.x.value[0], self.grad[0])


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


class SoftmaxLogLoss(edf.Component):
    """Fused -log softmax(x)[b, y[b]]: x (B, J) scores, y (B,) labels -> (B,) losses."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def forward(self):
        z = self.x.value - self.x.value.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        self.p = np.exp(log_p)
        self.value = -log_p[np.arange(len(z)), self.y.value]

    def d_scores(self):
        d = self.p.copy()
        d[np.arange(len(d)), self.y.value] -= 1
        return d

    def backward(self):
        self.x.grad += self.grad[:, None] * self.d_scores()


class FusedIgnoresGrad(SoftmaxLogLoss):  # p - onehot without loss.grad: forgets the 1/B
    def backward(self):
        self.x.grad += self.d_scores()


class FusedDividesByBatchItself(SoftmaxLogLoss):  # right only when the incoming grad is exactly 1/B
    def backward(self):
        self.x.grad += self.d_scores() / len(self.p)


class FusedWrongOneHot(SoftmaxLogLoss):  # d[:, y] hits every labelled column in every row
    def backward(self):
        d = self.p.copy()
        d[:, self.y.value] -= 1
        self.x.grad += self.grad[:, None] * d


class FusedWrongSign(SoftmaxLogLoss):
    def backward(self):
        self.x.grad -= self.grad[:, None] * self.d_scores()


class FusedNoBroadcast(SoftmaxLogLoss):
    def backward(self):
        self.x.grad += self.grad * self.d_scores()


class FusedOverwrites(SoftmaxLogLoss):
    def backward(self):
        self.x.grad = self.grad[:, None] * self.d_scores()


# --- the minibatch training loop ---------------------------------------------------------------------


def train_lecture(x, y, loss, images, labels, batch_size, eta, num_epochs):
    for _ in range(num_epochs):
        for k in range(0, len(images), batch_size):
            x.set(images[k : k + batch_size])
            y.set(labels[k : k + batch_size])
            edf.Forward()
            edf.Backward(loss)
            edf.SGD(eta)


def train_by_batch_number(x, y, loss, images, labels, batch_size, eta, num_epochs):
    n_batches = -(-len(images) // batch_size)
    for _ in range(num_epochs):
        for i in range(n_batches):
            batch = slice(i * batch_size, min((i + 1) * batch_size, len(images)))
            x.set(images[batch])
            y.set(labels[batch])
            edf.Forward()
            edf.Backward(loss)
            edf.SGD(eta)


def train_drops_last_batch(x, y, loss, images, labels, batch_size, eta, num_epochs):
    for _ in range(num_epochs):
        for k in range(0, len(images) - batch_size + 1, batch_size):
            x.set(images[k : k + batch_size])
            y.set(labels[k : k + batch_size])
            edf.Forward()
            edf.Backward(loss)
            edf.SGD(eta)


def train_step_one(x, y, loss, images, labels, batch_size, eta, num_epochs):  # overlapping windows
    for _ in range(num_epochs):
        for k in range(len(images)):
            x.set(images[k : k + batch_size])
            y.set(labels[k : k + batch_size])
            edf.Forward()
            edf.Backward(loss)
            edf.SGD(eta)


def train_updates_every_tenth_step(x, y, loss, images, labels, batch_size, eta, num_epochs):  # the numpy lecture's
    step = 0
    for _ in range(num_epochs):
        for k in range(0, len(images), batch_size):
            x.set(images[k : k + batch_size])
            y.set(labels[k : k + batch_size])
            edf.Forward()
            edf.Backward(loss)
            if step % 10 == 0:
                edf.SGD(eta)
            step += 1


def train_one_epoch(x, y, loss, images, labels, batch_size, eta, num_epochs):
    for k in range(0, len(images), batch_size):
        x.set(images[k : k + batch_size])
        y.set(labels[k : k + batch_size])
        edf.Forward()
        edf.Backward(loss)
        edf.SGD(eta)


def train_forward_once(x, y, loss, images, labels, batch_size, eta, num_epochs):  # stale values and gradients
    x.set(images[:batch_size])
    y.set(labels[:batch_size])
    edf.Forward()
    for _ in range(num_epochs):
        for k in range(0, len(images), batch_size):
            x.set(images[k : k + batch_size])
            y.set(labels[k : k + batch_size])
            edf.Backward(loss)
            edf.SGD(eta)


def train_whole_set(x, y, loss, images, labels, batch_size, eta, num_epochs):  # forgets to slice the batch
    for _ in range(num_epochs):
        for _k in range(0, len(images), batch_size):
            x.set(images)
            y.set(labels)
            edf.Forward()
            edf.Backward(loss)
            edf.SGD(eta)


def train_scales_eta_by_batch(x, y, loss, images, labels, batch_size, eta, num_epochs):  # undoes the 1/B
    for _ in range(num_epochs):
        for k in range(0, len(images), batch_size):
            x.set(images[k : k + batch_size])
            y.set(labels[k : k + batch_size])
            edf.Forward()
            edf.Backward(loss)
            edf.SGD(eta * batch_size)


def train_never_updates(x, y, loss, images, labels, batch_size, eta, num_epochs):
    for _ in range(num_epochs):
        for k in range(0, len(images), batch_size):
            x.set(images[k : k + batch_size])
            y.set(labels[k : k + batch_size])
            edf.Forward()
            edf.Backward(loss)


EXERCISES = {
    "tanh": (
        edf_checks.check_tanh_backward,
        [edf.Tanh, TanhRecomputed],
        [
            TanhValueAsDerivative,
            TanhOverwrites,
            TanhNoChainRule,
            TanhInputSquared,
            TanhSigmoidDerivative,
            TanhWrongSign,
        ],
    ),
    "addbias": (
        edf_checks.check_addbias_backward,
        [edf.AddBias, AddBiasEinsum],
        [AddBiasWrongAxis, AddBiasMean, AddBiasNoSum, AddBiasFirstExample, AddBiasOverwrites, AddBiasForgetsX],
    ),
    "vdot": (
        edf_checks.check_vdot_backward,
        [edf.VDot, VDotEinsum, VDotLectureForm],
        [
            VDotSlideBug,
            VDotTransposedW,
            VDotUntransposedX,
            VDotDividesByBatch,
            VDotOverwrites,
            VDotForgetsX,
            VDotFirstExample,
        ],
    ),
    "softmax": (
        edf_checks.check_softmax_backward,
        [edf.Softmax, SoftmaxJacobian],
        [SoftmaxDiagonalOnly, SoftmaxNoCrossTerm, SoftmaxSumsOverBatch, SoftmaxOverwrites, SoftmaxUnstable],
    ),
    "logloss": (
        edf_checks.check_logloss_backward,
        [edf.LogLoss, LogLossSubtracts],
        [LogLossWrongSign, LogLossIgnoresGrad, LogLossUsesOutput, LogLossOverwrites],
    ),
    "softmax_logloss": (
        edf_checks.check_softmax_logloss_backward,
        [SoftmaxLogLoss],
        [
            FusedIgnoresGrad,
            FusedDividesByBatchItself,
            FusedWrongOneHot,
            FusedWrongSign,
            FusedNoBroadcast,
            FusedOverwrites,
        ],
    ),
    "training_loop": (
        edf_checks.check_training_loop,
        [train_lecture, train_by_batch_number],
        [
            train_drops_last_batch,
            train_step_one,
            train_updates_every_tenth_step,
            train_one_epoch,
            train_forward_once,
            train_whole_set,
            train_scales_eta_by_batch,
            train_never_updates,
        ],
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


def test_messages_name_the_component_and_the_accumulation_mistake():
    with pytest.raises(AssertionError, match=r"(?s)TanhOverwrites\.backward: x\.grad.*\+=") as failure:
        edf_checks.check_tanh_backward(TanhOverwrites)
    assert "expected" in str(failure.value)
    with pytest.raises(AssertionError, match=r"AddBiasWrongAxis\.backward\(\) raised ValueError"):
        edf_checks.check_addbias_backward(AddBiasWrongAxis)
    with pytest.raises(AssertionError, match="did not change"):
        edf_checks.check_training_loop(train_never_updates)


def test_checkers_leave_the_notebook_graph_alone():
    x = edf.Input()
    t = edf.Tanh(x)
    w = edf.Parameter(np.ones(2))
    for checker, rights, wrongs in EXERCISES.values():
        checker(rights[0])
        with pytest.raises(AssertionError):
            checker(wrongs[0])
    assert edf.inputs == [x] and edf.components == [t] and edf.parameters == [w]
    edf.clear()


# --- the notebook's own exercise cells ---------------------------------------------------------------

NOTEBOOK_EXERCISES = {  # grade_id in notebooks/03_minibatch.ipynb -> (name the cell defines, exercise above)
    "nb03_tanh": ("Tanh", "tanh"),
    "nb03_addbias": ("AddBias", "addbias"),
    "nb03_vdot": ("VDot", "vdot"),
    "nb03_softmax_logloss": ("SoftmaxLogLoss", "softmax_logloss"),
    "nb03_train_loop": ("train", "training_loop"),
}


def _notebook_solution_cells(student: bool = False) -> dict[str, str]:
    import nbformat

    from coursekit.grading import assignments

    from conftest import ROOT

    nb = nbformat.read(ROOT / "notebooks" / "03_minibatch.ipynb", as_version=4)
    if student:
        nb = assignments.student_version(nb)
    return {
        meta["grade_id"]: cell.source
        for cell in nb.cells
        if (meta := assignments.nbgrader_meta(cell)).get("grade_id") in NOTEBOOK_EXERCISES
    }


@pytest.mark.parametrize("grade_id", list(NOTEBOOK_EXERCISES))
def test_notebook_solutions_pass_and_blank_cells_fail(grade_id):
    name, exercise = NOTEBOOK_EXERCISES[grade_id]
    checker = EXERCISES[exercise][0]
    for student, should_pass in ((False, True), (True, False)):
        namespace = {"np": np, "edf": edf}
        exec(_notebook_solution_cells(student)[grade_id], namespace)
        if should_pass:
            checker(namespace[name])
        else:
            with pytest.raises(AssertionError, match="NotImplementedError"):
                checker(namespace[name])
