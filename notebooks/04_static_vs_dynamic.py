# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Static vs dynamic graphs
#
# A *static* framework (Theano, TensorFlow 1) first builds a symbolic graph of the whole computation
# and compiles it; a *dynamic* one (PyTorch eager) runs each operation as Python reaches it. Seeing
# the whole graph in advance lets a compiler rewrite it: fuse element-wise operations, reuse
# buffers, replace unstable formulas with stable ones.
#
# **You will learn**
# - what an element-wise chain costs when every operation writes a temporary array;
# - why rewriting `log(1 + x)` as `log1p(x)` is a *correctness* optimisation, not only a speed one;
# - *(coming next)* a Theano-style symbolic graph with `grad` and optimisation passes, define-and-run
#   vs eager, `cond`/`foldl` vs Python `if`/`for`, and today's `torch.fx` and `torch.compile`.
#
# **Outline**
# 1. The cost of temporaries: an element-wise chain, naive vs fused by hand
# 2. A stability rewrite: `log(1 + x)` vs `log1p(x)`
#
# **Time**: under a minute (quick mode: about 10 seconds).

# %% tags=["nbval-ignore-output"]
import numpy as np

import coursekit as ck
from coursekit import compare, timing

info = ck.setup()

# %% [markdown]
# ## 1. The cost of temporaries
# Evaluated eagerly, `y = 2 * x * x + 3 * x + 1` creates a new array for every intermediate result
# and sweeps memory once per operation. A compiler that sees the whole expression can evaluate it
# in fewer passes that reuse one output buffer. Below, the "fused" version is what such a compiler
# might emit, written by hand with numpy's `out=` arguments and Horner's rule
# (`(2 * x + 3) * x + 1`: four operations instead of five).

# %%
n = ck.size(small=1_000_000, default=10_000_000)
x = np.random.default_rng(0).standard_normal(n).astype(np.float32)


def eager(x):
    """Five operations, four temporaries, as a dynamic framework runs them."""
    return 2 * x * x + 3 * x + 1


def fused(x, out):
    """Three in-place passes over one output buffer: ((2 * x) + 3) * x + 1."""
    np.multiply(x, 2, out=out)
    np.add(out, 3, out=out)
    np.multiply(out, x, out=out)
    np.add(out, 1, out=out)
    return out


buffer = np.empty_like(x)
np.testing.assert_allclose(fused(x, buffer), eager(x), rtol=1e-5, atol=1e-5)
print(f"{n:,} elements: both evaluations agree")

# %% tags=["nbval-ignore-output"]
t_eager = timing.benchmark(eager, x, label="eager (temporaries)")
t_fused = timing.benchmark(fused, x, buffer, label="fused by hand (one buffer)")
compare.compare([t_eager, t_fused])

# %% [markdown]
# Each full pass over the array moves `n * 4` bytes in and out of memory, so the fewer passes and
# the fewer fresh allocations, the less time. The gap you see depends on whether the arrays fit in
# this CPU's caches; on a GPU, where each operation is also a separate kernel launch, fusion
# typically matters even more.
#
# ## 2. A stability rewrite: `log(1 + x)` → `log1p(x)`
# For small `x`, `1 + x` rounds to exactly 1 in floating point, and `log(1) = 0`: the answer is
# lost before the logarithm is even taken. `log1p` computes the same mathematical function without
# forming `1 + x`. Theano applied this rewrite automatically.

# %%
small = np.array([1e-3, 1e-8, 1e-12, 1e-17])
naive = np.log(1 + small)
stable = np.log1p(small)
for value, a, b in zip(small, naive, stable):
    print(f"x = {value:.0e}:  log(1 + x) = {a:.6e}   log1p(x) = {b:.6e}")

relative_error = np.abs(naive - small) / small  # log(1 + x) ≈ x for tiny x
assert relative_error[-1] == 1.0, "log(1 + 1e-17) loses x completely in float64"
assert np.allclose(stable, small - small**2 / 2, rtol=1e-12), "log1p keeps full precision"

# %% [markdown]
# At `x = 1e-17`, the naive formula returns 0 (100 % relative error), while `log1p` is exact to
# machine precision. In a loss function this is the difference between a gradient and no gradient.

# %% [markdown]
# ### Exercise 4.1 — a stable softplus (2 points)
# `softplus(x) = log(1 + exp(x))` is a smooth ReLU. Written naively it overflows for large `x`
# (`exp(1000)` is infinite) and loses all precision for very negative `x` (`1 + exp(-50)` rounds
# to 1). Rewrite it, as a graph optimiser would, using `max(x, 0) + log1p(exp(-|x|))` (why is that
# the same function?). It must work on numpy arrays of any shape, without overflow warnings.

# %% nbgrader={"grade": false, "grade_id": "nb04_softplus", "locked": false, "schema_version": 3, "solution": true}
def softplus(x):
    """log(1 + exp(x)) for a numpy array x, stable for large and very negative x."""
    ### BEGIN SOLUTION
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb04_softplus_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from coursekit.checks import check_close

moderate = np.array([-5.0, -1.0, 0.0, 1.0, 5.0])
check_close(softplus(moderate), np.log(1 + np.exp(moderate)), what="softplus on moderate values")
with np.errstate(over="raise"):
    check_close(softplus(np.array([1000.0])), np.array([1000.0]), what="softplus(1000) (no overflow)")
check_close(softplus(np.array([-50.0])), np.exp(np.array([-50.0])), what="softplus(-50) ≈ exp(-50)", rtol=1e-12,
            atol=0)
print("softplus is stable at both ends")
### BEGIN HIDDEN TESTS
grid = np.linspace(-30, 30, 60).reshape(3, 20)
check_close(softplus(grid), np.logaddexp(0, grid), what="softplus on a 3 x 20 grid", rtol=1e-12)
with np.errstate(over="raise", under="ignore"):
    check_close(softplus(np.array([-1000.0, 1e4])), np.array([0.0, 1e4]), what="softplus at -1000 and 1e4")
x32 = np.array([-3.0, 0.5, 40.0], dtype=np.float32)
check_close(softplus(x32), np.logaddexp(0, x32.astype(np.float64)), what="softplus on float32", rtol=1e-6)
### END HIDDEN TESTS


# %% [markdown]
# ## Summary
# - Eager evaluation of an element-wise chain pays one memory pass and one temporary per operation;
#   a compiler that sees the graph can fuse them (timed above).
# - Graph rewrites also buy stability: `log1p` keeps the answer that `log(1 + x)` rounds away.
#
# Next, **05 · Applications** trains real networks — a CNN and RNNs — on CPU and GPU.
