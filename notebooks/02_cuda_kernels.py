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
# runs on the GPU. A small **tracer** in `coursekit` runs the same kernel source thread by thread
# and records every memory access, so we can draw who reads and writes what.
#
# **You will learn**
# - the copy-launch-copy flow between host (CPU) and device (GPU) memory;
# - how each thread finds its element: `threadIdx.x + blockIdx.x * blockDim.x`, in 1-D and 2-D,
#   and why every kernel needs a bounds check;
# - shared memory and `syncthreads`: a stencil (and the lecture's buggy version), reductions (a
#   tree, and warp shuffles that pass registers between the lanes of a warp: one barrier instead of
#   one per level), and a tiled matrix multiply; the same kernels as CUDA C and as OpenCL compiled for this CPU;
# - how to time kernels, and what the simulator's timings mean; to predict a matmul kernel's rate
#   from the roofline, then check it against the best GPU figure there is (measured here, recorded
#   on a GPU, or a published measurement, labelled);
# - what warps, occupancy and streams do to a kernel's speed (counted here, timed on a GPU), and
#   to predict a kernel's memory traffic (sectors per warp, bank conflicts) before counting it.
# - block-level kernels in Triton (a program per block, masks, a fused softmax) on its CPU
#   interpreter, guarded by a bounds checker of our own.
#
# **Outline**
# 1. Host and device memory
# 2. From one thread to a grid
# 3. 2-D grids
# 4. Shared memory and barriers: `stencil_1d`
# 5. Reductions: atomics vs a tree
# 6. Matrix multiply: naive vs tiled vs cuBLAS
# 7. CUDA C
# 8. OpenCL, compiled and run for real on this CPU
# 9. Timing kernels right
# 10. Warps and memory: coalescing, divergence, bank conflicts, grid-stride loops, occupancy, streams
# 11. Triton: block-level kernels
#
# **Time**: about 2 minutes (quick mode: under 2 minutes). Simulated kernels are slow on purpose:
# sizes stay small without a GPU.

# %% tags=["nbval-ignore-output"]
import subprocess
import tempfile
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import coursekit as ck
from coursekit.datasets import load_fashion_mnist
from coursekit.gpu import opencl, tracer, tracer_plots
from coursekit.gpu.contract import bank_conflicts, check_contract, sectors_per_warp
from coursekit.machine import caches, device
from coursekit.perf import ceilings, compare, published, reference, reveal, roofline, timing

info = ck.setup()  # must come before numba is imported: it may switch on the simulator

from numba import cuda, float32, int32

from coursekit.gpu import findings, gpu_figures, occupancy, streams, triton_setup
from coursekit.gpu.kernels import matmul, reduce, simt, stencil, transpose, warps

# %% [markdown]
# ## 1. Host and device memory
# A GPU has its own memory. In CUDA C a program allocates it (`cudaMalloc`), copies inputs in
# (`cudaMemcpy` host to device), launches the kernel, and copies results out (`cudaMemcpy` device to
# host). numba-cuda gives the same steps Python names:

# %%
a = np.arange(8, dtype=np.float32)
d_a = cuda.to_device(a)  # cudaMalloc + cudaMemcpy(host -> device)
d_out = cuda.device_array_like(a)  # cudaMalloc only: contents undefined until a kernel writes them
back = d_a.copy_to_host()  # cudaMemcpy(device -> host)
print(f"device array: shape {d_a.shape}, dtype {d_a.dtype}; copied back equal: {np.array_equal(back, a)}")
assert np.array_equal(back, a)

# %% [markdown]
# What is and isn't allowed:
# - A kernel **returns nothing**: results are written into arrays passed to it.
# - Inside a kernel there is no numpy and no allocation of global memory; only scalar arithmetic,
#   `math` functions, indexing, and fixed-size `cuda.shared.array` / `cuda.local.array`.
# - Passing a numpy array straight to a kernel works, but numba then copies it to the device and
#   back around *every* launch. Keep data on the device (`cuda.to_device`) across launches.
# - Launches are asynchronous (section 9): the host continues while the GPU works; `copy_to_host`
#   waits for the kernel that produces the data.
# - Constants are typed too: numba reads a bare `0.0` or `1.0` as a float64, and float32 mixed
#   with float64 gives float64. `acc = 0.0; acc += a[i] * b[i]` therefore sums in FP64, which many
#   GPUs run 2 to 64 times slower than FP32 (consumer cards: 64). Write `float32(0)`, as the
#   kernels of this course do (`coursekit.gpu.kernels.precision` finds float64 in a kernel, without
#   a GPU).
#
# ## 2. From one thread to a grid
# The lecture builds vector addition in steps. Each kernel below is plain Python written against
# the name `cuda`, so the *same source* runs on the simulator or a GPU (`cuda.jit(kernel)`) and in
# the tracer (`tracer.trace(kernel, blocks, threads, ...)`).

# %%
def add_one_thread(a, b, out):
    """One thread does everything: no parallelism at all.  Reference: ``out = a + b``.

    Memory contract: the single thread makes 2n global reads and n global writes.
    """
    for i in range(out.size):
        out[i] = a[i] + b[i]


def add_blocks(a, b, out):
    """N blocks of 1 thread: the block number picks the element.  Reference: ``out = a + b``.

    Memory contract: per thread 2 global reads, 1 global write; no shared memory, no barrier.
    """
    i = cuda.blockIdx.x
    out[i] = a[i] + b[i]


def add_threads(a, b, out):
    """1 block of N threads (at most 1024): the thread number picks the element.  Reference: ``a + b``.

    Memory contract: per thread 2 global reads, 1 global write; no shared memory, no barrier.
    """
    i = cuda.threadIdx.x
    out[i] = a[i] + b[i]


def add_grid(a, b, out):
    """Many blocks of many threads, with a bounds check for the partly used last block.

    Reference: ``out = a + b``. Memory contract: per thread (with i < n) 2 global reads and
    1 global write; no shared memory, no barrier.
    """
    i = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    if i < out.size:
        out[i] = a[i] + b[i]


# %%
n_small = 10
xa = np.arange(n_small, dtype=np.float32)
xb = np.full(n_small, 100, dtype=np.float32)
launches = [(add_one_thread, 1, 1), (add_blocks, n_small, 1), (add_threads, 1, n_small), (add_grid, 3, 4)]
traces = {}
for kernel, blocks, threads in launches:
    out = np.zeros(n_small, dtype=np.float32)
    cuda.jit(kernel)[blocks, threads](xa, xb, out)  # on the simulator or a GPU
    np.testing.assert_array_equal(out, xa + xb)
    traced = np.zeros(n_small, dtype=np.float32)
    traces[kernel.__name__] = tracer.trace(kernel, blocks, threads, xa, xb, traced)  # thread by thread
    np.testing.assert_array_equal(traced, xa + xb)

# %% tags=["nbval-ignore-output"]
print("all four versions compute a + b, on", "the GPU" if info.gpu else "the simulator", "and in the tracer")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(len(launches), 1, figsize=(7, 1.2 * len(launches)))
for ax, (kernel, blocks, threads) in zip(axes, launches, strict=True):
    tracer_plots.plot_writers(traces[kernel.__name__], "out", ax=ax,
                        title=f"{kernel.__name__}[{blocks}, {threads}]")
    ax.set_xlabel("")
axes[-1].set_xlabel("element of out (colour = block, number = thread within its block)")
fig.tight_layout()
plt.show()

# %% [markdown]
# `add_blocks[10, 1]` launches blocks of *one* thread. A GPU runs threads in **warps** of 32
# lanes that execute together, and a block occupies whole warps, so each of these blocks uses 1
# lane of its warp and wastes the other 31: at most 1/32 of the GPU's arithmetic. Real launches
# use blocks of 128 to 256 threads (a multiple of 32).
#
# (The lecture's CUDA C `main` for these kernels declares its device pointers as `int *a *b *c;`:
# the missing commas make it a syntax error. Note also that `int *a, b;` would make `b` an `int`,
# not a pointer: write `int *a, *b, *c;`.)
#
# In `add_grid[3, 4]` the grid has 12 threads for 10 elements: threads 2 and 3 of block 2 have
# nothing to do, and the bounds check keeps them from writing past the end. Without it:

# %%
def add_grid_unchecked(a, b, out):
    """``add_grid`` without its bounds check (wrong on purpose).  Reference: ``out = a + b``."""
    i = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    out[i] = a[i] + b[i]  # no bounds check


try:
    tracer.trace(add_grid_unchecked, 3, 4, xa, xb, np.zeros(n_small, dtype=np.float32))
except tracer.KernelError as err:
    print("tracer:", err)

# %% [markdown]
# On a GPU a write just past the end usually lands in memory the allocator reserved around `out`
# (allocations are rounded up): no error, and maybe corruption; a write far past it traps with an
# *illegal address*. `compute-sanitizer` (NVIDIA's checker, `compute-sanitizer --tool memcheck
# python script.py`) reports both. The simulator catches indices past the end, but silently
# *wraps* negative ones, as numpy does; the tracer rejects both.
#
# The tracer also counts each thread's memory traffic, the kernel's *memory contract*:

# %%
counts = traces["add_grid"].counts()
print(counts.head(4).to_string())
assert (counts["global reads"] == 2).all() and (counts["global writes"] == 1).all()
one = traces["add_one_thread"].counts()
assert one["global reads"].iloc[0] == 2 * n_small, "one thread reads everything"

# %% [markdown]
# `check_contract` makes the docstring's contract executable, as GPU-Puzzles does: it runs
# the kernel in the tracer and fails, saying why, on an index out of bounds, more reads or writes
# per thread than stated, the wrong number of barriers (or one that only some threads reach), a
# shared-memory *race* (a cell written by one thread and touched by another with no barrier
# between: what `compute-sanitizer --tool racecheck` finds on a GPU), uncoalesced access (threads
# `x` and `x + 1` on elements that are not neighbours), or wrong values. The hidden tests of every
# exercise below use it, and so do the course's kernel tests.

# %%
contract = dict(reads=2, writes=1, shared_writes=0, barriers=0, coalesced=("a", "b", "out"))
check_contract(add_grid, 3, 4, xa, xb, np.zeros(n_small, np.float32), **contract, expect={"out": xa + xb})
try:
    check_contract(add_grid_unchecked, 3, 4, xa, xb, np.zeros(n_small, np.float32), **contract)
except AssertionError as err:
    print(err)

# %% [markdown]
# ### Exercise 2.1 — a saxpy kernel with a bounds check (1 point)
# Write `saxpy_kernel` so that `out[i] = a * x[i] + y[i]` for every element, one thread per
# element. The tests launch it with 64 threads per block on sizes that are *not* multiples of 64,
# so the last block has threads with nothing to do: they must not touch memory. The hidden tests
# also run your kernel in the tracer and check its **memory contract** (the docstring's line):
# every index in bounds, at most 2 global reads and 1 write per thread, neighbouring threads on
# neighbouring elements. A GPU would let a missing bounds check pass whenever the stray write
# lands in unused memory; the tracer fails it every time.

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


# %% nbgrader={"grade": true, "grade_id": "nb02_saxpy_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from coursekit.checks import check_close


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
from coursekit.grading.hidden import kernels as kchecks

xs = rng.standard_normal(130).astype(np.float32)
ys = rng.standard_normal(130).astype(np.float32)
check_close(run_saxpy(0.0, xs, ys), ys, what="saxpy_kernel with a = 0")
check_close(run_saxpy(-1.5, xs, ys, threads=32, extra_blocks=2), -1.5 * xs + ys,
            what="saxpy_kernel with 2 surplus blocks", rtol=1e-6)
kchecks.check_saxpy(saxpy_kernel)  # the memory contract, in the tracer
### END HIDDEN TESTS
ck.checks.passed("nb02_saxpy", 1, hidden=True)

# %% [markdown]
# ## 3. 2-D grids
# Images and matrices are 2-D, and so can grids and blocks be. `cuda.grid(2)` returns this
# thread's (x, y) = (column, row). Here a 28 x 28 Fashion-MNIST image is brightened by 8 x 8
# blocks of threads: 28 is not a multiple of 8, so the blocks on the right and bottom edges are
# partly idle. Unpack it as `col, row = cuda.grid(2)` and index `img[row, col]`: the lecture's 2-D
# snippet writes `x, y = cuda.grid(2)` and `array[x, y]`, which gives the right answer but makes
# neighbouring threads (`x`, `x + 1`) touch elements a whole row apart — uncoalesced (section 10
# says what that costs).

# %%
def brighten(img, out, gain):
    """out = min(img * gain, 1) per pixel.  Reference: ``numpy.minimum(img * gain, 1)``.

    Memory contract: per thread 1 global read and 1 global write; no shared memory, no barrier.
    """
    col, row = cuda.grid(2)
    if row < img.shape[0] and col < img.shape[1]:
        out[row, col] = min(img[row, col] * gain, float32(1))  # 1.0 would make the min float64


images, labels = load_fashion_mnist("test", source="shipped", limit=1, verbose=False)
img = images[0]
bright = np.zeros_like(img)
grid2d, block2d = (4, 4), (8, 8)  # (x, y): 4 x 4 blocks of 8 x 8 threads cover 32 x 32 >= 28 x 28
cuda.jit(brighten)[grid2d, block2d](img, bright, np.float32(2.0))
np.testing.assert_allclose(bright, np.minimum(img * 2.0, 1.0))
traced_bright = np.zeros_like(img)
tr2d = tracer.trace(brighten, grid2d, block2d, img, traced_bright, np.float32(2.0))
np.testing.assert_allclose(traced_bright, bright)
print(f"{grid2d[0] * grid2d[1]} blocks of {block2d[0] * block2d[1]} threads for {img.size} pixels")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
axes[0].imshow(img, cmap="gray", vmin=0, vmax=1)
axes[0].set_title("input (pixels 0-1)")
axes[1].imshow(bright, cmap="gray", vmin=0, vmax=1)
axes[1].set_title("brighten, gain 2")
for ax in axes[:2]:
    ax.set_xlabel("column (pixel)")
    ax.set_ylabel("row (pixel)")
    ax.grid(False)
tracer_plots.plot_writers(tr2d, "out", ax=axes[2], title="which block wrote each pixel")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 2.2 — im2col: a convolution's windows as the rows of a matrix (2 points)
# A convolution slides a small `K x K` filter over an image. GPU libraries often turn it into one
# matrix product: **im2col** copies every `K x K` window of the image into one row of a matrix
# `cols`, and the convolution becomes `cols @ w.ravel()`, which a tuned matmul then runs fast
# (notebook 05's LeNet convolves 28 x 28 images with 5 x 5 filters).
#
# Write `im2col(img, cols)` for `K = 3`. Only windows that lie wholly inside the `H x W` image
# count, so there are `H - K + 1` rows of `W - K + 1` windows each. Row `p` of `cols` (shape
# `((H - K + 1) * (W - K + 1), K * K)`) holds the `p`-th window, counting windows row by row from
# the top left, and its `K * K` entries are that window's pixels, also row by row. Work out which
# pixel of `img` each element `cols[p, q]` copies. One thread per element of `cols`: the tests
# launch a 2-D grid with x over the `K * K` columns of `cols` and y over its rows, in blocks that
# do not divide either; the hidden tests check in the tracer that every index is in bounds, each
# thread reads 1 pixel and writes 1 element, and the writes of `cols` are coalesced.

# %% nbgrader={"grade": false, "grade_id": "nb02_im2col", "locked": false, "schema_version": 3, "solution": true}
K = 3


