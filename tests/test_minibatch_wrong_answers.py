"""Notebook 03's minibatch exercises' checkers (coursekit.grading.hidden.edf) against right and wrong solutions.

- nb03_mse_grad: the minibatched MSE gradient, with no Python loop in its source and faster than a
  per-feature loop, itself faster than the per-example loop (cs231n's check of vectorisation);
- nb03_train_accumulate: training with gradient accumulation over k micro-batches, whose one
  update must equal plain SGD's on the whole batch.

Right answers pass; every wrong one fails with an AssertionError saying what was expected and what came back.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_edf_wrong_answers import exec_cell, notebook_solution_cells

from coursekit.edf import framework as edf
from coursekit.grading.hidden import edf as edf_checks

# --- the minibatched MSE gradient (nb03_mse_grad) ----------------------------------------------------


def mse_matrix(X, y, w):
    return 2 * X.T @ (X @ w - y) / len(X)


def mse_einsum(X, y, w):
    residual = np.einsum("bd,d->b", X, w) - y
    return np.einsum("bd,b->d", X, residual) * (2 / X.shape[0])


def mse_broadcast(X, y, w):  # no loop, but a (B, D) temporary: the slowest loop-free form, still fast enough
    return (2 * (X @ w - y)[:, None] * X).mean(axis=0)


def mse_per_feature(X, y, w):  # one loop, over the features: vectorised over the batch only
    r = X @ w - y
    g = np.empty_like(w)
    for j in range(len(w)):
        g[j] = 2 * (r @ X[:, j]) / len(X)
    return g


def mse_comprehension(X, y, w):  # the per-example loop, written as a comprehension
    return np.mean([2 * (x_b @ w - y_b) * x_b for x_b, y_b in zip(X, y, strict=True)], axis=0)


def mse_while(X, y, w):
    g, b = np.zeros_like(w), 0
    while b < len(X):
        g += 2 * (X[b] @ w - y[b]) * X[b]
        b += 1
    return g / len(X)


def mse_builtin_sum(X, y, w):  # the builtin sum iterates over the rows in Python
    return 2 * sum(X * (X @ w - y)[:, None]) / len(X)


def mse_map(X, y, w):
    return 2 * np.mean(list(map(lambda x_b, y_b: (x_b @ w - y_b) * x_b, X, y)), axis=0)


def mse_vectorize(X, y, w):
    r = X @ w - y
    per_feature = np.vectorize(lambda j: 2 * (r @ X[:, j]) / len(X))
    return per_feature(np.arange(len(w))).astype(float)


def _feature_loop(X, r):  # a loop hidden in a helper: the source check cannot see it, the timing can
    out = np.empty(X.shape[1])
    for j in range(X.shape[1]):
        out[j] = r @ X[:, j]
    return out


def mse_hidden_loop(X, y, w):
    return 2 * _feature_loop(X, X @ w - y) / len(X)


def mse_forgets_mean(X, y, w):  # forgets 1/B
    return 2 * X.T @ (X @ w - y)


def mse_divides_twice(X, y, w):  # 1/B twice
    return 2 * X.T @ (X @ w - y) / len(X) ** 2


def mse_forgets_two(X, y, w):
    return X.T @ (X @ w - y) / len(X)


def mse_wrong_sign(X, y, w):
    return 2 * X.T @ (y - X @ w) / len(X)


def mse_divides_by_features(X, y, w):  # the wrong axis's length
    return 2 * X.T @ (X @ w - y) / X.shape[1]


def mse_first_example(X, y, w):  # the per-example formula applied to one example
    return 2 * (X[0] @ w - y[0]) * X[0]


MSE_RIGHT = [mse_matrix, mse_einsum, mse_broadcast]
MSE_WRONG = [
    mse_per_feature,
    mse_comprehension,
    mse_while,
    mse_builtin_sum,
    mse_map,
    mse_vectorize,
    mse_hidden_loop,
    mse_forgets_mean,
    mse_divides_twice,
    mse_forgets_two,
    mse_wrong_sign,
    mse_divides_by_features,
    mse_first_example,
]


@pytest.mark.parametrize("answer", MSE_RIGHT, ids=lambda f: f.__name__)
def test_vectorised_mse_gradients_pass(answer):
    edf_checks.check_mse_grad(answer)


@pytest.mark.parametrize("answer", MSE_WRONG, ids=lambda f: f.__name__)
def test_looped_or_wrong_mse_gradients_fail(answer):
    with pytest.raises(AssertionError, match="expected") as failure:
        edf_checks.check_mse_grad(answer)
    assert "got" in str(failure.value)


def test_the_per_feature_loop_is_right_but_fails_for_its_loop():
    """The answer the old test let through: numerically right, rejected for its loop, with the line."""
    X, y, w = np.random.default_rng(0).standard_normal((9, 4)), np.ones(9), np.ones(4)
    np.testing.assert_allclose(mse_per_feature(X, y, w), mse_matrix(X, y, w))
    with pytest.raises(AssertionError, match=r"no Python loop.*line \d+: a for loop"):
        edf_checks.check_mse_grad(mse_per_feature)


def test_a_loop_in_a_helper_fails_on_time_in_the_order_loop_one_loop_none():
    assert edf_checks.python_loops(mse_hidden_loop) == []  # invisible to the source check...
    with pytest.raises(AssertionError, match="per-example loop > per-feature loop > yours"):
        edf_checks.check_mse_grad(mse_hidden_loop)  # ...but as slow as the per-feature loop


# --- training with gradient accumulation (nb03_train_accumulate) -------------------------------------


def _feed(x, y, loss, images, labels):
    x.set(images)
    y.set(labels)
    edf.Forward()
    edf.Backward(loss)


def train_accumulate(x, y, loss, images, labels, micro, k, eta, num_epochs):  # the instructor's solution
    batch = micro * k
    for _ in range(num_epochs):
        for start in range(0, len(images), batch):
            stop = min(start + batch, len(images))
            total = {p: np.zeros_like(p.value) for p in edf.parameters}
            for m in range(start, stop, micro):
                end = min(m + micro, stop)
                _feed(x, y, loss, images[m:end], labels[m:end])
                for p in edf.parameters:  # Backward gave the mean over this micro-batch: weight it by its share
                    total[p] += p.grad * (end - m) / (stop - start)
            for p in edf.parameters:
                p.grad = total[p]
            edf.SGD(eta)


def train_accumulate_sums(x, y, loss, images, labels, micro, k, eta, num_epochs):  # sums n_m * mean, then / n
    batch = micro * k
    for _ in range(num_epochs):
        for start in range(0, len(images), batch):
            chunk = range(start, min(start + batch, len(images)), micro)
            grads = []
            for m in chunk:
                _feed(x, y, loss, images[m : m + micro], labels[m : m + micro])
                grads.append([p.grad * len(x.value) for p in edf.parameters])
            n = min(start + batch, len(images)) - start
            for p, *gs in zip(edf.parameters, *grads, strict=True):
                p.value -= eta * np.sum(gs, axis=0) / n


def _accumulating(weight, step_every_micro=False, reset_each_batch=True, only_last=False, whole_batch=False):
    """A variant of the solution with one thing wrong; ``weight(n_micro, n_batch, k)`` weights each micro-batch."""

    def train(x, y, loss, images, labels, micro, k, eta, num_epochs):
        batch = micro * k
        total = {p: np.zeros_like(p.value) for p in edf.parameters}
        for _ in range(num_epochs):
            for start in range(0, len(images), batch):
                stop = min(start + batch, len(images))
                if reset_each_batch:
                    total = {p: np.zeros_like(p.value) for p in edf.parameters}
                step = stop - start if whole_batch else micro
                for m in range(start, stop, step):
                    end = min(m + step, stop)
                    _feed(x, y, loss, images[m:end], labels[m:end])
                    if only_last:  # Backward zeroes the gradients: only the last micro-batch's survive
                        continue
                    for p in edf.parameters:
                        total[p] += p.grad * weight(end - m, stop - start, k)
                    if step_every_micro:
                        for p in edf.parameters:
                            p.grad = total[p]
                        edf.SGD(eta)
                        total = {p: np.zeros_like(p.value) for p in edf.parameters}
                if not step_every_micro:
                    if not only_last:
                        for p in edf.parameters:
                            p.grad = total[p]
                    edf.SGD(eta)

    return train


share = lambda n_micro, n_batch, k: n_micro / n_batch  # noqa: E731  (the right weight)
train_forgets_1_over_k = _accumulating(lambda n_micro, n_batch, k: 1.0)
train_one_over_k = _accumulating(lambda n_micro, n_batch, k: 1 / k)  # right only when every micro-batch is full
train_doubles_1_over_k = _accumulating(lambda n_micro, n_batch, k: n_micro / n_batch / k)  # share, then 1/k again
train_one_over_batch = _accumulating(lambda n_micro, n_batch, k: 1 / n_batch)  # 1/B twice: Backward gave 1/b
train_steps_every_micro = _accumulating(share, step_every_micro=True)
train_never_resets = _accumulating(share, reset_each_batch=False)  # zeroed once, outside the steps
train_only_last_micro = _accumulating(share, only_last=True)
train_whole_batch_at_once = _accumulating(share, whole_batch=True)  # right numbers, but the batch in memory


def train_never_updates(x, y, loss, images, labels, micro, k, eta, num_epochs):
    for _ in range(num_epochs):
        for m in range(0, len(images), micro):
            _feed(x, y, loss, images[m : m + micro], labels[m : m + micro])


ACCUMULATE_RIGHT = [train_accumulate, train_accumulate_sums]
ACCUMULATE_WRONG = {
    "forgets_1_over_k": train_forgets_1_over_k,
    "one_over_k": train_one_over_k,
    "doubles_1_over_k": train_doubles_1_over_k,
    "one_over_batch": train_one_over_batch,
    "steps_every_micro": train_steps_every_micro,
    "never_resets": train_never_resets,
    "only_last_micro": train_only_last_micro,
    "whole_batch_at_once": train_whole_batch_at_once,
    "never_updates": train_never_updates,
}


@pytest.mark.parametrize("answer", ACCUMULATE_RIGHT, ids=lambda f: f.__name__)
def test_accumulation_equal_to_the_large_batch_passes(answer):
    edf_checks.check_accumulated_training(answer)


@pytest.mark.parametrize("name", list(ACCUMULATE_WRONG))
def test_wrong_accumulation_fails(name):
    with pytest.raises(AssertionError, match="expected") as failure:
        edf_checks.check_accumulated_training(ACCUMULATE_WRONG[name])
    assert "got" in str(failure.value)


def test_one_over_k_is_right_with_full_micro_batches_only():
    """Why the check's data leave a short last batch: with equal micro-batches 1/k is the right weight."""
    rng = np.random.default_rng(0)
    images, labels = rng.standard_normal((12, 4)), rng.integers(0, 3, 12)
    trained = []
    for train in (train_accumulate, train_one_over_k):
        with edf.fresh_graph():
            x, y = edf.Input(), edf.Input()
            w = edf.Parameter(np.zeros((4, 3)))
            loss = edf.LogLoss(edf.Aref(edf.Softmax(edf.VDot(x, w)), y))
            train(x, y, loss, images, labels, 3, 2, 0.5, 1)
            trained.append(w.value)
    np.testing.assert_allclose(trained[0], trained[1])
    with pytest.raises(AssertionError, match="micro=3, k=3"):  # 23 examples: a last batch of 5 = 3 + 2
        edf_checks.check_accumulated_training(train_one_over_k)


def test_holding_the_whole_batch_fails_saying_so():
    with pytest.raises(AssertionError, match="at most micro = 3 examples at a time, got 9"):
        edf_checks.check_accumulated_training(train_whole_batch_at_once)


# --- the notebook's own cells ------------------------------------------------------------------------

NOTEBOOK_EXERCISES = {
    "nb03_mse_grad": ("mse_grad_minibatch", edf_checks.check_mse_grad),
    "nb03_train_accumulate": ("train_accumulate", edf_checks.check_accumulated_training),
}


@pytest.mark.parametrize("grade_id", list(NOTEBOOK_EXERCISES))
def test_notebook_solutions_pass_and_blank_cells_fail(grade_id):
    name, checker = NOTEBOOK_EXERCISES[grade_id]
    for student, should_pass in ((False, True), (True, False)):
        namespace = exec_cell(notebook_solution_cells(student)[grade_id], grade_id)
        if should_pass:
            checker(namespace[name])
        else:
            with pytest.raises(AssertionError, match="NotImplementedError"):
                checker(namespace[name])
