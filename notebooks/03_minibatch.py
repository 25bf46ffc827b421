# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Minibatching
#
# Training computes a gradient per example and averages them. Doing that one example at a time
# leaves the hardware idle between tiny operations; doing a *minibatch* of examples at once turns
# many vector-matrix products into one matrix-matrix product. This lesson builds the lecture's
# small framework, EDF, whose every array has a batch index, and measures what minibatching buys
# here on a CPU; for a GPU it shows what is measured (when there is one) or published with its
# source.
#
# **You will learn**
# - how EDF's components compute a forward pass and a minibatched backward pass, why the loss
#   gradient starts at `1/B`, and how a gradient check catches a wrong backward (the slide's index bug);
# - how batch normalisation couples the examples of a batch, in its forward and its backward pass;
# - how throughput (examples per second) grows with the batch size, how much of a batch of one is
#   Python overhead, and where the batched matrix product sits on this machine's roofline;
# - the lecture's softmax regression, its `if i % 10` bug, the overflow of `exp`, and the same code
#   on CuPy and in PyTorch;
# - how the batch size trades time per epoch against epochs needed, and how data-parallel SGD with
#   `torch.distributed` splits one minibatch over processes.
#
# **Outline**
# 1. EDF from the slides: components, the 1/B, gradient checks, the index bug; batch normalisation,
#    dropout and a label-smoothed loss (exercises 3.1-3.3)
# 2. Per-example loop vs minibatch: throughput over B, Python overhead, the roofline (exercise 3.4)
# 3. Softmax regression on the lecture's gaussian clusters, three ways; CuPy and PyTorch
# 4. Gradient accumulation (exercise 3.5); an MLP on Fashion-MNIST with EDF
# 5. Batch size vs time to accuracy
# 6. EDF vs PyTorch on the same MLP, and where EDF's time goes
# 7. Data-parallel SGD with `torch.distributed`
#
# **Time**: about 3 minutes on 2 cores (quick mode: about 1 minute).

# %% tags=["nbval-ignore-output"]
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from tqdm.auto import tqdm

import coursekit as ck
from coursekit.checks import check_close, check_true
from coursekit.datasets import CLASS_NAMES, load_fashion_mnist
from coursekit.datasets.clusters import gaussian_clusters
from coursekit.edf import data_parallel, findings, gpu_figures, gradcheck, minibatch
from coursekit.edf import framework as edf
from coursekit.edf.slide_bug import VDotSlideBug
from coursekit.machine import caches, device, threads
from coursekit.perf import compare, published, reference, reveal, roofline, timing
from coursekit.perf.ceilings import measure_ceilings

