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
# here: on a CPU, and (measured or recorded) on a GPU.
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
from coursekit.edf import data_parallel, gradcheck, minibatch
from coursekit.edf import framework as edf
from coursekit.edf.slide_bug import VDotSlideBug
from coursekit.machine import device, threads
from coursekit.perf import compare, reference, roofline, timing
from coursekit.perf.ceilings import measure_ceilings

info = ck.setup()
blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
env = {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
print(
    f"numpy BLAS: {blas['name']} {blas['version']}, {threads.blas_threads()} threads; "
    f"torch: {torch.get_num_threads()} threads; logical CPUs: {os.cpu_count()}; {env}"
)

# %% [markdown]
# **Thread settings.** numpy's BLAS and torch each keep a pool of threads, one per core unless the
# environment variables above say otherwise. A matrix product split over two threads must wait
# until *both* have a core; on a machine with few cores, shared by two pools (and by other
# programs), that wait can dwarf the arithmetic. Measure it on one of this lesson's products,
# `(100, 784) @ (784, 128)`, with the default thread count and with one thread:

# %% tags=["nbval-ignore-output"]
a_demo = np.random.default_rng(0).random((100, 784), dtype=np.float32)
b_demo = np.random.default_rng(1).random((784, 128), dtype=np.float32)
default_threads = {"numpy BLAS": threads.blas_threads(), "torch": torch.get_num_threads()}
t_default = timing.benchmark(lambda: a_demo @ b_demo, min_time=0.2).median
threads.set_threads(1)
t_single = timing.benchmark(lambda: a_demo @ b_demo, min_time=0.2).median
pinned = device.usable_cpus() <= 4
if not pinned:  # plenty of cores: give the libraries their threads back
    threads.set_threads(default_threads["numpy BLAS"] or 1)
    torch.set_num_threads(default_threads["torch"])
print(
    f"(100, 784) @ (784, 128): {t_default * 1e6:.0f} us with {default_threads['numpy BLAS']} BLAS threads, "
    f"{t_single * 1e6:.0f} us with one"
)
print(
    f"this notebook uses {'one thread per library' if pinned else 'the default thread counts'}: "
    f"numpy BLAS {threads.blas_threads()}, torch {torch.get_num_threads()}"
)

# %% [markdown]
# On a machine with at most 4 cores the rest of this notebook runs numpy's BLAS and torch with one
# thread each (`threads.set_threads(1)`), so that timings measure the code and not the fight for
# cores; with more cores the libraries keep their default pools. The lesson of this section holds
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
# loss, `(f(w + eps) - f(w - eps)) / (2 eps)`, entry by entry (a sample of entries for the large
# `W1`), and reports the worst relative error `|a - n| / max(|a|, |n|)`; in float64, right
# gradients agree to about `1e-8`, wrong ones to nothing.

# %% tags=["nbval-ignore-output"]
result = gradcheck.check_edf(loss)
print(result)
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
assert not buggy.passed and buggy.max_rel_error > 1e-2 and fixed.passed

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
# `.set` changes. The sizes are timed in turn, twice over, and each keeps its better round.

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
    print("no GPU here; no recorded reference yet: the GPU curve is missing from the plot")
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
ax.set_title(f"EDF softmax-regression step: {gain:.0f}x more examples/s at the best large B than at B=1")
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
# `Backward`, a dozen numpy calls, allocations. At B = 1 the arithmetic itself (500 x 5
# multiply-adds, twice) takes well under a microsecond.

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
# On this CPU, minibatching mostly *shares* that fixed cost among B examples. A GPU adds a second
# reason: a kernel launch costs microseconds too, and only a large batch gives its thousands of
# threads enough work.
#
# ### The batched `VDot` on the roofline
# The lecture's MNIST layer, `(B, 784) @ (784, 128)`, does `2 * B * 784 * 128` FLOP and must at
# least read `x` and `W` and write `y`: `4 * (784 B + 784 * 128 + 128 B)` bytes in float32. At
# B = 1 it reads every weight for two FLOP each (0.5 FLOP/byte); as B grows the weights are
# reused B times and the arithmetic intensity rises towards 2 * 784 * 128 / (4 * (784 + 128)) = 55
# FLOP/byte. Below, each B is timed on this CPU and placed on its measured roofline.

# %% tags=["nbval-ignore-output"]
ceilings = measure_ceilings()  # measured once per machine, then cached
W_layer = rng.standard_normal((784, 128)).astype(np.float32)
X_layer = rng.standard_normal((1024, 784)).astype(np.float32)
layer_sizes = [1, 4, 16, 64, 256, 1024]
layer_rows = minibatch.throughput_sweep(lambda b: lambda: X_layer[:b] @ W_layer, layer_sizes, min_time=sweep_time)
kernels = []
for r in layer_rows:
    flop, nbytes = minibatch.vdot_traffic(r["batch"], 784, 128)
    kernels.append(roofline.Kernel(f"B={r['batch']}", flop, nbytes).timed(r["median_s"], "this CPU"))
fastest = max(kernels, key=lambda k: k.flop_per_s)
ax = roofline.plot(
    ceilings,
    kernels,
    title=f"Batched VDot: {fastest.name} reaches {fastest.flop_per_s / kernels[0].flop_per_s:.1f}x the FLOP/s of B=1",
)
ax.figure.set_size_inches(7, 4.2)
plt.show()
print(
    pd.DataFrame(
        [{"B": k.name, "FLOP/byte": round(k.intensity, 1), "GFLOP/s": round(k.flop_per_s / 1e9, 1)} for k in kernels]
    ).to_string(index=False)
)

# %%
intensities = [k.intensity for k in kernels]
assert (
    all(a < b for a, b in zip(intensities[:-1], intensities[1:], strict=True)) and intensities[-1] > 40 * intensities[0]
)

# %% [markdown]
# At B = 1 the product is a matrix-vector product, limited by how fast the weights arrive; past the
# ridge point a large batch can use the full arithmetic rate. On this shared 2-core CPU the large-B
# points scatter (the BLAS threads compete with other work); on a GPU the same rise in intensity is
# what lets the tensor cores, not the memory, set the pace.
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
ax.set_title("Indentation decides: 10 updates (A), 1 update (B) or 100 (C)")
ax.legend()
plt.show()

loss_A, loss_B, loss_C = (curves[k][-1] for k in curves)
assert np.ptp(curves["B: update after the loop"]) == 0  # B never changes w inside the loop
assert loss_C < loss_A / 3 and loss_A < loss_B / 10

# %% [markdown]
# B's curve is flat: the loss is evaluated 100 times on the same weights. A descends in steps, one
# every ten iterations; with a learning rate of 0.1 it ends an order of magnitude above C.
#
# ### When does `exp` overflow?
# The lecture's `predict` exponentiates the scores directly. In float64 `exp` overflows above 709,
# in float32 above `log(3.4e38) = 88.7`; then `inf / inf` makes the probabilities NaN. Here the
# scores `x W` stay within about +-35 (500 features in [0, 1) against standard-normal weights), so
# even float32 is safe, but features three times larger (unnormalised inputs, say) are not. The
# stable form subtracts each row's maximum first, which changes nothing mathematically.

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
            "max score": float((x32 @ w32).max()),
            "NaN probabilities (lecture's exp)": int(np.isnan(naive).sum()),
            "NaN probabilities (max subtracted)": int(np.isnan(stable).sum()),
        }
    )
