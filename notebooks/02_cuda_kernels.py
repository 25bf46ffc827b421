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
# - shared memory and `syncthreads`: a stencil (and the lecture's buggy version), reductions, and
#   a tiled matrix multiply; the same kernels as CUDA C and as OpenCL compiled for this CPU;
# - how to time kernels, and what the simulator's timings mean.
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
#
# **Time**: about 2 minutes (quick mode: under 2 minutes). Simulated kernels are slow on purpose:
# sizes stay small without a GPU.

# %% tags=["nbval-ignore-output"]
import subprocess
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import coursekit as ck
from coursekit import ceilings, compare, opencl, reference, roofline, timing, tracer
from coursekit.datasets import load_fashion_mnist

info = ck.setup()  # must come before numba is imported: it may switch on the simulator

from numba import cuda, float32  # noqa: E402

from coursekit.kernels import matmul, reduce, stencil  # noqa: E402

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
#   kernels of this course do (`coursekit.kernels.precision` finds float64 in a kernel, without
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
for ax, (kernel, blocks, threads) in zip(axes, launches):
    tracer.plot_writers(traces[kernel.__name__], "out", ax=ax,
                        title=f"{kernel.__name__}[{blocks}, {threads}]")
    ax.set_xlabel("")
axes[-1].set_xlabel("element of out (colour = block, number = thread within its block)")
fig.tight_layout()
plt.show()

# %% [markdown]
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
# On a GPU that write lands in whatever memory follows `out`: no error, just corruption (the
# simulator catches indices past the end, but silently *wraps* negative ones, as numpy does).
#
# The tracer also counts each thread's memory traffic, the kernel's *memory contract*:

# %%
counts = traces["add_grid"].counts()
print(counts.head(4).to_string())
assert (counts["global reads"] == 2).all() and (counts["global writes"] == 1).all()
one = traces["add_one_thread"].counts()
assert one["global reads"].iloc[0] == 2 * n_small, "one thread reads everything"

# %% [markdown]
# ### Exercise 2.1 — a saxpy kernel with a bounds check (3 points)
# Write `saxpy_kernel` so that `out[i] = a * x[i] + y[i]` for every element, one thread per
# element. The tests launch it with 64 threads per block on sizes that are *not* multiples of 64,
# so the last block has threads with nothing to do: they must not touch memory.

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
xs = rng.standard_normal(130).astype(np.float32)
ys = rng.standard_normal(130).astype(np.float32)
check_close(run_saxpy(0.0, xs, ys), ys, what="saxpy_kernel with a = 0")
check_close(run_saxpy(-1.5, xs, ys, threads=32, extra_blocks=2), -1.5 * xs + ys,
            what="saxpy_kernel with 2 surplus blocks", rtol=1e-6)
### END HIDDEN TESTS
ck.checks.passed("nb02_saxpy", 3, hidden=True)

# %% [markdown]
# ## 3. 2-D grids
# Images and matrices are 2-D, and so can grids and blocks be. `cuda.grid(2)` returns this
# thread's (x, y) = (column, row). Here a 28 x 28 Fashion-MNIST image is brightened by 8 x 8
# blocks of threads: 28 is not a multiple of 8, so the blocks on the right and bottom edges are
# partly idle.

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
tracer.plot_writers(tr2d, "out", ax=axes[2], title="which block wrote each pixel")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 2.2 — a 2-D ReLU kernel (2 points)
# Write `relu_2d` so that `out[r, c] = max(x[r, c], 0)` for a 2-D array, one thread per element,
# using `cuda.grid(2)` and a bounds check in *both* dimensions. The tests use shapes that are not
# multiples of the block.

# %% nbgrader={"grade": false, "grade_id": "nb02_relu2d", "locked": false, "schema_version": 3, "solution": true}
@cuda.jit
def relu_2d(x, out):
    """out[r, c] = max(x[r, c], 0).  Reference: ``numpy.maximum(x, 0)``.

    Memory contract: per thread 1 global read and 1 global write; no shared memory, no barrier.
    """
    ### BEGIN SOLUTION
    col, row = cuda.grid(2)
    if row < x.shape[0] and col < x.shape[1]:
        out[row, col] = max(x[row, col], float32(0))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb02_relu2d_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from coursekit.checks import check_close