info = ck.setup()
blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
env = {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
print(
    f"numpy BLAS: {blas['name']} {blas['version']}, {threads.blas_threads()} threads; "
    f"torch: {torch.get_num_threads()} threads; logical CPUs: {os.cpu_count()}; {env}"
)

# %% [markdown]
# **Thread settings.** (Notebooks 04 and 05 refer to this paragraph.) numpy's BLAS (OpenBLAS
# here) and torch (OpenMP, with its own copy of a BLAS) each keep a *pool* of worker threads,
# by default one per core they see. A parallel matrix product cuts its work into one part per
# thread and ends at a *barrier*: it is done when the slowest part is done. That goes wrong in
# three ways on a machine with few cores:
# - **Oversubscription.** When more threads are ready to run than there are cores (two pools of
#   one thread per core each, or other programs on the same cores), the operating system parks
#   some of them. A parked thread holds up its whole product at the barrier until it gets a core
#   back, and a scheduler time slice lasts milliseconds, while one product here takes tens of
#   microseconds.
# - **Two pools.** numpy's and torch's pools do not know about each other: used in turn, each
#   finds the cores busy with the other's threads.
# - **Waiting that holds a core.** A thread that reaches a barrier early, or an OpenMP worker
#   between two parallel regions, may *spin* (poll in a loop) instead of sleeping, to start the
#   next piece faster; while it spins it holds a core the other pool needs. The course's Jupyter
#   kernel sets `OMP_WAIT_POLICY=PASSIVE` (see `coursekit.machine.threads.KERNEL_ENV`), so torch's
#   OpenMP workers sleep instead.
#
# On a quiet machine with free cores, more threads make a large product faster; for a small one
# the splitting and the barrier can cost more than they save; on a busy machine a parked thread
# can cost far more than the arithmetic. Which one happens depends on the product's size and on
# the machine's load, so measure it, on one of this lesson's products, `(100, 784) @ (784, 128)`,
# with the default thread count and with one thread, in alternating rounds:

# %% tags=["nbval-ignore-output"]
a_demo = np.random.default_rng(0).random((100, 784), dtype=np.float32)
b_demo = np.random.default_rng(1).random((784, 128), dtype=np.float32)
default_threads = {"numpy BLAS": threads.blas_threads(), "torch": torch.get_num_threads()}
t_rounds = {"default": [], "one": []}
for _ in range(3):  # alternating rounds: a burst of load elsewhere hits both settings alike
    threads.set_threads(default_threads["numpy BLAS"] or 1)
    t_rounds["default"].append(timing.benchmark(lambda: a_demo @ b_demo, min_time=0.05).median)
    threads.set_threads(1)
    t_rounds["one"].append(timing.benchmark(lambda: a_demo @ b_demo, min_time=0.05).median)
t_default, t_single = min(t_rounds["default"]), min(t_rounds["one"])
pinned = device.usable_cpus() <= 4
if not pinned:  # plenty of cores: give the libraries their threads back
    threads.set_threads(default_threads["numpy BLAS"] or 1)
    torch.set_num_threads(default_threads["torch"])
print(f"(100, 784) @ (784, 128): {findings.thread_verdict(t_default, t_single, default_threads['numpy BLAS'])}")
print(
    f"this notebook uses {'one thread per library' if pinned else 'the default thread counts'}: "
    f"numpy BLAS {threads.blas_threads()}, torch {torch.get_num_threads()}"
)

# %% [markdown]
# On a machine with at most 4 cores the rest of this notebook runs numpy's BLAS and torch with one
# thread each (`threads.set_threads(1)`), whichever setting was faster above. The reasons are
# reproducibility and fair comparison, not speed: with one thread per library a timing does not
# depend on what the other programs on the machine do with the other cores, EDF (numpy) and torch
# are compared at equal threads, and the two pools cannot fight. The price is the speed-up that
# several threads bring to the larger products on a quiet machine (the line above says what it was
# here). With more cores the libraries keep their default pools. The lesson of this section holds
# either way: minibatching is first about *not paying a fixed cost per example*, and only then
# about parallel hardware. Even so, timings on a shared machine jump now and then: the
# measurements below repeat and keep the best round, and the assertions compare only things that
# lie far apart.
#
# ## 1. EDF from the slides
# EDF (the lecture's *educational framework*) is a computation graph built in Python: `Input`s
# hold data, `Parameter`s hold trained arrays, and every `Component` has `forward` (set my value
# from my arguments' values) and `backward` (add my contribution to my arguments' gradients). Data
# carry the **batch index `b` first**; parameters have none, since every example shares them. The
# loss is one number per example, `loss.value[b]`; `Backward(loss)` starts from
# `loss.grad[b] = 1/B`, so each parameter's gradient is the *average* over the batch. Here are
# three components as the course's `coursekit.edf.framework` writes them; the docstrings give the minibatched
# equations with the batch index written out.

# %%
display(ck.show(edf.VDot))
display(ck.show(edf.AddBias))
display(ck.show(edf.Sigmoid))

# %% [markdown]
# `VDot`'s weight gradient sums over the batch, `W.grad[i, j] += sum_b x[b, i] y.grad[b, j]`: that
# is one matrix product, `x.T @ y.grad`. `AddBias` sums its gradient over `b` for the same reason: one
# `beta` served every example. The lecture's MNIST network, with small sizes so that a gradient
# check is quick:

# %%
train_images, train_labels = load_fashion_mnist("train", source="shipped", verbose=False)
flat = train_images.reshape(len(train_images), -1)  # (N, 784): batch index first

rng = np.random.default_rng(0)
edf.clear()
x, y = edf.Input(name="x"), edf.Input(name="y")
W1 = edf.Parameter(rng.standard_normal((784, 16)) / 28, name="W1")
b1 = edf.Parameter(np.zeros(16), name="b1")
W2 = edf.Parameter(rng.standard_normal((16, 10)) / 4, name="W2")
b2 = edf.Parameter(np.zeros(10), name="b2")
L1 = edf.Sigmoid(edf.AddBias(edf.VDot(x, W1), b1))
L2 = edf.Softmax(edf.AddBias(edf.VDot(L1, W2), b2))
loss = edf.LogLoss(edf.Aref(L2, y))

x.set(flat[:8])
y.set(train_labels[:8])
edf.Forward()
edf.Backward(loss)
for node in [x, W1, b1, L1, L2, loss]:
    print(f"{node.name or type(node).__name__:8s} value {str(node.value.shape):10s} grad {node.grad.shape}")
print(f"loss.grad = {loss.grad[0]:.4f} = 1/B for B = {len(loss.grad)}")
assert W1.grad.shape == W1.value.shape and b1.grad.shape == (16,)  # parameters: no batch index

# %% [markdown]
# A **gradient check** compares every backward pass with centred finite differences of the mean
# loss, `(f(w + h) - f(w - h)) / (2 h)`, entry by entry (a sample of entries for the large `W1`),
# and reports the worst relative error `|a - n| / max(|a|, |n|, floor)`. How close must a right
# gradient come? The difference has two errors. *Truncation*: the next Taylor term leaves
# `h^2 |f3| / 6` (f3: the third derivative), a relative error of about `h^2`. *Rounding*:
# `f(w + h)` and `f(w - h)` each carry a rounding error of about `u |f|` (`u`, the unit roundoff,
# is 1.1e-16 in float64 and 6e-8 in float32), divided by `2 h` in the difference. The check runs
# in float64 with `h = 1e-5`; the cell prints both terms for float64 and float32 (float32's
# rounding term alone would swamp any gradient check). The rounding error is absolute, so a
# gradient entry much smaller than the loss cannot be resolved to a small *relative* error:
# entries below the printed `floor` are judged by their absolute error instead
# (`coursekit.edf.gradcheck`'s docstring derives it). The threshold, `1e-5`, then lies orders of
# magnitude above a right gradient's error and below a wrong one's: the next cell prints both.

# %% tags=["nbval-ignore-output"]
result = gradcheck.check_edf(loss)
print(result)
for dtype in (np.float64, np.float32):
    terms = gradcheck.expected_error(result.eps, dtype, f_scale=float(loss.value.mean()))
    print(
        f"{np.dtype(dtype).name}, h = {result.eps:.0e}: truncation ~{terms['truncation']:.0e}, "
        f"rounding ~{terms['rounding']:.0e} (absolute, for |f| = {float(loss.value.mean()):.2f})"
    )
assert result.passed, result

# %% [markdown]
# ### The slide's index bug
# The slide writes VDot's weight gradient (with `y = x W`, `x[b, j]`, `W[j, i]`) as
# `W.grad[j, i] += x[b, j] * y.grad[b, j]`. The last index should be `i`: as written, every column
# of `W.grad` gets the same vector, and it only runs at all for a square `W`.
# `coursekit.edf.slide_bug.VDotSlideBug` does exactly what the slide says; the gradient check catches it
# on a square layer at once.

# %% tags=["nbval-ignore-output"]
display(ck.show(VDotSlideBug.backward))


def square_net(vdot):
    """x (B, 6) -> vdot(x, W (6, 6)) -> softmax -> log-loss; returns the loss node and W."""
    edf.clear()
    xs, ys = edf.Input(), edf.Input()
    W = edf.Parameter(np.random.default_rng(1).standard_normal((6, 6)), name="W")
    out = edf.LogLoss(edf.Aref(edf.Softmax(vdot(xs, W)), ys))
    xs.set(np.random.default_rng(2).standard_normal((5, 6)))
    ys.set(np.array([0, 3, 5, 1, 3]))
    return out, W


buggy = gradcheck.check_edf(square_net(VDotSlideBug)[0])
fixed = gradcheck.check_edf(square_net(edf.VDot)[0])
print(f"slide's formula:  max relative error {buggy.max_rel_error:.2g} -> {'PASS' if buggy else 'FAIL'}")
print(f"fixed (index i):  max relative error {fixed.max_rel_error:.2g} -> {'PASS' if fixed else 'FAIL'}")
right_error = max(result.max_rel_error, fixed.max_rel_error)
print(findings.gradcheck_sentence(right_error, buggy.max_rel_error, result.threshold))
assert not buggy.passed and buggy.max_rel_error > 1e-2 and fixed.passed
assert right_error < result.threshold / 100  # orders of magnitude below

# %% [markdown]
# ### Exercise 3.1 — batch normalisation's backward, over the batch (4 points)
# Every component so far treats the examples of a batch independently: example `b`'s output depends
# on example `b`'s input only, so its backward is the per-example one applied to every row. **Batch
# normalisation** (Ioffe and Szegedy, 2015) breaks that on purpose. At training time it normalises
# each feature `j` with the mean and the variance *of the current minibatch*, then scales and shifts
# by trained vectors `gamma` and `beta` (shape `(J,)`, no batch index):
#
# `mu[j] = mean_b x[b, j]`, `var[j] = mean_b (x[b, j] - mu[j])^2` (divided by B),
# `xhat[b, j] = (x[b, j] - mu[j]) / sqrt(var[j] + eps)`, `z[b, j] = gamma[j] xhat[b, j] + beta[j]`.
#
# The forward is given and keeps `self.xhat` and `self.inv_std = 1 / sqrt(var + eps)`. Write
# `backward`: add the gradients with respect to `x`, `gamma` and `beta` to their `.grad`, from
# `self.grad` (the gradient arriving at `z`). Work out `d z[b', j] / d x[b, j]` for `b' != b` first:
# `x[b, j]` reaches every example's output through `mu[j]` and `var[j]`. No Python loop; remember
# `+=`, and that `self.grad` already carries the `1/B` of the mean loss. The checks compare with
# PyTorch's `batch_norm` on batches of odd sizes and start the gradients at values other than zero.


# %% nbgrader={"grade": false, "grade_id": "nb03_batchnorm", "locked": false, "schema_version": 3, "solution": true}
class BatchNorm(edf.Component):
    """Batch normalisation at training time. x: (B, J), gamma: (J,), beta: (J,) -> (B, J)."""

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

    def backward(self):
        ### BEGIN SOLUTION
        g = self.grad
        self.beta.grad += g.sum(axis=0)
        self.gamma.grad += (g * self.xhat).sum(axis=0)
        g_xhat = g * self.gamma.value  # d loss / d xhat
        # through xhat directly, through the mean (every example moves it), through the variance
        coupled = g_xhat - g_xhat.mean(axis=0) - self.xhat * (g_xhat * self.xhat).mean(axis=0)
        self.x.grad += self.inv_std * coupled
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb03_batchnorm_tests", "locked": true, "points": 4, "schema_version": 3, "solution": false}
with edf.fresh_graph():  # a layer with your BatchNorm on a batch of 7, checked against finite differences
    xs, ys = edf.Input(), edf.Input()
    W = edf.Parameter(np.random.default_rng(5).standard_normal((4, 3)), name="W")  # reached through x.grad
    gamma = edf.Parameter(np.random.default_rng(6).uniform(0.5, 2, 3), name="gamma")
    beta = edf.Parameter(np.random.default_rng(7).standard_normal(3), name="beta")
    out = edf.LogLoss(edf.Aref(edf.Softmax(BatchNorm(edf.VDot(xs, W), gamma, beta)), ys))
    xs.set(2 + np.random.default_rng(8).standard_normal((7, 4)))
    ys.set(np.array([0, 1, 2, 2, 1, 0, 1]))
    check = gradcheck.check_edf(out)
    assert check.passed, f"the gradient check of a graph using your BatchNorm failed:\n{check}"
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import edf as edf_checks

edf_checks.check_batchnorm_backward(BatchNorm)
### END HIDDEN TESTS
ck.checks.passed("nb03_batchnorm", 4, hidden=True)

# %% [markdown]
# A consequence worth knowing: a batch-normalised network's output for one example depends on the
# other examples of its batch, so at inference time (one example at a time, or a batch of one, whose
# variance is 0) frameworks switch to running averages of `mu` and `var` collected during training.
#
# ### Exercise 3.2 — dropout, at training and at inference (3 points)
# Dropout (Srivastava et al., 2014) regularises a network by zeroing each activation at random with
# probability `p` during training. Write `forward` and `backward` of `Dropout(x, p, rng)`, which draws
# its random numbers from `self.rng` (a `numpy.random.Generator`) and has a switch `self.training`:
# - at inference (`self.training` False) it must be the identity: the trained network is used as is;
# - at training, each entry `x[b, j]` is dropped with probability `p`, and the entries kept are
#   scaled so that the *expected value* of every output equals its input (work out the factor);
# - `backward` sends the gradient back through exactly what `forward` did.
#
# Decide what `forward` must keep for `backward`, which shape the random mask has (a minibatch holds
# B examples), and when a new mask is drawn.


# %% nbgrader={"grade": false, "grade_id": "nb03_dropout", "locked": false, "schema_version": 3, "solution": true}
class Dropout(edf.Component):
    """Dropout with probability p. x: (B, J) -> (B, J). Random numbers from rng; self.training switches."""

    def __init__(self, x, p, rng):
        super().__init__()
        self.x, self.p, self.rng = x, p, rng
        self.training = True

    def forward(self):
        ### BEGIN SOLUTION
        if self.training:  # one mask entry per example and feature, new at every forward
            self.scale = (self.rng.random(self.x.value.shape) >= self.p) / (1.0 - self.p)
        else:
            self.scale = 1.0
        self.value = self.x.value * self.scale
        ### END SOLUTION

    def backward(self):
        ### BEGIN SOLUTION
        self.x.grad += self.grad * self.scale
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb03_dropout_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
with edf.fresh_graph():
    xs = edf.Input()
    xs.set(np.random.default_rng(9).uniform(1, 2, (300, 40)))
    drop = Dropout(xs, 0.25, np.random.default_rng(10))
    drop.training = False
    drop.forward()
    check_close(drop.value, xs.value, what="Dropout at inference (training=False)")
    drop.training = True
    drop.forward()
    kept = drop.value != 0
    check_close(1 - kept.mean(), 0.25, what="the fraction of entries dropped at training, p=0.25", atol=0.03)
    check_close(drop.value.mean(), xs.value.mean(), what="the mean output at training (= the mean input)", rtol=0.03)
    xs.grad, drop.grad = np.zeros_like(xs.value), np.ones_like(xs.value)
    drop.backward()
    check_true(np.all(xs.grad[~kept] == 0), "expected no gradient to reach the dropped entries, got some")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import edf as edf_checks

edf_checks.check_dropout(Dropout)
### END HIDDEN TESTS
ck.checks.passed("nb03_dropout", 3, hidden=True)

# %% [markdown]
# ### Exercise 3.3 — `Softmax` and `LogLoss` fused, with label smoothing (2 points)
# Frameworks fuse the last two steps into one component that takes scores `s` (B, J) and integer
# labels `y` (B,). Many also *smooth the labels* (Szegedy et al., 2016): instead of putting all the
# target's weight on the true class they keep `1 - eps` there and spread `eps` evenly over the `J`
# classes, which keeps the network from becoming over-confident. With `p = softmax(s[b])` the loss is
#
# `l[b] = -(1 - eps) log p[y[b]] - (eps / J) sum_k log p[k]`.
#
# The forward is given (`self.smoothing` is `eps`; it keeps `self.p`). Write `backward`: the
# gradient with respect to the scores (work it out by hand; the second term needs its own
# derivation), scaled per example by the incoming `self.grad`. The labels get no gradient.


# %% nbgrader={"grade": false, "grade_id": "nb03_softmax_logloss", "locked": false, "schema_version": 3, "solution": true}
class SoftmaxLogLoss(edf.Component):
    """Label-smoothed cross-entropy from scores. s: (B, J) scores, y: (B,) labels -> (B,) losses in nats."""

    smoothing = 0.1

    def __init__(self, s, y):
        super().__init__()
        self.s, self.y = s, y

    def forward(self):
        shifted = self.s.value - self.s.value.max(axis=1, keepdims=True)  # no overflow in exp
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.p = np.exp(log_p)  # softmax, kept for backward
        eps, rows = self.smoothing, np.arange(len(log_p))
        self.value = -(1 - eps) * log_p[rows, self.y.value] - eps * log_p.mean(axis=1)

    def backward(self):
        ### BEGIN SOLUTION
        eps, n_classes = self.smoothing, self.p.shape[1]
        target = np.full_like(self.p, eps / n_classes)
        target[np.arange(len(target)), self.y.value] += 1 - eps  # the smoothed target sums to 1 per row
        self.s.grad += self.grad[:, None] * (self.p - target)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb03_softmax_logloss_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
with edf.fresh_graph():
    xs, ys = edf.Input(), edf.Input()
    W = edf.Parameter(np.random.default_rng(12).standard_normal((4, 5)))
    out = SoftmaxLogLoss(edf.VDot(xs, W), ys)
    xs.set(np.random.default_rng(13).standard_normal((6, 4)))
    ys.set(np.array([4, 0, 1, 1, 3, 2]))
    check = gradcheck.check_edf(out)
    assert check.passed, f"the gradient check of a graph ending in your SoftmaxLogLoss failed:\n{check}"
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import edf as edf_checks

edf_checks.check_smoothed_logloss_backward(SoftmaxLogLoss)
### END HIDDEN TESTS
ck.checks.passed("nb03_softmax_logloss", 2, hidden=True)

# %% [markdown]
# ## 2. Per-example loop vs minibatch
# Softmax regression predicts class probabilities `p = softmax(x W)` for an input row `x` and
# weights `W` (features x classes). The gradient of the log-loss with respect to `W` for one
# example is the outer product `x^T (p - y)`, with `y` the one-hot label. The average over a batch
# is the same thing with `x` replaced by a matrix `X` of `B` rows: `X^T (P - Y) / B`.


# %%
def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)  # subtracting the max keeps exp() from overflowing
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def grad_per_example(X, Y, W):
    """Average log-loss gradient w.r.t. W, one example at a time (B vector-matrix products)."""
    g = np.zeros_like(W)
    for x_b, y_b in zip(X, Y, strict=True):
        p = softmax(x_b @ W)
        g += np.outer(x_b, p - y_b)
    return g / len(X)


