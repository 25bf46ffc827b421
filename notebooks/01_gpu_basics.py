# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · CPU vs GPU: MIMD, SIMD, SIMT and the roofline of this machine
#
# Deep learning runs on GPUs because its work is *the same small operation on very many
# numbers*. This notebook measures what that means on the machine in front of you.
#
# **You will learn**
# - what hardware you have (cores, vector width, memory; a GPU if there is one) and how it compares
#   with the GPUs and CPUs the lectures used;
# - why the same computation is 10-1000x faster written as one array operation than as a Python
#   loop: the CPU's SIMD lanes, and the GPU's thousands of SIMT threads;
# - how to read a roofline: whether an operation is limited by memory bandwidth or by arithmetic.
#
# **Outline**
# 1. The hardware in front of you
# 2. SIMD: a Python loop vs numpy for `max(X, 0)`
# 3. *(coming next)* MIMD with processes, SIMT kernels and divergence, the roofline of this machine,
#    when the GPU wins, the asynchronous-launch pitfall, map-reduce vs streaming SGD vs GPUs
#
# **Time**: about 1 minute on a laptop (quick mode: under 30 seconds).

# %% [markdown]
# ## Setup
# One call prepares the notebook: it switches numba-cuda to its CPU simulator when there is no GPU
# (this must happen before numba is imported), seeds the random generators, sets the plot style,
# and prints one line about this machine. Run it first, every time.

# %% tags=["nbval-ignore-output"]
import numpy as np

import coursekit as ck
from coursekit import device, timing

info = ck.setup()

# %% [markdown]
# ## 1. The hardware in front of you
# `device.describe()` lists the CPU (model, physical and logical cores, SIMD extensions, memory)
# and every CUDA GPU, with its streaming multiprocessors (SMs) and memory.

# %% tags=["nbval-ignore-output"]
hardware = device.describe()
hardware

# %% [markdown]
# The `vector_bits` column is the widest vector register the CPU has. One SIMD instruction works on
# that many bits at once: with 512-bit AVX-512 that is 16 float32 numbers per instruction, with
# 256-bit AVX2 it is 8. A GPU goes further: a *warp* of 32 threads executes each instruction together.

# %%
cpu = device.cpu()
floats_per_instruction = cpu.vector_bits // 32
print(f"widest vector: {cpu.vector_bits} bits = {floats_per_instruction} float32 lanes per instruction")
assert floats_per_instruction >= 4, "every x86-64 and ARMv8 CPU has at least 128-bit vectors"

# %% [markdown]
# ## 2. SIMD: one instruction, many numbers
# The lectures' running example is `max(X, 0)` (ReLU): every element is independent, so the work
# can be spread over as many lanes, cores or threads as exist. Here is the same computation as a
# Python loop, which handles one number per interpreted step, and as one numpy call, which runs a
# compiled loop over vector registers.

# %%
n = ck.size(small=100_000, default=1_000_000)
x = np.random.default_rng(0).standard_normal(n).astype(np.float32)


def relu_loop(values):
    """max(v, 0) one element at a time, as plain Python."""
    return [v if v > 0 else 0.0 for v in values]


def relu_numpy(values):
    """max(v, 0) as one vectorised numpy call."""
    return np.maximum(values, 0)


x_list = x.tolist()
assert np.array_equal(np.asarray(relu_loop(x_list), dtype=np.float32), relu_numpy(x))
print(f"{n:,} float32 elements; both versions agree")

# %% tags=["nbval-ignore-output"]
loop = timing.benchmark(relu_loop, x_list, label="Python loop", min_time=0.5, max_time=3)
vectorised = timing.benchmark(relu_numpy, x, label="numpy.maximum", min_time=0.5, max_time=3)
timing.compare([loop, vectorised])

# %% [markdown]
# The `speedup` column divides the loop's median time by numpy's. Each median comes from many
# repeated calls after a warm-up, with the interquartile range (IQR) as its spread.

