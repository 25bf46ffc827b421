# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Writing CUDA kernels
#
# A CUDA kernel is one function that thousands of GPU threads run at once, each on its own
# element. This notebook writes kernels in Python with numba-cuda. Without a GPU they run on
# numba-cuda's **simulator**, which executes every CUDA thread as a CPU thread, so you can learn
# and test thread indexing, shared memory and barriers on any laptop; with a GPU the same code
# runs on the GPU.
#
# **You will learn**
# - the copy-launch-copy flow between host (CPU) and device (GPU) memory;
# - how each thread finds its element: `threadIdx.x + blockIdx.x * blockDim.x`, and why every
#   kernel needs a bounds check;
# - what the simulator's timings mean, and what they don't.
#
# **Outline**
# 1. Vector add over a grid of blocks, checked against numpy
# 2. Simulator time vs numpy time
# 3. *(coming next)* host and device memory in detail, pictures of which thread writes which element,
#    2-D grids, shared memory and barriers (`stencil_1d` and the lecture's bug), reductions, tiled
#    matrix multiply, CUDA C and OpenCL, timing kernels right
#
# **Time**: under a minute (quick mode: about 20 seconds).

# %% tags=["nbval-ignore-output"]
import numpy as np

import coursekit as ck
from coursekit import timing

info = ck.setup()  # must come before numba is imported: it may switch on the simulator

from numba import cuda  # noqa: E402

# %% [markdown]
# ## 1. Vector add over a grid of blocks
# A launch `kernel[blocks, threads_per_block](...)` starts `blocks * threads_per_block` threads.
# Each computes its global index from its block's number and its own number inside the block.
# The grid usually has *more* threads than elements (the last block is partly empty), so each
# thread must check that its index is in range before touching memory.

# %%
@cuda.jit
def vector_add(a, b, out):
    """out[i] = a[i] + b[i].  Reference: ``out = a + b``.

    Memory contract: per thread 2 global reads and 1 global write; no shared memory, no barrier.
    """
    i = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    if i < out.size:  # the bounds check: the last block may have threads past the end
        out[i] = a[i] + b[i]


# %% [markdown]
# Choose a size that is *not* a multiple of the block size, so the bounds check matters, then copy
# the inputs to the device, launch, and copy the result back.

# %%
n = ck.size(small=1_000, default=5_000, gpu=10_000_000)
threads_per_block = 128
blocks = (n + threads_per_block - 1) // threads_per_block  # round up: every element gets a thread

rng = np.random.default_rng(0)
a = rng.standard_normal(n).astype(np.float32)
b = rng.standard_normal(n).astype(np.float32)

d_a, d_b = cuda.to_device(a), cuda.to_device(b)  # host -> device copies
d_out = cuda.device_array_like(a)  # device allocation, no copy
vector_add[blocks, threads_per_block](d_a, d_b, d_out)  # launch
out = d_out.copy_to_host()  # device -> host copy

print(f"n = {n:,}: {blocks} blocks x {threads_per_block} threads = {blocks * threads_per_block:,} threads")
np.testing.assert_allclose(out, a + b, rtol=0, atol=0)
print("kernel result equals numpy's a + b exactly")

# %% [markdown]
# ## 2. Simulator time vs numpy time
# On the simulator, each CUDA thread is a Python thread on the CPU, so a kernel is *much* slower
# than numpy. The number below measures the simulator, not a GPU: it teaches how much bookkeeping a
# thread-per-element model costs when the hardware does not provide those threads for free.

# %% tags=["nbval-ignore-output"]
where = "GPU" if info.gpu else "simulator"


def launch():
    vector_add[blocks, threads_per_block](d_a, d_b, d_out)


kernel_time = timing.benchmark(launch, label=f"vector_add ({where})", device="cuda", min_time=0.3, max_time=3,
                               min_samples=3)
numpy_time = timing.benchmark(np.add, a, b, label="numpy a + b (CPU)", min_time=0.3)
timing.compare([numpy_time, kernel_time])

# %% tags=["nbval-ignore-output"]
if info.gpu:
    print("On a GPU the kernel time includes synchronisation, so it is the real device time.")
else:
    ratio = kernel_time.median / numpy_time.median
    assert kernel_time.simulator, "without a GPU the kernel must have run on the simulator"
    assert ratio > 1, "the simulator should be slower than numpy"
    print(f"the simulator is {ratio:,.0f}x slower than numpy here: it emulates every thread in Python")

# %% [markdown]
# ### Exercise 2.1 — a saxpy kernel with a bounds check (3 points)
# Write `saxpy_kernel` so that `out[i] = a * x[i] + y[i]` for every element, one thread per
# element. The tests launch it with 64 threads per block on sizes that are *not* multiples of 64,
# so the last block has threads with nothing to do: they must not touch memory. (On the simulator
# an out-of-range index raises `IndexError`; on a GPU it silently corrupts memory.)

# %% nbgrader={"grade": false, "grade_id": "nb02_saxpy", "locked": false, "schema_version": 3, "solution": true}
@cuda.jit
def saxpy_kernel(a, x, y, out):
    """out[i] = a * x[i] + y[i].  Reference: ``out = a * x + y``.

    Memory contract: per thread 2 global reads and 1 global write; no shared memory, no barrier.
    """
    ### BEGIN SOLUTION
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a * x[i] + y[i]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb02_saxpy_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
from coursekit.grading import check_close


def run_saxpy(a, x, y, threads=64, extra_blocks=0):
    out = np.zeros_like(x)
    blocks = (x.size + threads - 1) // threads + extra_blocks
    saxpy_kernel[blocks, threads](np.float32(a), x, y, out)
    return out


rng = np.random.default_rng(2)
for size in (1, 63, 65, 200):  # none is a multiple of 64
    xs = rng.standard_normal(size).astype(np.float32)
    ys = rng.standard_normal(size).astype(np.float32)
    check_close(run_saxpy(2.0, xs, ys), 2.0 * xs + ys, what=f"saxpy_kernel with n={size}", rtol=1e-6)
print("saxpy_kernel matches numpy on n = 1, 63, 65 and 200")
### BEGIN HIDDEN TESTS
xs = rng.standard_normal(130).astype(np.float32)
ys = rng.standard_normal(130).astype(np.float32)
check_close(run_saxpy(0.0, xs, ys), ys, what="saxpy_kernel with a = 0")
check_close(run_saxpy(-1.5, xs, ys, threads=32, extra_blocks=2), -1.5 * xs + ys,
            what="saxpy_kernel with 2 surplus blocks", rtol=1e-6)
### END HIDDEN TESTS


# %% [markdown]
# ## Summary
# - A kernel is written for *one* thread; the launch configuration decides how many run.
# - `threadIdx.x + blockIdx.x * blockDim.x` gives each thread its element; a bounds check protects
#   the last, partly filled block. The result matched numpy exactly.
# - Simulator timings measure an emulator on the CPU. Only a GPU gives GPU times.
#
# Next, **03 · Minibatching** shows why deep-learning code works on batches of examples at once.