def grad_minibatch(X, Y, W):
    """The same average gradient as one (B, D) x (D, C) product and one (D, B) x (B, C) product."""
    P = softmax(X @ W)
    return X.T @ (P - Y) / len(X)


rng = np.random.default_rng(0)
n_features, n_classes = 500, 5  # the shapes of the lecture's gaussian-clusters example
W = rng.standard_normal((n_features, n_classes)).astype(np.float32) * 0.01
B = 256
X = rng.standard_normal((B, n_features)).astype(np.float32)
Y = np.eye(n_classes, dtype=np.float32)[rng.integers(0, n_classes, B)]

np.testing.assert_allclose(grad_per_example(X, Y, W), grad_minibatch(X, Y, W), rtol=1e-4, atol=1e-6)
print(f"batch of {B}: both gradients agree to float32 precision")

# %% tags=["nbval-ignore-output"]
per_example, batched = compare.interleaved(
    {"per-example loop": grad_per_example, "minibatch": grad_minibatch}, X, Y, W, check=False, min_time=0.2
)
compare.compare([per_example, batched])

# %%
loop_speedup = per_example.median / batched.median
assert loop_speedup > 5, f"the minibatch gradient should be >5x faster than the loop, got {loop_speedup:.1f}x"

# %% [markdown]
# ### Throughput over batch sizes: EDF, torch, and a GPU
# Now a whole training step (forward and backward) of the same softmax regression, in EDF and in
# PyTorch on the CPU, for B = 1 to 1024. One EDF graph serves every batch size: only the inputs'
# `.set` changes. The sizes are timed in turn, twice over, and each keeps its better round. With a
# GPU here, a GPU curve is measured too (torch, the gradient formula without autograd).