overflow = pd.DataFrame(rows)
print(f"float32 exp overflows above {limit:.1f}")
print(overflow.to_string(index=False))
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
    print("no GPU here; no recorded reference yet for the CuPy and torch-CUDA iterations")
else:
    iteration.update({f"{r['impl']}, {gpu_iter.label}": r["iteration_s"] for r in gpu_iter.value["softmax_regression"]})
print(pd.Series({k: f"{v * 1e3:.2f} ms" for k, v in iteration.items()}, name="time per iteration").to_string())

# %% [markdown]
# On the CPU both spend most of their time in the two products `data @ w` and `data.T @ dy` (20 MB
# of float32 data read twice per iteration); how well each library handles such a skinny product
# (5 columns) and how much extra work autograd does decide the difference here. On a GPU the data
# sit in memory that delivers a few TB/s, and one iteration takes a fraction of a millisecond.
#
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

# %% [markdown]
# Most mistakes are between the classes a person would confuse too: shirts, T-shirts, pullovers
# and coats.
#
# ## 5. Batch size vs time to accuracy
# A bigger batch makes each epoch faster (fewer Python round trips, larger matrix products) but
# takes fewer steps per epoch, so it may need more epochs. Which wins on this machine? For
# B in {1, 10, 100, 1000}, train a fresh MLP until the test accuracy reaches a fixed target, timing
# the training only (evaluations excluded).
#
# **Learning rate.** The averaged gradient of a batch of B has a noise variance proportional to
# 1/B, so a larger batch can take larger steps. Scaling the rate linearly with B (Goyal et al.,
# 2017) would make B = 1000's rate 1000 times B = 1's and diverges from a cold start without a
# warm-up; we scale by the square root, `eta = 0.1 * sqrt(B / 100)` (0.01 at B = 1, 0.32 at
# B = 1000), with momentum 0.9 throughout.