# %%
speedup = loop.median / vectorised.median
assert speedup > 10, f"numpy should beat the Python loop by >10x, got {speedup:.1f}x"

# %% tags=["nbval-ignore-output"]
ax = timing.plot_comparison([loop, vectorised], title=f"max(X, 0) on {n:,} floats: numpy is {speedup:.0f}x faster")

# %% [markdown]
# **What the number means.** The loop pays the interpreter's cost (fetch an object, compare, append)
# for every element; numpy pays it once per call and then streams the whole array through SIMD
# instructions. Per element, numpy takes only nanoseconds — close to the time it takes to move
# 8 bytes (read one float, write one) through memory, which is the real limit for such a simple
# operation. The roofline section will make that precise.

# %% [markdown]
# ### Exercise 1.1 — vectorise saxpy (2 points)
# `saxpy` computes `a * x + y` for a number `a` and vectors `x`, `y` — the "hello world" of vector
# units (its name comes from BLAS: Single-precision A X Plus Y). Below is the loop version. Write
# `saxpy_numpy` as one numpy expression, with no Python loop: it must give the same numbers, leave
# its inputs unchanged, and run more than 10x faster than the loop on 200,000 elements.

# %%
def saxpy_loop(a, x, y):
    """a * x + y, one element at a time (the reference)."""
    return [a * xi + yi for xi, yi in zip(x, y)]


# %% nbgrader={"grade": false, "grade_id": "nb01_saxpy", "locked": false, "schema_version": 3, "solution": true}
def saxpy_numpy(a, x, y):
    """a * x + y for numpy arrays x and y, as one vectorised expression."""
    ### BEGIN SOLUTION
    return a * x + y
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb01_saxpy_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false} tags=["nbval-ignore-output"]
from coursekit.grading import check_close, check_true

rng = np.random.default_rng(1)
xs, ys = rng.standard_normal(1000), rng.standard_normal(1000)
check_close(saxpy_numpy(2.5, xs, ys), saxpy_loop(2.5, xs.tolist(), ys.tolist()), what="saxpy_numpy(2.5, x, y)")
big_x, big_y = rng.standard_normal(200_000), rng.standard_normal(200_000)
t_loop = timing.benchmark(saxpy_loop, 2.5, big_x.tolist(), big_y.tolist(), min_time=0.2).median
t_numpy = timing.benchmark(saxpy_numpy, 2.5, big_x, big_y, min_time=0.2).median
check_true(t_loop / t_numpy > 10, f"expected saxpy_numpy to be >10x faster than the loop, measured {t_loop / t_numpy:.1f}x")
print(f"saxpy_numpy is {t_loop / t_numpy:.0f}x faster than the loop")
### BEGIN HIDDEN TESTS
check_close(saxpy_numpy(0.0, xs, ys), ys, what="saxpy_numpy(0, x, y)")
check_close(saxpy_numpy(-1.0, xs, xs), np.zeros_like(xs), what="saxpy_numpy(-1, x, x)")
x_before, y_before = xs.copy(), ys.copy()
saxpy_numpy(3.0, xs, ys)
check_close(xs, x_before, what="x after the call (inputs must not change)")
check_close(ys, y_before, what="y after the call (inputs must not change)")
x32 = xs.astype(np.float32)
check_close(saxpy_numpy(np.float32(2), x32, x32), 3 * x32, what="saxpy_numpy on float32", rtol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
# | measured here | what it showed |
# |---|---|
# | this CPU's widest vector | the number of float32 lanes one SIMD instruction handles (printed in section 1) |
# | `max(X, 0)`: Python loop vs numpy | numpy is more than 10x faster (asserted), by running a compiled SIMD loop |
#
# Next, **02 · CUDA kernels** writes the same element-wise work as a GPU kernel, one thread per
# element, and runs it on numba-cuda's simulator when there is no GPU.