# %% tags=["nbval-ignore-output"]
batch_sizes = ck.size(small=[1, 2, 4, 8, 16, 32, 64, 256, 1024], default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
X_all = rng.standard_normal((max(batch_sizes), n_features)).astype(np.float32)
y_all = rng.integers(0, n_classes, max(batch_sizes))

edf.clear()
x, y = edf.Input(), edf.Input()
W = edf.Parameter(rng.standard_normal((n_features, n_classes)).astype(np.float32) * 0.01)
loss = edf.LogLoss(edf.Aref(edf.Softmax(edf.VDot(x, W)), y))


def edf_step(b):
    xb, yb = X_all[:b], y_all[:b]

    def step():
        x.set(xb)
        y.set(yb)
        edf.Forward()
        edf.Backward(loss)

    return step


W_t = torch.tensor(W.value, requires_grad=True)
X_t, y_t = torch.from_numpy(X_all), torch.from_numpy(y_all)


def torch_step(b):
    xb, yb = X_t[:b], y_t[:b]

    def step():
        W_t.grad = None
        torch.nn.functional.cross_entropy(xb @ W_t, yb).backward()

    return step


sweep_time = ck.size(small=0.02, default=0.1)
sweeps = {
    "EDF (numpy, CPU)": minibatch.throughput_sweep(edf_step, batch_sizes, rounds=2, min_time=sweep_time),
    "torch (CPU)": minibatch.throughput_sweep(torch_step, batch_sizes, rounds=2, min_time=sweep_time),
}
gpu_sweep = reference.gpu_result("minibatch", measure=lambda: minibatch.measure_softmax_grad("cuda"), gpu=info.gpu)
if gpu_sweep.source == "none":
    print(reveal.no_figure_line("the GPU batch-size sweep (examples per second over B)"))
else:
    sweeps[f"GPU: {gpu_sweep.label}"] = gpu_sweep.value["softmax_grad"]
    print(f"GPU curve: {gpu_sweep.label} ({gpu_sweep.source}; torch, gradient formula without autograd)")
print(pd.DataFrame({k: {r["batch"]: r["examples_per_s"] for r in rows} for k, rows in sweeps.items()}).round(0))

# %% tags=["nbval-ignore-output"]
edf_rows = sweeps["EDF (numpy, CPU)"]
gain = max(r["examples_per_s"] for r in edf_rows if r["batch"] >= 64) / edf_rows[0]["examples_per_s"]
fig, ax = plt.subplots(figsize=(7, 4))
for label, rows in sweeps.items():
    ax.plot([r["batch"] for r in rows], [r["examples_per_s"] for r in rows], "o-", label=label)
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("batch size B (examples)")
ax.set_ylabel("throughput (examples per second)")
ax.set_title(findings.throughput_title(gain))
ax.legend()
plt.show()

# %%
for name, factor in (("EDF (numpy, CPU)", 10), ("torch (CPU)", 5)):
    rows = sweeps[name]
    best_large = max(r["examples_per_s"] for r in rows if r["batch"] >= 64)
    assert best_large > factor * rows[0]["examples_per_s"], f"{name}: a large batch should beat B=1 by >{factor}x"

# %% [markdown]
# ### How much of a batch of one is Python?
# The lecture says that for NumPy, minibatching "is not so much about parallelism as about avoiding
# the slowness of Python". Measure it: fit `time per step = fixed + per_example * B` on the small
# batches. `fixed` is what a step costs whatever its size: the Python of EDF's `Forward` and
# `Backward`, a dozen numpy calls, allocations. At B = 1 the arithmetic itself is 500 x 5
# multiply-adds, twice: 10,000 FLOP, a microsecond at 10 GFLOP/s (and the roofline below shows
# this CPU's rate for such products).

# %% tags=["nbval-ignore-output"]
small = [r for r in edf_rows if r["batch"] <= 32]
fixed_s, per_example_s = minibatch.fit_fixed_cost([r["batch"] for r in small], [r["median_s"] for r in small])
overhead_share = fixed_s / edf_rows[0]["median_s"]
print(
    f"EDF step: fixed cost {fixed_s * 1e6:.1f} us + {per_example_s * 1e9:.0f} ns per example; "
    f"at B=1 the fixed cost is {overhead_share:.0%} of the step ({edf_rows[0]['median_s'] * 1e6:.1f} us)"
)

# %%
assert overhead_share > 0.5, f"at B=1 the fixed per-step cost should dominate, got {overhead_share:.0%}"

# %% [markdown]
# On this CPU, minibatching mostly *shares* that fixed cost among B examples. Does a GPU escape
# it? A GPU adds a second reason to batch: only a large batch gives its thousands of threads
# enough work. But first, the fixed cost.
#
# ### Predict, then reveal: one tiny torch operation on a GPU
# How long does **one** tiny PyTorch operation take on a GPU: `torch.add(a, b)` on two `(1, 4096)`
# bfloat16 tensors, called from Python in eager mode? The roofline's answer is bytes over
# bandwidth: the add reads two tensors and writes one, `3 x 4096 x 2` bytes, from memory that
# delivers terabytes per second. The cell below puts the datasheet ceilings on screen (for the GPU
# whose figure will be revealed, and the H100) and computes that prediction. Write your own
# estimate, in microseconds, in `my_guess` first (it is not graded), then run the cell after it.

# %%
tiny_nbytes = gpu_figures.tiny_add_bytes()  # 3 x 4096 x 2 bytes: read a and b, write a + b
tiny_device = device.gpus()[0].name if info.gpu else published.get(gpu_figures.TINY_OP_ID).device
sheet = gpu_figures.datasheet(tiny_device)
print(f"torch.add on (1, 4096) bfloat16: {tiny_nbytes:,} bytes moved; the GPU of the figure to reveal: {tiny_device}")
for d in dict.fromkeys([sheet, gpu_figures.datasheet("H100")]):
    print(f"  {d.name}: memory bandwidth {d.bytes_per_s / 1e12:.3g} TB/s (datasheet peak, {d.source})")
tiny_roofline_s = gpu_figures.roofline_seconds(tiny_nbytes, sheet.bytes_per_s)
print(
    f"the roofline's prediction on the {sheet.name}: {tiny_nbytes:,} bytes / {sheet.bytes_per_s / 1e12:.3g} TB/s "
    f"= {tiny_roofline_s * 1e9:.3g} ns per call"
)
my_guess = None  # your estimate, in us

# %%
tiny = reference.gpu_result(
    "op_overhead",
    measure=lambda: gpu_figures.tiny_op_seconds("cuda"),
    gpu=info.gpu,
    published_measurement=lambda: gpu_figures.published_figure(gpu_figures.TINY_OP_ID),
)
tiny_reveal = reveal.reveal(
    "one torch.add on (1, 4096) bfloat16, time per call",
    "us",
    tiny,
    roofline_prediction=tiny_roofline_s,
    guess=my_guess,
    roofline_basis=f"{sheet.name} datasheet bandwidth",
)
print(tiny_reveal.text())
print(findings.fixed_cost_verdict(tiny_roofline_s, tiny.value))

# %%
assert tiny_reveal.roofline_error is not None and tiny_reveal.roofline_error < -0.9, "the roofline should be >10x low"

# %% [markdown]
# The roofline has no term for a *call*: it prices bytes and FLOPs, and a tiny operation has almost
# none. What the lines above reveal (a published measurement, FlagGems issue 4558, on an A100,
# unless this machine has a GPU and measured its own) is a cost per call: Python, PyTorch's
# dispatch and the kernel launch. The same table in that issue gives 7.1 us for `(16, 4096)` too (16
# times the bytes) and 77.6 us for `(4096, 4096)`; whether each call was synchronised is not
# stated. A cost per call is what only a bigger batch amortises. What does it
# mean for the torch step of the sweep above? The cell below counts the operations that step
# dispatches (forward and backward, with a `TorchDispatchMode`; views such as a transpose launch
# nothing) and times the same `torch.add` on this CPU for comparison.

# %% tags=["nbval-ignore-output"]
tiny_cpu_s = gpu_figures.tiny_op_seconds("cpu")
print(f"the same torch.add on this CPU: {timing.format_seconds(tiny_cpu_s)} per call (measured here)")
step_ops = gpu_figures.count_ops(torch_step(1))
print(f"operations of one torch step: {step_ops.by_name}")
torch_b1_s = next(r["median_s"] for r in sweeps["torch (CPU)"] if r["batch"] == 1)
print("\n".join(findings.b1_step_estimate(step_ops.computing, step_ops.views, tiny.value, torch_b1_s)))

# %%
assert step_ops.computing >= 5, "forward and backward of the step dispatch several operations"

# %% [markdown]
# So at B = 1 a GPU step is a handful of fixed costs, whatever the GPU's peaks; the estimate is
# rough (operations that autograd dispatches from C++ may cost less than a call from Python, and a
# kernel of the step may be more than one launch), but its order of magnitude is the point. A
# batch of 1024 costs hardly more calls than a batch of one.
#
# ### The batched `VDot` on the roofline
# The lecture's MNIST layer, `(B, 784) @ (784, 128)`, does `2 * B * 784 * 128` FLOP and must at
# least read `x` and `W` and write `y`: `4 * (784 B + 784 * 128 + 128 B)` bytes in float32. At
# B = 1 it reads every weight for two FLOP each (0.5 FLOP/byte); as B grows the weights are
# reused B times and the arithmetic intensity rises towards `2 * 784 * 128 / (4 * (784 + 128))`
# FLOP/byte (printed below). Below, each B is timed on this CPU and placed on its measured
# roofline; the roof is measured with the same number of threads as the points.

# %% tags=["nbval-ignore-output"]
layer_threads = threads.in_effect()
with threads.limited(layer_threads):  # the roof and the points under it: the same threads
    ceilings = measure_ceilings()  # measured once per machine and thread count, then cached
    W_layer = rng.standard_normal((784, 128)).astype(np.float32)
    X_layer = rng.standard_normal((1024, 784)).astype(np.float32)
    layer_sizes = [1, 4, 16, 64, 256, 1024]
    layer_rows = minibatch.throughput_sweep(lambda b: lambda: X_layer[:b] @ W_layer, layer_sizes, min_time=sweep_time)
kernels = []
for r in layer_rows:
    flop, nbytes = minibatch.vdot_traffic(r["batch"], 784, 128)
    kernels.append(roofline.Kernel(f"B={r['batch']}", flop, nbytes).timed(r["median_s"], "this CPU"))
title = findings.vdot_title([k.name for k in kernels], [k.flop_per_s for k in kernels])
ax = roofline.plot(ceilings, kernels, title=title)
ax.figure.set_size_inches(7, 4.2)
plt.show()
print(
    pd.DataFrame(
        [
            {
                "B": k.name,
                "FLOP/byte": round(k.intensity, 1),
                "GFLOP/s": round(k.flop_per_s / 1e9, 1),
                "share of the roof": f"{k.flop_per_s / ceilings.attainable(k.intensity):.0%}",
            }
            for k in kernels
        ]
    ).to_string(index=False)
)
print(f"roof and points measured with {layer_threads} thread(s); roof: {ceilings.method['flops']}")
per_core = {}
for c in caches.caches():
    per_core.setdefault(c.name, c.nbytes)  # the first instance of each level: what one core sees
note = findings.cache_note(
    [(k.name, k.bytes_per_s) for k in kernels], ceilings.bytes_per_s, 784 * 128 * 4, list(per_core.items())
)
if note:
    print(note)
print(
    findings.roof_verdict(
        [findings.RoofPoint(k.name, k.intensity, k.flop_per_s) for k in kernels],
        ceilings.flop_per_s,
        ceilings.bytes_per_s,
    )
)

# %%
intensities = [k.intensity for k in kernels]
assert (
    all(a < b for a, b in zip(intensities[:-1], intensities[1:], strict=True)) and intensities[-1] > 40 * intensities[0]
)

# %% [markdown]
# At B = 1 the product is a matrix-vector product, limited by how fast the weights arrive: from
# DRAM if they are not in a cache, and the lines above say whether this machine's B = 1 point sits
# above the DRAM roof because a cache holds them. How close the large batches come to the
# arithmetic roof is printed too: a product of this size is small for a GEMM, and on a shared
# machine the large-B points scatter.
#
# What would a GPU do? The intensity of this layer can never pass the limit printed below,
# whatever B. Against the H100's datasheet figures (a prediction, not a measurement: there is no
# GPU here unless the setup line says so), that limit lies past the ridge of the FP32 CUDA cores,
# but below the ridges of the tensor cores. In float32, PyTorch uses the tensor cores only when
# TF32 is allowed (`torch.backends.cuda.matmul.allow_tf32`, off by default for matrix products);
# with TF32 or BF16 the layer stays memory-bound, so the tensor cores would not set its pace.

# %% tags=["nbval-ignore-output"]
layer_limit = findings.intensity_limit(784, 128)
h100 = next(d for d in reference.PUBLISHED.values() if "H100" in d.name)
print(f"(B, 784) @ (784, 128) in float32: intensity below {layer_limit:.1f} FLOP/byte for every B")
print(f"{h100.name}, {h100.source} (prediction, not measured):")
for line in findings.gpu_layer_prediction(layer_limit, h100.flop_per_s, h100.bytes_per_s):
    print("  " + line)
#
# ### Exercise 3.4 — minibatch a gradient, with no loop at all (2 points)
# Linear regression predicts `x @ w` and its mean squared error over a batch is
# `mean((X @ w - y) ** 2)`. Below, its gradient is computed one example at a time. Write
# `mse_grad_minibatch(X, y, w)` that returns the same average gradient for the whole batch with
# matrix operations and **no Python loop of any kind**: no `for` or `while`, no comprehension, no
# `map`, no builtin `sum` over rows, no `np.vectorize`. The hidden test reads your function's source
# for loops, and times it against this per-example loop and against a loop over the features (the
# batch vectorised, one dot product per feature): it must beat both.


# %%
def mse_grad_per_example(X, y, w):
    """Average over the batch of d/dw (x_i @ w - y_i)^2 = 2 (x_i @ w - y_i) x_i, one example at a time."""
    g = np.zeros_like(w)
    for x_i, y_i in zip(X, y, strict=True):
        g += 2 * (x_i @ w - y_i) * x_i
    return g / len(X)


# %% nbgrader={"grade": false, "grade_id": "nb03_mse_grad", "locked": false, "schema_version": 3, "solution": true}
def mse_grad_minibatch(X, y, w):
    """The average gradient of the squared error over the batch: shape like w."""
    ### BEGIN SOLUTION
    return 2 * X.T @ (X @ w - y) / len(X)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb03_mse_grad_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false} tags=["nbval-ignore-output"]
rng = np.random.default_rng(3)
Xb, yb, wb = rng.standard_normal((37, 20)), rng.standard_normal(37), rng.standard_normal(20)
check_close(mse_grad_minibatch(Xb, yb, wb), mse_grad_per_example(Xb, yb, wb), what="gradient for a batch of 37")
Xl, yl = rng.standard_normal((512, 20)), rng.standard_normal(512)
t_loop, t_batch = (
    m.median
    for m in compare.interleaved(
        {"loop": mse_grad_per_example, "batch": mse_grad_minibatch}, Xl, yl, wb, check=False, min_time=0.1
    )
)
check_true(t_loop / t_batch > 5, f"expected the minibatch gradient to be >5x faster, measured {t_loop / t_batch:.1f}x")
print(f"minibatch gradient: {t_loop / t_batch:.0f}x faster than the loop for B = 512")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import edf as edf_checks

edf_checks.check_mse_grad(mse_grad_minibatch)
### END HIDDEN TESTS
ck.checks.passed("nb03_mse_grad", 2, hidden=True)

# %% [markdown]
# ## 3. Softmax regression on the lecture's gaussian clusters, three ways
# The lecture's example (after MinPy's) fits softmax regression by full-batch gradient descent to
# 10,000 points in 500 dimensions around 5 random centres. It shows the code three times, and the
# versions differ in one thing, the indentation of the update:
#
# - **A** (first slide): the gradient step sits *inside* `if i % 10 == 0:`, so 100 iterations make
#   only 10 updates;
# - **B** (second slide): the step is dedented *out of the loop*: one update, after 100 loss evaluations;
# - **C** (the later slides): the step inside the loop, every iteration, as intended.
#
# Below they run as written, with two changes: the loss is recorded each iteration instead of
# printed every 10th, and the generator's class sizes are integers (the lecture's
# `num_samples / num_classes` is a float under Python 3). Each gets its own copy of the same
# initial weights (the functions update `w` in place).

# %% tags=["nbval-ignore-output"]
num_samples, num_features, num_classes = 10_000, 500, 5
data, label = gaussian_clusters(num_samples, num_features, num_classes, dtype="float64")


def predict(w, x):
    a = np.exp(np.dot(x, w))
    a_sum = np.sum(a, axis=1, keepdims=True)
    prob = a / a_sum
    return prob