@cuda.jit
def im2col(img, cols):
    """cols[p, q] = pixel q of window p of img (K x K windows, row by row).  Reference: ``cols @ w.ravel()``
    is the valid cross-correlation of img with a K x K filter w.

    Memory contract: per thread 1 global read and 1 global write (coalesced); no shared memory, no barrier.
    """
    ### BEGIN SOLUTION
    q, p = cuda.grid(2)
    out_w = img.shape[1] - K + 1  # windows per row of the image
    if p < cols.shape[0] and q < cols.shape[1]:
        cols[p, q] = img[p // out_w + q // K, p % out_w + q % K]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb02_im2col_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from coursekit.checks import check_close, check_true


def run_im2col(img, block=(4, 8)):
    cols = np.full(((img.shape[0] - K + 1) * (img.shape[1] - K + 1), K * K), np.nan, dtype=np.float32)
    grid = ((cols.shape[1] + block[0] - 1) // block[0], (cols.shape[0] + block[1] - 1) // block[1])
    im2col[grid, block](img, cols)
    return cols


img_t = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)  # each pixel's value is its flat index
cols_t = run_im2col(img_t)  # 4 x 6 = 24 windows, 9 pixels each
check_true(not np.isnan(cols_t).any(), "im2col writes every element of cols")
check_close(cols_t[0], img_t[:K, :K].ravel(), what="im2col: the first row is the top-left window")
check_close(cols_t[-1], img_t[-K:, -K:].ravel(), what="im2col: the last row is the bottom-right window")
print("im2col fills cols; its first and last rows are the first and last windows of a 6 x 8 image")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import kernels as kchecks

img_t = np.random.default_rng(5).standard_normal((7, 10)).astype(np.float32)
w_t = np.random.default_rng(6).standard_normal((K, K)).astype(np.float32)
direct = np.array([[(img_t[r : r + K, c : c + K] * w_t).sum() for c in range(10 - K + 1)] for r in range(7 - K + 1)])
check_close(run_im2col(img_t, block=(16, 4)) @ w_t.ravel(), direct.ravel(), what="im2col: cols @ w is the convolution",
            rtol=1e-4)
kchecks.check_im2col(im2col, K)  # the memory contract, in the tracer: bounds, counts, coalesced writes
### END HIDDEN TESTS
ck.checks.passed("nb02_im2col", 2, hidden=True)

# %% [markdown]
# ## 4. Shared memory and barriers: `stencil_1d`
# A 1-D stencil of radius 3 sums each element's 7 neighbours: `out[i] = in[i-3] + ... + in[i+3]`.
# Read naively, every input element is read 7 times from slow global memory. Instead, each block
# loads its stretch of the input, plus 3 extra elements on each side (the *halo*), into fast
# **shared memory** once, waits at a **barrier** until all its threads have loaded, then computes
# from shared memory.
#
# The lecture's CUDA C version, translated line by line (its `in` pointer was offset by `RADIUS`
# into a padded array, hence the `+ R` on global reads), has three indexing bugs:

# %%
R, BLOCK = 3, 8  # small blocks, so the pictures are readable


def stencil_lecture(inp, out):
    """The lecture's stencil, bugs included.  Meant to equal ``numpy.convolve(inp, ones(7), "valid")``.

    Intended memory contract: per thread 1 global read (3 more for halo threads) and 1 write; a
    shared tile; 1 barrier. As written it indexes the tile out of bounds (see below).
    """
    temp = cuda.shared.array(BLOCK * 2 * R, float32)  # bug 1: the tile needs BLOCK + 2 * R
    gindex = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    index = cuda.threadIdx.x + R
    temp[gindex] = inp[gindex + R]  # bug 2: the shared tile is indexed with the *global* index
    if cuda.threadIdx.x < R:
        temp[index - R] = inp[index]  # bug 3: the halo is read at *local* positions of the input,
        temp[index + BLOCK] = inp[index + BLOCK + R]  # the same for every block
    cuda.syncthreads()
    result = 0.0
    for offset in range(-R, R + 1):
        result += temp[index + offset]
    out[gindex] = result


def reference_stencil(padded):
    return np.convolve(padded, np.ones(2 * R + 1, dtype=np.float32), "valid")


# %% [markdown]
# With 5 blocks (40 outputs) the global indices still fit in the oversized tile (48 floats): bug 1
# hides bug 2 for small N, so
# nothing crashes — the answers are simply wrong. Bug 2 stores each thread's element `R` cells
# left of where the sum looks for it (and, in blocks after the first, far past the part of the
# tile that is read), so sums mix in tile cells that no thread wrote (NaN in the tracer, garbage
# on a GPU); bug 3 gives every block block 0's halo.

# %%
n_st = 5 * BLOCK
padded = np.random.default_rng(7).integers(0, 10, n_st + 2 * R).astype(np.float32)
wrong = np.zeros(n_st, dtype=np.float32)
tracer.trace(stencil_lecture, n_st // BLOCK, BLOCK, padded, wrong)
bad = np.flatnonzero(~np.isclose(wrong, reference_stencil(padded)))
print(f"{bad.size} of {n_st} outputs are wrong; blocks affected: {sorted({int(b) for b in bad // BLOCK})}")
assert bad.size > 0

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(8, 2.6))
correct = reference_stencil(padded)
ax.plot(correct, "o-", label="numpy.convolve (correct)")
ax.plot(wrong, "x", color="tab:orange", ms=8, label="lecture's kernel")
unwritten = np.flatnonzero(np.isnan(wrong))
ax.plot(unwritten, np.full(unwritten.size, correct.min() - 3), "|", color="tab:red", ms=12,
        label="lecture's kernel read a tile cell nobody wrote")
for b in range(1, n_st // BLOCK):
    ax.axvline(b * BLOCK - 0.5, color="grey", lw=0.8)
ax.set_xlabel("output element (grey lines: block boundaries)")
ax.set_ylabel("sum of 7 neighbours")
ax.set_title(f"The lecture's stencil: {bad.size} of {n_st} outputs wrong, {unwritten.size} from unwritten cells")
ax.legend(fontsize=8, loc="upper right")
plt.show()

# %% [markdown]
# With 8 blocks (64 outputs), block 6 writes `temp[48]` — past the end of the tile:

# %%
n_big = 8 * BLOCK
padded_big = np.random.default_rng(8).integers(0, 10, n_big + 2 * R).astype(np.float32)
try:
    tracer.trace(stencil_lecture, n_big // BLOCK, BLOCK, padded_big, np.zeros(n_big, dtype=np.float32))
except tracer.KernelError as err:
    print("tracer:", err)

# %% [markdown]
# On a GPU a block cannot even address another block's shared memory: each block's indices are
# offsets into its own slice. A small overrun lands in unused shared memory or in this block's
# other shared arrays and goes unnoticed; a larger one traps (an *illegal address*, a sticky error
# that makes every later CUDA call of the process fail until it restarts).
# `compute-sanitizer --tool memcheck` reports the out-of-bounds shared write, and
# `--tool racecheck` reports reads of shared memory racing with writes. The simulator raises
# `IndexError` too, since its shared arrays are numpy arrays. The fix: size the tile
# `BLOCK + 2 * R`, index it with the *local* index, and load the halo from *global* positions.
# `coursekit.gpu.kernels.stencil` holds the corrected kernel:

# %%
ck.show(stencil.make_stencil_1d)

# %%
stencil_small = stencil.make_stencil_1d(R, BLOCK)
n_odd = 5 * BLOCK + 3  # not a multiple of the block
padded_odd = np.random.default_rng(9).integers(0, 10, n_odd + 2 * R).astype(np.float32)
blocks_st = (n_odd + BLOCK - 1) // BLOCK
right = np.zeros(n_odd, dtype=np.float32)
cuda.jit(stencil_small)[blocks_st, BLOCK](padded_odd, right)
np.testing.assert_allclose(right, reference_stencil(padded_odd))
traced_right = np.zeros(n_odd, dtype=np.float32)
tr_st = tracer.trace(stencil_small, blocks_st, BLOCK, padded_odd, traced_right)
np.testing.assert_allclose(traced_right, right)
print(f"fixed stencil equals numpy.convolve on {n_odd} outputs; {tr_st.phases} phases (1 barrier)")

# %% tags=["nbval-ignore-output"]
tracer_plots.plot_accesses(tr_st, block=1, space="global", array="inp")
plt.suptitle("Block 1's global reads of inp: all before the barrier (phase 0), none after", y=1.04)
plt.show()
tracer_plots.plot_shared(tr_st, block=1)
plt.suptitle("Block 1's tile: loads before the barrier (blue), 7 reads per thread after it (orange)", y=1.04)
plt.show()
tr_st.counts().head(4)

# %% [markdown]
# **Without the barrier.** Remove `syncthreads` and a thread may read tile cells that its
# neighbours have not loaded yet. The tracer runs a block's threads one after another between
# barriers, so without one, thread 0 computes before threads 1..7 have loaded anything — it
# reads unwritten cells (shared memory starts as NaN in the tracer):

# %%
no_barrier = stencil.make_stencil_1d(R, BLOCK, barrier=False)
racy = np.zeros(n_odd, dtype=np.float32)
tracer.trace(no_barrier, blocks_st, BLOCK, padded_odd, racy)
print(f"without the barrier: {np.isnan(racy).sum()} of {n_odd} outputs read unwritten shared memory")
assert np.isnan(racy).sum() > n_odd // 2

# %% tags=["nbval-ignore-output"]
sim_racy = np.zeros(n_odd, dtype=np.float32)
cuda.jit(no_barrier)[blocks_st, BLOCK](padded_odd, sim_racy)
ok = np.allclose(sim_racy, reference_stencil(padded_odd))
print(f"on {'the GPU' if info.gpu else 'the simulator'}, the same kernel happened to give "
      f"{'the right' if ok else 'a wrong'} answer this time")

# %% [markdown]
# The simulator runs a block's threads as operating-system threads, so their order is up to the
# scheduler: a missing barrier may go unnoticed for many runs (the GPU's warps likewise run in an
# order nobody promises). A race is a bug even when the output looks right; the tracer's fixed
# "one thread at a time" order turns it into a wrong answer every time.
#
# ### Exercise 2.3 — transpose through a shared tile (4 points)
# Write `transpose_tiled(x, out)` with `out[c, r] = x[r, c]`, for blocks of `TILE x TILE`
# threads: each block loads one tile of `x` into shared memory (row `ty`, column `tx` from
# `x[row, col]`), waits at a barrier, then writes the tile transposed, so that consecutive
# threads write consecutive addresses of `out`. Guard both loads and stores for shapes that are
# not multiples of `TILE`. The hidden tests check the contract in the tracer: exactly one
# barrier, no shared-memory race, and *both* the reads of `x` and the writes of `out` coalesced
# (threads `tx` and `tx + 1` on neighbouring elements) — a direct `out[col, row] = x[row, col]`
# gives the right numbers but fails.

# %% nbgrader={"grade": false, "grade_id": "nb02_transpose", "locked": false, "schema_version": 3, "solution": true}
TILE = 8


@cuda.jit
def transpose_tiled(x, out):
    """out[c, r] = x[r, c].  Reference: ``x.T``.

    Memory contract: per thread 1 global read and 1 global write; shared tile of TILE x TILE
    floats; 1 barrier.
    """
    ### BEGIN SOLUTION
    tile = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * TILE, cuda.blockIdx.y * TILE
    if by + ty < x.shape[0] and bx + tx < x.shape[1]:
        tile[ty, tx] = x[by + ty, bx + tx]
    cuda.syncthreads()
    # write the block's tile to the transposed position: out rows come from x's columns
    if bx + ty < out.shape[0] and by + tx < out.shape[1]:
        out[bx + ty, by + tx] = tile[tx, ty]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb02_transpose_tests", "locked": true, "points": 4, "schema_version": 3, "solution": false}
from coursekit.checks import check_close


def run_transpose(x):
    out = np.full((x.shape[1], x.shape[0]), np.nan, dtype=x.dtype)
    grid = ((x.shape[1] + TILE - 1) // TILE, (x.shape[0] + TILE - 1) // TILE)
    transpose_tiled[grid, (TILE, TILE)](x, out)
    return out


rng = np.random.default_rng(11)
xs = rng.standard_normal((11, 13)).astype(np.float32)
check_close(run_transpose(xs), xs.T, what="transpose of an 11 x 13 matrix")
print("transpose_tiled matches x.T on 11 x 13")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import kernels as kchecks

xs = rng.standard_normal((3, 17)).astype(np.float32)
check_close(run_transpose(xs), xs.T, what="transpose of a 3 x 17 matrix")
xs = rng.standard_normal((8, 8)).astype(np.float32)
check_close(run_transpose(xs), xs.T, what="transpose of one full tile")
kchecks.check_transpose(transpose_tiled, TILE)  # barrier, no race, coalesced reads and writes
### END HIDDEN TESTS
ck.checks.passed("nb02_transpose", 4, hidden=True)

# %% [markdown]
# ## 5. Reductions: atomics vs a tree
# Summing an array makes every thread contribute to *one* result. Two ways:
# - **atomics**: each thread does `cuda.atomic.add(total, 0, x[i])`, an indivisible
#   read-add-write. Simple and correct, but all threads contend for one address.
# - **a tree in shared memory**: each block sums its elements in log2(block) rounds, halving the
#   number of active threads each round, with a barrier between rounds; one partial sum per block.

# %%
ck.show(reduce.make_tree_sum)

# %% [markdown]
# Both kernels sum the same numbers, drawn uniformly from [0, 1) like pixel intensities or
# probabilities; next to them numpy's float32 sum, all compared with the exact sum (computed in
# float64, whose error is a billion times smaller than float32's).

# %% tags=["nbval-ignore-output"]
n_red = ck.size(small=300, default=600, gpu=1 << 24)
x_red = np.random.default_rng(12).random(n_red, dtype=np.float32)
total = np.zeros(1, dtype=np.float32)
reduce.atomic_sum[(n_red + 127) // 128, 128](x_red, total)
partial = np.zeros((n_red + 127) // 128, dtype=np.float32)
reduce.tree_sum[partial.size, 128](x_red, partial)
exact = x_red.astype(np.float64).sum()
sums = {"atomics (one float32 total)": float(total[0]), "tree per block, then numpy": float(partial.sum()),
        "numpy float32 (pairwise)": float(x_red.sum())}
allowed = reduce.sum_error_bound(x_red)  # Higham and Mary's probabilistic bound (see the text)
bound = allowed.error
print(f"{n_red:,} numbers; exact sum (float64) {exact:,.7f}; allowed error {bound:.3g} "
      f"(about {allowed.lam:.0f} x sqrt(n) x u x sum|x|; fails with probability < {allowed.failure_probability:.1g})")
for method, got in sums.items():  # 7 decimals: every digit a float32 of this size holds
    err = abs(got - exact)
    print(f"  {method:<28} {got:>18,.7f}   error {err:9.3g}  ({err / exact:.1e} of the sum)")

# %%
for method, got in sums.items():
    assert abs(got - exact) <= bound, f"{method}: error {abs(got - exact):.3g} exceeds {bound:.3g}"

# %% tags=["nbval-ignore-output"]
tree8 = reduce.make_tree_sum(8)
small_partial = np.zeros(2, dtype=np.float32)
tr_tree = tracer.trace(tree8, 2, 8, x_red[:16].copy(), small_partial)
np.testing.assert_allclose(small_partial, [x_red[:8].sum(), x_red[8:16].sum()], rtol=1e-5)
tracer_plots.plot_shared(tr_tree, block=0)
plt.suptitle("Tree sum in one block of 8: each phase (between barriers) halves the active threads", y=1.04)
plt.show()

# %% [markdown]
# On a GPU the two kernels are also timed, on 2^24 numbers (measured here with a GPU, else
# recorded on one; no published measurement times these two kernels):

# %% tags=["nbval-ignore-output"]
red = reference.gpu_result("reduction", measure=lambda: reduce.time_on_gpu(1 << 24), gpu=info.gpu)
if red:
    r = red.value
    print(f"{red.label}: {r['n']:,} numbers; atomics {timing.format_seconds(r['atomic_s'])} (error "
          f"{r['atomic_error']:.3g}), tree {timing.format_seconds(r['tree_s'])} (error {r['tree_error']:.3g})")
else:
    print(reveal.no_figure_line("the atomic and tree sums' times"))  # simulator times would measure Python

# %% [markdown]
# **What the errors say.** Floating-point addition rounds, so the order of the additions matters.
# The atomic sum keeps *one* running float32 total: once it is large, every addition is rounded to
# that total's spacing (1.0 once it passes 2^23 = 8.4 million), and millions of such roundings add
# up; threads also arrive in an order that changes from run to run on a GPU, and so does the sum.
# The tree adds numbers of similar size — pairs, then pairs of pairs — so each rounding is
# relative to a small partial sum. With a few hundred numbers (the simulator) every method is close.
# The simulator cannot sum 2^24 numbers in reasonable time, but the CPU can show the two orders
# on that many: `np.cumsum` in float32 adds one by one into a single running total (what the atomic
# sum does when threads happen to arrive in index order), and summing blocks of 128 first, then
# the block sums, is the tree's order:

# %% tags=["nbval-ignore-output"]
x_big = np.random.default_rng(12).random(1 << 24, dtype=np.float32)
exact_big = x_big.astype(np.float64).sum()
one_by_one = float(np.cumsum(x_big, dtype=np.float32)[-1])
by_blocks = float(x_big.reshape(-1, 128).sum(axis=1, dtype=np.float32).sum(dtype=np.float32))
print(f"2^24 numbers, exact sum {exact_big:,.1f}: one running float32 total misses by "
      f"{abs(one_by_one - exact_big):.3g}, blocks of 128 then their sums by {abs(by_blocks - exact_big):.3g}")
assert abs(by_blocks - exact_big) < abs(one_by_one - exact_big), "summing in blocks keeps partial sums small"
assert abs(one_by_one - exact_big) <= reduce.sum_error_bound(x_big).error, "the bound below holds"
del x_big

# %% [markdown]
#
# **Why this bound.** Each of the `n - 1` additions is off by at most `u = eps / 2` (half a unit in
# the last place) of its partial sum, so in the worst case the error is `(n - 1) u sum|x|`. If the
# rounding errors behave like independent random signs (an assumption, not a theorem about your
# data), they grow like a random walk instead: Higham and Mary (2019) bound one term's accumulated
# rounding by about `lam sqrt(n) u` with probability at least `1 - 2 exp(-lam^2 / 2)`. A sum has
# `n` terms and the bound must hold for all of them at once, so the failure probability is at most
# `n` times that: **`2 n exp(-lam^2 / 2)`** (the factor `n` is easy to drop, and it matters: it
# grows with the data). `reduce.sum_error_bound` computes both with `lam = 8`, i.e. about
# `4 sqrt(n) eps sum|x|`; the line above prints the failure probability for this `n`, and for the
# GPU's 2^24 numbers it is still below one in a million. A fixed tolerance (`rtol=1e-4`) is too
# loose for small `n` and too tight for large: zero-mean data of 2^24 numbers summed one by one can
# miss by more than that.

# %% [markdown]
# ### Warp shuffles: a reduction in registers
# The tree passes a barrier at every level and moves every partial sum through shared memory. The
# 32 lanes of a warp can instead hand each other *registers*: `cuda.shfl_down_sync(mask, v,
# offset)` returns the `v` of lane `laneid + offset` (a lane past 31 gets its own `v` back). After
# shuffles with offsets 16, 8, 4, 2, 1, lane 0 holds the sum of its warp; lane 0 of each warp writes
# that one number to shared memory, one barrier, and the first warp adds the partials the same way.
#
# A shuffle is a **collective**: the lanes named in `mask` (here all 32, `0xFFFFFFFF`) execute it
# together, in *lockstep*, and exchange values then. It needs no barrier, but no named lane may
# skip it: threads past the end of `x` add 0 and still shuffle (the bounds check picks the value,
# it does not skip the work). numba-cuda's simulator has no warps, so without a GPU the course's
# tracer runs these kernels, its 32 lanes meeting at every shuffle; on a GPU numba-cuda compiles
# the same source.

# %%
from coursekit.gpu.contract import block_traffic
from coursekit.gpu.kernels import warp_reduce

ck.show(warp_reduce.make_warp_sum)

# %% tags=["nbval-ignore-output"]
B_ws = 64  # threads per block: 2 warps
warp_sum = warp_reduce.make_warp_sum(B_ws)
x_ws = x_red[:100]  # 100 numbers: in the second block, 28 threads are past the end
blocks_ws = -(-x_ws.size // B_ws)
ref_ws = np.add.reduceat(x_ws, np.arange(0, x_ws.size, B_ws))
traces_ws = {}
for name, kernel in (("shared-memory tree", reduce.make_tree_sum(B_ws)), ("warp shuffles", warp_sum)):
    part_ws = np.zeros(blocks_ws, np.float32)
    traces_ws[name] = tracer.trace(kernel, blocks_ws, B_ws, x_ws, part_ws)  # thread by thread, warps in lockstep
    np.testing.assert_allclose(part_ws, ref_ws, rtol=1e-5, err_msg=name)
if info.gpu:  # the same source, compiled by numba-cuda for this GPU
    x_gpu_ws = np.random.default_rng(3).random(1 << 20, dtype=np.float32)
    part_ws = np.zeros(-(-x_gpu_ws.size // B_ws), np.float32)
    cuda.jit(warp_sum)[part_ws.size, B_ws](x_gpu_ws, part_ws)
    np.testing.assert_allclose(part_ws, np.add.reduceat(x_gpu_ws, np.arange(0, x_gpu_ws.size, B_ws)), rtol=1e-4)
    where_ws = f"in the tracer, and on this GPU on {x_gpu_ws.size:,} numbers"
else:
    where_ws = "in the tracer (no GPU here, and numba-cuda's simulator has no warps)"
print(f"both block sums equal numpy's on {x_ws.size} numbers {where_ws}")

# %% [markdown]
# The tracer counts what each block of 64 threads did (block 0; every block does the same):

# %%
traffic = pd.DataFrame({name: block_traffic(tr).iloc[0] for name, tr in traces_ws.items()}).T
traffic = traffic[["barriers", "shared reads", "shared writes", "warp shuffles"]]
print(traffic.to_string())
tree_t, warp_t = traffic.loc["shared-memory tree"], traffic.loc["warp shuffles"]
tree_shared = tree_t["shared reads"] + tree_t["shared writes"]
warp_shared = warp_t["shared reads"] + warp_t["shared writes"]
print(f"the tree: {tree_t['barriers']} barriers and {tree_shared} shared-memory accesses; the shuffles: "
      f"{warp_t['barriers']} barrier and {warp_shared} accesses ({tree_shared / warp_shared:.0f}x fewer), "
      f"plus {warp_t['warp shuffles']} register shuffles")
assert tree_t["barriers"] == int(np.log2(B_ws)) + 1 and warp_t["barriers"] == 1
assert tree_shared >= 30 * warp_shared and tree_t["warp shuffles"] == 0
assert warp_t["warp shuffles"] == 5 * B_ws + 5 * 32  # 5 per lane, and 5 more in the first warp

# %% [markdown]
# The shuffle version trades shared-memory traffic and barriers for shuffles, which move data
# between the registers of one warp (no memory, no wait for the other warps); the reductions of
# libraries such as CUB and PyTorch reduce within each warp this way first. Whether it is faster
# on a given GPU is a measurement this notebook does not make; the counts show the work each
# version asks for.
#
# **A warp vote.** `cuda.ballot_sync(mask, predicate)` gives every lane a 32-bit mask: bit `k` is set
# when lane `k`'s predicate is true; `cuda.popc` counts the set bits. One vote counts the positive
# numbers of a warp, again with every lane voting, those past the end voting `False`:

# %%
ck.show(warp_reduce.warp_count_positive)

# %%
signs_ws = x_ws - np.float32(0.5)
votes_ws = np.full(blocks_ws * B_ws // 32, -1, np.int32)
tr_vote = tracer.trace(warp_reduce.warp_count_positive, blocks_ws, B_ws, signs_ws, votes_ws)
padded_ws = np.concatenate([signs_ws, np.zeros(votes_ws.size * 32 - signs_ws.size, np.float32)])
np.testing.assert_array_equal(votes_ws, (padded_ws.reshape(-1, 32) > 0).sum(axis=1))
print(f"positive numbers per warp: {votes_ws.tolist()} (numpy agrees); shared-memory accesses: "
      f"{int(block_traffic(tr_vote)[['shared reads', 'shared writes']].to_numpy().sum())}, barriers: "
      f"{max(tr_vote.barriers.values())}")

# %% [markdown]
# **Divergence masks lanes.** Inside `if lane < 5:` only lanes 0 to 4 of the warp are there; the
# others are *masked off*, and `cuda.activemask()` (the lanes converged at that call) says so. In
# the tracer the warp meets again after the `if`. A GPU since Volta schedules each thread on its
# own and need not reconverge at once, so there `activemask()` may show fewer lanes: it reports
# who happens to be together, it does not promise who will be.

# %%
def who_is_here(inside, after):
    lane = cuda.laneid
    if lane < 5:
        inside[lane] = cuda.activemask()
    after[lane] = cuda.activemask()


inside_ws, after_ws = np.zeros(32, np.int64), np.zeros(32, np.int64)
tracer.trace(who_is_here, 1, 32, inside_ws, after_ws)
print(f"activemask() inside `if lane < 5`: {inside_ws[0]:#b}; after the if: {after_ws[0]:#x}")
assert inside_ws[0] == 0b11111 and after_ws[0] == 0xFFFFFFFF

# %% [markdown]
# A masked-off lane has no value to give: CUDA says a shuffle that reads an inactive lane returns
# an **undefined** value (and a `mask` naming a lane that never arrives may hang). On a GPU the sum
# then comes out wrong, or right by luck; the tracer refuses, naming the lanes. The usual mistake
# is the elementwise habit of returning early past the end of `x`:

# %%
FULL_MASK = 0xFFFFFFFF


def warp_sum_early_return(x, partial):  # WRONG: threads past the end leave before the shuffles
    warp_sums = cuda.shared.array(2, float32)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * cuda.blockDim.x + t
    if i >= x.size:
        return
    v = x[i]
    offset = 16
    while offset > 0:
        v += cuda.shfl_down_sync(FULL_MASK, v, offset)
        offset //= 2
    if t % 32 == 0:
        warp_sums[t // 32] = v
    cuda.syncthreads()
    if t == 0:
        partial[cuda.blockIdx.x] = warp_sums[0] + warp_sums[1]


caught_ws = None
try:
    tracer.trace(warp_sum_early_return, blocks_ws, B_ws, x_ws, np.zeros(blocks_ws, np.float32))
except tracer.WarpError as err:
    caught_ws = err
    print(str(err).splitlines()[0])
assert caught_ws is not None and str(caught_ws).startswith("block (1, 0): warp 1, lane 0")
assert "names lane 4, which has exited" in str(caught_ws)

# %% [markdown]
# Block 1 holds elements 64 to 99, so lanes 4 to 31 of its second warp returned; the first shuffle
# names them in its mask. Keeping every lane and adding 0 for those past the end, as `make_warp_sum`
# does, is the fix.

# %% [markdown]
# ### Exercise 2.4 — a block-level argmax (3 points)
# A classifier's prediction is the *index* of its largest score, and a GPU finds it as it finds a
# sum: by a tree. Write `block_argmax(x, out)`: each block of `MAX_BLOCK` threads writes to
# `out[blockIdx.x]` the index *in `x`* of the largest of its elements, the **first** such index
# when several are equal (numpy's `argmax` rule), using a tree in shared memory as `tree_sum`
# does. `out` holds int32. Threads past the end of `x` must never win, not even against elements
# that are `-inf` (use `NEG_INF`, minus infinity as a float32). Work out what each tree step must
# compare and keep so that the first index wins. A block of 64 threads is two warps; but even in a
# one-warp block, where a GPU's lock-step lanes would hide a missing barrier, the hidden tests'
# race check (a shared cell written by one thread and read by another with no barrier between)
# fails it, as `compute-sanitizer --tool racecheck` would on a GPU.

# %% nbgrader={"grade": false, "grade_id": "nb02_blockargmax", "locked": false, "schema_version": 3, "solution": true}
MAX_BLOCK = 64
NEG_INF = float32(-np.inf)  # a float32 constant: -np.inf itself is a float64


@cuda.jit
def block_argmax(x, out):
    """out[b] = index in x of the first maximum of block b's elements.  Reference: ``b * MAX_BLOCK +
    numpy.argmax(x[b * MAX_BLOCK : (b + 1) * MAX_BLOCK])``.

    Memory contract: per thread 1 global read; thread 0 writes 1 result; shared arrays of MAX_BLOCK
    values and MAX_BLOCK indices; log2(MAX_BLOCK) + 1 barriers.
    """
    ### BEGIN SOLUTION
    vals = cuda.shared.array(MAX_BLOCK, float32)
    idx = cuda.shared.array(MAX_BLOCK, int32)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * cuda.blockDim.x + t
    vals[t] = x[i] if i < x.size else NEG_INF
    idx[t] = i  # past the end: an index larger than any real one, so it loses every tie
    cuda.syncthreads()
    stride = MAX_BLOCK // 2
    while stride > 0:
        if t < stride:
            v, k = vals[t + stride], idx[t + stride]
            if v > vals[t] or (v == vals[t] and k < idx[t]):  # the right one may come first in x
                vals[t] = v
                idx[t] = k
        cuda.syncthreads()
        stride //= 2
    if t == 0:
        out[cuda.blockIdx.x] = idx[0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb02_blockargmax_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
from coursekit.checks import check_equal


def run_block_argmax(x):
    blocks = (x.size + MAX_BLOCK - 1) // MAX_BLOCK
    out = np.full(blocks, -1, dtype=np.int32)
    block_argmax[blocks, MAX_BLOCK](x, out)
    return out


rng = np.random.default_rng(13)
xs = rng.standard_normal(150).astype(np.float32)  # 3 blocks, the last one partly filled
want = [b + int(np.argmax(xs[b : b + MAX_BLOCK])) for b in range(0, 150, MAX_BLOCK)]
check_equal(run_block_argmax(xs).tolist(), want, what="block_argmax of 150 numbers")
print("block_argmax matches numpy on 150 distinct numbers")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import kernels as kchecks

xs = np.zeros(MAX_BLOCK, dtype=np.float32)
xs[[1, 2]] = 5  # a tie: the first index must win
check_equal(run_block_argmax(xs).tolist(), [1], what="block_argmax with the maximum at indices 1 and 2")
xs = np.full(MAX_BLOCK + 1, -np.inf, dtype=np.float32)  # padding must not win, even against -inf
check_equal(run_block_argmax(xs).tolist(), [0, MAX_BLOCK], what="block_argmax of -inf everywhere")
kchecks.check_block_argmax(block_argmax, MAX_BLOCK)  # ties, barriers reached by all, no race, a tree
### END HIDDEN TESTS
ck.checks.passed("nb02_blockargmax", 3, hidden=True)

# %% [markdown]
# ## 6. Matrix multiply: naive vs tiled vs cuBLAS
# The naive kernel gives each thread one element of `C` and asks global memory for a whole row of
# `A` and column of `B`: `2k` loads of 4 bytes for `2k` FLOP, 1/4 FLOP per byte *requested*. Not
# all of it reaches DRAM — neighbouring threads load the same rows and columns, and the L1/L2
# caches serve many of those repeats — so 1/4 FLOP/byte is the intensity *if no cache helped*,
# a worst case. The tiled kernel loads `TILE x TILE` tiles of `A` and `B` into shared memory once
# per block and reuses each number `TILE` times: `2k / TILE` loads per thread, an intensity of
# `TILE / 4` FLOP/byte — 4 for `TILE = 16`.

# %%
ck.show(matmul.make_matmul_tiled)

# %%
A = np.random.default_rng(14).standard_normal((13, 9)).astype(np.float32)
B = np.random.default_rng(15).standard_normal((9, 11)).astype(np.float32)
grid_mm = ((11 + 7) // 8, (13 + 7) // 8)
C_naive, C_tiled = np.zeros((13, 11), np.float32), np.zeros((13, 11), np.float32)
matmul.matmul_naive[grid_mm, (8, 8)](A, B, C_naive)
tiled8 = matmul.make_matmul_tiled(8)
cuda.jit(tiled8)[grid_mm, (8, 8)](A, B, C_tiled)
np.testing.assert_allclose(C_naive, A @ B, rtol=1e-4, atol=1e-5)
np.testing.assert_allclose(C_tiled, A @ B, rtol=1e-4, atol=1e-5)
naive_reads = tracer.trace(matmul.matmul_naive, grid_mm, (8, 8), A, B, np.zeros((13, 11), np.float32)).counts()
tiled_reads = tracer.trace(tiled8, grid_mm, (8, 8), A, B, np.zeros((13, 11), np.float32)).counts()
print("both kernels equal A @ B; global reads per thread: naive "
      f"{naive_reads['global reads'].max()}, tiled {tiled_reads['global reads'].max()} "
      f"(k = {A.shape[1]}, tile = 8)")
assert tiled_reads["global reads"].max() < naive_reads["global reads"].max()
assert matmul.TILE / 4 < reference.PUBLISHED["NVIDIA H100 SXM"].ceilings().ridge, "TILE=16 is under the H100 ridge"

# %% [markdown]
# Each kernel sits at the intensity its *own* traffic implies: naive 1/4, tiled `TILE / 4`, and
# cuBLAS (NVIDIA's tuned library, which `torch.matmul` calls) near the minimum traffic, reading
# `A` and `B` and writing `C` once: `2n^3 / (12 n^2) = n / 6` FLOP/byte. The H100's FP32 ridge is
# 67 TFLOP/s / 3.35 TB/s = 20 FLOP/byte, so even the tiled kernel (4 FLOP/byte) is memory-bound
# there: a 16 x 16 tile is not enough reuse. cuBLAS goes further: each thread computes a small
# block of `C` from *registers* (register tiling: another factor of reuse), shared-memory tiles are
# 128 wide, loads are asynchronous and overlap the arithmetic, and on tensor cores (BF16, 989
# TFLOP/s dense on an H100, 15x the FP32 roof) the ridge moves to about 300 FLOP/byte.

# %% tags=["nbval-ignore-output"]
n_mm = 2048
own_intensity = {"naive": 0.25, "tiled": matmul.TILE / 4, "cublas": roofline.matmul(n_mm, n_mm, n_mm).intensity}
h100_pub = reference.PUBLISHED["NVIDIA H100 SXM"]
bf16_roof = roofline.Ceilings("H100 BF16 tensor cores, dense", "cuda", "bfloat16", h100_pub.bytes_per_s, 989e12,
                              source="published", method={"flops": "NVIDIA H100 datasheet"})
fp32_roof = h100_pub.ceilings()
ax = roofline.plot([fp32_roof, bf16_roof], [],
                   title=findings.ridge_title(own_intensity, fp32_roof.ridge, "H100 FP32 (published)"))
for name, intensity in own_intensity.items():
    ax.axvline(intensity, color="grey", lw=1, ls="-.")
    ax.text(intensity * 1.1, 0.97, f"{name}: {intensity:.3g} FLOP/B", transform=ax.get_xaxis_transform(),
            fontsize=8, rotation=90, va="top")
ax.legend(fontsize=8, loc="lower right")  # the upper left holds the kernels' labels here
plt.show()

# %% [markdown]
# ### Predict, then reveal: how fast is a tiled kernel?
# The roofline turns two datasheet figures into a prediction: a kernel of intensity `I` reaches at
# most `min(peak, bandwidth x I)`. How close do real kernels come? With a GPU here, the question is
# asked of this notebook's kernels, against ceilings measured on this GPU. Without one, the answer
# comes from a **published measurement**: Simon Boehm's SGEMM ladder (`siboehm/SGEMM_CUDA`),
# hand-written FP32 kernels timed against cuBLAS on an NVIDIA RTX A6000 at `M = N = K = 4096`,
# with the A6000's datasheet as the ceilings. Its kernels are close cousins of ours; what differs,
# read in its source (`src/kernels/1_naive.cuh`, `2_kernel_global_mem_coalesce.cuh`,
# `3_kernel_shared_mem_blocking.cuh`, `src/runner.cu`, `sgemm.cu`):
# - its kernel 1 ("Naive") maps `threadIdx.x` to the *row* of `C`: the 32 threads of a warp read
#   32 different rows of `A`, 32 sectors per load (not coalesced). Its kernel 2 ("GMEM
#   Coalescing") maps it to the column, as our `matmul_naive` does: a warp reads one number of `A`
#   (a broadcast) and 32 neighbours in a row of `B`. Both ask for `2k` numbers per element of `C`:
#   1/4 FLOP per byte requested;
# - its kernel 3 ("SMEM Caching") is our tiled kernel with **32 x 32** tiles (1024 threads per
#   block; ours are 16 x 16): `2k / 32` loads per thread, about 8 FLOP per byte;
# - it computes `C = alpha A B + beta C` with `beta = 3`, so `C` is read as well as written; it
#   reports the mean of 50 launches timed with CUDA events; cuBLAS runs in full FP32
#   (`CUBLAS_COMPUTE_32F`: no TF32 tensor cores), so its minimum traffic is `16 n^2` bytes, `n / 8`
#   FLOP per byte.
#
# The next cell puts the ceilings on screen with the roofline's prediction for each kernel.
# **Before you run the cell after it, write your estimate of the tiled kernel's rate in
# `my_guess` (TFLOP/s)**: the roofline's figure, or less? Why?

# %% tags=["nbval-ignore-output"]
rec_mm = reference.gpu_result("matmul_kernels", gpu=False)  # recorded by the course on a GPU, if ever
if info.gpu:  # this notebook's kernels, against ceilings measured on this GPU (triad and GEMM)
    mm_roof, mm_basis = ceilings.measure_ceilings("cuda"), "ceilings measured on this GPU"
    mm_kernels = gpu_figures.course_matmul_kernels(n_mm, matmul.TILE, device=mm_roof.name)
elif rec_mm:  # this notebook's kernels, recorded on a GPU, against that GPU's recorded ceilings
    mm_roof, mm_basis = reference.load_reference("H100")[0], "ceilings recorded on that GPU"
    mm_kernels = gpu_figures.course_matmul_kernels(rec_mm.value["n"], matmul.TILE, device=mm_roof.name)
else:  # siboehm/SGEMM_CUDA's kernels, against the RTX A6000's datasheet
    mm_roof, mm_basis = gpu_figures.a6000_ceilings(), "datasheet peaks"
    mm_kernels = gpu_figures.sgemm_ladder_kernels()
print(f"{mm_roof.label}: memory {mm_roof.bytes_per_s / 1e9:.4g} GB/s, FP32 {mm_roof.flop_per_s / 1e12:.4g} "
      f"TFLOP/s, ridge {mm_roof.ridge:.3g} FLOP/byte")
mm_predicted = {key: float(mm_roof.attainable(k.intensity)) for key, k in mm_kernels.items()}  # FLOP/s
print(pd.DataFrame({k.name: {"intensity (FLOP/B)": float(f"{k.intensity:.4g}"),
                             "roofline predicts (TFLOP/s)": float(f"{mm_predicted[key] / 1e12:.4g}")}
                    for key, k in mm_kernels.items()}).T.to_string())
my_guess = None  # your estimate of the tiled kernel's rate, in TFLOP/s

# %% tags=["nbval-ignore-output"]
mm = reference.gpu_result("matmul_kernels", measure=lambda: matmul.time_on_gpu(n_mm), gpu=info.gpu,
                          published_measurement=gpu_figures.published_sgemm_ladder)
mm_reveals = gpu_figures.matmul_reveals(mm, mm_kernels, mm_roof, {"tiled": my_guess}, basis=mm_basis)
print(mm_reveals["tiled"].text())
print(gpu_figures.reveal_table(mm_reveals, mm_kernels).to_string())
mm_errors = {key: r.roofline_error for key, r in mm_reveals.items()}
print(findings.roofline_verdict({mm_kernels[key].name: error for key, error in mm_errors.items()}))
if mm.source == published.TIER:  # fixed data: the signs the lesson rests on
    assert mm_errors["uncoalesced"] < 0 and mm_errors["naive"] < 0, "caches beat the no-cache count"
    assert mm_errors["tiled"] > 0 and mm_errors["cublas"] > 0, "the roofline is a ceiling, not a forecast"
    print(f"\nThe whole ladder ({mm.label}):")
    print(gpu_figures.sgemm_full_ladder().to_string())
else:  # measured here or recorded: this notebook's kernels
    assert max(mm.value["naive_rel_error"], mm.value["tiled_rel_error"]) < 1e-3, "both kernels compute A @ B"
    assert mm.value["cublas_s"] < mm.value["naive_s"], "cuBLAS beats the naive kernel"
a_cpu = np.random.default_rng(16).standard_normal((1024, 1024)).astype(np.float32)
t_cpu = timing.benchmark(np.matmul, a_cpu, a_cpu, min_time=0.2).median
print(f"\nfor scale, numpy on this CPU: 1024 x 1024 matmul in {timing.format_seconds(t_cpu)} "
      f"({2 * 1024**3 / t_cpu / 1e12:.3g} TFLOP/s, measured here)")

# %% tags=["nbval-ignore-output"]
mm_tier = "published measurement" if mm.source == published.TIER else mm.source
mm_points = gpu_figures.timed_kernels(mm_kernels, gpu_figures.matmul_rates(mm, mm_kernels), mm_tier)
of_roof = {mm_kernels[key].name: r.revealed / r.roofline_prediction for key, r in mm_reveals.items()}
ax = roofline.plot([mm_roof, bf16_roof] if info.gpu else [mm_roof], mm_points)
mm_title = findings.roof_fraction_title(of_roof, mm_roof.name)
ax.set_title(textwrap.fill(mm_title, 90, break_on_hyphens=False), fontsize=9)
hollow = mm_tier == "published measurement"
ax.plot([], [], "D" if hollow else "s", color="tab:blue", mfc="none" if hollow else "tab:blue",
        label=gpu_figures.tier_legend(mm))
ax.legend(fontsize=8, loc="lower right")  # the upper left holds the ridge's label
plt.show()

# %% [markdown]
# Read the misses, whichever tier you see. A point *above* its roof (the published naive kernels'
# are) means the kernel moved less than its count said: 1/4 FLOP/byte charges every load to
# memory, but neighbouring threads ask for the same rows and columns, and the L1 and L2 caches
# serve the repeats, so the real intensity was higher (a rate over the bandwidth, `rate / 768 GB/s`
# on the A6000, is the least intensity that rate needs). Coalescing is what lets the caches help:
# the published kernels 1 and 2 do the same arithmetic with the same count, and kernel 2 is many
# times faster. A point *below* its roof (the published tiled kernel and cuBLAS) hit a limit the
# two ceilings leave out: a tiled kernel also waits on shared memory (two shared loads per
# multiply-add in its inner loop), barriers and latency. The ladder's later kernels (register
# tiles, vectorised loads, warp tiles) close most of the gap to cuBLAS on the same A6000.

# %% [markdown]
# ## 7. CUDA C
# The same kernels in CUDA C, the language of the lecture. With a GPU and CuPy they are compiled
# at run time (`cupy.RawKernel`, which calls NVRTC) and checked against numpy; without one, where
# NVIDIA's compiler `nvcc` is installed, they are compiled to PTX (the GPU's portable assembly) to
# show that they build.

# %%
CUDA_SOURCE = r"""
extern "C" __global__ void vector_add(const float *a, const float *b, float *out, int n) {
    int i = threadIdx.x + blockIdx.x * blockDim.x;
    if (i < n) out[i] = a[i] + b[i];
}

#define RADIUS 3
#define BLOCK 128
extern "C" __global__ void stencil_1d(const float *in, float *out, int n) {  /* in: n + 2 * RADIUS */
    __shared__ float temp[BLOCK + 2 * RADIUS];
    int t = threadIdx.x;
    int g = blockIdx.x * blockDim.x + t;
    if (g + RADIUS < n + 2 * RADIUS) temp[t + RADIUS] = in[g + RADIUS];
    if (t < RADIUS) {
        temp[t] = in[g];
        if (g + BLOCK + RADIUS < n + 2 * RADIUS) temp[t + BLOCK + RADIUS] = in[g + BLOCK + RADIUS];
    }
    __syncthreads();
    if (g < n) {
        float acc = 0.0f;
        for (int k = 0; k <= 2 * RADIUS; k++) acc += temp[t + k];
        out[g] = acc;
    }
}
"""

# %% tags=["nbval-ignore-output"]
cupy_ok = device.backends()["cupy"]
if cupy_ok:
    import cupy

    module = cupy.RawModule(code=CUDA_SOURCE)
    n_c = 1000
    a_c = cupy.arange(n_c, dtype=cupy.float32)
    out_c = cupy.zeros(n_c, dtype=cupy.float32)
    module.get_function("vector_add")(((n_c + 127) // 128,), (128,), (a_c, a_c, out_c, np.int32(n_c)))
    assert cupy.allclose(out_c, 2 * a_c)
    pad_c = cupy.asarray(padded_odd)
    st_c = cupy.zeros(n_odd, dtype=cupy.float32)
    module.get_function("stencil_1d")(((n_odd + 127) // 128,), (128,), (pad_c, st_c, np.int32(n_odd)))
    np.testing.assert_allclose(st_c.get(), reference_stencil(padded_odd))
    print("CUDA C vector_add and stencil_1d, compiled by NVRTC, equal numpy on the GPU")
else:
    nvcc = device.nvcc_path()
    if nvcc is None:
        print("No GPU with CuPy and no nvcc here: the CUDA C source is shown above, not compiled.")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "kernels.cu"
            src.write_text(CUDA_SOURCE)
            subprocess.run([nvcc, "--ptx", "-arch=sm_90", str(src), "-o", str(Path(tmp) / "kernels.ptx")],
                           check=True, capture_output=True)
            ptx = (Path(tmp) / "kernels.ptx").read_text()
        entries = [line.split()[-1].rstrip("(") for line in ptx.splitlines() if line.startswith(".visible .entry")]
        print(f"No GPU here: nvcc compiled both kernels to PTX for sm_90 (Hopper): entries {entries}, "
              f"{sum(1 for line in ptx.splitlines() if line.strip().endswith(';'))} PTX instructions")
        assert entries == ["vector_add", "stencil_1d"]

# %% [markdown]
# ## 8. OpenCL, compiled and run for real on this CPU
# OpenCL is the vendor-neutral cousin of CUDA with the same model under other names: work-items
# = threads, work-groups = blocks, `__local` memory = shared memory, `barrier(CLK_LOCAL_MEM_FENCE)`
# = `syncthreads`. PoCL compiles OpenCL C for *this CPU* and packs work-items into its SIMD lanes:
# SIMT code, really compiled and run, on a SIMD machine. First the Julia lecture's vector sum (no
# bounds check: it launches exactly `n` work-items), then the stencil with local memory:

# %%
OPENCL_SOURCE = r"""
__kernel void sum(__global const float *a, __global const float *b, __global float *c) {
    int gid = get_global_id(0);
    c[gid] = a[gid] + b[gid];
}

#define RADIUS 3
__kernel void stencil_1d(__global const float *in, __global float *out, const int n,
                         __local float *temp) {            /* temp: local size + 2 * RADIUS floats */
    int t = get_local_id(0), B = get_local_size(0);
    int g = get_global_id(0);
    if (g + RADIUS < n + 2 * RADIUS) temp[t + RADIUS] = in[g + RADIUS];
    if (t < RADIUS) {
        temp[t] = in[g];
        if (g + B + RADIUS < n + 2 * RADIUS) temp[t + B + RADIUS] = in[g + B + RADIUS];
    }
    barrier(CLK_LOCAL_MEM_FENCE);                          /* = __syncthreads() */
    if (g < n) {
        float acc = 0.0f;
        for (int k = 0; k <= 2 * RADIUS; k++) acc += temp[t + k];
        out[g] = acc;
    }
}
"""

# %% tags=["nbval-ignore-output"]
if opencl.available():
    import pyopencl as cl

    _, queue = opencl.context()
    program = opencl.build(OPENCL_SOURCE)
    n_cl = ck.size(small=4_000_000, default=8_000_000)  # 3 x 16 MiB (quick) or 3 x 32 MiB: Binder-sized
    a_h = np.random.default_rng(18).random(n_cl, dtype=np.float32)
    b_h = np.random.default_rng(19).random(n_cl, dtype=np.float32)
    a_d, b_d = opencl.to_device(a_h), opencl.to_device(b_h)  # host -> device, as cudaMemcpy
    c_d = opencl.device_empty(a_h.nbytes)

    sum_kernel = cl.Kernel(program, "sum")  # retrieve each kernel once, then launch it many times
    stencil_kernel = cl.Kernel(program, "stencil_1d")

    def sum_opencl():
        sum_kernel(queue, (n_cl,), None, a_d, b_d, c_d)
        queue.finish()

    sum_opencl()
    c_h = opencl.to_host(c_d, np.empty_like(a_h))  # device -> host
    out_np = np.add(a_h, b_h)  # numpy's answer, and the output buffer numpy is timed with below
    np.testing.assert_array_equal(c_h, out_np)
    t_cl = timing.benchmark(sum_opencl, min_time=0.3).median
    t_np = timing.benchmark(np.add, a_h, b_h, out=out_np, min_time=0.3).median
    print(opencl.describe())
    print(f"vector sum of {n_cl:,} floats: OpenCL {timing.format_seconds(t_cl)} ({12 * n_cl / t_cl / 1e9:.1f} GB/s), "
          f"numpy {timing.format_seconds(t_np)} ({12 * n_cl / t_np / 1e9:.1f} GB/s)")
    llc_nbytes = caches.last_level_nbytes()
    triad_roof = ceilings.measure_ceilings("cpu").bytes_per_s  # notebook 01's roof, cached on this machine
    best_gbs = 12 * n_cl / min(t_cl, t_np) / 1e9
    where = ("more than the last-level cache" if llc_nbytes and 12 * n_cl > llc_nbytes else "no more than the "
             "last-level cache (or its size is unknown)")
    print(f"the three arrays hold {12 * n_cl / 2**20:.0f} MiB, {where} "
          f"({llc_nbytes / 2**20 if llc_nbytes else float('nan'):.0f} MiB); the faster of the two reached "
          f"{best_gbs / (triad_roof / 1e9):.0%} of this machine's triad roof ({triad_roof / 1e9:.1f} GB/s)"
          + ("; above the roof, so part of the traffic came from cache" if best_gbs > triad_roof / 1e9 else ""))

    local = 128
    n_s = ck.size(small=100_000, default=1_000_000) + 5  # not a multiple of the work-group size
    pad_h = np.random.default_rng(20).random(n_s + 2 * R, dtype=np.float32)
    pad_d, st_d = opencl.to_device(pad_h), opencl.device_empty(4 * n_s)
    global_size = (n_s + local - 1) // local * local
    stencil_kernel(queue, (global_size,), (local,), pad_d, st_d, np.int32(n_s), cl.LocalMemory(4 * (local + 2 * R)))
    st_h = opencl.to_host(st_d, np.empty(n_s, dtype=np.float32))
    np.testing.assert_allclose(st_h, reference_stencil(pad_h), rtol=1e-5)
    print(f"OpenCL stencil with __local memory and a barrier equals numpy.convolve on {n_s:,} outputs")
    del a_h, b_h, c_h, out_np, a_d, b_d, c_d  # 7 x 32 MiB in default mode: a Binder pod has 2 GB
else:
    print(opencl.describe())

# %% [markdown]
# The vector sum moves 12 bytes per element (two floats read, one written) and does one addition,
# so both it and numpy should be limited by memory bandwidth (notebook 01's roofline), not by how
# the loop is written: look for both near the triad roof printed above. If the arrays are not much
# larger than the last-level cache, part of the traffic stays in the cache and the rate can exceed
# the DRAM roof; if one sits far below, its loop (or its threads) is the limit.
#
# ## 9. Timing kernels right
# Kernel launches are **asynchronous**: `kernel[blocks, threads](...)` returns once the launch is
# queued. A correct GPU timing synchronises before reading the clock (`cuda.synchronize()`), or
# brackets the work with CUDA events; `coursekit.perf.timing.benchmark(..., device="cuda")` does both.
# On the simulator, a "kernel time" measures Python emulating every thread — it says nothing about
# a GPU. Compare one simulated launch with numpy doing the same work:

# %% tags=["nbval-ignore-output"]
n_t = ck.size(small=1_000, default=5_000, gpu=10_000_000)
xa_t = np.random.default_rng(21).standard_normal(n_t).astype(np.float32)
xb_t = np.random.default_rng(22).standard_normal(n_t).astype(np.float32)
d_xa, d_xb, d_out_t = cuda.to_device(xa_t), cuda.to_device(xb_t), cuda.device_array(n_t, np.float32)
add_grid_k = cuda.jit(add_grid)


def launch():
    add_grid_k[(n_t + 127) // 128, 128](d_xa, d_xb, d_out_t)


kernel_time = timing.benchmark(launch, device="cuda", min_time=0.3, max_time=3, min_samples=3,
                               label=f"add_grid ({'GPU' if info.gpu else 'simulator'})")
numpy_time = timing.benchmark(np.add, xa_t, xb_t, min_time=0.3, label="numpy a + b (CPU)")
np.testing.assert_array_equal(d_out_t.copy_to_host(), xa_t + xb_t)
print(kernel_time)
compare.compare([numpy_time, kernel_time])[["median", "iqr", "speedup", "device"]]

# %% tags=["nbval-ignore-output"]
if not info.gpu:
    assert kernel_time.simulator, "without a GPU the kernel ran on the simulator, and the result says so"
    assert kernel_time.median > 100 * numpy_time.median, "the simulator runs a Python thread per CUDA thread"
    print(f"on the simulator the launch took {kernel_time.median / numpy_time.median:,.0f}x numpy's time")

# %% [markdown]
# **Checking a kernel's result.** The Julia lecture checks its vector sum with
# `isapprox(norm(r - (a + b)), 0)`. `isapprox(x, y)` tests `|x - y| <= rtol * max(|x|, |y|)` with
# no absolute tolerance by default, so against 0 it is true only when the norm is *exactly* 0: an
# exact-equality test in disguise, which fails on any rounding difference (a GPU's fused
# multiply-add, another summation order). Python's `math.isclose` has the same rule. Compare the
# arrays themselves (`isapprox(r, a + b)`, `numpy.testing.assert_allclose`), or give an absolute
# tolerance:

# %%
import math

tiny_error = 1e-7  # one float32 rounding of a number near 1
print(f"isclose(error, 0): {math.isclose(tiny_error, 0.0)}; "
      f"isclose(1 + error, 1): {math.isclose(1 + tiny_error, 1.0, rel_tol=1e-6)}; "
      f"isclose(error, 0, abs_tol=1e-6): {math.isclose(tiny_error, 0.0, abs_tol=1e-6)}")
assert not math.isclose(tiny_error, 0.0) and math.isclose(tiny_error, 0.0, abs_tol=1e-6)

# %% [markdown]
# Without a GPU, the line above the `isclose` example gives the simulator's slowdown against numpy
# (asserted to be at least 100x on any machine): it creates a Python thread per CUDA thread. It is
# for *correctness* — indexing, bounds, barriers — never for speed.
#
# ## 10. Warps and memory
# A GPU runs each block as **warps** of 32 threads — consecutive `threadIdx.x` first, then `y` —
# that issue one instruction together. Two consequences decide most of a kernel's speed, and the
# tracer can count both without a GPU.
#
# **Coalescing.** The 32 loads (or stores) of one warp instruction are served in 32-byte memory
# *sectors*: the warp costs as many sectors as its 32 addresses fall into. **Shared-memory banks.**
# Shared memory is split into 32 *banks* of 4-byte words (word `w` of a shared array, counted row
# by row, lives in bank `w mod 32`); a warp's access is served in one pass if its 32 threads touch
# 32 different banks (or the same word: a broadcast), and in `k` passes if some bank holds `k`
# different words the warp needs — a `k`-way *conflict*.
#
# ### Exercise 2.5 — predict, then count (2 points)
# Before the cells below count them, work out four numbers on paper (matrices are row-major, and
# every array starts at a multiple of 128 bytes). Fill in `predictions` with integers; the cells
# after the exercise count them in the tracer and print your predictions beside the counts.
# - `"naive transpose: sectors per warp, writes of out"`: `transpose_naive` does
#   `col, row = cuda.grid(2)` and `out[col, row] = x[row, col]`; on a 32 x 32 float32 matrix with
#   blocks of (32, 8) threads, how many sectors does one warp's write of `out` touch?
# - `"copy_2d on float64: sectors per warp, reads of x"`: `copy_2d` does `out[row, col] =
#   x[row, col]` (same grid); on a 32 x 32 **float64** matrix, how many sectors does one warp's read
#   of `x` touch?
# - `"tile[tx, j], 32 x 32 float32 tile: ways"`: the 32 threads of a warp (`tx` = 0 ... 31) read
#   `tile[tx, j]`, for one `j`, from `tile = cuda.shared.array((32, 32), float32)`: how many ways?
# - `"tile[j, 2 * tx], 32 x 64 float32 tile: ways"`: they read `tile[j, 2 * tx]` from a
#   `(32, 64)` float32 tile: how many ways?

# %% nbgrader={"grade": false, "grade_id": "nb02_predict", "locked": false, "schema_version": 3, "solution": true}
predictions = {
    "naive transpose: sectors per warp, writes of out": None,
    "copy_2d on float64: sectors per warp, reads of x": None,
    "tile[tx, j], 32 x 32 float32 tile: ways": None,
    "tile[j, 2 * tx], 32 x 64 float32 tile: ways": None,
}
### BEGIN SOLUTION
predictions["naive transpose: sectors per warp, writes of out"] = 32  # 32 rows of out, 128 bytes apart
predictions["copy_2d on float64: sectors per warp, reads of x"] = 8  # 32 x 8 bytes in a row = 256 bytes
predictions["tile[tx, j], 32 x 32 float32 tile: ways"] = 32  # word 32 tx + j: bank j for every tx
predictions["tile[j, 2 * tx], 32 x 64 float32 tile: ways"] = 2  # bank 2 tx mod 32: tx and tx + 16 share
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb02_predict_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from coursekit.checks import check_true

check_true(all(isinstance(v, int) and 1 <= v <= 32 for v in predictions.values()),
           f"each prediction is a whole number of sectors or ways from 1 to 32, got {predictions}")
print("four predictions, each an integer from 1 to 32")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import kernels_predict

kernels_predict.check_predictions(predictions)  # each equals the tracer's count
### END HIDDEN TESTS
ck.checks.passed("nb02_predict", 2, hidden=True)

# %% [markdown]
# The tracer counts the sectors of the copy and the direct transpose (`x` = column, as in section 3):

# %%
x_w = np.arange(32 * 32, dtype=np.float32).reshape(32, 32)
warp_traces = {}
for name, kernel in (("copy_2d", transpose.copy_2d), ("transpose_naive", transpose.transpose_naive)):
    out_w = np.zeros_like(x_w)
    warp_traces[name] = check_contract(kernel, (1, 4), (32, 8), x_w, out_w, reads=1, writes=1,
                                              expect={"out": x_w if name == "copy_2d" else x_w.T})
sectors = pd.DataFrame({
    name: {f"{arr} {op}s": sectors_per_warp(tr, arr, op)["sectors"].mean()
           for arr, op in (("x", "read"), ("out", "write"))}
    for name, tr in warp_traces.items()}).T
x_w64 = x_w.astype(np.float64)
tr64 = check_contract(transpose.copy_2d, (1, 4), (32, 8), x_w64, np.zeros_like(x_w64), reads=1, writes=1,
                      expect={"out": x_w64})
sectors.loc["copy_2d, float64"] = [sectors_per_warp(tr64, arr, op)["sectors"].mean()
                                   for arr, op in (("x", "read"), ("out", "write"))]
print("32-byte sectors per warp instruction, 32 x 32 matrix, blocks of (32, 8):")
print(sectors.to_string())
counted = {"naive transpose: sectors per warp, writes of out": sectors.loc["transpose_naive", "out writes"],
           "copy_2d on float64: sectors per warp, reads of x": sectors.loc["copy_2d, float64", "x reads"]}
for key, value in counted.items():
    print(f"{key}: counted {value:.0f}, you predicted {predictions[key]}")
assert sectors.loc["copy_2d", "out writes"] == 4 and sectors.loc["transpose_naive", "out writes"] == 32
assert sectors.loc["copy_2d, float64", "x reads"] == 8

# %% [markdown]
# A warp of the copy writes 32 neighbouring floats, 128 bytes: 4 sectors, the fewest possible.
# The direct transpose's warp writes one float in each of 32 rows of `out`, 128 bytes apart: 32
# sectors, 8x the memory traffic for the same data. In float64 the same warp reads 32 x 8 = 256
# neighbouring bytes, 8 sectors: as few as 256 bytes can take.

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, (name, tr) in zip(axes, warp_traces.items(), strict=True):
    warp_of = np.where(tr.writers("out") >= 0, tr.writers("out") // 32, -1)
    ax.imshow(warp_of == 0, cmap="Blues", vmin=0, vmax=1.3, interpolation="nearest")
    n_sec = sectors.loc[name, "out writes"]
    ax.set_title(f"{name}: warp 0 writes {n_sec:.0f} sectors", fontsize=10)
    ax.set_xlabel("column of out")
    ax.set_ylabel("row of out")
    ax.grid(False)
fig.suptitle("The 32 elements of out one warp writes (blue): a row is coalesced, a column is not")
fig.tight_layout()
plt.show()

# %% [markdown]
# The tiled transpose of Exercise 2.3 fixes the writes: a warp reads a *row* of `x` into shared
# memory and writes a *row* of `out`, reading the tile by columns in between — and shared memory
# has rules of its own (below).
#
# **Warps of 32: divergence.** A warp whose threads take different sides of an `if` runs both
# sides, one after the other. The cost depends on whether the *warp* disagrees, not the threads:
# with the sign of `x[i]` flipping every `L` elements, warps split for `L < 32` and agree for
# `L >= 32`. Counting the paths each warp runs (from `branch_record`, on the simulator or a GPU):

# %% tags=["nbval-ignore-output"]
segment_lengths = [1, 2, 4, 8, 16, 32, 64]
paths = {}
for L in segment_lengths:
    signs_l = np.where((np.arange(256) // L) % 2 == 0, 1.0, -1.0).astype(np.float32)
    took = np.zeros(256, dtype=np.int32)
    simt.branch_record[2, 128](signs_l, took)
    paths[L] = np.mean([len(set(w)) for w in took.reshape(-1, 32)])  # 1 = one path, 2 = both
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(segment_lengths, [paths[L] for L in segment_lengths], "o-")
ax.set_xscale("log", base=2)
ax.set_xticks(segment_lengths, [str(L) for L in segment_lengths])
ax.set_xlabel("length of runs of equal sign, L (elements)")
ax.set_ylabel("paths run per warp")
ax.set_title("Divergence stops at L = 32: a warp is 32 lanes")
plt.show()

# %%
assert all(paths[L] == 2 for L in segment_lengths if L < 32) and all(paths[L] == 1 for L in segment_lengths if L >= 32)

# %% [markdown]
# **The cliff, timed.** Counting paths is what the simulator can do; a GPU can time them. The sweep
# runs notebook 01's `heavy_branches` — both sides of its `if` do the same work, 200 steps of
# `sin` or `cos` — on 2^22 elements whose sign flips every `L` elements, for `L = 1 ... 128`, and
# checks each result against numpy first (`warps.time_divergence_sweep`). A warp that runs both
# paths takes both paths' time, so the time per element should fall by about 2x between `L = 16`
# and `L = 32`, and stay flat on either side. Measured here with a GPU, else recorded on one:

# %% tags=["nbval-ignore-output"]
div = reference.gpu_result("divergence_sweep", measure=lambda: warps.time_divergence_sweep(1 << 22), gpu=info.gpu)
if div:
    sweep = pd.DataFrame(div.value).set_index("segment_length")
    below = sweep.index[sweep.index < 32].max()  # 16 in the sweep
    cliff = sweep.loc[below, "ns_per_element"] / sweep.loc[32, "ns_per_element"]
    print(f"{div.label}:")
    print(sweep[["paths_per_warp", "ns_per_element"]].round(4).to_string())
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.plot(sweep.index, sweep["ns_per_element"], "o-")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sweep.index, [str(L) for L in sweep.index])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("length of runs of equal sign, L (elements)")
    ax.set_ylabel("time per element (ns)")
    ax.set_title(findings.divergence_cliff_title(cliff), fontsize=10)
    plt.show()
    assert sweep.loc[1, "ns_per_element"] > 1.3 * sweep.loc[sweep.index.max(), "ns_per_element"], "divergence costs"
else:
    print(reveal.no_figure_line("the divergence sweep's times"))  # the simulator has no warps

# %% [markdown]
# **Shared-memory bank conflicts.** The tiled transpose of Exercise 2.3, grown to the 32 x 32
# tiles a GPU wants (blocks of 32 x 8 threads, each moving 4 rows of its tile column), reads its
# tile by *column*: a warp reads `tile[tx, j]`, word `32 tx + j`, and all 32 threads land in bank
# `j`: a 32-way conflict. Padding each row to 33 floats (word `33 tx + j`, bank `(tx + j) mod 32`)
# spreads them over all 32 banks. The two kernels, which differ only in the tile's width:

# %%
def transpose_tile32(x, out):
    """out = x.T through a 32 x 32 shared tile; blocks of (32, 8) threads.  Reference: ``x.T``.

    Memory contract: per thread 4 global reads and 4 global writes, coalesced; 4 shared writes and
    4 shared reads; 1 barrier. The column reads ``tile[tx, j]`` are 32-way bank conflicts.
    """
    tile = cuda.shared.array((32, 32), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * 32, cuda.blockIdx.y * 32
    for j in range(ty, 32, 8):
        if by + j < x.shape[0] and bx + tx < x.shape[1]:
            tile[j, tx] = x[by + j, bx + tx]  # a warp reads one row of x: coalesced
    cuda.syncthreads()
    for j in range(ty, 32, 8):
        if bx + j < out.shape[0] and by + tx < out.shape[1]:
            out[bx + j, by + tx] = tile[tx, j]  # a warp reads a tile column, writes a row of out


def transpose_padded(x, out):
    """``transpose_tile32`` with each tile row padded to 33 floats: no bank conflict.  Reference: ``x.T``."""
    tile = cuda.shared.array((32, 33), float32)  # the only change
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * 32, cuda.blockIdx.y * 32
    for j in range(ty, 32, 8):
        if by + j < x.shape[0] and bx + tx < x.shape[1]:
            tile[j, tx] = x[by + j, bx + tx]
    cuda.syncthreads()
    for j in range(ty, 32, 8):
        if bx + j < out.shape[0] and by + tx < out.shape[1]:
            out[bx + j, by + tx] = tile[tx, j]


def tile_stride2_read(x, out):
    """One warp loads a 32 x 64 tile by rows, then reads its even columns: ``out = x[:, ::2]``."""
    tile = cuda.shared.array((32, 64), float32)
    tx = cuda.threadIdx.x
    for j in range(32):
        tile[j, tx] = x[j, tx]
        tile[j, tx + 32] = x[j, tx + 32]
    cuda.syncthreads()
    for j in range(32):
        out[j, tx] = tile[j, 2 * tx]  # word 64 j + 2 tx: bank 2 tx mod 32


# %%
ways = {}
for name, kernel in (("tile 32 x 32", transpose_tile32), ("tile 32 x 33", transpose_padded)):
    tr_pad = check_contract(kernel, (1, 1), (32, 8), x_w, np.zeros_like(x_w), reads=4, writes=4, barriers=1,
                            coalesced=("x", "out"), expect={"out": x_w.T})
    ways[name] = bank_conflicts(tr_pad).groupby("op")["ways"].max()
x_wide = np.arange(32 * 64, dtype=np.float32).reshape(32, 64)
tr_s2 = check_contract(tile_stride2_read, 1, (32, 1), x_wide, np.zeros_like(x_w), barriers=1,
                       expect={"out": x_wide[:, ::2]})
ways["tile 32 x 64, even columns"] = bank_conflicts(tr_s2).groupby("op")["ways"].max()
ways = pd.DataFrame(ways).T.rename(columns={"read": "worst read (ways)", "write": "worst write (ways)"})
print(ways.to_string())
counted = {"tile[tx, j], 32 x 32 float32 tile: ways": ways.loc["tile 32 x 32", "worst read (ways)"],
           "tile[j, 2 * tx], 32 x 64 float32 tile: ways": ways.loc["tile 32 x 64, even columns", "worst read (ways)"]}
for key, value in counted.items():
    print(f"{key}: counted {value:.0f}, you predicted {predictions[key]}")
assert ways.iloc[0]["worst read (ways)"] == 32 and ways.iloc[1]["worst read (ways)"] == 1
assert ways.loc["tile 32 x 64, even columns", "worst read (ways)"] == 2

# %% [markdown]
# One unused column per row (3 % more shared memory) turns a 32-pass access into a 1-pass one. A
# stride of 2 words gives a 2-way conflict: banks `2 tx mod 32` are the 16 even ones, each hit by
# `tx` and `tx + 16`. On a GPU the four transposes are timed (measured here with a GPU, else
# recorded on one); the padded kernel's rate should come close to the copy's. Without either, no
# tier holds the transposes, and the cell shows the nearest published figure: the rate a copy
# kernel reaches on an H100 (BabelStream, float64), the rate a padded transpose should approach there:

# %% tags=["nbval-ignore-output"]
tiled_kernels = {"tiled": transpose_tile32, "padded": transpose_padded}
tp_gpu = reference.gpu_result(
    "transpose", gpu=info.gpu,
    measure=lambda: transpose.time_on_gpu(4096, {k: cuda.jit(f) for k, f in tiled_kernels.items()}))
if tp_gpu:
    t = tp_gpu.value
    print(f"{tp_gpu.label}, {t['n']} x {t['n']} float32: " + ", ".join(
        f"{k} {t[k + '_gbs']:.0f} GB/s" for k in ("copy", "naive", "tiled", "padded")))
else:
    print(reveal.no_figure_line("the four transposes' rates"))
    tp_copy = published.get("azure-h100-babelstream-copy")  # the rate a copy reaches: what padded should approach
    print(f"What a copy kernel reaches on an H100: {published.describe(tp_copy)}; {tp_copy.size}.")

# %% [markdown]
# ### Exercise 2.6 — a transpose without bank conflicts, and without padding (3 points)
# Padding costs shared memory: 32 x 33 floats where 32 x 32 hold the data. `transpose_swizzled`
# below is `transpose_tile32` with its two accesses to the tile left for you: write them so that
# `out = x.T` with a shared tile of exactly **32 x 32** floats and **no bank conflict**, in the
# tile's writes or its reads. Keep each element in its row of the tile, but store it at a column
# that depends on the row, so that a warp's column reads spread over all 32 banks while its row
# writes stay spread too; work out such a mapping, and where the read must then look. The tests
# check the values (on a 40 x 70 matrix too), coalesced global reads and writes, one barrier, the
# tile's size, and every warp access to shared memory, in the tracer.

# %% nbgrader={"grade": false, "grade_id": "nb02_swizzle", "locked": false, "schema_version": 3, "solution": true}
@cuda.jit
def transpose_swizzled(x, out):
    """out[c, r] = x[r, c].  Reference: ``x.T``.

    Memory contract: per thread 4 global reads and 4 global writes, coalesced; 4 shared writes and
    4 shared reads, none in a bank conflict, in a 32 x 32 float tile; 1 barrier. Blocks of (32, 8)
    threads per 32 x 32 tile.
    """
    tile = cuda.shared.array((32, 32), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    bx, by = cuda.blockIdx.x * 32, cuda.blockIdx.y * 32
    for j in range(ty, 32, 8):
        if by + j < x.shape[0] and bx + tx < x.shape[1]:
            # store x[by + j, bx + tx], element (j, tx) of the tile
            ### BEGIN SOLUTION
            tile[j, tx ^ j] = x[by + j, bx + tx]  # at column tx XOR j: a permutation of row j
            ### END SOLUTION
    cuda.syncthreads()
    for j in range(ty, 32, 8):
        if bx + j < out.shape[0] and by + tx < out.shape[1]:
            # out[bx + j, by + tx] = element (tx, j) of the tile
            ### BEGIN SOLUTION
            out[bx + j, by + tx] = tile[tx, j ^ tx]  # bank j XOR tx: distinct for the 32 tx of a warp
            ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb02_swizzle_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
from coursekit.checks import check_close

xs = np.random.default_rng(23).standard_normal((40, 70)).astype(np.float32)
out_sw = np.full((70, 40), np.nan, dtype=np.float32)
transpose_swizzled[(3, 2), (32, 8)](xs, out_sw)
check_close(out_sw, xs.T, what="transpose_swizzled of a 40 x 70 matrix")
print("transpose_swizzled matches x.T on 40 x 70")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import kernels as kchecks

kchecks.check_transpose_swizzled(transpose_swizzled)  # coalesced, 1 barrier, 32 x 32 tile, no bank conflict
### END HIDDEN TESTS
ck.checks.passed("nb02_swizzle", 3, hidden=True)

# %% [markdown]
# Storing element `(r, c)` of the tile at column `c XOR r` is a *swizzle*: each row holds the same
# 32 values in another order, so no memory is added. A warp's row write touches columns
# `tx XOR j`, 32 different ones; its column read of elements `(tx, j)` touches words
# `32 tx + (j XOR tx)`, in banks `j XOR tx`, again 32 different ones. Rotating instead
# (`(c + r) mod 32`) works too. NVIDIA's CUTLASS lays out its shared-memory tiles with XOR swizzles
# of this kind, and the tensor memory accelerator of an H100 applies one in hardware.
#
# **Grid-stride loops.** A kernel written `for i in range(cuda.grid(1), n, cuda.gridsize(1))`
# handles any `n` with any grid: each thread takes elements `i`, `i + stride`, ... where `stride`
# is the number of threads in the grid. At every step neighbouring threads touch neighbouring
# elements, so the loop stays coalesced, and the grid can be sized to the GPU (a few blocks per SM)
# instead of to the data. (Giving each thread a contiguous *chunk* instead is the classic mistake:
# neighbours are a chunk apart, every access uncoalesced.)
#
# **Occupancy and block size.** An SM keeps the registers of every thread and the shared memory
# of every block it hosts on chip, so what one thread and one block use decides how many blocks
# live on an SM at once — and so how many warps it can switch between while others wait for
# memory. Resident warps over the SM's maximum is the *occupancy*. On an H100 (compute capability
# 9.0; NVIDIA's CUDA C++ Programming Guide, "Features and Technical Specifications") an SM holds
# at most 2048 threads (64 warps), 32 blocks, 65,536 32-bit registers (allocated per warp in units
# of 256) and 228 KiB of shared memory (1 KiB of it reserved per block). Each limit alone allows
# some number of blocks; the smallest wins. The rule of thumb as code:

# %%
ck.show(occupancy.occupancy)

# %%
occ_example = occupancy.occupancy(256, 64, 48 * 1024)
print(f"256 threads x 64 registers, 48 KiB shared: blocks allowed by each limit {occ_example.blocks_by_limit}"
      f" -> {occ_example.blocks_per_sm} blocks, {occ_example.warps_per_sm} warps, {occ_example.fraction:.0%}")
occ_table = pd.DataFrame(occupancy.occupancy_table((32, 64, 128, 256, 512, 1024), (32, 64, 128)))
occ_table["occupancy (limit)"] = (
    occ_table["occupancy_pct"].map("{:.0f} %".format) + " (" + occ_table["limited_by"] + ")"
)
print("\nOccupancy on an H100 SM without shared memory (and what limits it), by registers per thread:")
print(occ_table.pivot(index="threads_per_block", columns="registers_per_thread",
                      values="occupancy (limit)").to_string())
assert (occ_example.blocks_per_sm, occ_example.fraction) == (4, 0.5)
assert set(occ_example.limited_by) == {"registers", "shared memory"}
assert occupancy.occupancy(32, 16).fraction == 0.5, "one-warp blocks stop at 32 blocks = 32 of 64 warps"
assert occupancy.occupancy(1024, 128).blocks_per_sm == 0, "1024 x 128 registers do not fit: cannot launch"

# %%
block_sizes = [32, 64, 128, 256, 512, 1024]
fig, ax = plt.subplots(figsize=(8, 3.2))
for regs, shared_kib, style in ((32, 0, "o-"), (64, 0, "s-"), (128, 0, "^-"), (32, 48, "x--")):
    pct = [100 * occupancy.occupancy(b, regs, shared_kib * 1024).fraction for b in block_sizes]
    label = f"{regs} registers/thread" + (f", {shared_kib} KiB shared" if shared_kib else "")
    ax.plot(block_sizes, pct, style, label=label)
ax.set_xscale("log", base=2)
ax.set_xticks(block_sizes, [str(b) for b in block_sizes])
ax.set_ylim(0, 105)
ax.set_xlabel("threads per block")
ax.set_ylabel("occupancy (% of 64 warps/SM)")
ax.set_title("H100 rule of thumb: 64 registers/thread cap occupancy at 50 %, 128 at 25 %", fontsize=10)
ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the table as the hardware would: one-warp blocks (32 threads) stop at 32 blocks per SM, 50 %,
# whatever else they use; 64 registers per thread cap every block size at 32 warps (50 %), 128 at
# 16 warps (25 %), and a 1024-thread block of 128-register threads cannot launch at all ("too many
# resources requested for launch"). numba-cuda reports a compiled kernel's registers
# (`kernel.get_regs_per_thread()`) and shared memory (`kernel.get_shared_mem_per_block()`) on a GPU;
# CUDA's `cudaOccupancyMaxActiveBlocksPerMultiprocessor` does this arithmetic for you. Occupancy is
# a means, not a goal: a kernel needs *enough* warps (or enough independent loads per warp) to keep
# memory busy, and past that more occupancy buys nothing (V. Volkov, "Better performance at lower
# occupancy", GTC 2010).
#
# On a GPU, a grid-stride copy of 2^26 floats (one element per thread, 512 MiB moved) is timed for
# each block size, with the registers the compiler gave it and the occupancy they imply
# (`warps.time_block_sizes`; measured here with a GPU, else recorded). Without either, the cell
# shows a related published measurement, not this sweep: te42kyfo/gpu-benches' triad on an H100
# PCIe, whose blocks are capped at two per SM so that the block size sets the occupancy, at 25 %
# and at 100 %:

# %% tags=["nbval-ignore-output"]
bs = reference.gpu_result("block_size", measure=lambda: warps.time_block_sizes(1 << 26), gpu=info.gpu)
if bs:
    bs_rows = pd.DataFrame(bs.value["rows"]).set_index("threads_per_block")
    print(f"{bs.label}: {bs.value['kernel']}, {bs.value['n']:,} float32; compiled with {bs.value['resources']}")
    print(bs_rows.drop(columns=["median_s", "iqr_s"]).round(1).to_string())
    best = bs_rows["gbs"].idxmax()
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.plot(bs_rows.index, bs_rows["gbs"], "o-")
    ax.set_xscale("log", base=2)
    ax.set_xticks(bs_rows.index, [str(b) for b in bs_rows.index])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("threads per block")
    ax.set_ylabel("achieved bandwidth (GB/s)")
    ax.set_title(f"Copy: {bs_rows['gbs'].max():.0f} GB/s at {best} threads/block, "
                 f"{bs_rows['gbs'].iloc[0]:.0f} GB/s at {bs_rows.index[0]}", fontsize=10)
    plt.show()
    assert (bs_rows["gbs"] > 0).all()
else:
    print(reveal.no_figure_line("this block-size sweep of a grid-stride float32 copy"))
    occ_pub = {e.conditions["occupancy"]: e for e in published.find("triad_bandwidth", "H100 PCIe")}
    print("A published figure on occupancy and bandwidth instead, not this sweep (another kernel, float64, an H100 "
          "PCIe, blocks capped at two per SM):")
    for share in ("25%", "100%"):
        print(f"  {share} occupancy: {published.describe(occ_pub[share])}")
    assert occ_pub["100%"].value > occ_pub["25%"].value, "in the published run, more warps per SM moved more bytes"

# %% [markdown]
# **Streams and pinned memory.** A copy from ordinary (*pageable*) host memory goes through a
# page-locked staging buffer of the driver, piece by piece; from *pinned* (page-locked) memory,
# `cuda.pinned_array(...)`, the GPU's copy engines read it directly, faster, and *asynchronously*
# (CUDA C++ Best Practices Guide, "Pinned Memory").
# Work queued on one CUDA **stream** runs in order; work on different streams may overlap. So a
# large job cut into chunks — copy chunk `k` in, run the kernel on it, copy it back, each chunk on
# stream `k mod 4` — keeps the host-to-device engine, the SMs and the device-to-host engine busy at
# once, and the whole takes about as long as its slowest stage instead of the sum. (The H100's
# host link is PCIe Gen5 x16, 128 GB/s both directions together per NVIDIA's datasheet: the copies
# are often the slowest stage.)

# %%
ck.show(streams.run_pipeline)

# %% [markdown]
# `streams.measure()` times host-to-device and device-to-host copies of 256 MiB from pageable and
# pinned memory, then the pipeline on 2^26 floats (16 chunks) on one stream and on four, with the
# stages alone for scale; each output is checked against numpy. numba-cuda's simulator accepts
# streams, pinned arrays and `stream=` arguments but runs everything in order (its events record no
# time), so only a GPU can show an overlap. Measured here with a GPU, else recorded. Without either,
# the cell shows published pinned and pageable copy rates (CUDA's `bandwidthTest` on two A100
# servers); no tier holds a stream overlap:

# %% tags=["nbval-ignore-output"]
st = reference.gpu_result("streams", measure=lambda: streams.measure(), gpu=info.gpu)
if st:
    v = st.value
    print(f"{st.label}:")
    print(f"  host->device: pageable {v['h2d_pageable_gbs']:.1f} GB/s, pinned {v['h2d_pinned_gbs']:.1f} GB/s; "
          f"device->host: pageable {v['d2h_pageable_gbs']:.1f} GB/s, pinned {v['d2h_pinned_gbs']:.1f} GB/s")
    print(f"  pipeline of {v['nbytes'] / 2**20:.0f} MiB in + out, {v['chunks']} chunks: one stream "
          f"{timing.format_seconds(v['serial_s'])}, {v['n_streams']} streams {timing.format_seconds(v['overlapped_s'])}"
          f" ({v['speedup']:.2f}x); stages alone: copy in {timing.format_seconds(v['h2d_s'])}, kernel "
          f"{timing.format_seconds(v['kernel_s'])}, copy out {timing.format_seconds(v['d2h_s'])}")
    stages = {"copy in": v["h2d_s"], "kernel": v["kernel_s"], "copy out": v["d2h_s"],
              "1 stream": v["serial_s"], f"{v['n_streams']} streams": v["overlapped_s"]}
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.barh(list(stages), [1e3 * t for t in stages.values()], color=["grey"] * 3 + ["tab:red", "tab:green"])
    ax.invert_yaxis()
    ax.set_xlabel("time (ms)")
    ax.set_title(findings.streams_title(v["n_streams"], v["speedup"]), fontsize=10)
    plt.show()
    assert v["speedup"] > 1.1, "streams overlap copies with the kernel"
    assert v["overlapped_s"] > 0.7 * v["longest_stage_s"], "no pipeline beats its slowest stage"
else:
    print(reveal.no_figure_line("the overlap of four streams against one"))  # the simulator runs streams in order
    copies = gpu_figures.pinned_vs_pageable()
    print("Pinned vs pageable copies, published measurements (CUDA samples bandwidthTest, 32 MB per transfer):")
    print(copies.drop(columns="entries").to_string())
    print("entries:", "; ".join(copies["entries"]))
    assert (copies["host->device pinned (GB/s)"] > copies["host->device pageable (GB/s)"]).all(), "pinned is faster"

# %% [markdown]
# ### Exercise 2.7 — saxpy with a grid-stride loop (2 points)
# Write `saxpy_grid_stride(a, x, y, out)`: `out = a * x + y` for any `n`, whatever the grid, with a
# grid-stride loop. The tests launch grids with fewer threads than elements (and more), and check
# that neighbouring threads touch neighbouring elements at every step.

# %% nbgrader={"grade": false, "grade_id": "nb02_gridstride", "locked": false, "schema_version": 3, "solution": true}
@cuda.jit
def saxpy_grid_stride(a, x, y, out):
    """out[i] = a * x[i] + y[i] for every i.  Reference: ``a * x + y``.

    Memory contract: per thread ceil(n / threads in the grid) times 2 global reads and 1 write,
    coalesced at every step; no shared memory, no barrier.
    """
    ### BEGIN SOLUTION
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a * x[i] + y[i]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb02_gridstride_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from coursekit.checks import check_close

rng = np.random.default_rng(29)
xs, ys = rng.standard_normal(500).astype(np.float32), rng.standard_normal(500).astype(np.float32)
out_gs = np.full(500, np.nan, dtype=np.float32)
saxpy_grid_stride[2, 64](np.float32(2.0), xs, ys, out_gs)  # 128 threads for 500 elements
check_close(out_gs, 2.0 * xs + ys, what="saxpy_grid_stride, 500 elements on 128 threads", rtol=1e-6)
print("saxpy_grid_stride matches numpy with 128 threads for 500 elements")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import kernels as kchecks

kchecks.check_saxpy_grid_stride(saxpy_grid_stride)  # several grids; coalesced at every step
### END HIDDEN TESTS
ck.checks.passed("nb02_gridstride", 2, hidden=True)

# %% [markdown]
# ### Exercise 2.8 — pick a block size (2 points)
# Write `pick_block_size(registers_per_thread, shared_bytes_per_block)`: of the block sizes 32, 64,
# 96, ..., 1024 (whole warps), return the **smallest** one that reaches the highest occupancy on an
# H100 SM for a kernel with these resources (`occupancy.occupancy(threads, registers, shared)`
# answers for one size). Smaller blocks at the same occupancy leave the scheduler more blocks to
# spread over the SMs. Beware: the best size is not always a power of two.

# %% nbgrader={"grade": false, "grade_id": "nb02_blocksize", "locked": false, "schema_version": 3, "solution": true}
def pick_block_size(registers_per_thread, shared_bytes_per_block):
    """The smallest multiple of 32 (32 to 1024) with the highest H100 occupancy."""
    ### BEGIN SOLUTION
    sizes = range(32, 1025, 32)
    occ = {b: occupancy.occupancy(b, registers_per_thread, shared_bytes_per_block).fraction for b in sizes}
    return min(b for b in sizes if occ[b] == max(occ.values()))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb02_blocksize_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from coursekit.checks import check_equal

check_equal(pick_block_size(64, 0), 32, what="pick_block_size(64, 0): 64 registers cap every size at 50 %")
print("pick_block_size(64, 0) == 32")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import occupancy as occupancy_checks

occupancy_checks.check_pick_block_size(pick_block_size)  # 32 registers, 33 (granularity), 48 KiB shared, 128
### END HIDDEN TESTS
ck.checks.passed("nb02_blocksize", 2, hidden=True)

# %% [markdown]
# ## 11. Triton: block-level kernels
# A CUDA kernel is written for one *thread*. A [Triton](https://triton-lang.org) kernel is written
# for one *program*, which owns a whole block of elements: `tl.program_id(0)` says which block,
# `tl.arange(0, BLOCK)` gives the block's offsets as one vector, and a **mask** switches off the
# lanes past the end, where a CUDA kernel writes `if i < n`. The compiler then does what sections 4
# to 10 did by hand: it picks the threads and warps per program, stages tiles through shared memory,
# makes loads coalesced and wide, and can run `tl.dot` on tensor cores. What it does **not** do: pick
# the block sizes (you do, or an autotuner), decide what to fuse (one kernel per idea is still
# yours), or check bounds: a lane whose mask is wrong reads or writes whatever memory is there.
#
# Without a GPU, Triton's **interpreter** (`TRITON_INTERPRET=1`, set by `ck.setup()` before triton
# loads) runs each program in turn on CPU torch tensors, with numpy doing each block's arithmetic.
# Like numba-cuda's simulator it is for learning and testing, and its times say nothing about a GPU.
# Triton is an optional package (about 1 GB); without it these cells print one line.

# %% tags=["nbval-ignore-output"]
triton = triton_setup.load()
tk = None
if triton is None:
    print(triton_setup.MISSING)
    triton, tl = triton_setup.stand_ins()  # Exercise 2.9's cell can still define its kernel
else:
    import torch
    import triton.language as tl

    from coursekit.gpu import triton_bounds
    from coursekit.gpu.kernels import triton_kernels as tk

    tdev = triton_setup.device()
    print(f"triton {triton.__version__}: " + ("kernels run on its CPU interpreter (a simulator)"
                                              if triton_setup.interpreting() else "kernels compiled for this GPU"))

# %% [markdown]
# Section 2's `add_grid` gave each *thread* one element and guarded it with `if i < out.size`. The
# same vector add in Triton: each *program* loads `BLOCK` elements of `x` and `y` at once, and one
# mask guards the whole block.

# %%
ck.show(tk.add_kernel) if tk else print(triton_setup.MISSING)

# %%
if tk:
    n_tr, block_tr = 1000, 256  # not a multiple of the block
    xt = torch.randn(n_tr, device=tdev)
    yt = torch.randn(n_tr, device=tdev)
    torch.testing.assert_close(tk.add(xt, yt, block=block_tr), xt + yt)
    print(f"add_kernel equals x + y: {triton.cdiv(n_tr, block_tr)} programs of {block_tr} lanes for {n_tr} "
          f"elements; the last program has {n_tr - (triton.cdiv(n_tr, block_tr) - 1) * block_tr} live lanes")
else:
    print(triton_setup.MISSING)

# %% [markdown]
# The tiled matmul of section 6, in Triton. The numba kernel gave each thread one element of `C`,
# copied the tiles of `A` and `B` into `cuda.shared.array`s by hand and put a `syncthreads` on each
# side of every use. Here a program owns a `BLOCK_M x BLOCK_N` tile of `C` as a value (`acc`), loads
# the tiles of `A` and `B` as 2-D blocks (masks on both edges), and multiplies them with `tl.dot`.
# Where the tiles live (shared memory, registers), which thread computes what and the barriers are
# the compiler's business. The reuse is the same: every element of `A` is loaded once per column of
# programs, so the intensity approaches `BLOCK / 4` FLOP/byte for large matrices, as `TILE / 4` did in
# section 6 (the table below counts it for a 64 x 64 product).

# %%
ck.show(tk.matmul_kernel) if tk else print(triton_setup.MISSING)

# %%
if tk:
    At = torch.randn(45, 37, device=tdev)
    Bt = torch.randn(37, 50, device=tdev)
    torch.testing.assert_close(tk.matmul(At, Bt), At @ Bt, rtol=1e-4, atol=1e-4)
    grid_t = (triton.cdiv(45, tk.MM_BLOCK), triton.cdiv(50, tk.MM_BLOCK))
    print(f"matmul_kernel equals A @ B for 45 x 37 times 37 x 50: a grid of {grid_t[0]} x {grid_t[1]} programs, "
          f"each a {tk.MM_BLOCK} x {tk.MM_BLOCK} tile of C")
else:
    print(triton_setup.MISSING)

# %% [markdown]
# **Fusion.** `torch.softmax` on a GPU is one kernel, but a softmax written as `exp(x - max) / sum`
# in eager torch is four or five, each reading and writing the whole matrix. A Triton program can
# hold a whole row in registers, so max, subtract, exp, sum and divide cost one read and one write
# per element: the *fused* row softmax. The block must cover the row (`BLOCK` is the next power of
# two of its length), and masked-out lanes read as `-inf`, which neither wins the max nor adds to
# the sum. Layer normalisation fuses the same way: mean, variance, scale and shift in one pass.

# %%
ck.show(tk.softmax_kernel) if tk else print(triton_setup.MISSING)

# %%
if tk:
    rows_t, cols_t = 7, 100
    St = 10 * torch.randn(rows_t, cols_t, device=tdev)
    wt, bt = torch.randn(cols_t, device=tdev), torch.randn(cols_t, device=tdev)
    torch.testing.assert_close(tk.softmax(St), torch.softmax(St, dim=1))
    torch.testing.assert_close(tk.layernorm(St, wt, bt), torch.nn.functional.layer_norm(St, (cols_t,), wt, bt))
    print(f"softmax_kernel and layernorm_kernel equal torch on {rows_t} rows of {cols_t}: one program per row, "
          f"BLOCK = {triton.next_power_of_2(cols_t)}")
else:
    print(triton_setup.MISSING)

# %% [markdown]
# **A bounds checker of our own.** Triton's interpreter checks no bounds: a load past the end
# returns whatever lies there, and a store past the end can corrupt the heap and kill the process.
# `coursekit.gpu.triton_bounds.checked_bounds()` checks every load and store *before* it happens:
# each active lane (mask true) must address an element of one of the launch's tensors; masked-out
# lanes may point anywhere. Here a finite difference with a classic off-by-one: the mask lets the
# last lane read `x[n]`.

# %%
@triton.jit
def diff_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    """out[i] = x[i + 1] - x[i] for i < n - 1 (wrong on purpose: the mask should be offs < n - 1)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    d = tl.load(x_ptr + offs + 1, mask=mask) - tl.load(x_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, d, mask=mask)


if tk and triton_setup.interpreting():
    x_full = torch.arange(1001.0)
    x_d, out_d = x_full[:1000], torch.zeros(1000)  # x_d's last element is x_full[999]: x_d[1000] is not x_d's
    diff_kernel[(triton.cdiv(1000, 256),)](x_d, out_d, 1000, BLOCK=256)  # unchecked: runs, no error
    print(f"unchecked: no error, and out[999] = {out_d[999].item():g} (read from past the end of x)")
    try:
        with triton_bounds.checked_bounds():
            diff_kernel[(triton.cdiv(1000, 256),)](x_d, out_d, 1000, BLOCK=256)
        raise AssertionError("the bounds checker missed the off-by-one")
    except triton_bounds.TritonBoundsError as err:
        print(triton_bounds.first_line(err))
        assert err.program == (3, 0, 0) and err.offsets.tolist() == [1000]
else:
    print("the bounds checker needs Triton's interpreter (on a GPU, use compute-sanitizer)" if tk
          else triton_setup.MISSING)

# %% [markdown]
# **On this machine's roofline.** Bytes and FLOPs are counted from each kernel's loads, stores and
# arithmetic (`tk.costs`; the tests check the bytes against the accesses the bounds checker records).
# The intensities are what they would be on a GPU; the interpreter's times are not: it runs one
# program after another in Python, so it stays far below this CPU's roof (last column; the cell
# asserts under 5 %).

# %% tags=["nbval-ignore-output"]
if tk and triton_setup.interpreting():
    n_add, n_mm, shape_sm = ck.size(small=4096, default=65536), ck.size(small=64, default=128), (64, 1000)
    xa_t, ya_t = torch.randn(n_add), torch.randn(n_add)
    Am, Bm = torch.randn(n_mm, n_mm), torch.randn(n_mm, n_mm)
    Xs, ws, bs_t = torch.randn(*shape_sm), torch.randn(shape_sm[1]), torch.randn(shape_sm[1])
    tr_runs = {
        "add": (tk.costs("add", n_add), lambda: tk.add(xa_t, ya_t)),
        "matmul": (tk.costs("matmul", n_mm, n_mm, n_mm), lambda: tk.matmul(Am, Bm)),
        "softmax": (tk.costs("softmax", *shape_sm), lambda: tk.softmax(Xs)),
        "layernorm": (tk.costs("layernorm", *shape_sm), lambda: tk.layernorm(Xs, ws, bs_t)),
    }
    cpu_roof = ceilings.measure_ceilings("cpu")
    tr_kernels = [cost.timed(timing.benchmark(run, min_time=0.2, max_time=1.0, min_samples=3).median, "this CPU")
                  for cost, run in tr_runs.values()]
    tr_table = roofline.kernel_table(cpu_roof, tr_kernels).set_index("kernel")
    tr_table["bytes"] = [int(k.nbytes) for k in tr_kernels]
    tr_table["FLOP"] = [int(k.flop) for k in tr_kernels]
    print(f"this CPU's roof: {cpu_roof.bytes_per_s / 1e9:.0f} GB/s, {cpu_roof.flop_per_s / 1e9:.0f} GFLOP/s "
          f"({cpu_roof.source}); ridge {cpu_roof.ridge:.1f} FLOP/byte")
    print(tr_table[["bytes", "FLOP", "intensity", "bound", "time"]]
          .assign(of_roof=tr_table["of_roof"].map("{:.3%}".format)).to_string())
    assert tr_table["of_roof"].max() < 0.05, "the interpreter is a simulator: far below the roof"
    mm_name = tr_kernels[1].name
    assert tr_table.loc[mm_name, "intensity"] == tr_table["intensity"].max(), "the tiled matmul has the most reuse"
else:
    print("not on the interpreter: see the next cell for GPU times" if tk else triton_setup.MISSING)

# %% [markdown]
# On a GPU the question is whether a hand-written fused kernel keeps up with torch's own: the next
# cell times the Triton softmax and layernorm against torch eager and `torch.compile` (which writes
# Triton kernels itself), with CUDA events. Without a GPU it says so in one line.

# %% tags=["nbval-ignore-output"]
tr_gpu = tk.time_against_torch(4096, 1024) if tk else None
if tr_gpu:
    from IPython.display import display

    tr_gpu_table = pd.DataFrame(tr_gpu).T.map(timing.format_seconds)
    display(tr_gpu_table)
    print("measured here, on this GPU: median per call (4096 x 1024 float32)")
else:
    print(triton_setup.MISSING if not tk else
          "No GPU here: Triton vs torch eager and torch.compile is timed only on a GPU; no tier holds this figure yet "
          "(none recorded or published): the times above are the interpreter's.")

# %% [markdown]
# ### Exercise 2.9 — a row-wise log-sum-exp in Triton (3 points)
# Write `logsumexp_kernel` and its launcher `row_logsumexp(x)` so that `row_logsumexp(x)` equals
# `torch.logsumexp(x, dim=1)` for a 2-D float32 tensor `x`: one program per row, the row held in
# one block, one value stored per row. `log(sum(exp(x)))` overflows for large values: subtract the
# row's maximum `m` first, `m + log(sum(exp(x - m)))`. Think about what masked-out lanes must read
# as, what happens when `x` is a slice of a wider matrix (`x.stride(0)` is then not the row length),
# and how big `BLOCK` must be (`tl.arange` takes only powers of two). The hidden tests run your
# kernel under the bounds checker on rows of many lengths, strides and values. Without Triton this
# exercise is not graded on your machine (its test cell says so); the grader's machine has it.

# %% nbgrader={"grade": false, "grade_id": "nb02_triton_lse", "locked": false, "schema_version": 3, "solution": true}
@triton.jit
def logsumexp_kernel(x_ptr, out_ptr, n_cols, row_stride, BLOCK: tl.constexpr):
    """out[r] = log(sum_j exp(x[r, j])), one program per row.  Reference: ``torch.logsumexp(x, dim=1)``.

    Memory contract: program r loads its n_cols elements once (BLOCK >= n_cols lanes, masked) and
    stores one value.
    """
    ### BEGIN SOLUTION
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < n_cols
    x = tl.load(x_ptr + row * row_stride + offs, mask=mask, other=-float("inf"))
    m = tl.max(x, axis=0)
    s = tl.sum(tl.exp(x - m), axis=0)
    tl.store(out_ptr + row, m + tl.log(s))
    ### END SOLUTION


def row_logsumexp(x):
    """``torch.logsumexp(x, dim=1)`` for a 2-D float32 ``x`` (rows contiguous, row stride any)."""
    ### BEGIN SOLUTION
    rows, cols = x.shape
    out = torch.empty(rows, dtype=x.dtype, device=x.device)
    logsumexp_kernel[(rows,)](x, out, cols, x.stride(0), BLOCK=triton.next_power_of_2(cols))
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb02_triton_lse_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
from coursekit.checks import check_close

if tk:
    xs_lse = 4 * torch.randn(5, 100, device=tdev)  # 100 columns: not a power of two
    check_close(row_logsumexp(xs_lse), torch.logsumexp(xs_lse, dim=1), what="row_logsumexp on 5 rows of 100",
                rtol=1e-5, atol=1e-5)
    if triton_setup.interpreting():
        with triton_bounds.checked_bounds():
            row_logsumexp(xs_lse)
    print("row_logsumexp matches torch.logsumexp on 5 rows of 100" +
          (", every load and store in bounds" if triton_setup.interpreting() else ""))
else:
    print(f"Exercise 2.9 is not graded on this machine. {triton_setup.MISSING}")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import blocks as block_checks

block_checks.check_row_logsumexp(row_logsumexp)  # raises without triton: never a silent pass
### END HIDDEN TESTS
if tk:
    ck.checks.passed("nb02_triton_lse", 3, hidden=True)

# %% [markdown]
# The numbers this notebook measured or counted:

# %% tags=["nbval-ignore-output"]
pd.DataFrame([
    ("sum error: atomics / tree", f"{abs(sums['atomics (one float32 total)'] - exact):.2g} / "
     f"{abs(sums['tree per block, then numpy'] - exact):.2g} (n = {n_red:,})"),
    ("block sum of 64: barriers; shared accesses", f"tree {tree_t['barriers']} / warp shuffles "
     f"{warp_t['barriers']}; {tree_shared} / {warp_shared} (+{warp_t['warp shuffles']} shuffles)"),
    ("matmul reads/thread: naive / tiled",
     f"{naive_reads['global reads'].max()} / {tiled_reads['global reads'].max()}"),
    ("sectors/warp write: copy / naive T", f"{sectors.loc['copy_2d', 'out writes']:.0f} / "
     f"{sectors.loc['transpose_naive', 'out writes']:.0f}"),
    ("tile column read: 32x32 / 32x33", f"{ways.iloc[0]['worst read (ways)']:.0f}-way / "
     f"{ways.iloc[1]['worst read (ways)']:.0f}-way"),
    ("paths/warp: runs of 16 / 32", f"{paths[16]:.0f} / {paths[32]:.0f}"),
    ("divergence cliff, ns/element L=16 / L=32", f"{cliff:.1f}x ({div.source}: {div.label})" if div else
     "not timed (no GPU, none recorded)"),
    ("H100 occupancy: 256 thr x 64 regs, 48 KiB", f"{occ_example.blocks_per_sm} blocks/SM = "
     f"{occ_example.fraction:.0%} (rule of thumb)"),
    ("tiled matmul TFLOP/s: roofline / revealed", f"{mm_reveals['tiled'].roofline_prediction / 1e12:.3g} / "
     f"{mm_reveals['tiled'].revealed / 1e12:.3g} ({mm_tier}, {mm_kernels['tiled'].name})"),
    ("copy GB/s, best block / 32 threads", f"{bs_rows['gbs'].max():.0f} / {bs_rows['gbs'].iloc[0]:.0f} "
     f"({bs.source})" if bs else f"not timed; published H100 PCIe triad at 100 % / 25 % occupancy: "
     f"{occ_pub['100%'].value:.0f} / {occ_pub['25%'].value:.0f}"),
    ("H2D GB/s pageable / pinned; 4-stream speedup", f"{st.value['h2d_pageable_gbs']:.0f} / "
     f"{st.value['h2d_pinned_gbs']:.0f}; {st.value['speedup']:.2f}x ({st.source})" if st else
     f"published, {copies.index[0]}: {copies.iloc[0]['host->device pageable (GB/s)']:.3g} / "
     f"{copies.iloc[0]['host->device pinned (GB/s)']:.3g}; speedup: no tier"),
    ("simulated add_grid vs numpy", f"{kernel_time.median / numpy_time.median:,.0f}x slower"),
    ("Triton on the interpreter: best fraction of this CPU's roof",
     f"{tr_table['of_roof'].max():.2%} ({tr_table['of_roof'].idxmax()})"
     if tk and triton_setup.interpreting() else "not run (no interpreter here)"),
], columns=["measured or counted", "value"]).set_index("measured or counted")

# %% [markdown]
# And each GPU cell of this notebook, with the tier of the figure it showed on this machine and
# its source (best tier first: measured here, recorded by the course on a GPU, a published
# measurement, none):

# %% tags=["nbval-ignore-output"]
pd.DataFrame([
    gpu_figures.tier_row("5. atomic vs tree sum: times", red),
    gpu_figures.tier_row("6. naive / tiled / cuBLAS matmul: rates", mm),
    gpu_figures.tier_row("10. divergence sweep: time per element", div),
    gpu_figures.tier_row("10. four transposes: GB/s (copy rate only)", tp_gpu, ("azure-h100-babelstream-copy",)),
    gpu_figures.tier_row("10. block-size sweep: GB/s", bs,
                         ("gpubenches-h100-pcie-triad-occ100", "gpubenches-h100-pcie-triad-occ25")),
    gpu_figures.tier_row("10. pinned vs pageable copies: GB/s", st, () if st else (
        f"{len(copies)} devices x 4 entries, "
        f"{published.get(copies['entries'].iloc[0].split(', ')[0]).source.cite()}",)),
    gpu_figures.tier_row("10. streams: overlap speed-up", st),
]).set_index("GPU cell")

# %% [markdown]
# ## Summary
# The tables above hold the numbers, and which tier each GPU figure came from; what the notebook showed:
#
# | what | how |
# |---|---|
# | memory | `cuda.to_device` / `device_array` / `copy_to_host` = `cudaMalloc` + `cudaMemcpy` |
# | indexing | `threadIdx.x + blockIdx.x * blockDim.x` (`cuda.grid(1)`), `cuda.grid(2)` for images, always with a bounds check |
# | shared memory | a tile per block, loaded once, read many times; a barrier between loading and reading |
# | the lecture's stencil | tile too big, global index into the tile, halo from local positions: wrong or out of bounds |
# | reductions | atomics (simple, contended) vs a shared-memory tree (log2 steps with barriers) |
# | matmul | tiles cut global reads per thread by the tile size (counted by the tracer) |
# | portability | the same kernels in CUDA C (PTX) and OpenCL C (compiled and run on this CPU by PoCL) |
# | timing | synchronise or use events on a GPU; simulator times are not GPU times |
# | memory contract | `check_contract`: bounds, reads/writes per thread, barriers, races, coalescing |
# | coalescing | a warp writing a row: 4 sectors; a column: 32 (counted above) |
# | divergence | a warp runs both paths while runs of equal sign are shorter than 32 |
# | bank conflicts | a 32 x 32 tile read by column: 32-way; padded to 33 columns, or swizzled: 1-way |
# | occupancy | the tightest per-SM limit (threads, blocks, registers, shared memory) sets the resident blocks |
# | streams | pinned host memory and chunks on several streams overlap copies with kernels |
# | predict, then reveal | the roofline's prediction for naive, tiled and cuBLAS matmuls against the best tier's rates |
# | GPU figures | each GPU cell shows the best tier it has, labelled (the second table above) |
# | Triton | a program per block, `tl.arange` offsets and masks; fused softmax and layernorm in one pass; out-of-bounds lanes caught by `checked_bounds()` on the interpreter |
#
# Next, **03 · Minibatching** shows why deep-learning code works on batches of examples at once.
