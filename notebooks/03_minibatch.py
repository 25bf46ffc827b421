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
# many vector-matrix products into one matrix-matrix product.
#
# **You will learn**
# - how a batch dimension turns a loop over examples into one array operation, with the same result;
# - how throughput (examples per second) grows with the batch size on this machine;
# - *(coming next)* the EDF mini-framework with a batch dimension, softmax regression on numpy, CuPy
#   and PyTorch, an MLP on Fashion-MNIST, and data-parallel SGD over processes.
#
# **Outline**
# 1. One gradient, two ways: per-example loop vs one batched computation
# 2. Throughput vs batch size
#
# **Time**: under a minute (quick mode: about 15 seconds).

# %% tags=["nbval-ignore-output"]
import matplotlib.pyplot as plt
import numpy as np

import coursekit as ck
from coursekit import compare, timing

info = ck.setup()

# %% [markdown]
# ## 1. One gradient, two ways
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
    for x, y in zip(X, Y):
        p = softmax(x @ W)
        g += np.outer(x, p - y)
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
per_example = timing.benchmark(grad_per_example, X, Y, W, label="per-example loop")
batched = timing.benchmark(grad_minibatch, X, Y, W, label="minibatch")
compare.compare([per_example, batched])

# %%
speedup = per_example.median / batched.median
assert speedup > 5, f"the minibatch gradient should be >5x faster than the loop, got {speedup:.1f}x"

# %% [markdown]
# For numpy on a CPU, minibatching is mostly about *not running Python once per example*: the loop
# pays interpreter and call overhead B times, the batched version once. On a GPU the same change is
# what lets thousands of threads work at once.
#
# ## 2. Throughput vs batch size
# How many examples per second does the batched gradient process as the batch grows?

# %% tags=["nbval-ignore-output"]
batch_sizes = ck.size(small=[1, 4, 16, 64, 256], default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048])
X_all = rng.standard_normal((max(batch_sizes), n_features)).astype(np.float32)
Y_all = np.eye(n_classes, dtype=np.float32)[rng.integers(0, n_classes, max(batch_sizes))]
throughput = []
for b in batch_sizes:
    m = timing.benchmark(grad_minibatch, X_all[:b], Y_all[:b], W, label=f"B={b}", min_time=0.1)
    throughput.append(b / m.median)

fig, ax = plt.subplots()
ax.plot(batch_sizes, throughput, "o-")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("batch size B (examples)")
ax.set_ylabel("throughput (examples per second)")
ax.set_title(f"Batched gradients: {throughput[-1] / throughput[0]:.0f}x more examples/s at B={batch_sizes[-1]} than B=1")
plt.show()

# %%
assert throughput[-1] > 5 * throughput[0], "large batches should process examples much faster than B=1"

# %% [markdown]
# Throughput rises steeply at first (fixed per-call costs are shared by more examples) and then
# flattens once the matrix products dominate: beyond that point a bigger batch no longer buys speed,
# only fewer parameter updates per epoch.

# %% [markdown]
# ### Exercise 3.1 — minibatch a gradient (2 points)
# Linear regression predicts `x @ w` and its mean squared error over a batch is
# `mean((X @ w - y) ** 2)`. Below, its gradient is computed one example at a time. Write
# `mse_grad_minibatch(X, y, w)` that returns the same average gradient for the whole batch with
# matrix operations and no Python loop. It must also be more than 5x faster than the loop for a
# batch of 512.

# %%
def mse_grad_per_example(X, y, w):
    """Average over the batch of d/dw (x_i @ w - y_i)^2 = 2 (x_i @ w - y_i) x_i, one example at a time."""
    g = np.zeros_like(w)
    for x_i, y_i in zip(X, y):
        g += 2 * (x_i @ w - y_i) * x_i
    return g / len(X)


# %% nbgrader={"grade": false, "grade_id": "nb03_mse_grad", "locked": false, "schema_version": 3, "solution": true}
def mse_grad_minibatch(X, y, w):
    """The average gradient of the squared error over the batch: shape like w."""
    ### BEGIN SOLUTION
    return 2 * X.T @ (X @ w - y) / len(X)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb03_mse_grad_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false} tags=["nbval-ignore-output"]
from coursekit.checks import check_close, check_true

rng = np.random.default_rng(3)
Xb, yb, wb = rng.standard_normal((37, 20)), rng.standard_normal(37), rng.standard_normal(20)
check_close(mse_grad_minibatch(Xb, yb, wb), mse_grad_per_example(Xb, yb, wb), what="gradient for a batch of 37")
Xl, yl = rng.standard_normal((512, 20)), rng.standard_normal(512)
t_loop = timing.benchmark(mse_grad_per_example, Xl, yl, wb, min_time=0.1).median
t_batch = timing.benchmark(mse_grad_minibatch, Xl, yl, wb, min_time=0.1).median
check_true(t_loop / t_batch > 5, f"expected the minibatch gradient to be >5x faster, measured {t_loop / t_batch:.1f}x")
print(f"minibatch gradient: {t_loop / t_batch:.0f}x faster than the loop for B = 512")
### BEGIN HIDDEN TESTS
X1, y1 = rng.standard_normal((1, 7)), rng.standard_normal(1)
w7 = rng.standard_normal(7)
check_close(mse_grad_minibatch(X1, y1, w7), mse_grad_per_example(X1, y1, w7), what="gradient for a batch of 1")
w_star = rng.standard_normal(7)
X7 = rng.standard_normal((50, 7))
check_close(mse_grad_minibatch(X7, X7 @ w_star, w_star), np.zeros(7), what="gradient at the exact solution",
            atol=1e-10)
### END HIDDEN TESTS


# %% [markdown]
# ## Summary
# - The per-example and minibatch gradients are equal (checked above); the minibatch is faster by a
#   wide margin (asserted > 5x).
# - Examples per second grow with the batch size until the arithmetic itself is the bottleneck.
#
# Next, **04 · Static vs dynamic graphs** asks what a framework can do with your whole computation
# if it sees it before running it.