def train_A(w, x, loops):  # the first slide: update inside `if i % 10 == 0`
    losses = []
    for i in range(loops):
        prob = predict(w, x)
        loss = -np.sum(label * np.log(prob)) / num_samples
        losses.append(loss)
        if i % 10 == 0:
            # gradient descent
            dy = prob - label
            dw = np.dot(data.T, dy) / num_samples
            w -= 0.1 * dw
    return losses


def train_B(w, x, loops):  # the second slide: update dedented out of the loop
    losses = []
    for _i in range(loops):
        prob = predict(w, x)
        loss = -np.sum(label * np.log(prob)) / num_samples
        losses.append(loss)
    # gradient descent
    dy = prob - label
    dw = np.dot(data.T, dy) / num_samples
    w -= 0.1 * dw
    return losses


def train_C(w, x, loops):  # as intended: an update every iteration
    losses = []
    for _i in range(loops):
        prob = predict(w, x)
        loss = -np.sum(label * np.log(prob)) / num_samples
        losses.append(loss)
        dy = prob - label
        dw = np.dot(data.T, dy) / num_samples
        w -= 0.1 * dw
    return losses


weight = np.random.default_rng(0).standard_normal((num_features, num_classes))
curves = {
    name: fn(weight.copy(), data, 100)
    for name, fn in [
        ("A: update inside `if i % 10`", train_A),
        ("B: update after the loop", train_B),
        ("C: update every iteration", train_C),
    ]
}
for name, losses in curves.items():
    print(f"{name:30s} loss {losses[0]:7.3f} -> {losses[-1]:.4f}")

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
for name, losses in curves.items():
    ax.plot(losses, label=name)
ax.set_yscale("log")
ax.set_xlabel("iteration")
ax.set_ylabel("training loss (nats per example)")
loss_A, loss_B, loss_C = (curves[k][-1] for k in curves)
ax.set_title(findings.indentation_title({"A": loss_A, "B": loss_B, "C": loss_C}, {"A": 10, "B": 1, "C": 100}))
ax.legend()
plt.show()

assert np.ptp(curves["B: update after the loop"]) == 0  # B never changes w inside the loop
assert loss_C < loss_A / 3 and loss_A < loss_B / 10

# %% [markdown]
# B's curve is flat: the loss is evaluated 100 times on the same weights (the assertion above checks
# it). A descends in steps, one every ten iterations; C updates every iteration.
#
# ### The lecture's `train(w, x, loops)` reads globals
# Look again at the lecture's `train`: it takes the data as `x`, but uses `x` only in `predict`.
# The labels (`label`), the data in the gradient (`data`) and the number of examples
# (`num_samples`) come from global variables. With the lecture's one data set nobody notices.
# Hand it a second data set (new points, new labels, same shapes), and its gradient mixes the
# second data set's probabilities with the first data set's points and labels.
# Below, the lecture's update-every-iteration version C against a version that reads only its
# arguments, each trained on the second data set and scored on it.

# %% tags=["nbval-ignore-output"]
def train_fixed(w, x, y, loops, eta=0.1):
    """Version C with the data, the labels and their number taken from the arguments."""
    losses = []
    for _i in range(loops):
        prob = predict(w, x)
        losses.append(-np.sum(y * np.log(prob)) / len(x))
        w -= eta * np.dot(x.T, prob - y) / len(x)
    return losses


data2, label2 = gaussian_clusters(num_samples, num_features, num_classes, seed=1, dtype="float64")
w_seed, w_fixed = weight.copy(), weight.copy()
train_C(w_seed, data2, 20)  # the lecture's signature: only x changes
train_fixed(w_fixed, data2, label2, 20)


def loss_on(w, x, y):
    return float(-np.sum(y * np.log(predict(w, x))) / len(x))


seed_loss, fixed_loss = loss_on(w_seed, data2, label2), loss_on(w_fixed, data2, label2)
print(f"after 20 steps on the second data set, its loss: lecture's train {seed_loss:.3f}, fixed {fixed_loss:.3f}")
assert fixed_loss < seed_loss / 2, "the fixed train should learn the second data set, the lecture's should not"

# %% [markdown]
# The fixed version learns the data set it is given; the lecture's ends at least twice as high
# (the assertion checks it), because its gradient pulls towards the first data set's labels. From
# here on, functions take everything they use as arguments.
#
# ### When does `exp` overflow?
# The lecture's `predict` exponentiates the scores directly. In float64 `exp` overflows above 709,
# in float32 above `log(3.4e38) = 88.72`; then `inf / inf` makes the probabilities NaN. How large
# are the scores `x W` here (500 features in [0, 1) against standard-normal weights), and how much
# larger may the features get (unnormalised inputs, say) before float32 overflows? The table scales
# them by 1 to 4. The stable form subtracts each row's maximum first, which changes nothing
# mathematically.

# %% tags=["nbval-ignore-output"]
limit = float(np.log(np.finfo(np.float32).max))
w32 = weight.astype(np.float32)
rows = []
for scale in [1, 2, 3, 4]:
    x32 = (scale * data).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = predict(w32, x32)
    stable = softmax(x32 @ w32)
    rows.append(
        {
            "feature scale": scale,
            "max score": round(float((x32 @ w32).max()), 2),
            "NaN probabilities (lecture's exp)": int(np.isnan(naive).sum()),
            "NaN probabilities (max subtracted)": int(np.isnan(stable).sum()),
        }
    )
overflow = pd.DataFrame(rows)
print(f"float32 exp overflows above {limit:.2f}")
print(overflow.to_string(index=False))
print(findings.overflow_sentence(overflow["feature scale"].tolist(), overflow["max score"].tolist(), limit))
assert overflow.iloc[0, 2] == 0 and overflow.iloc[-1, 2] > 0 and overflow.iloc[:, 3].sum() == 0

# %% [markdown]
# ### The same code on a GPU: CuPy (Option 1) and PyTorch (Option 2)
# The lecture's two ways to the GPU: swap `numpy` for `cupy`, whose arrays live on the GPU and
# whose functions have the same names; or use a framework that also computes the gradient. Written
# against an array module `xp`, one function serves both numpy and CuPy (it also uses the stable
# softmax); the PyTorch version lets `loss.backward()` find `dw`:

# %%
display(ck.show(minibatch.softmax_regression_step))
display(ck.show(minibatch.torch_softmax_regression_step))

# %% [markdown]
# Both start from the same float32 weights; after 20 steps they must agree, and then each is timed
# per iteration (10,000 x 500 x 5). With a GPU the CuPy and torch-CUDA versions are measured too.

# %% tags=["nbval-ignore-output"]
data32, label32 = data.astype(np.float32), label.astype(np.float32)
w_np = w32.copy()
w_t = torch.tensor(w32, requires_grad=True)
d_t, l_t = torch.from_numpy(data32), torch.from_numpy(label32)
for _ in range(20):
    loss_np = minibatch.softmax_regression_step(np, data32, label32, w_np)
    loss_t = minibatch.torch_softmax_regression_step(torch, d_t, l_t, w_t)
print(f"after 20 steps: numpy loss {loss_np:.5f}, torch loss {loss_t.item():.5f}")
assert np.allclose(w_np, w_t.detach().numpy(), rtol=1e-3, atol=1e-4)

iteration = {r["impl"]: r["iteration_s"] for r in minibatch.measure_softmax_regression("cpu")["softmax_regression"]}
gpu_iter = reference.gpu_result(
    "softmax_regression", measure=lambda: minibatch.measure_softmax_regression("cuda"), gpu=info.gpu
)
if gpu_iter.source == "none":
    print(reveal.no_figure_line("the CuPy and torch-CUDA iterations"))
else:
    iteration.update({f"{r['impl']}, {gpu_iter.label}": r["iteration_s"] for r in gpu_iter.value["softmax_regression"]})
print(pd.Series({k: f"{v * 1e3:.2f} ms" for k, v in iteration.items()}, name="time per iteration").to_string())

# %% [markdown]
# Each iteration reads the 20 MB of float32 data at least twice, in the two products `data @ w`
# and `data.T @ dy`; how well each library handles such a skinny product (5 columns) and how much
# extra work autograd does make the difference between the two lines above. No tier holds this
# iteration on a GPU, but its two costs are published: reading the data, at the H100's datasheet
# bandwidth and at what a STREAM-style triad reached on an H100 (BabelStream, published by Azure);
# and one fixed cost per operation, the tiny `torch.add` revealed in section 2. The operations of
# the torch step are counted here, as in section 2:

# %%
h100_sheet = gpu_figures.datasheet("H100")
h100_triad = gpu_figures.published_figure("azure-h100-babelstream-triad")
w_count = torch.tensor(w32, requires_grad=True)  # a copy: counting runs one step
iter_ops = gpu_figures.count_ops(lambda: minibatch.torch_softmax_regression_step(torch, d_t[:100], l_t[:100], w_count))
print(f"{h100_sheet.name}: {h100_sheet.bytes_per_s / 1e12:.3g} TB/s, datasheet peak ({h100_sheet.source})")
print(f"{h100_triad.value / 1e12:.3g} TB/s, {h100_triad.label}")
print(f"{tiny.value * 1e6:.3g} us per tiny op, {tiny.label}")
estimate = findings.iteration_estimate(
    2 * data32.nbytes,
    [("datasheet peak", h100_sheet.bytes_per_s), ("published triad", h100_triad.value)],
    iter_ops.computing,
    tiny.value,
)
print("\n".join(estimate))

# %%
assert h100_triad.value < h100_sheet.bytes_per_s, "a measured triad stays below the datasheet peak"
assert iter_ops.computing * tiny.value > 2 * data32.nbytes / h100_sheet.bytes_per_s  # the calls dominate

# %% [markdown]
# ## 4. An MLP on Fashion-MNIST with EDF
# The lecture's MNIST network, 784-128-10 with a sigmoid hidden layer, trained by minibatch SGD:
# for each batch, `x.set(...)`, `y.set(...)`, `edf.Forward()`, `edf.Backward(loss)`, `edf.SGD(eta)`.
# First, a question every GPU user meets: what if the batch you want does not fit in memory?
#
# ### Exercise 3.5 — one large batch's step from micro-batches (3 points)
# Every activation of a batch of B examples is stored for the backward pass, so memory grows with
# B. When a batch of the size you want does not fit on the device, **gradient accumulation** feeds
# it in pieces: k micro-batches of `micro` examples each, one `Forward` and `Backward` per piece,
# and *one* parameter update per batch that must be exactly the update of plain SGD on the whole
# batch of `micro * k` examples.
#
# Write `train_accumulate(x, y, loss, images, labels, micro, k, eta, num_epochs)`: for each epoch,
# for each batch of `micro * k` consecutive examples in order (the last batch smaller when the data
# run out), feed the batch `micro` examples at a time (the last piece may be smaller; `x` must never
# hold more than `micro` examples) and make one update equal to `edf.SGD(eta)` after a `Backward`
# on the whole batch. What you need to know about EDF: `edf.Backward(loss)` *starts every `.grad` at
# zero* and seeds `loss.grad` with `1/b` for the `b` examples in `x`; `edf.parameters` lists the
# parameters; `edf.SGD(eta)` subtracts `eta * p.grad` from each `p.value`. Decide what to add up,
# with which weights, where to reset it, and when to step.