# %% tags=["nbval-ignore-output"]
tta_images, tta_labels = load_fashion_mnist("train", source="shipped", verbose=False)
tta_test, tta_test_labels = load_fashion_mnist("test", source="shipped", verbose=False)
tta_images, tta_test = tta_images.reshape(len(tta_images), -1), tta_test.reshape(len(tta_test), -1)
target = ck.size(small=0.75, default=0.80)
runs = {}
for b in tqdm([1, 10, 100, 1000], desc="batch sizes", file=sys.stdout):
    runs[b] = minibatch.train_to_accuracy(
        tta_images,
        tta_labels,
        tta_test,
        tta_test_labels,
        batch=b,
        eta=0.1 * np.sqrt(b / 100),
        target=target,
        eval_every=max(b, len(tta_images) // 20),
        max_epochs=ck.size(small=8, default=20),
        max_s=ck.size(small=8, default=60),
    )
tta = pd.DataFrame(
    [
        {
            "B": b,
            "eta": round(r.eta, 3),
            "reached": r.reached,
            "seconds to target": round(r.train_s, 2),
            "epochs": round(r.epochs, 2),
            "seconds per epoch": round(r.epoch_s, 2),
        }
        for b, r in runs.items()
    ]
)
print(f"target: test accuracy {target}")
print(tta.to_string(index=False))
reached = {b: r for b, r in runs.items() if r.reached}
best_b = min(reached, key=lambda b: reached[b].train_s) if reached else None

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
fig.suptitle(f"Fastest to {target:.0%} test accuracy here: B = {best_b}")
plt.show()

# %%
assert runs[1].epoch_s > 3 * runs[100].epoch_s, "an epoch at B=1 should take several times longer than at B=100"
assert runs[100].reached and runs[1000].reached, "B=100 and B=1000 should reach the target"
assert runs[1000].epochs > runs[100].epochs, "B=1000 should need more epochs than B=100"

# %% [markdown]
# B = 1 learns the most per example but spends most of its time in Python; B = 1000 runs an epoch
# fastest but takes only ten steps per epoch and needs the most epochs. The best B lies in between,
# here where the fixed cost per step is already shared while there are still many steps per epoch.
# On a GPU the fixed cost per step is larger (kernel launches) and the arithmetic cheaper, which
# moves the best B up.
#
# ## 6. EDF vs PyTorch on the same MLP
# The same 784-128-10 sigmoid MLP, float32, plain SGD, batches of 100, in EDF and in PyTorch eager,
# timed in alternating rounds (an epoch over a part of the training set each). The course's
# target is EDF's epoch within 1.3x of PyTorch's; `benchmarks/edf_vs_torch.py` checks it with
# more rounds.

# %% tags=["nbval-ignore-output"]
epoch_images, epoch_labels = (
    tta_images[: ck.size(small=2000, default=10000)],
    tta_labels[: ck.size(small=2000, default=10000)],
)
edf_model = minibatch.edf_mlp()


def edf_epoch():
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


edf_m, torch_m = compare.interleaved(
    {"EDF epoch": edf_epoch, "torch eager epoch": torch_epoch}, check=False, min_time=ck.size(small=0.5, default=3)
)
edf_vs_torch = edf_m.median / torch_m.median
print(f"EDF / torch epoch time: {edf_vs_torch:.2f}")
compare.compare([torch_m, edf_m])

# %%
assert edf_vs_torch < 3, f"EDF should be in the same league as torch eager, got {edf_vs_torch:.1f}x slower"

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
# At B = 100 the two matrix products per layer dominate, and they run in the same BLAS whichever
# framework calls them; EDF's Python costs about as much per step as torch's eager dispatch (which
# also records an autograd graph), so the two end up close. At B = 1 the story would be the fixed
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
# Two processes on this CPU (gloo, one thread each): first the gradient check on a batch of 64, then
# DDP training of the MLP with a global batch of 100 (50 per process); then the same training in
# one process. Starting a process costs seconds here (each imports torch).

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
            "all_reduce of the gradient (ms)": round(r["allreduce_s"] * 1e3, 3),
            "loss first -> last": f"{r['first_loss']:.2f} -> {r['last_loss']:.2f}",
            "test accuracy": round(r["test_accuracy"], 3),
        }
        for r in (one[0], two[0])
    ]
)
print(f"gradient: {two[0]['gradient_nbytes'] / 1e3:.0f} kB of float32")
print(ddp.to_string(index=False))