def run_relu_2d(x, block=(8, 8)):
    out = np.full_like(x, np.nan)
    grid = ((x.shape[1] + block[0] - 1) // block[0], (x.shape[0] + block[1] - 1) // block[1])
    relu_2d[grid, block](x, out)
    return out


rng = np.random.default_rng(5)
for shape in ((5, 7), (9, 17)):
    xs = rng.standard_normal(shape).astype(np.float32)
    check_close(run_relu_2d(xs), np.maximum(xs, 0), what=f"relu_2d on shape {shape}")
print("relu_2d matches numpy on 5 x 7 and 9 x 17")
### BEGIN HIDDEN TESTS
xs = rng.standard_normal((3, 20)).astype(np.float32)  # wide: tests rows vs columns
check_close(run_relu_2d(xs, block=(4, 2)), np.maximum(xs, 0), what="relu_2d on 3 x 20 with 4 x 2 blocks")
xs = rng.standard_normal((20, 3)).astype(np.float32)  # tall
check_close(run_relu_2d(xs, block=(4, 2)), np.maximum(xs, 0), what="relu_2d on 20 x 3 with 4 x 2 blocks")
### END HIDDEN TESTS
ck.checks.passed("nb02_relu2d", 2, hidden=True)

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
# With 5 blocks (40 outputs) the global indices still fit in the oversized tile (48 floats), so
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
# On a GPU that write silently corrupts another block's shared memory (or faults); the simulator
# raises `IndexError` too, since its shared arrays are numpy arrays. The fix: size the tile
# `BLOCK + 2 * R`, index it with the *local* index, and load the halo from *global* positions.
# `coursekit.kernels.stencil` holds the corrected kernel:

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
tracer.plot_accesses(tr_st, block=1, space="global", array="inp")
plt.suptitle("Block 1's global reads of inp: all before the barrier (phase 0), none after", y=1.04)
plt.show()
tracer.plot_shared(tr_st, block=1)
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
# ### Exercise 2.3 — transpose through a shared tile (3 points)
# Write `transpose_tiled(x, out)` with `out[c, r] = x[r, c]`, for blocks of `TILE x TILE`
# threads: each block loads one tile of `x` into shared memory (row `ty`, column `tx` from
# `x[row, col]`), waits at a barrier, then writes the tile transposed, so that consecutive
# threads write consecutive addresses of `out`. Guard both loads and stores for shapes that are
# not multiples of `TILE`.

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


# %% nbgrader={"grade": true, "grade_id": "nb02_transpose_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
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
xs = rng.standard_normal((3, 17)).astype(np.float32)
check_close(run_transpose(xs), xs.T, what="transpose of a 3 x 17 matrix")
xs = rng.standard_normal((8, 8)).astype(np.float32)
check_close(run_transpose(xs), xs.T, what="transpose of one full tile")
### END HIDDEN TESTS
ck.checks.passed("nb02_transpose", 3, hidden=True)

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
SAFETY = 4  # the bound below holds with probability > 1 - 1e-13 (see the text)
bound = SAFETY * np.sqrt(n_red) * np.finfo(np.float32).eps * np.abs(x_red.astype(np.float64)).sum()
print(f"{n_red:,} numbers; exact sum {exact:,.4f}; allowed error {bound:.3g} "
      f"({SAFETY} x sqrt(n) x eps x sum|x|)")
for method, got in sums.items():
    err = abs(got - exact)
    print(f"  {method:<28} {got:>16,.4f}   error {err:9.3g}  ({err / exact:.1e} of the sum)")

# %%
for method, got in sums.items():
    assert abs(got - exact) <= bound, f"{method}: error {abs(got - exact):.3g} exceeds {bound:.3g}"

# %% tags=["nbval-ignore-output"]
tree8 = reduce.make_tree_sum(8)
small_partial = np.zeros(2, dtype=np.float32)
tr_tree = tracer.trace(tree8, 2, 8, x_red[:16].copy(), small_partial)
np.testing.assert_allclose(small_partial, [x_red[:8].sum(), x_red[8:16].sum()], rtol=1e-5)
tracer.plot_shared(tr_tree, block=0)
plt.suptitle("Tree sum in one block of 8: each phase (between barriers) halves the active threads", y=1.04)
plt.show()

# %% [markdown]
# **What the errors say.** Floating-point addition rounds, so the order of the additions matters.
# The atomic sum keeps *one* running float32 total: once it is large, every addition is rounded to
# that total's spacing (1.0 once it passes 2^23 = 8.4 million), and millions of such roundings add
# up; threads also arrive in an order that changes from run to run on a GPU, and so does the sum.
# The tree adds numbers of similar size — pairs, then pairs of pairs — so each rounding is
# relative to a small partial sum. With a few hundred numbers (the simulator) every method is close;
# with 2^24 on a GPU the atomic sum typically misses by about a hundred while the tree misses by a
# fraction of one.
#
# **Why this bound.** Each of the `n - 1` additions is off by at most `u = eps / 2` (half a unit in
# the last place) of its partial sum, so in the worst case the error is `(n - 1) u sum|x|`. Rounding
# errors behave like random signs, though, and grow like a random walk: `|error| <= lam sqrt(n) u
# sum|x|` with probability at least `1 - 2 exp(-lam^2 / 2)` (Higham and Mary, 2019). The check uses
# `lam = 8`, i.e. `4 sqrt(n) eps sum|x|`: a chance failure is rarer than 1 in 10^13. A fixed
# tolerance (`rtol=1e-4`) is too loose for small `n` and too tight for large: zero-mean data of
# 2^24 numbers summed one by one can miss by more than that.
#
# ### Exercise 2.4 — a block-level max (3 points)
# Write `block_max(x, out)`: each block of `MAX_BLOCK` threads writes the maximum of its elements
# to `out[blockIdx.x]`, using a tree in shared memory as `tree_sum` does. Threads past the end of
# `x` must not win (use `NEG_INF`, minus infinity as a float32, for them).

# %% nbgrader={"grade": false, "grade_id": "nb02_blockmax", "locked": false, "schema_version": 3, "solution": true}
MAX_BLOCK = 32
NEG_INF = float32(-np.inf)  # a float32 constant: -np.inf itself is a float64


@cuda.jit
def block_max(x, out):
    """out[b] = max of block b's elements.  Reference: ``numpy.maximum.reduceat(x, range(0, n, MAX_BLOCK))``.

    Memory contract: per thread 1 global read; thread 0 writes 1 result; shared array of MAX_BLOCK
    floats; log2(MAX_BLOCK) + 1 barriers.
    """
    ### BEGIN SOLUTION
    cache = cuda.shared.array(MAX_BLOCK, float32)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * cuda.blockDim.x + t
    cache[t] = x[i] if i < x.size else NEG_INF
    cuda.syncthreads()
    stride = MAX_BLOCK // 2
    while stride > 0:
        if t < stride:
            cache[t] = max(cache[t], cache[t + stride])
        cuda.syncthreads()
        stride //= 2
    if t == 0:
        out[cuda.blockIdx.x] = cache[0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb02_blockmax_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
from coursekit.checks import check_close


def run_block_max(x):
    blocks = (x.size + MAX_BLOCK - 1) // MAX_BLOCK
    out = np.full(blocks, np.nan, dtype=np.float32)
    block_max[blocks, MAX_BLOCK](x, out)
    return out


rng = np.random.default_rng(13)
xs = rng.standard_normal(70).astype(np.float32)  # 3 blocks, the last one partly filled
check_close(run_block_max(xs), np.maximum.reduceat(xs, range(0, 70, MAX_BLOCK)), what="block maxima of 70 numbers")
print("block_max matches numpy on 70 elements")
### BEGIN HIDDEN TESTS
xs = -np.abs(rng.standard_normal(33)).astype(np.float32)  # all negative: padding must not win
check_close(run_block_max(xs), np.maximum.reduceat(xs, [0, 32]), what="block maxima of 33 negative numbers")
xs = np.arange(32, dtype=np.float32)[::-1].copy()  # the maximum in thread 0
check_close(run_block_max(xs), [31.0], what="block max with the maximum first")
### END HIDDEN TESTS
ck.checks.passed("nb02_blockmax", 3, hidden=True)

# %% [markdown]
# ## 6. Matrix multiply: naive vs tiled vs cuBLAS
# The naive kernel gives each thread one element of `C` and reads a whole row of `A` and column of
# `B` from global memory: `2k` reads for `2k` FLOP, an intensity of 1/4 FLOP/byte in float32,
# deep in the memory-bound region. The tiled kernel loads `TILE x TILE` tiles of `A` and `B` into
# shared memory once per block and reuses each number `TILE` times.

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

# %% [markdown]
# On a GPU the difference is measured, next to cuBLAS (NVIDIA's tuned library, which `torch.matmul`
# calls) and placed on the GPU's roofline:

# %% tags=["nbval-ignore-output"]
if info.gpu:
    n_mm = 2048
    t_mm = matmul.time_on_gpu(n_mm)  # naive, tiled and cuBLAS (torch.matmul), synchronised medians
    k = roofline.matmul(n_mm, n_mm, n_mm)
    gpu_roof = ceilings.measure_ceilings("cuda")
    mm_kernels = [roofline.Kernel(f"{name} n={n_mm}", k.flop, k.nbytes, t_mm[f"{name}_s"], "this GPU")
                  for name in ("naive", "tiled", "cublas")]
    roofline.plot(gpu_roof, mm_kernels)
    plt.show()
    print(f"tiled takes {t_mm['tiled_s'] / t_mm['cublas_s']:.1f}x cuBLAS's time; "
          f"naive {t_mm['naive_s'] / t_mm['cublas_s']:.1f}x (relative errors against cuBLAS: naive "
          f"{t_mm['naive_rel_error']:.1e}, tiled {t_mm['tiled_rel_error']:.1e})")
    assert max(t_mm["naive_rel_error"], t_mm["tiled_rel_error"]) < 1e-3, "both kernels compute A @ B"
    assert t_mm["cublas_s"] < t_mm["naive_s"], "cuBLAS beats the naive kernel"
else:
    rec = reference.gpu_result("matmul_kernels")  # recorded on a real GPU, if one has been
    if rec:
        mk = rec.value
        print(f"No GPU here. {rec.label}, n = {mk['n']}: naive {timing.format_seconds(mk['naive_s'])}, "
              f"tiled {timing.format_seconds(mk['tiled_s'])}, cuBLAS {timing.format_seconds(mk['cublas_s'])}")
    else:
        print("No GPU here and no recorded GPU run yet: the kernels are checked for correctness on the "
              "simulator only (its timings would measure Python, not a GPU).")
    a_cpu = np.random.default_rng(16).standard_normal((1024, 1024)).astype(np.float32)
    t_cpu = timing.benchmark(np.matmul, a_cpu, a_cpu, min_time=0.2).median
    print(f"for scale, numpy on this CPU: 1024 x 1024 matmul in {timing.format_seconds(t_cpu)} "
          f"({2 * 1024**3 / t_cpu / 1e9:.0f} GFLOP/s)")

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
cupy_ok = ck.device.backends()["cupy"]
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
    nvcc = ck.device.nvcc_path()
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
    n_cl = ck.size(small=4_000_000, default=16_000_000)
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
    np.testing.assert_array_equal(c_h, a_h + b_h)
    out_np = np.empty_like(a_h)
    t_cl = timing.benchmark(sum_opencl, min_time=0.3).median
    t_np = timing.benchmark(np.add, a_h, b_h, out=out_np, min_time=0.3).median
    print(opencl.describe())
    print(f"vector sum of {n_cl:,} floats: OpenCL {timing.format_seconds(t_cl)} ({12 * n_cl / t_cl / 1e9:.1f} GB/s), "
          f"numpy {timing.format_seconds(t_np)} ({12 * n_cl / t_np / 1e9:.1f} GB/s)")

    local = 128
    n_s = ck.size(small=100_000, default=1_000_000) + 5  # not a multiple of the work-group size
    pad_h = np.random.default_rng(20).random(n_s + 2 * R, dtype=np.float32)
    pad_d, st_d = opencl.to_device(pad_h), opencl.device_empty(4 * n_s)
    global_size = (n_s + local - 1) // local * local
    stencil_kernel(queue, (global_size,), (local,), pad_d, st_d, np.int32(n_s), cl.LocalMemory(4 * (local + 2 * R)))
    st_h = opencl.to_host(st_d, np.empty(n_s, dtype=np.float32))
    np.testing.assert_allclose(st_h, reference_stencil(pad_h), rtol=1e-5)
    print(f"OpenCL stencil with __local memory and a barrier equals numpy.convolve on {n_s:,} outputs")
else:
    print(opencl.describe())

# %% [markdown]
# The vector sum moves 12 bytes per element (two floats read, one written) and does one addition,
# so both it and numpy are limited by memory bandwidth (notebook 01's roofline) — or, for arrays
# small enough to stay in this CPU's caches, by cache bandwidth — not by how the loop is written.
#
# ## 9. Timing kernels right
# Kernel launches are **asynchronous**: `kernel[blocks, threads](...)` returns once the launch is
# queued. A correct GPU timing synchronises before reading the clock (`cuda.synchronize()`), or
# brackets the work with CUDA events; `coursekit.timing.benchmark(..., device="cuda")` does both.
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

# %%
if not info.gpu:
    assert kernel_time.simulator, "without a GPU the kernel ran on the simulator, and the result says so"
    assert kernel_time.median > numpy_time.median

# %% [markdown]
# The simulator is thousands of times slower than numpy: it creates a Python thread per CUDA thread.
# It is for *correctness* — indexing, bounds, barriers — never for speed.
#
# ## Summary
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
#
# Next, **03 · Minibatching** shows why deep-learning code works on batches of examples at once.