# %% nbgrader={"grade": false, "grade_id": "nb03_train_accumulate", "locked": false, "schema_version": 3, "solution": true}
def train_accumulate(x, y, loss, images, labels, micro, k, eta, num_epochs):
    ### BEGIN SOLUTION
    batch = micro * k
    for _ in range(num_epochs):
        for start in range(0, len(images), batch):
            stop = min(start + batch, len(images))
            total = {p: np.zeros_like(p.value) for p in edf.parameters}  # reset once per batch
            for m in range(start, stop, micro):
                end = min(m + micro, stop)
                x.set(images[m:end])
                y.set(labels[m:end])
                edf.Forward()
                edf.Backward(loss)  # the mean over these end - m examples: weight it by their share
                for p in edf.parameters:
                    total[p] += p.grad * ((end - m) / (stop - start))
            for p in edf.parameters:
                p.grad = total[p]
            edf.SGD(eta)  # one step per batch
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb03_train_accumulate_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
with edf.fresh_graph():  # softmax regression on 470 gaussian-cluster points, one epoch
    pts, onehot = gaussian_clusters(470, 20, 3, seed=4, dtype="float64")
    classes = onehot.argmax(axis=1)
    xs, ys = edf.Input(), edf.Input()
    W = edf.Parameter(np.zeros((20, 3)), name="W")
    out = edf.LogLoss(edf.Aref(edf.Softmax(edf.VDot(xs, W)), ys))
    for start in range(0, len(pts), 120):  # plain SGD on batches of 120 (the last one 110)
        xs.set(pts[start : start + 120])
        ys.set(classes[start : start + 120])
        edf.Forward()
        edf.Backward(out)
        edf.SGD(0.5)
    W_plain = W.value.copy()
    W.value[...] = 0
    train_accumulate(xs, ys, out, pts, classes, 30, 4, 0.5, 1)
    check_close(W.value, W_plain, what="W after micro-batches of 30, k = 4 (vs plain SGD on batches of 120)")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import edf as edf_checks

edf_checks.check_accumulated_training(train_accumulate)
### END HIDDEN TESTS
ck.checks.passed("nb03_train_accumulate", 3, hidden=True)

# %% [markdown]
# Accumulation trades time for memory: k times as many (smaller) matrix products for the same
# update, which section 2 showed to be slower per example. PyTorch keeps adding into `.grad` until
# `zero_grad()`, so there each micro-batch's mean loss is scaled before `backward()`: by its share
# of the batch, which is 1/k when the micro-batches are equal.
#
# ### Training the MLP
# The loop below is the plain one (a batch of 100 per step) with three additions: the examples are
# shuffled each epoch, SGD uses momentum 0.9, and the test accuracy is measured after each epoch,
# drawn live with the training loss. The default mode trains on the full 60,000 images when Debian's
# `dataset-fashion-mnist` is installed (the shipped 10,000-image subset otherwise); quick mode on the subset.

# %% tags=["nbval-ignore-output"]
source = ck.size(small="shipped", default="auto")
images, labels = load_fashion_mnist("train", source=source)
test_images, test_labels = load_fashion_mnist("test", source=source)
images, test_images = images.reshape(len(images), -1), test_images.reshape(len(test_images), -1)
num_epochs, batch_size, eta = ck.size(small=3, default=8), 100, 0.1

edf.clear()
x, y = edf.Input(name="x"), edf.Input(name="y")
probs = edf.mlp(x, [784, 128, 10], activation=edf.Sigmoid, seed=0)
loss = edf.LogLoss(edf.Aref(probs, y))
model = minibatch.EDFModel(x, y, probs, loss)

live = minibatch.LivePlot("EDF MLP 784-128-10 on Fashion-MNIST")
steps_per_epoch = len(images) // batch_size
order_rng = np.random.default_rng(0)
recent = []
with timing.Timer() as training_time:
    bar = tqdm(total=num_epochs * steps_per_epoch, desc="training", file=sys.stdout, mininterval=1)
    for epoch in range(num_epochs):
        order = order_rng.permutation(len(images))
        for step in range(steps_per_epoch):
            idx = order[step * batch_size : (step + 1) * batch_size]
            x.set(images[idx])
            y.set(labels[idx])
            edf.Forward()
            edf.Backward(loss)
            edf.SGD(eta, momentum=0.9)
            recent.append(float(loss.value.mean()))
            if len(recent) == 20:  # plot the mean training loss of the last 20 minibatches
                live.update(epoch + (step + 1) / steps_per_epoch, loss=float(np.mean(recent)))
                recent.clear()
            bar.update()
        live.update(epoch + 1, accuracy=model.accuracy(test_images, test_labels))
    bar.close()
mlp_accuracy = live.accuracy[-1][1]
live.close(f"EDF MLP: test accuracy {mlp_accuracy:.3f} after {num_epochs} epochs")
print(
    f"{num_epochs} epochs of {len(images):,} images in {training_time.elapsed:.1f} s; "
    f"test accuracy {mlp_accuracy:.3f} on {len(test_images):,} images"
)

# %%
assert mlp_accuracy >= ck.size(small=0.75, default=0.85), f"test accuracy {mlp_accuracy:.3f} is too low"

# %% [markdown]
# Which images does it get wrong? A sample of the test set's mistakes, with the true and the
# predicted class:

# %% tags=["nbval-ignore-output"]
x.set(test_images)
y.set(test_labels)
edf.Forward()
predicted = probs.value.argmax(axis=1)
wrong = np.flatnonzero(predicted != test_labels)[:12]
fig, axes = plt.subplots(2, 6, figsize=(8, 4))
for ax, k in zip(axes.flat, wrong, strict=False):
    ax.imshow(test_images[k].reshape(28, 28), cmap="gray_r")
    ax.set_title(f"{CLASS_NAMES[test_labels[k]]}\n-> {CLASS_NAMES[predicted[k]]}", fontsize=7)
    ax.axis("off")
fig.suptitle(f"{(predicted != test_labels).mean():.1%} of the test images misclassified (true -> predicted)")
fig.tight_layout()
plt.show()
mistakes = [(CLASS_NAMES[t], CLASS_NAMES[p]) for t, p in zip(test_labels, predicted, strict=True) if t != p]
print(findings.confusion_sentence(mistakes, {"T-shirt/top", "Pullover", "Coat", "Shirt"}))

# %% [markdown]
# Are the mistakes between the classes a person would confuse too, shirts, T-shirts, pullovers
# and coats? The line above counts them.
#
# ## 5. Batch size vs time to accuracy
# A bigger batch makes each epoch faster (fewer Python round trips, larger matrix products) but
# takes fewer steps per epoch, so it may need more epochs. Which wins on this machine? For
# B in {1, 10, 100, 1000}, train a fresh MLP until the test accuracy reaches a fixed target, timing
# the training only (evaluations excluded).
#
# **Learning rate.** The averaged gradient of a batch of B has a noise variance proportional to
# 1/B, so a larger batch can take larger steps. The rate decides the race, so each B gets the best
# of a few rates around the square-root rule `eta = 0.1 * sqrt(B / 100)` (0.01 at B = 1, 0.32 at
# B = 1000), with momentum 0.9 throughout. The cell prints which rates each B tried: quick mode
# tunes only the fast runs (B = 100 and 1000) and runs B = 1 and 10 at the rule, so there the race
# is partly at one rule. Goyal et al. (2017) scale the rate *linearly* with B and warm it up over
# the first epochs, since a large rate can diverge from a cold start; the cell also runs the linear
# rule at B = 1000 (`eta = 0.1 * 1000 / 100 = 1.0`) without warm-up, to see whether it diverges here.

# %% tags=["nbval-ignore-output"]
tta_images, tta_labels = load_fashion_mnist("train", source="shipped", verbose=False)
tta_test, tta_test_labels = load_fashion_mnist("test", source="shipped", verbose=False)
tta_images, tta_test = tta_images.reshape(len(tta_images), -1), tta_test.reshape(len(tta_test), -1)
target = ck.size(small=0.75, default=0.80)