# %%
assert grads["max_abs_diff"] < 1e-5 and grads["ranks_agree"] == 1.0
assert all(r["last_loss"] < r["first_loss"] for r in (*one, *two)), "training should lower the loss"
assert two[0]["test_accuracy"] == two[1]["test_accuracy"], "the copies of the model should stay identical"

# %% [markdown]
# The copies stay identical (every rank reports the same test accuracy) and the averaged gradient
# equals the big-batch one to float32 rounding. Whether two processes are *faster* depends on how
# the time saved by halving each process's batch compares with the all_reduce of about 400 kB per
# step: read it off the two rows above (on a shared 2-core VM it goes either way from run to run).
# For this small model the exchange is a large part of a step; data parallelism pays when each
# device has plenty of work per step (large models, GPUs joined by NVLink, with NCCL).
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
    print("no GPU here: NCCL (the GPU backend) not shown; gloo on the CPU uses the same API")

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
        ("EDF / torch eager epoch time (B = 100)", f"{edf_vs_torch:.2f}"),
        ("DDP ms per step, 1 vs 2 processes", f"{one[0]['step_s'] * 1e3:.2f} vs {two[0]['step_s'] * 1e3:.2f}"),
        ("all_reduce of the gradient, 2 processes", f"{two[0]['allreduce_s'] * 1e3:.2f} ms"),
    ],
    columns=["measurement", "this machine"],
)
print(summary.to_string(index=False))

# %% [markdown]
# ## Summary
# The table above holds this machine's numbers. What they show:
# - EDF's components compute minibatched forward and backward passes with the batch index first;
#   `loss.grad = 1/B` makes parameter gradients batch averages, and a gradient check catches a
#   wrong backward at once (the slide's `W.grad[j, i] += x[b, j] y.grad[b, j]`).
# - A batch of one spends nearly all its time on the fixed cost of a step; a large batch shares it
#   and raises the matrix product's arithmetic intensity, so throughput grows by one to two orders
#   of magnitude.
# - The lecture's softmax regression trains only when the update is indented inside the loop; the
#   unstable `exp` overflows in float32 once scores pass 88.7.
# - Bigger batches give faster epochs but need more of them; time to accuracy is best in between.
# - EDF and PyTorch eager are close at B = 100 (both wait on the same BLAS; the course's target is
#   EDF within 1.3x of torch, and `python benchmarks/edf_vs_torch.py --threads 1` measured 0.89 on
#   this 2-core EPYC when the lesson was written); data-parallel SGD with
#   `torch.distributed` reproduces the big-batch gradient exactly, at the price of an all_reduce per step.
#
# What ran here: everything on the CPU. Without a GPU, the GPU curve of section 2 and the CuPy and
# torch-CUDA timings of section 3 are not measured (and no recorded reference exists yet); NCCL is
# not shown. Next, **04 · Static vs dynamic graphs** asks what a framework can do with the whole
# computation when it sees it before running it.