def race(b, eta, max_epochs=None):
    return minibatch.train_to_accuracy(
        tta_images,
        tta_labels,
        tta_test,
        tta_test_labels,
        batch=b,
        eta=eta,
        target=target,
        eval_every=max(b, len(tta_images) // 20),
        max_epochs=max_epochs or ck.size(small=8, default=20),
        max_s=ck.size(small=8, default=60),
    )


def tried_factors(b):
    """Multiples of the square-root rule tried at batch size b (quick mode: only the fast runs)."""
    return [0.5, 1.0, 2.0] if (not info.quick or b >= 100) else [1.0]


def time_or_inf(r):
    return r.train_s if r.reached else float("inf")


runs, sweep_rows = {}, []
for b in tqdm([1, 10, 100, 1000], desc="batch sizes", file=sys.stdout):
    tried = [race(b, f * 0.1 * np.sqrt(b / 100)) for f in tried_factors(b)]
    runs[b] = min(tried, key=time_or_inf)
    sweep_rows += [{"B": b, "eta": round(r.eta, 3), "seconds to target": round(time_or_inf(r), 2)} for r in tried]
tta = pd.DataFrame(
    [
        {
            "B": b,
            "best eta": round(r.eta, 3),
            "rates tried": len(tried_factors(b)),
            "reached": r.reached,
            "seconds to target": round(r.train_s, 2),
            "epochs": round(r.epochs, 2),
            "seconds per epoch": round(r.epoch_s, 2),
        }
        for b, r in runs.items()
    ]
)
print(f"target: test accuracy {target}")
print(pd.DataFrame(sweep_rows).to_string(index=False))
print(tta.to_string(index=False))
races = [findings.Race(b, r.train_s if r.reached else None, r.epochs) for b, r in runs.items()]
print(findings.tta_sentence(races))
reached = {b: r for b, r in runs.items() if r.reached}
best_b = min(reached, key=lambda b: reached[b].train_s) if reached else None
linear = race(1000, 0.1 * 1000 / 100, max_epochs=3)
last_accuracy = linear.curve[-1][2] if linear.curve else float("nan")
diverged = not np.isfinite(last_accuracy) or last_accuracy < 0.2  # 0.1 is chance for 10 classes
print(
    f"linear rule at B = 1000 (eta {linear.eta:.1f}), no warm-up: "
    + ("diverged" if diverged else "did not diverge here")
    + f"; test accuracy {last_accuracy:.3f} after {linear.epochs:.1f} epochs"
    + (f", target reached in {linear.train_s:.2f} s" if linear.reached else ", target not reached")
)

fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
for b, r in runs.items():
    epochs_seen, seconds, accuracy = zip(*r.curve, strict=True)
    ax_t.plot(seconds, accuracy, ".-", label=f"B={b}")
    ax_e.plot(epochs_seen, accuracy, ".-", label=f"B={b}")
for ax in (ax_t, ax_e):
    ax.axhline(target, color="gray", ls=":")
    ax.set_xscale("log")
ax_t.set_xlabel("training time (s)")
ax_e.set_xlabel("epochs")
ax_t.set_ylabel("test accuracy")
ax_e.legend()
fig.suptitle(findings.tta_title(races, target))
plt.show()

# %%
assert runs[1].epoch_s > 3 * runs[100].epoch_s, "an epoch at B=1 should take several times longer than at B=100"
assert runs[100].reached and runs[1000].reached, "B=100 and B=1000 should reach the target"
assert runs[1000].epochs > runs[100].epochs, "B=1000 should need more epochs than B=100"

# %% [markdown]
# What to look for: B = 1 takes the most steps per example and spends most of each in Python
# (section 2's fixed cost); B = 1000 runs an epoch fastest but takes only ten steps per epoch and
# needs more epochs (the assertions above check both). Whether the best B lies in between on this
# machine, the line under the table says. On a GPU the fixed cost per step stays (microseconds
# per operation, section 2) while the arithmetic gets far cheaper, which should move the best B up
# (a prediction: not measured here).
#
# ## 6. EDF vs PyTorch on the same MLP
# The same 784-128-10 sigmoid MLP, float32, plain SGD, batches of 100, in EDF and in PyTorch eager,
# timed in alternating rounds (an epoch over a part of the training set each). EDF runs twice: as
# the lecture wrote it, where every node gets a gradient, the images included; and with the images
# an `edf.Input(requires_grad=False)`, as torch treats its data. The second is the like-for-like
# race; the course's target is EDF's epoch no slower than PyTorch's there, and
# `benchmarks/edf_vs_torch.py` checks it with more rounds.

# %% tags=["nbval-ignore-output"]
epoch_images, epoch_labels = (
    tta_images[: ck.size(small=2000, default=10000)],
    tta_labels[: ck.size(small=2000, default=10000)],
)
edf_model = minibatch.edf_mlp()


def edf_epoch(requires_grad=True):
    edf_model.x.requires_grad = requires_grad  # False: the images get no gradient, as torch's
    for k in range(0, len(epoch_images), 100):
        edf_model.x.set(epoch_images[k : k + 100])
        edf_model.y.set(epoch_labels[k : k + 100])
        edf.Forward()
        edf.Backward(edf_model.loss)
        edf.SGD(0.1)


torch.manual_seed(0)
torch_mlp = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.Sigmoid(), torch.nn.Linear(128, 10))
opt = torch.optim.SGD(torch_mlp.parameters(), lr=0.1)
xs_t, ys_t = torch.from_numpy(epoch_images), torch.from_numpy(epoch_labels)


def torch_epoch():
    for k in range(0, len(xs_t), 100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(torch_mlp(xs_t[k : k + 100]), ys_t[k : k + 100]).backward()
        opt.step()


edf_m, like_m, torch_m = compare.interleaved(
    {
        "EDF epoch (lecture)": edf_epoch,
        "EDF epoch (images without gradient)": lambda: edf_epoch(requires_grad=False),
        "torch eager epoch": torch_epoch,
    },
    check=False,
    min_time=ck.size(small=0.5, default=3),
)
edf_model.x.requires_grad = True
edf_vs_torch, like_vs_torch = edf_m.median / torch_m.median, like_m.median / torch_m.median
print(f"EDF / torch epoch time: {edf_vs_torch:.2f} as the lecture wrote it, {like_vs_torch:.2f} like for like")
compare.compare([torch_m, like_m, edf_m])

# %%
assert edf_vs_torch < 3, f"EDF should be in the same league as torch eager, got {edf_vs_torch:.1f}x slower"
assert like_m.median < edf_m.median, "skipping the images' gradient (a matrix product per step) should save time"

# %% [markdown]
# Where does EDF's time go? Each component's `forward` and `backward` timed over one epoch
# (`framework` is the rest: zeroing gradients, the loops, `SGD`):

# %% tags=["nbval-ignore-output"]
profile = minibatch.profile_edf(minibatch.edf_mlp(), epoch_images, epoch_labels, batch=100)
print(profile.round({"forward_s": 4, "backward_s": 4, "total_s": 4, "share": 3}).to_string())
blas_share = profile.loc["VDot", "share"]
print(
    f"VDot (matrix products in BLAS): {blas_share:.0%} of the epoch; "
    f"the other components and the framework, numpy elementwise work and Python: {1 - blas_share:.0%}"
)

# %%
assert abs(profile["share"].sum() - 1) < 1e-6 and set(profile.index) >= {"VDot", "Sigmoid", "Softmax"}

# %% [markdown]
# A layer's training step has *three* matrix products, not two: the forward `x W`, and in the
# backward the weight gradient `x.T @ y.grad` and the input gradient `y.grad @ W.T`. They run in
# the same BLAS whichever framework calls them, but not the same number of them: EDF's `VDot`
# also computes the gradient of the first layer's input, the images, which nothing uses; torch
# skips it because the images do not require a gradient. Count it, and read its time from the
# race above (EDF's epoch as the lecture wrote it, and with `requires_grad=False` on the images):

# %% tags=["nbval-ignore-output"]
gemm_edf = minibatch.mlp_gemm_flop((784, 128, 10), 100)
gemm_torch = minibatch.mlp_gemm_flop((784, 128, 10), 100, input_gradient=False)
skipped = 1 - sum(gemm_torch.values()) / sum(gemm_edf.values())
print(
    f"matrix products per step at B = 100: EDF {sum(gemm_edf.values()) / 1e6:.1f} MFLOP, torch "
    f"{sum(gemm_torch.values()) / 1e6:.1f} MFLOP ({skipped:.0%} fewer: the first layer's input gradient)"
)
print(
    f"EDF epoch {edf_m.median * 1e3:.1f} ms, without the images' gradient {like_m.median * 1e3:.1f} ms; "
    + findings.edf_torch_sentence(edf_vs_torch, like_vs_torch)
)

# %%
assert 0.3 < skipped < 0.35  # 2*B*784*128 of 3*(2*B*784*128) + 3*(2*B*128*10)

# %% [markdown]
# EDF's Python and torch's eager dispatch (which also records an autograd graph) both cost
# microseconds per component; the lines above say how the two frameworks compare here, and how much
# of EDF's epoch goes to the product torch does not compute. At B = 1 the story would be the fixed
# cost of section 2.
#
# ## 7. Data-parallel SGD with `torch.distributed`
# One device is not the end: with several GPUs (or machines), each holds a copy of the model,
# computes the gradient of its *own part* of the minibatch, and an `all_reduce` sums the gradients
# across processes so that every copy takes the same averaged step. Since the loss is a batch
# mean, the average of equal parts' gradients *is* the big minibatch's gradient. PyTorch's
# `torch.distributed` does the communication (gloo on CPUs, NCCL between GPUs), and
# `DistributedDataParallel` overlaps it with the backward pass. The workers live in
# `coursekit/edf/data_parallel.py`, so `torch.multiprocessing.spawn` can start them from this notebook; here
# is the part that matters:

# %%
display(ck.show(data_parallel._averaged_gradient))

# %% [markdown]
# Two processes on this CPU (gloo, one torch thread each): first the gradient check on a batch of
# 64, then DDP training of the MLP with a global batch of 100 (50 per process); then the same
# training in one process (one thread). Starting a process can cost seconds (each imports torch).
# To see where a step's time goes, each worker also times its forward and backward twice: with
# the exchange, and again on the same slice under `model.no_sync()` (DDP's hooks run, nothing is
# exchanged); and it times one all_reduce of the gradient alone, after a barrier.

# %% tags=["nbval-ignore-output"]
ddp_steps = ck.size(small=30, default=300)
two = data_parallel.run(data_parallel.train_worker, world_size=2, steps=ddp_steps, check_batch=64)
one = data_parallel.run(data_parallel.train_worker, world_size=1, steps=ddp_steps)
grads = data_parallel.compare_gradients(two, batch=64)
print(
    f"all_reduce-averaged gradient vs one process's batch-of-64 gradient: max difference "
    f"{grads['max_abs_diff']:.1e} (largest entry {grads['max_abs_grad']:.2f}); "
    f"ranks agree: {bool(grads['ranks_agree'])}"
)
ddp = pd.DataFrame(
    [
        {
            "processes": r["world_size"],
            "examples per process": r["local_batch"],
            "ms per step": round(r["step_s"] * 1e3, 2),
            "fwd+bwd alone (ms)": round(r["compute_s"] * 1e3, 2),
            "fwd+bwd with exchange (ms)": round(r["sync_s"] * 1e3, 2),
            "all_reduce alone (ms)": round(r["allreduce_s"] * 1e3, 3),
            "threads": r["threads"],
            "loss first -> last": f"{r['first_loss']:.2f} -> {r['last_loss']:.2f}",
            "test accuracy": round(r["test_accuracy"], 3),
        }
        for r in (one[0], two[0])
    ]
)
print(f"gradient: {two[0]['gradient_nbytes'] / 1e3:.0f} kB of float32")
print(ddp.to_string(index=False))
print("\n".join(findings.ddp_sentence(one[0], two[0])))

# %%
assert grads["max_abs_diff"] < 1e-5 and grads["ranks_agree"] == 1.0
assert all(r["last_loss"] < r["first_loss"] for r in (*one, *two)), "training should lower the loss"
assert two[0]["test_accuracy"] == two[1]["test_accuracy"], "the copies of the model should stay identical"

# %% [markdown]
# **Predict, then reveal: NCCL's all-reduce on 8 GPUs.** How fast is the exchange between GPUs?
# nccl-tests, NCCL's benchmark, reports an all-reduce's *bus bandwidth*: the algorithm bandwidth
# `algbw = bytes / time` times `2 (n - 1) / n` for `n` ranks. In a ring all-reduce each rank sends
# (and receives) `2 (n - 1) / n` times the buffer, so busbw is the rate at which every GPU's link
# carries data, comparable with the link's own bandwidth whatever `n` (for `n = 2`, busbw = algbw).
# Eight H200s in one node are joined by NVLink 4 through NVSwitches. The cell below puts the
# link's datasheet bandwidth on screen, the roofline's prediction for a ring's busbw: estimate
# yours, in GB/s, in `my_guess_busbw` first.

# %%
nvlink = reference.H100_NVLINK_BYTES_PER_S_PER_DIRECTION
print(f"NVLink 4 (H100 and H200 SXM datasheets: 900 GB/s per GPU, both directions): {nvlink / 1e9:.0f} GB/s each way")
print(f"the roofline's prediction for a ring all-reduce's bus bandwidth on 8 GPUs: {nvlink / 1e9:.0f} GB/s")
my_guess_busbw = None  # your estimate, in GB/s

# %%
ring = reference.gpu_result(
    "allreduce_8gpu",
    gpu=info.gpu,
    published_measurement=lambda: gpu_figures.published_figure("mle-nccl-allreduce-8xh200-ring-16gib"),
)
ring_reveal = reveal.reveal(
    "all-reduce bus bandwidth, 8 H200s, ring",
    "GB/s",
    ring,
    roofline_prediction=nvlink,
    guess=my_guess_busbw,
    roofline_basis="NVLink 4 datasheet, one direction",
)
print(ring_reveal.text())
print("other published all-reduce runs on 8 GPUs in one node:")
for entry_id in gpu_figures.ALLREDUCE_IDS[1:]:
    entry = published.get(entry_id)
    print(f"  {entry.value:.4g} {entry.unit}, {published.label(entry)}")

# %%
assert ring_reveal.roofline_error is not None and 0 < ring_reveal.roofline_error < 1, "a ring stays below its links"
assert published.si_value(published.get("mle-nccl-allreduce-8xh200-nvls-16gib")) > nvlink  # NVLS: busbw past the wire

# %% [markdown]
# The ring reaches most of the links' bandwidth, not all of it. With NVLS (NVLink SHARP) the
# NVSwitches add the gradients themselves, so each GPU's link carries its data about once instead
# of the ring's `2 (n - 1) / n` times: the bus bandwidth, still computed with the ring's factor,
# then passes the link's 450 GB/s, and no longer describes the wire (the ml-engineering source
# explains this).
# Against these, this machine's gloo exchange of section 7's gradient, as a bus bandwidth:

# %% tags=["nbval-ignore-output"]
ring_entry = published.get("mle-nccl-allreduce-8xh200-ring-16gib")
here_busbw = gpu_figures.busbw(two[0]["gradient_nbytes"], two[0]["allreduce_s"], ranks=2)
print(
    f"gloo on this CPU, 2 processes: {here_busbw / 1e9:.3g} GB/s bus bandwidth "
    f"({two[0]['gradient_nbytes'] / 1e3:.0f} kB in {two[0]['allreduce_s'] * 1e3:.3f} ms; measured here)"
)
print(findings.allreduce_comparison(here_busbw, two[0]["gradient_nbytes"], ring.value, gpu_figures.RING_NBYTES))

# %% [markdown]
# The copies stay identical (every rank reports the same test accuracy) and the averaged gradient
# equals the big-batch one to float32 rounding (both asserted). Whether two processes are
# *faster* is a race between what halving each process's batch saves and what the exchange costs.
# The lines under the table measure both sides. Where halving a batch of 100 saves less than half
# of the compute (the second line), the step is largely fixed cost (section 2). The exchange is
# more than the all_reduce itself: DDP's hooks copy gradients into buckets, hand them to gloo's
# thread and wait, and each rank waits for the slower one at every step. On a machine with two
# cores, two ranks (one thread each) plus any other program leave no core spare, so a rank that
# the operating system parks holds up both: the contention of the setup's *Thread settings*, now
# between processes. Data parallelism pays when each device has plenty of work per step (large
# models, GPUs joined by NVLink, with NCCL).
#
# The same worker runs as a script, one process per rank started by `torchrun`, which sets
# `RANK`, `WORLD_SIZE` and the rendezvous address; on two machines add `--nnodes=2 --node_rank=0|1
# --master_addr=HOST`:
#
# ```bash
# torchrun --nproc_per_node=2 -m coursekit.edf.data_parallel --steps 100
# ```

# %% tags=["nbval-ignore-output"]
if info.quick:
    print("quick mode: torchrun not started (it runs the same train_worker as above)")
else:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "-m",
            "coursekit.edf.data_parallel",
            "--steps",
            "100",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    print(proc.stdout.strip() or proc.stderr[-2000:])
if info.gpu:
    print(f"{torch.cuda.device_count()} GPU(s) here: across GPUs the backend would be 'nccl', one process per GPU")
else:
    print("no GPU here: NCCL (the GPU backend) not run here; gloo on the CPU uses the same API")

# %% [markdown]
# ## The numbers measured here

# %% tags=["nbval-ignore-output"]
summary = pd.DataFrame(
    [
        ("minibatch vs per-example gradient (B = 256)", f"{loop_speedup:.0f}x faster"),
        ("EDF step throughput, best large B / B = 1", f"{gain:.0f}x"),
        ("EDF fixed cost per step (share of B = 1's time)", f"{fixed_s * 1e6:.0f} us ({overhead_share:.0%})"),
        ("softmax regression final loss, A / B / C", f"{loss_A:.3f} / {loss_B:.3f} / {loss_C:.4f}"),
        ("EDF MLP test accuracy", f"{mlp_accuracy:.3f} ({num_epochs} epochs, {len(images):,} images)"),
        (
            "fastest B to the target accuracy",
            f"B = {best_b} ({target:.0%} in {runs[best_b].train_s:.1f} s)" if best_b else "none",
        ),
        ("EDF / torch eager epoch (B = 100), lecture / like for like", f"{edf_vs_torch:.2f} / {like_vs_torch:.2f}"),
        ("DDP ms per step, 1 vs 2 processes", f"{one[0]['step_s'] * 1e3:.2f} vs {two[0]['step_s'] * 1e3:.2f}"),
        ("all_reduce of the gradient, 2 processes", f"{two[0]['allreduce_s'] * 1e3:.2f} ms"),
    ],
    columns=["measurement", "this machine"],
)
print(summary.to_string(index=False))

# %% [markdown]
# The GPU figures this notebook shows, with the tier each comes from (on a GPU, "measured" where a
# cell measures):

# %%
gpu_shown = [
    ("2: GPU batch-size sweep", gpu_sweep.source, gpu_sweep.label if gpu_sweep else "no tier holds it"),
    ("2: one tiny torch.add, time per call", tiny.source, tiny.label),
    ("2: a torch step at B = 1 on a GPU", "estimate", f"{step_ops.computing} operations x the tiny op's time"),
    ("3: CuPy and torch-CUDA iteration", gpu_iter.source, gpu_iter.label if gpu_iter else "no tier holds it"),
    ("3: the iteration's memory time", h100_triad.source, h100_triad.label),
    ("3: the iteration, estimated", "estimate", f"{iter_ops.computing} operations x the tiny op's time + memory"),
    ("7: NCCL all-reduce, 8 GPUs, ring", ring.source, ring.label),
]
for figure, tier, source in gpu_shown:
    print(f"{figure} [{tier}]: {source}")

# %% [markdown]
# ## Summary
# The table above holds this machine's numbers, the list under it the GPU figures. What they show:
# - EDF's components compute minibatched forward and backward passes with the batch index first;
#   `loss.grad = 1/B` makes parameter gradients batch averages, and a gradient check catches a
#   wrong backward at once (the slide's `W.grad[j, i] += x[b, j] y.grad[b, j]`).
# - A batch of one spends most of its time on the fixed cost of a step (asserted above: more than
#   half); a large batch shares it and raises the matrix product's arithmetic intensity, so
#   throughput grows with B (the table gives the factor measured here).
# - The lecture's softmax regression trains only when the update is indented inside the loop, and
#   its `train` reads its data from globals; the unstable `exp` overflows in float32 once scores
#   pass 88.72.
# - Bigger batches give faster epochs but need more of them; section 5 says which B reached the
#   target first here, and at which rate.
# - EDF and PyTorch eager run the same BLAS, but EDF as the lecture wrote it computes one product
#   more per step (the images' gradient). With the images an `Input(requires_grad=False)`, as torch's
#   data, the course's target is EDF no slower than torch eager; `python benchmarks/edf_vs_torch.py
#   --threads 1` measured 0.78 on a 2-core AMD EPYC (Zen 4) on 2026-12-03, and 0.77 with the AVX2
#   code paths forced (1.14 and 1.09 with the images' gradient).
# - Data-parallel SGD with `torch.distributed` reproduces the big-batch gradient exactly, at the
#   price of an exchange per step, which costs more than the all_reduce alone.
#
# - On a GPU, one tiny operation costs microseconds, hundreds of times (or more) what the roofline
#   predicts for its bytes (revealed in section 2 from the best tier at hand): a step at B = 1 is a handful
#   of such fixed costs, and only a bigger batch shares them. NCCL's ring all-reduce between 8 GPUs
#   reaches most, not all, of NVLink's bandwidth (section 7, published).
#
# What ran here: everything on the CPU unless the setup line found a GPU. The list above gives each
# GPU figure with its tier; without a GPU the tiny operation, the iteration's memory time and NCCL's
# all-reduce are published measurements, each labelled with its device and source; the GPU sweep of
# section 2 and the CuPy and torch-CUDA iterations of section 3 are held by no tier (measured only
# on a GPU). Next, **04 · Static vs dynamic graphs** asks what a framework can do with the whole
# computation when it sees it before running it.
