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
#   with the GPUs and CPUs the lectures used, and with today's;
# - the three kinds of parallelism: MIMD (independent cores), SIMD (vector lanes) and SIMT (GPU
#   threads in warps), each measured;
# - how to read a roofline: whether an operation is limited by memory bandwidth or by arithmetic,
#   and when moving work to a GPU pays for the copies.
#
# **Outline**
# 1. The hardware in front of you
# 2. MIMD: different work on different cores
# 3. SIMD: one instruction, many numbers
# 4. SIMT: the same operation as a GPU kernel; warps and divergence
# 5. The roofline of this machine
# 6. When does the GPU win?
# 7. The asynchronous-launch pitfall
# 8. Map-reduce, streaming SGD and GPUs
#
# **Time**: about 3 minutes on a laptop (quick mode: about 1 minute). The first run also measures
# this machine's memory bandwidth and peak FLOP/s (about 20 seconds), then reuses them.

# %% [markdown]
# ## Setup
# One call prepares the notebook: it switches numba-cuda to its CPU simulator when there is no GPU
# (this must happen before numba is imported), seeds the random generators, sets the plot style,
# and prints one line about this machine. Run it first, every time.

# %% tags=["nbval-ignore-output"]
import math
import textwrap
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import coursekit as ck
from coursekit.gpu import opencl
from coursekit.machine import cpu_peak, device, load
from coursekit.perf import (
    basics_findings,
    ceilings,
    compare,
    crossover,
    mimd,
    published,
    published_points,
    reference,
    reveal,
    roofline,
    timing,
)
from coursekit.perf.asyncqueue import BackgroundQueue, time_launches

info = ck.setup()

# %% [markdown]
# ## 1. The hardware in front of you
# `device.describe()` lists the CPU (model, physical and logical cores, SIMD extensions, memory)
# and every CUDA GPU, with its streaming multiprocessors (SMs) and memory.

# %% tags=["nbval-ignore-output"]
device.describe()

# %% [markdown]
# Next to it, the devices of the lectures (2016-2017) and of today, from their vendors' published
# figures, and this machine's *measured* memory bandwidth and matrix-multiply speed (section 5
# explains how they are measured). Every FLOP/s figure here is **FP32** (single precision, no
# tensor cores). FP32 peak = cores x clock x FP32 FLOP per cycle per core, and that last factor
# differs: a GPU's "CUDA core" is one FP32 *lane* that does one fused multiply-add (2 FLOP) per
# cycle, while a CPU core has vector units: FMA pipes x float32 lanes per pipe x 2. The published
# CPUs have two 256-bit FMA pipes, 2 x 8 x 2 = 32 FLOP per cycle (the AMD EPYC 9654, a Zen 4, runs
# AVX-512 *double-pumped* on those two 256-bit pipes: still 32). This machine's row takes the factor
# from the microarchitecture the CPU reports, printed below the table with its derivation, or leaves
# it empty when the model is not known. The GPU's counterpart of a CPU core is the *streaming
# multiprocessor* (SM): 128 FP32 lanes on an H100 SM, 132 SMs. Each row is one device (the lectures'
# DGX-1 is 8 P100s in one box); memory is in GiB (2^30 bytes), bandwidth in GB/s (10^9 bytes/s);
# FLOP/s per dollar uses the launch price where one was published.

# %% tags=["nbval-ignore-output"]
here = ceilings.measure_ceilings("cpu")
devices = reference.devices_table(here)  # flop_per_cycle_per_core: vendors' peak / (cores x clock); here: derived
SMS = {"NVIDIA Titan Xp": 30, "NVIDIA GTX 1070": 15, "NVIDIA TITAN X (Pascal)": 28,  # vendors' whitepapers
       "NVIDIA P100 SXM2 (1/8 of a DGX-1)": 56, "NVIDIA V100 SXM2": 80, "NVIDIA A100 SXM 80GB": 108,
       "NVIDIA H100 SXM": 132, "NVIDIA H200 SXM": 132}
devices["sms"] = pd.Series(SMS)
devices[["kind", "year", "cores", "sms", "clock_ghz", "flop_per_cycle_per_core", "memory_gib", "bandwidth_gbs",
         "fp32_tflops", "price_usd", "gflops_per_usd", "source"]].round(1)

# %% tags=["nbval-ignore-output"]
per_cycle_here, derivation = cpu_peak.fp32_flop_per_cycle()
print(f"this CPU, FP32 FLOP per cycle per core: {derivation}")
print(cpu_peak.check_peak(here.flop_per_s).sentence())
p100 = reference.PUBLISHED["NVIDIA P100 SXM2 (1/8 of a DGX-1)"]
dgx_fp16 = reference.DGX1_GPUS * reference.P100_SXM2_FP16_FLOP_PER_S
print(f"the lecture's DGX-1: {reference.DGX1_GPUS} x P100 = {dgx_fp16 / 1e12:.0f} TFLOP/s in FP16 (half precision, "
      f"{reference.P100_SXM2_FP16_FLOP_PER_S / 1e12:.1f} per P100), {reference.DGX1_GPUS * p100.flop_per_s / 1e12:.1f} "
      f"TFLOP/s in FP32, the precision of this table")

# %% [markdown]
# The lecture on minibatching quotes the DGX-1 at 170 teraflops: that is its FP16 rate, twice its FP32
# rate, as the line above computes. The same lecture says that every new Tesla car carries a TITAN X.
# It did not: from late 2016 Tesla's Autopilot hardware (HW2) was a computer based on NVIDIA's DRIVE
# PX 2 platform, not a TITAN X graphics card.

# %% tags=["nbval-ignore-output"]
h100 = reference.PUBLISHED["NVIDIA H100 SXM"]
reference.plot_devices(devices, title=basics_findings.devices_title(
    "H100", h100.flop_per_s / here.flop_per_s, h100.bytes_per_s / here.bytes_per_s))
plt.show()

# %% [markdown]
# Both axes are logarithmic: each grid line is a factor of ten. How far above the CPUs are the GPUs?
# It depends on which pair you compare, so compare like with like:

# %% tags=["nbval-ignore-output"]
pairs = [("NVIDIA Titan Xp", "Intel Core i7-7700K", "2017 desktop GPU vs 2017 desktop CPU"),
         ("NVIDIA H100 SXM", "AMD EPYC 9654", "2022 data-centre GPU vs 2022 server CPU"),
         ("NVIDIA H100 SXM", here.name, "H100 vs this machine (measured)")]
ratios = pd.DataFrame([
    {"comparison": what,
     "FLOP/s ratio": devices.loc[g, "fp32_tflops"] / devices.loc[c, "fp32_tflops"],
     "bandwidth ratio": devices.loc[g, "bandwidth_gbs"] / devices.loc[c, "bandwidth_gbs"]}
    for g, c, what in pairs]).set_index("comparison")
print("\n".join(f"{what}: {basics_findings.orders_of_magnitude(row['FLOP/s ratio'])} the FLOP/s, "
                f"{basics_findings.orders_of_magnitude(row['bandwidth ratio'])} the bandwidth"
                for what, row in ratios.iterrows()))
gpus_table = devices[devices["kind"] == "GPU"]
gpu_ridges = gpus_table["fp32_tflops"] * 1e3 / gpus_table["bandwidth_gbs"]  # FLOP per byte
print(f"FP32 FLOP per byte of bandwidth (ridge point) of the GPUs in the table: {gpu_ridges.min():.0f} to "
      f"{gpu_ridges.max():.0f}; H100 dense BF16 on tensor cores ({reference.H100_BF16_DENSE_FLOP_PER_S / 1e12:.0f} "
      f"TFLOP/s): {reference.H100_BF16_DENSE_FLOP_PER_S / h100.flop_per_s:.0f}x its FP32 rate")
ratios.round(0)

# %% [markdown]
# Read the ratios printed above: a GPU against a CPU of its own year and class, and the H100 against
# this machine's measured ceilings. A big server CPU is much closer to the GPU of its day (the 2022
# pair) than a desktop CPU is (the 2017 pair), and the gap to a small cloud VM depends on how many
# cores it has. FP32 is not even the GPU's best case: its tensor cores multiply matrices in BF16 at
# the rate printed last. And every GPU is far higher on compute than on bandwidth (the FLOP per byte
# printed), so an operation that does little arithmetic per byte cannot use the compute — section 5
# makes this precise.

# %%
assert here.bytes_per_s > 1e9 and here.flop_per_s > 1e9, (
    "this machine moves more than 1 GB/s and does more than 1 GFLOP/s"
)
assert h100.flop_per_s > 10 * here.flop_per_s
assert 3 < ratios["FLOP/s ratio"].iloc[1] < 30, "same-generation server GPU vs server CPU: about 10x"
assert ratios["FLOP/s ratio"].iloc[1] < ratios["FLOP/s ratio"].iloc[0], "the server CPU is closer to its GPU"
assert (devices.loc[devices["kind"] == "GPU", "flop_per_cycle_per_core"].round() == 2).all(), "a CUDA core: 1 FMA/cycle"

# %% [markdown]
# ## 2. MIMD: different work on different cores
# A multi-core CPU is a *multiple instruction, multiple data* machine: each core follows its own
# instruction stream. Below, tasks of four *different* kinds (counting primes, Collatz sequences, a
# Monte-Carlo estimate of pi, a word histogram — all plain Python) run on a pool of worker
# processes. With one worker they run one after the other; with more, side by side. The number of
# CPUs is the number this process may *use* (`device.usable_cpus()`: its CPU affinity, capped by a
# container's CPU quota, as on Binder), not the machine's physical core count, and there are at
# least two tasks per CPU so that every worker has work.

# %% tags=["nbval-ignore-output"]
cores = device.usable_cpus()
copies = max(2, -(-2 * cores // len(mimd.KINDS)))  # 4 kinds x copies >= 2 tasks per CPU
tasks = mimd.mixed_tasks(copies=copies, scale=ck.size(small=0.5, default=1.0) * 2 / copies)  # same total work
workers = list(range(1, 2 * cores + 1)) if cores <= 4 else sorted({1, 2, 4, cores // 2, cores, 2 * cores})
print(f"{len(tasks)} tasks on up to {max(workers)} workers; this process may use {cores} CPUs "
      f"(the machine has {device.cpu().physical_cores} physical cores)")
runs = {w: [] for w in workers}
for _ in range(3):  # rounds over every worker count, so that a burst of other work hits them all alike
    for w in workers:
        runs[w].append(mimd.run_with_workers(tasks, w)[0])
wall = {w: min(t) for w, t in runs.items()}  # best of three rounds
speedup_mimd = {w: wall[1] / wall[w] for w in workers}

fig, ax = plt.subplots()
ax.plot(workers, [speedup_mimd[w] for w in workers], "o-", label="measured")
ax.plot(workers, [min(w, cores) for w in workers], "k:", label="ideal: min(workers, cores)")
ax.axvline(cores, color="grey", lw=1)
ax.set_xticks(workers)
ax.set_xlabel("worker processes")
ax.set_ylabel("speed-up over one worker (x)")
ax.set_title(basics_findings.mimd_title(speedup_mimd, cores))
ax.legend()
plt.show()

# %% tags=["nbval-ignore-output"]
best_at_cores = speedup_mimd[min(cores, max(workers))]
serial = [mimd.run_task(t) for t in tasks]
assert mimd.run_with_workers(tasks, min(cores, 2))[1] == serial, "in parallel, each task gives its serial result"
assert max(speedup_mimd.values()) < cores * 1.4, "speed-up cannot exceed the number of cores by much"
if cores > 1 and best_at_cores < 1.3:
    now = load.current()
    why = (f"the machine is busy ({now}): a MIMD speed-up needs idle cores; rerun when it is quiet" if now and now.busy
           else f"the machine was not busy ({now}), so look at the fixed costs: each run starts its worker processes "
                "and ships the tasks and results, and these tasks are short")
    print(f"only {best_at_cores:.2f}x with {cores} workers on {cores} cores; {why}")
else:
    print(f"{best_at_cores:.2f}x with {cores} workers on {cores} cores")

# %% [markdown]
# What to look for: on a quiet machine the speed-up grows with the number of workers up to the
# number of CPUs (the vertical line) and then stops, since extra processes only take turns on the
# same cores; the title says what this run shows. MIMD is flexible — every core can run entirely
# different code — but each core is expensive, so a CPU has few of them.
#
# ## 3. SIMD: one instruction, many numbers
# Inside each core, *single instruction, multiple data* units apply one instruction to a whole
# vector register. The lectures' running example is `max(X, 0)` (ReLU): every element independent.
# Here it is four ways: an explicit Python loop, a list comprehension, numpy and PyTorch on the CPU.
# `compare.interleaved` runs them in alternating rounds and first checks they return the same
# numbers; `compare.compare` tabulates the result.

# %%
n = ck.size(small=100_000, default=1_000_000)
x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
x_list, x_torch = x.tolist(), torch.from_numpy(x)


def relu_loop(values):
    out = []
    for v in values:
        out.append(v if v > 0 else 0.0)
    return out


relu_variants = {
    "Python loop": lambda: relu_loop(x_list),
    "list comprehension": lambda: [v if v > 0 else 0.0 for v in x_list],
    "numpy.maximum": lambda: np.maximum(x, 0),
    "torch.relu (CPU)": lambda: torch.relu(x_torch),
}

# %% tags=["nbval-ignore-output"]
relu_runs = compare.interleaved(relu_variants, min_time=0.3)
relu_table = compare.compare(relu_runs)
relu_table[["median", "iqr", "speedup"]]

# %% [markdown]
# And `saxpy`, `a * x + y`, the "hello world" of vector units (BLAS: Single-precision A X Plus Y):

# %% tags=["nbval-ignore-output"]
y = np.random.default_rng(1).standard_normal(n).astype(np.float32)
y_list, y_torch = y.tolist(), torch.from_numpy(y)
a = 2.5  # a Python float: with np.float32(2.5) every a * xi makes a NumPy scalar, several times slower
saxpy_variants = {
    "Python loop": lambda: [a * xi + yi for xi, yi in zip(x_list, y_list, strict=True)],
    "numpy": lambda: a * x + y,
    "torch (CPU)": lambda: torch.add(y_torch, x_torch, alpha=a),
}
saxpy_runs = compare.interleaved(saxpy_variants, min_time=0.3, rtol=1e-5, atol=1e-5)
saxpy_table = compare.compare(saxpy_runs)
saxpy_table[["median", "iqr", "speedup"]]

# %%
relu_speedup = relu_table.loc["numpy.maximum", "speedup"]
saxpy_speedup = saxpy_table.loc["numpy", "speedup"]
assert relu_speedup > 10, f"numpy should beat the Python loop by >10x on max(X, 0), got {relu_speedup:.1f}x"
assert saxpy_speedup > 10, f"numpy should beat the Python loop by >10x on saxpy, got {saxpy_speedup:.1f}x"

# %% [markdown]
# How many elements does numpy handle per clock cycle, and how wide are this CPU's vectors?

# %% tags=["nbval-ignore-output"]
cpu = device.cpu()
lanes = cpu.vector_bits // 32
clock_hz = device.cpu_clock_hz()
per_cycle_numpy = n / (relu_table.loc["numpy.maximum", "median_s"] * clock_hz)
per_cycle_loop = n / (relu_table.loc["Python loop", "median_s"] * clock_hz)
print(f"widest vector register: {cpu.vector_bits} bits = {lanes} float32 lanes per instruction "
      f"({', '.join(cpu.simd[:3])})")
print(f"at {clock_hz / 1e9:.2f} GHz, numpy.maximum handles {basics_findings.per_cycle(per_cycle_numpy)}; "
      f"the Python loop {basics_findings.per_cycle(per_cycle_loop)}")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
titles = [basics_findings.speedup_title(f"max(X, 0), n = {n:,}", "numpy", "the loop", relu_speedup),
          basics_findings.speedup_title("saxpy", "numpy", "the loop", saxpy_speedup)]
for ax, table, title in zip(axes, (relu_table, saxpy_table), titles, strict=True):
    rows = np.arange(len(table))[::-1]  # first row at the top; dots, not bars: the axis is logarithmic
    ax.errorbar(table["median_s"], rows, xerr=table["iqr_s"] / 2, fmt="o", capsize=3)
    ax.set_yticks(rows, table.index)
    ax.set_xscale("log")
    ax.set_xlabel("median time per call (seconds; bar: interquartile range)")
    ax.set_title(title, fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# **What the numbers mean.** The loop pays the interpreter's cost (fetch an object, compare,
# append) for every element: the cycles per element printed above. numpy pays it once per call and
# then streams the array through vector instructions, each of which handles as many elements as
# there are lanes. Yet the elements per cycle printed for numpy can be far fewer than the lanes:
# then something more than one vector instruction per element sets its pace — fetching the data, or
# numpy's own loop; the measurements below separate the two. How fast can memory deliver the
# elements? That depends on where the data lives: the arrays above (`n` floats, a few hundred KiB
# to a few MiB) fit in the caches of most CPUs. A **working-set sweep**
# times one core reading arrays from 4 KiB to far beyond the last cache (a compiled loop, so the
# interpreter's cost does not hide the small sizes):

# %% tags=["nbval-ignore-output"]
import psutil

from coursekit.machine import caches as caches_mod
from coursekit.machine import memory
from coursekit.perf import memsweep

caches = memsweep.cache_sizes()
llc = max(caches.values(), default=32 * 2**20)
l1 = caches.get("L1d", 32 * 2**10)
# up to 4x the last-level cache (at least 128 MiB), but never more than a quarter of the memory this
# process may still use (a Binder pod's limit counts)
top = int(min(max(4 * llc, 2**27), memory.available_bytes() / 4))
sweep_sizes = [2**k for k in range(12, top.bit_length())]  # 4 KiB, 8 KiB, ... up to top
ws = memsweep.sweep(sweep_sizes, bytes_per_call=ck.size(small=128, default=512) * 2**20)
in_l1 = memsweep.plateau(ws, 0, l1 // 2 + 1)
in_dram = memsweep.plateau(ws, sweep_sizes[-1] // 2, np.inf)  # the two largest sizes
fig, ax = plt.subplots(figsize=(7.5, 3.6))
ax.plot(ws["bytes"], ws["bytes_per_s"] / 1e9, "o-", ms=4)
for name, size in caches.items():
    ax.axvline(size, color="grey", lw=0.8, ls="--")
    ax.text(size, ax.get_ylim()[1] * 0.95, f" {name} {size // 2**10:,} KiB", fontsize=8, va="top")
ax.set_xscale("log", base=2)
ax.set_xlabel("working set (bytes; dashed: this CPU's cache sizes)")
ax.set_ylabel("read rate of one core (GB/s)")
ax.set_title(basics_findings.staircase_title(in_l1, in_dram))
plt.show()
print(", ".join(f"{name} {size // 2**10:,} KiB" for name, size in caches.items()) or "cache sizes unknown")
print(f"plateaus: L1 {in_l1 / 1e9:.0f} GB/s, DRAM {in_dram / 1e9:.0f} GB/s = {in_dram / 4 / clock_hz:.1f} "
      f"floats per cycle")
# numpy.maximum on the array of section 3 (read n floats, write n): a fresh result array per call, as
# above, and into one allocated once; then a plain copy of the same bytes into that array
relu_out = np.empty_like(x)
relu_fresh = timing.benchmark(np.maximum, x, 0, min_time=0.2)
relu_reused = timing.benchmark(np.maximum, x, 0, out=relu_out, min_time=0.2)
plain_copy = timing.benchmark(np.copyto, relu_out, x, min_time=0.2)
for label, m in (("numpy.maximum, new result array", relu_fresh), ("numpy.maximum, out= array", relu_reused)):
    print(basics_findings.in_cache_rate(label, 2 * x.nbytes, m.median, 2 * x.nbytes, caches, in_dram))
print(basics_findings.pace_sentence("numpy.maximum", 2 * x.nbytes / relu_reused.median,
                                    2 * x.nbytes / plain_copy.median))
relu_out = None

# %%
assert in_l1 > 1.5 * in_dram, "reading from the L1 cache is faster than from DRAM on any machine"
del ws

# %% [markdown]
# Each step down the staircase is a cache level running out: L1 (tens of KiB, one per core), L2
# (hundreds of KiB to a few MiB per core), the last-level cache shared by the cores, then DRAM; the
# dashed lines mark this CPU's sizes. (A cloud VM may report cache sizes that differ from the
# chip's, and a busy neighbour moves the plateaus.) So a claim like "numpy runs at the memory rate"
# needs a size, and a check: the last lines printed place numpy.maximum's own rate on the array of
# section 3 against the DRAM plateau. Data in a cache *can* move faster than DRAM allows; if
# numpy.maximum does not, its time goes elsewhere than moving bytes. The second line, into an array
# allocated once, shows how much of it was the fresh result array (a large new array may get fresh
# pages, which the operating system maps and zeroes as they are first written); the last, a plain
# copy of the same bytes, shows how fast they can move at this size, and so whether the maximum's
# own loop is the limit. Only arrays far larger than the last cache run at DRAM's rate, the rate the
# roofline of section 5 uses. GPUs have the same staircase, with much higher DRAM bandwidth.

# %% [markdown]
# ### Exercise 1.1 — vectorise a branch, graded on speed (2 points)
# The *Huber function* of a residual `r` (the loss of robust regression: quadratic near zero,
# linear beyond a threshold `delta`, so outliers pull less) has a branch per element:

# %%
def huber_loop(r, delta):
    """The Huber function of each element of r, one element at a time (a Python list)."""
    out = []
    for v in r.tolist():
        out.append(0.5 * v * v if abs(v) <= delta else delta * (abs(v) - 0.5 * delta))
    return out


# %% [markdown]
# Write `huber_numpy(r, delta)`: the same numbers for a float32 array `r` of any shape, returned as
# a new float32 array of that shape (`r` unchanged), with no Python loop. It is graded on speed as
# CS149 grades: `score = T_reference / T_student`, where the reference is the loop above *compiled*
# (numba: one pass over memory at machine speed), both timed on this machine in the same run. It
# passes from a score of 1/80, which the loop above, interpreted, does not reach. The grading runs
# in a separate Python process that receives only your function's source: it may use `np` and
# `math` and nothing else from the notebook, and may import nothing else. That process checks your
# numbers first, and refuses a time that would mean reading and writing the arrays at more than
# twice this machine's measured memory bandwidth.

# %% nbgrader={"grade": false, "grade_id": "nb01_huber", "locked": false, "schema_version": 3, "solution": true}
def huber_numpy(r, delta):
    """The Huber function of each element of the float32 array r, as a new float32 array."""
    ### BEGIN SOLUTION
    a = np.abs(r)
    m = np.minimum(a, delta)  # |r| below the threshold, delta above it: no branch
    return m * (a - 0.5 * m)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb01_huber_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false} tags=["nbval-ignore-output"]
from coursekit.checks import check_close, check_true
from coursekit.perf import speed_grade

r_small = (3 * np.random.default_rng(1).standard_normal(1000)).astype(np.float32)
check_close(huber_numpy(r_small, 1.0), huber_loop(r_small, 1.0), what="huber_numpy(r, 1.0)", rtol=1e-5, atol=1e-6)
speed = speed_grade.grade(huber_numpy, here)  # a separate process: correctness, score, plausibility
print(speed.summary())
check_true(speed.passed, f"huber_numpy failed the speed grade: {speed.reason}")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import basics as basics_checks

basics_checks.check_huber_speed(huber_numpy)
### END HIDDEN TESTS
ck.checks.passed("nb01_huber", 2, hidden=True)

# %% [markdown]
# **What the score measures.** The compiled loop reads each element once and writes each result
# once: one pass over memory. A numpy expression is a sequence of whole-array operations, and each
# one is a pass that reads its inputs and writes a temporary array; with a few of them, numpy does
# several times the memory traffic of the compiled loop, so its score is below 1 even though
# every pass is vectorised. An interpreted loop pays the interpreter's cost per element and scores
# far lower, below the pass bar. The speed grade also distrusts good news: a function that returns a
# remembered result "runs" faster than this machine can read the array at all, and fails the
# roofline check (the roofline of section 5). One that starts its work in a background thread and
# returns before it is done fails that check too, or hands back an array whose numbers are not
# there yet: the grading process looks at them the moment the call returns.

# %% [markdown]
# The next sections need none of these arrays: free them (a Binder session has about 2 GiB).

# %%
import gc

x_list = y_list = x_torch = y_torch = relu_variants = saxpy_variants = relu_runs = saxpy_runs = None
r_small = None
_ = gc.collect()

# %% [markdown]
# ## 4. SIMT: the same operation as a GPU kernel
# A GPU runs *single instruction, multiple threads*: you write the code for **one** thread, and
# launch as many threads as there are elements. Threads are grouped in blocks, and the hardware
# executes them in *warps* of 32 that share one instruction stream — SIMD hardware behind a
# per-thread programming model. Here is `max(X, 0)` as a numba-cuda kernel (without a GPU it runs
# on numba-cuda's simulator, which executes every thread on the CPU, so keep sizes small there).

# %%
from coursekit.gpu.kernels import simt  # after ck.setup(): it may switch the simulator on

ck.show(simt.relu)

# %% tags=["nbval-ignore-output"]
n_simt = ck.size(small=2_000, default=8_000, gpu=10_000_000)
threads_per_block = 128
blocks = (n_simt + threads_per_block - 1) // threads_per_block
x_simt = np.random.default_rng(2).standard_normal(n_simt).astype(np.float32)
out_simt = np.zeros_like(x_simt)
simt.relu[blocks, threads_per_block](x_simt, out_simt)
np.testing.assert_array_equal(out_simt, np.maximum(x_simt, 0))
print(f"{blocks} blocks x {threads_per_block} threads = {blocks * threads_per_block // simt.WARP_SIZE} warps; "
      f"the kernel's result equals numpy.maximum exactly")

# %% [markdown]
# **Divergence.** All 32 threads of a warp share one instruction stream. When an `if` sends some
# lanes one way and some the other, the warp runs *both* paths, one after the other, with the
# lanes of the other path switched off. `branch_record` writes which path each thread took; below,
# two warps, one with data whose signs alternate (every pair of lanes disagrees) and one whose
# lanes all agree.

# %%
ck.show(simt.branch_record)

# %% tags=["nbval-ignore-output"]
signs = np.concatenate([np.tile([1.0, -1.0], 16), np.ones(32)]).astype(np.float32)
branch = np.zeros(64, dtype=np.int32)
simt.branch_record[1, 64](signs, branch)
np.testing.assert_array_equal(branch, np.where(signs > 0, 1, 2))
fig, ax = plt.subplots(figsize=(9, 1.8))
ax.imshow(branch.reshape(2, 32), cmap="coolwarm", vmin=1, vmax=2, aspect="auto")
ax.set_yticks([0, 1], ["warp 0 (alternating)", "warp 1 (uniform)"])
ax.set_xlabel("lane (thread index within the warp)")
ax.set_title("Path taken per thread: red = else branch. Warp 0 must run both paths; warp 1 runs one")
ax.grid(False)
plt.show()

# %% [markdown]
# On a GPU the cost is measurable: the same work on data whose warps agree versus data whose lanes
# alternate. (The simulator executes threads one by one, so it has no warps and no divergence cost.)

# %%
ck.show(simt.time_divergence)

# %% tags=["nbval-ignore-output"]
# measured on this GPU (checked against numpy, then timed), else recorded on one, else nothing to show
div = reference.gpu_result("divergence", measure=lambda: simt.time_divergence(1 << 22, work=200), gpu=info.gpu)
gpu_figures = []  # (figure, value, tier, source): each GPU cell adds what it showed, for the summary
if div.source == "measured":
    d = div.value
    print(f"divergent warps take {d['ratio']:.2f}x as long: warps agree {timing.format_seconds(d['agree_s'])}, "
          f"lanes alternate {timing.format_seconds(d['alternate_s'])}")
    assert d["ratio"] > 1.2, "warps whose lanes disagree run both paths"
elif div:
    d = div.value
    print(f"No GPU here. {div.label} ({d['n']:,} elements, {d['work']} steps): divergent warps took "
          f"{d['ratio']:.2f}x as long ({timing.format_seconds(d['agree_s'])} vs "
          f"{timing.format_seconds(d['alternate_s'])})")
else:
    print(reveal.no_figure_line("the cost of divergent warps"))
    print("Divergence has no cost on the simulator, which runs one thread at a time. On a GPU, alternating "
          "lanes make each warp run both branches: expect about twice the time (a prediction, not a figure).")
gpu_figures.append(("divergent / uniform warps, time", f"{div.value['ratio']:.2f}x" if div else "none",
                    div.source if div else "no tier holds it", div.label if div else "-"))

# %% [markdown]
# **SIMT code on SIMD lanes.** OpenCL kernels use the same model as CUDA (work-items = threads,
# work-groups = blocks). PoCL compiles them for a *CPU* and packs work-items into its vector lanes,
# so here the per-thread program really runs on this machine's SIMD units, compiled:

# %% tags=["nbval-ignore-output"]
RELU_CL = """
__kernel void relu(__global const float *x, __global float *out, const int n) {
    int i = get_global_id(0);          /* threadIdx.x + blockIdx.x * blockDim.x */
    if (i < n) out[i] = fmax(x[i], 0.0f);
}
"""
if opencl.available():
    _, queue = opencl.context()
    kernel = opencl.build(RELU_CL).relu
    # each array twice the last-level cache (input and output together 4x), so the data come from DRAM;
    # both at most a tenth of the memory this process may use (5 arrays of this size exist at once)
    llc_ocl = caches_mod.last_level_nbytes()
    n_ocl = int(min(max(2 * (llc_ocl or 32 * 2**20), 32 * 2**20), memory.available_bytes() / 10)) // 4
    x_ocl = np.random.default_rng(6).standard_normal(n_ocl, np.float32)  # drawn in float32: no float64 copy
    x_buf = opencl.to_device(x_ocl)  # host -> device copy, as cudaMemcpy
    out_buf = opencl.device_empty(x_ocl.nbytes)
    out_np = np.empty_like(x_ocl)

    def relu_opencl():
        kernel(queue, (n_ocl,), None, x_buf, out_buf, np.int32(n_ocl))
        queue.finish()

    relu_opencl()
    result = opencl.to_host(out_buf, np.empty_like(x_ocl))  # device -> host
    np.testing.assert_array_equal(result, np.maximum(x_ocl, 0, out=out_np))
    ocl = timing.benchmark(relu_opencl, min_time=0.3, label="OpenCL relu on PoCL")
    numpy_relu = timing.benchmark(np.maximum, x_ocl, 0, out=out_np, min_time=0.3, label="numpy.maximum")
    print(opencl.describe())
    print(f"{n_ocl:,} elements, {basics_findings.beyond_caches(8 * n_ocl, llc_ocl)}: "
          f"OpenCL kernel {timing.format_seconds(ocl.median)}, numpy {timing.format_seconds(numpy_relu.median)}")
    for label, m in (("OpenCL kernel, every core", ocl), ("numpy.maximum, one core", numpy_relu)):
        print(basics_findings.against_roof(label, 8 * n_ocl / m.median, here.bytes_per_s, 8 * n_ocl, llc_ocl))
    print(f"one core's DRAM read plateau (the sweep above): {in_dram / 1e9:.0f} GB/s")
    del x_ocl, out_np, result, x_buf, out_buf  # 5 arrays of 2x the last-level cache: a Binder pod has 2 GB
else:
    print(opencl.describe())

# %% [markdown]
# The printed rates count 8 bytes per element (one float read, one written); the arrays' size is
# printed against the last-level cache, and each rate against the triad roof of section 5 (`W`,
# measured with every usable core). PoCL's CPU device runs the work-groups on *all* usable cores
# while `numpy.maximum` uses one, so the two rates compare "every core" with "one core" on a
# memory-bound loop. What to look for: with every core the kernel can approach the triad roof, which
# was measured with every core too; how close it comes, and whether it beats numpy, depends on how
# quiet the machine is, since a multi-threaded kernel suffers most when other work holds cores (each
# of its threads waits for one). The arithmetic, one `fmax` and one bounds check per element, takes
# a fraction of a cycle per element on vector lanes: for `max(X, 0)` the limit is memory, not the
# programming model. What a GPU adds is thousands of lanes *and* the memory bandwidth to feed them.
#
# ## 5. The roofline of this machine
# Every operation does some arithmetic (FLOP) and moves some bytes to and from memory. Its
# *arithmetic intensity* is FLOP per byte. A device has two ceilings: memory bandwidth `W`
# (bytes/s) and peak compute `P` (FLOP/s). An operation of intensity `I` can run at most at
# `min(P, W x I)` FLOP/s. The two meet at the **ridge point** `I = P / W`: operations of lower
# intensity are *memory-bound* (faster memory helps, more arithmetic units do not), operations of
# higher intensity *compute-bound*.
#
# `measure_ceilings` measured `W` with a triad `a = b + s * c` on arrays far larger than the
# caches, and `P` with a large matrix multiply:

# %% tags=["nbval-ignore-output"]
print(f"bandwidth {here.bytes_per_s / 1e9:.1f} GB/s — {here.method['bandwidth']}")
print(f"compute   {here.flop_per_s / 1e9:.0f} GFLOP/s — {here.method['flops']}")
peak, how = cpu_peak.cpu_peak_flops()
print(f"theoretical peak of this CPU: {peak / 1e9:.0f} GFLOP/s = {how}" if peak == peak
      else f"theoretical peak of this CPU: unknown ({how})")
print(cpu_peak.check_peak(here.flop_per_s).sentence())
print(f"ridge point: {here.ridge:.1f} FLOP/byte")

# %% [markdown]
# ### Exercise 1.2 — predict, then measure (3 points)
# Below, the notebook times numpy evaluating `a * x + y` (`a` a Python float, `x` and `y` float32
# arrays of `n` elements, chosen larger than the last-level cache of most machines; the cell prints
# how they compare with this one's). Predict the time *before* it measures: write
# `predict_saxpy_seconds(n, ceilings)`, the roofline's time in seconds for that numpy expression on
# a device with `ceilings.bytes_per_s` and `ceilings.flop_per_s`. Count the bytes as `W` was
# measured (every array that an operation reads or writes, once, at its full size) for what numpy
# actually does when it evaluates the expression, and count the FLOP. The prediction is graded
# within 2 % against the roofline of several devices, not against a timing.

# %% nbgrader={"grade": false, "grade_id": "nb01_predict", "locked": false, "schema_version": 3, "solution": true}
def predict_saxpy_seconds(n, ceilings):
    """The roofline's time (seconds) of numpy's `a * x + y` on float32 arrays of n elements."""
    ### BEGIN SOLUTION
    nbytes = 5 * n * 4  # a * x: read x, write a temporary; + y: read it and y, write the result
    return max(nbytes / ceilings.bytes_per_s, 2 * n / ceilings.flop_per_s)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb01_predict_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
from coursekit.checks import check_close, check_true

toy = roofline.Ceilings("toy", "cpu", "float32", bytes_per_s=10e9, flop_per_s=100e9)  # memory-bound
toy_2w = roofline.Ceilings("toy, twice the bandwidth", "cpu", "float32", bytes_per_s=20e9, flop_per_s=100e9)
guess = predict_saxpy_seconds(1_000_000, toy)
check_true(guess > 0, f"a time is positive, got {guess!r}")
check_close(predict_saxpy_seconds(2_000_000, toy), 2 * guess, what="twice the elements: twice the time")
check_close(predict_saxpy_seconds(1_000_000, toy_2w), guess / 2,
            what="memory-bound: twice the bandwidth, half the time")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import basics as basics_checks

basics_checks.check_saxpy_prediction(predict_saxpy_seconds)
### END HIDDEN TESTS
ck.checks.passed("nb01_predict", 3, hidden=True)

# %% [markdown]
# Now the measurement, on arrays of 32 MiB each (64 MiB outside quick mode):

# %% tags=["nbval-ignore-output"]
n_pred = ck.size(small=2**23, default=2**24)
x_pred = np.random.default_rng(7).standard_normal(n_pred, np.float32)
y_pred = np.random.default_rng(8).standard_normal(n_pred, np.float32)
saxpy_big = timing.benchmark(lambda: 2.5 * x_pred + y_pred, min_time=0.3, label="numpy a * x + y")
measured_s = saxpy_big.best  # the fastest call: a bound is compared with the best the machine did
try:
    mine = predict_saxpy_seconds(n_pred, here)
except NotImplementedError:  # Exercise 1.2 not solved yet
    mine = None
t_pred = np.empty_like(x_pred)


def saxpy_reused():
    """The same two passes as numpy's a * x + y, into one array allocated once."""
    np.multiply(x_pred, 2.5, out=t_pred)
    np.add(t_pred, y_pred, out=t_pred)


reused_s = timing.benchmark(saxpy_reused, min_time=0.3).best
passes_per_element = measured_s * here.bytes_per_s / (n_pred * 4)
print("x, y, numpy's temporary and its result:",
      basics_findings.beyond_caches(4 * x_pred.nbytes, caches_mod.last_level_nbytes()))
print(f"numpy a * x + y on {n_pred:,} float32: fastest call {timing.format_seconds(measured_s)} "
      f"(median {timing.format_seconds(saxpy_big.median)}, IQR {timing.format_seconds(saxpy_big.iqr)})")
if mine is not None:
    print(f"your prediction: {timing.format_seconds(mine)}; measured / predicted = {measured_s / mine:.2f}")
print(f"at this machine's {here.bytes_per_s / 1e9:.1f} GB/s, the fastest call's time moves "
      f"{passes_per_element:.1f} arrays' worth of bytes")
print(f"the same two passes into an array allocated once: {timing.format_seconds(reused_s)}, "
      f"{reused_s * here.bytes_per_s / (n_pred * 4):.1f} arrays' worth")
x_pred = y_pred = t_pred = None

# %%
assert passes_per_element > 2, "a * x + y reads x and y and writes a result: at least 3 arrays' bytes at most at W"

# %% [markdown]
# **The roofline's answer.** numpy evaluates `a * x + y` as two operations: `a * x` reads `x` and
# writes a temporary array, then `+ y` reads the temporary and `y` and writes the result — five
# array passes, `20 n` bytes in float32, against `12 n` for a fused loop that never stores `a * x`.
# Its `2n` FLOP take far less time than its bytes on this CPU, so the prediction is `20 n / W`.
# The roofline is a *bound*: the measurement should be slower, for reasons the model leaves out.
# Each array numpy creates for a result is fresh memory, which the operating system maps and
# zeroes page by page when it is first written: the last line printed, the same passes into an
# array allocated once, shows that cost. `W` was measured with every usable core (the method
# printed with the ceilings names the threads), while numpy's element-wise operations run on one.
# And writing an array first reads its cache lines into the cache (*write-allocate*), which `W`'s
# triad does not count. The arrays' worth of bytes printed, against the model's five, show what
# these cost on this machine.

# %% [markdown]
# Now the course's kernels, timed here and placed at their intensity. Next to this CPU's roof: the
# GPU's roofline, measured on this GPU if there is one, else recorded on a real GPU where one has been
# recorded in `data/reference/`, otherwise the H100's datasheet peaks (dotted; labelled as such).
# Without a GPU, what benchmarks *measured* on an H100 stands under those roofs as hollow diamonds
# (published measurements, each source printed): a BabelStream triad in float64 under the FP32 roof
# (a memory-bound point lies on the bandwidth slope, which is the same for every precision), and
# the best BF16 matrix multiply found by "maximum achievable matmul FLOPS" under a second, BF16
# tensor-core roof from the same datasheet. No published FP32 matmul on an H100 is in the course's
# data, so nothing stands under the FP32 compute roof.

# %% tags=["nbval-ignore-output"]
kernels = ceilings.course_kernels("cpu")
roofs, all_kernels = [here], list(kernels)
if info.gpu:
    gpu_here = ceilings.measure_ceilings("cuda")
    roofs.append(gpu_here)
    all_kernels += ceilings.course_kernels("cuda")
    gpu_figures.append(("GPU memory bandwidth (triad) / FP32 GEMM", f"{gpu_here.bytes_per_s / 1e12:.2f} TB/s / "
                        f"{gpu_here.flop_per_s / 1e12:.1f} TFLOP/s", "measured", gpu_here.label))
else:
    gpu_ref, gpu_ref_kernels = reference.load_reference("H100")
    if gpu_ref.source == "published":  # no recorded run: the datasheet roofs, and what benchmarks measured
        gpu_ref = replace(gpu_ref, name="H100 SXM, FP32 datasheet peaks")
        bf16_roof = replace(gpu_ref, name="H100 SXM, BF16 tensor-core datasheet peaks", dtype="bfloat16",
                            flop_per_s=reference.H100_BF16_DENSE_FLOP_PER_S)
        h100_triad = published.get("azure-h100-babelstream-triad")
        h100_mamf = published.get("mamf-h100-sxm-bf16")
        gpu_ref_kernels = [published_points.triad(h100_triad, gpu_ref.name, "H100 triad fp64 (published)"),
                           published_points.matmul(h100_mamf, bf16_roof.name, "H100 matmul bf16 (published)")]
        roofs.append(bf16_roof)
        print(f"No GPU here (nor a run recorded on one): the GPU roofs are the {h100.name}'s datasheet peaks "
              f"({h100.source}), FP32 and dense BF16 on tensor cores; the hollow diamonds are published measurements:")
        for entry in (h100_triad, h100_mamf):
            print(f"  {published.describe(entry)}")
            gpu_figures.append((f"H100 {entry.quantity.replace('_', ' ')} ({entry.precision})",
                                f"{entry.value:g} {entry.unit}", published.TIER, entry.id))
    else:
        print(f"No GPU here: the GPU roof is {gpu_ref.label}.")
    roofs.insert(1, gpu_ref)
    all_kernels += gpu_ref_kernels
ax = roofline.plot(roofs, all_kernels,
                   title=basics_findings.ridge_title([(k.name, k.intensity) for k in kernels], here.ridge))
if any(k.tier == published.TIER for k in all_kernels):  # say in the legend what a hollow diamond is
    ax.legend(handles=[*ax.get_legend_handles_labels()[0], published_points.legend_handle()], fontsize=8,
              loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # below: clear of ridges and labels
plt.show()
for k in all_kernels:  # a published point stands under its own roof (an H100 reaches less than its datasheet)
    if k.tier == published.TIER:
        roof = next(r for r in roofs if r.name == k.device)
        assert k.flop_per_s < roof.attainable(k.intensity), f"{k.name} is under the {roof.name} roof"
roofline.kernel_table(roofs, all_kernels)[["device", "kernel", "intensity", "time", "gflops", "of_roof", "bound"]]

# %%
add_k = next(k for k in kernels if k.name.startswith("add"))
big_mm = max((k for k in kernels if k.name.startswith("matmul")), key=lambda k: k.intensity)
assert add_k.intensity < here.ridge < big_mm.intensity, "add is memory-bound, a large matmul compute-bound"
assert roofline.matmul(1024, 1024, 1024).intensity > 100 * add_k.intensity

# %% [markdown]
# **Reading the plot.** Element-wise add, dot, matrix-vector product and softmax do less than one
# FLOP per byte: they lie under the sloped, bandwidth part of the roof, and no amount of extra
# compute would speed them up. Matrix multiply reuses each loaded number `n` times, so its intensity
# grows with `n` (`n / 6` FLOP/byte in float32): large ones lie right of the ridge, under the flat,
# compute part, and the table's `of_roof` column says how much of that roof each one reaches. (A
# point *above* the roof is a problem small enough to be served from cache, which is faster than
# the DRAM bandwidth the roof uses; in quick mode the memory-bound kernels' arrays are small.) This
# is why deep learning loves large matrix multiplies: they are the only common operation that can
# use a GPU's enormous compute, and batching makes them larger.

# %% [markdown]
# ### Exercise 1.3 — the batch that makes a layer compute-bound (3 points)
# A dense layer applies its weights `W` (`m x n`) to a batch of inputs `X` (`n x batch`, one
# column per example): `Y = W @ X`. With a batch of one it is the matrix-vector product plotted
# above, far below the ridge. Write
# - `layer_intensity(m, n, batch, itemsize=4)`: the product's arithmetic intensity (FLOP/byte),
#   counting a multiply and an add as two FLOP, and the bytes that must at least move: every input
#   read once, the result written once, in elements of `itemsize` bytes;
# - `smallest_compute_bound_batch(m, n, ceilings, itemsize=4)`: the smallest batch at which that
#   intensity reaches the ridge point of a device with these `ceilings`, or `None` if no batch,
#   however large, reaches it.

# %% nbgrader={"grade": false, "grade_id": "nb01_intensity", "locked": false, "schema_version": 3, "solution": true}
def layer_intensity(m, n, batch, itemsize=4):
    """FLOP per byte of W @ X, W of shape (m, n), X of shape (n, batch)."""
    ### BEGIN SOLUTION
    return 2 * m * n * batch / ((m * n + n * batch + m * batch) * itemsize)
    ### END SOLUTION


def smallest_compute_bound_batch(m, n, ceilings, itemsize=4):
    """The smallest batch whose layer_intensity reaches ceilings' ridge point (None if none does)."""
    ### BEGIN SOLUTION
    ridge = ceilings.flop_per_s / ceilings.bytes_per_s
    # 2mnB >= ridge * s * (mn + (m + n) B)  <=>  B (2mn - ridge s (m + n)) >= ridge s mn
    spare = 2 * m * n - ridge * itemsize * (m + n)
    if spare <= 0:  # the intensity only tends to 2mn / ((m + n) s) as the batch grows
        return None
    batch = max(1, math.ceil(ridge * itemsize * m * n / spare))
    while batch > 1 and layer_intensity(m, n, batch - 1, itemsize) >= ridge:  # rounding
        batch -= 1
    while layer_intensity(m, n, batch, itemsize) < ridge:
        batch += 1
    return batch
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb01_intensity_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false} tags=["nbval-ignore-output"]
from coursekit.checks import check_close, check_equal, check_true

check_close(layer_intensity(1000, 500, 1), roofline.matvec(1000, 500).intensity, what="a batch of one: a matvec")
toy = roofline.Ceilings("toy", "cpu", "float32", bytes_per_s=20e9, flop_per_s=200e9)  # ridge at 10 FLOP/byte
b = smallest_compute_bound_batch(4096, 4096, toy)
check_true(b is not None and layer_intensity(4096, 4096, b) >= toy.ridge > layer_intensity(4096, 4096, b - 1),
           f"at batch {b} the intensity reaches the ridge, at batch {b} - 1 it does not")
tiny_layer = roofline.Ceilings("toy", "cpu", "float32", bytes_per_s=10e9, flop_per_s=1e12)  # ridge at 100
check_equal(smallest_compute_bound_batch(64, 64, tiny_layer), None, what="a 64 x 64 layer, ridge 100 FLOP/byte")
for label, dev in (("this CPU (measured)", here), ("H100 (published peaks)", h100)):
    print(f"{label}: a 4096 x 4096 float32 layer is compute-bound from batch "
          f"{smallest_compute_bound_batch(4096, 4096, dev)} (ridge {dev.flop_per_s / dev.bytes_per_s:.1f} FLOP/byte)")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import basics as basics_checks

basics_checks.check_layer(layer_intensity, smallest_compute_bound_batch)
### END HIDDEN TESTS
ck.checks.passed("nb01_intensity", 3, hidden=True)

# %% [markdown]
# **Why batching works.** Each weight is read once and used `batch` times, so for a batch much
# smaller than `m` and `n` the intensity grows about linearly, near `2 batch / itemsize` FLOP per
# byte; the ridge is reached near `batch = ridge x itemsize / 2`. It cannot grow forever: once the
# batch's inputs and outputs outweigh the weights, the intensity levels off near
# `2mn / ((m + n) itemsize)`, which is why a small layer on a device with a high ridge stays
# memory-bound at any batch. Devices whose ridge is higher need larger batches to use their
# compute, as the two lines printed above show: one reason deep learning trains on minibatches.

# %% [markdown]
# ## 6. When does the GPU win?
# A GPU is faster only if the work is big enough to hide its fixed costs (launching a kernel, and
# above all copying the data over the host link, PCIe). We time element-wise add and matrix
# multiply over sizes on the CPU (PyTorch), and on the GPU with and without the copies. On the CPU,
# torch's thread pool helps large problems, but waking its threads can cost more than a tiny problem's
# arithmetic, and on a busy machine a round can be slowed at random: each size is timed with one
# thread and with every thread in alternating rounds, and the best is kept (the CPU at its best).

# %% tags=["nbval-ignore-output"]
from coursekit.machine import threads

add_sizes = [2**k for k in range(10, ck.size(small=21, default=25, gpu=29), 2)]
mm_sizes = [2**k for k in range(4, ck.size(small=10, default=12, gpu=14))]
cpu_threads = sorted({1, threads.in_effect()})
CPU = f"this CPU (best of {' and '.join(map(str, cpu_threads))} thread{'s' if len(cpu_threads) > 1 else ''})"
curves = {"add": {CPU: crossover.measure_cpu("add", add_sizes, cpu_threads)},
          "matmul": {CPU: crossover.measure_cpu("matmul", mm_sizes, cpu_threads)}}
for op in ("add", "matmul"):
    by_threads = curves[op][CPU].groupby("threads")["n"].apply(lambda ns: ", ".join(f"{n:,}" for n in ns))
    print(f"{op:>6}, CPU: fastest with " + "; ".join(f"{t} thread(s) at n = {ns}" for t, ns in by_threads.items()))

# %% [markdown]
# ### Predict, then reveal: how fast do the copies go?
# With its data on the host, an element-wise add on the GPU is mostly copying: two inputs in, one
# result out, over the host link. Before the GPU's curves, predict the rate at which an H100 copies
# from pinned (page-locked) host memory into its own memory over its PCIe 5.0 x16 link. The cell
# below puts the ceilings on screen and the roofline's own prediction (a copy at the link's peak);
# write your estimate, in GB/s, in `my_guess` (not graded), then run it and the next cell.

# %%
print(f"ceilings of the {h100.name} (datasheet): host link PCIe 5.0 x16, "
      f"{crossover.PCIE5_X16_BYTES_PER_S / 1e9:.0f} GB/s per direction; memory {h100.bytes_per_s / 1e12:.2f} TB/s; "
      f"FP32 {h100.flop_per_s / 1e12:.0f} TFLOP/s")
h2d_roofline = crossover.PCIE5_X16_BYTES_PER_S  # the roofline's prediction: copies at the link's peak
print(f"the roofline's prediction: host-to-device copies at the link's peak, {h2d_roofline / 1e9:.0f} GB/s")
my_guess = None  # your estimate, in GB/s

# %% tags=["nbval-ignore-output"]
link_rates = {}  # GB/s of each kind of copy, when measured on this GPU


def measure_h2d():
    """Copies of 256 MiB from pinned host memory to this GPU (bytes/s); keeps every rate measured."""
    from coursekit.gpu import streams

    link_rates.update(streams.transfer_rates(1 << 28))
    return link_rates["h2d_pinned_gbs"] * 1e9


h2d = reference.gpu_result(
    "h2d_bandwidth", measure=measure_h2d, gpu=info.gpu,
    published_measurement=lambda: published.published_result("h2d_bandwidth", "H100", host_memory="pinned"))
h2d_reveal = reveal.reveal("host-to-device copies from pinned memory", "GB/s", h2d, roofline_prediction=h2d_roofline,
                           guess=my_guess, roofline_basis="PCIe 5.0 x16 datasheet peak")
print(h2d_reveal.text())
if h2d.source == "measured":
    d2h_rate, link_gpu = link_rates["d2h_pinned_gbs"] * 1e9, "this GPU (measured copy rates)"
else:
    d2h = published.published_result("d2h_bandwidth", "H100", host_memory="pinned")
    d2h_rate, link_gpu = d2h.value, "an H100 (published copy rates)"
    print(f"and back, device to host: {d2h.value / 1e9:.3g} GB/s ({d2h.label})")
if h2d.source == published.TIER:  # fixed data: the revealed figure is below the roofline's prediction
    assert h2d.value < h2d_roofline and h2d_reveal.roofline_error > 0, "no copy reaches the link's datasheet peak"
n_big = add_sizes[-1]
link_bytes = crossover.cost("add", n_big)[2]  # two inputs in, the result out
copies_floor_s = 2 * link_bytes / 3 / h2d.value + link_bytes / 3 / d2h_rate
cpu_big_s = curves["add"][CPU].set_index("n").loc[n_big, "compute_s"]
print(basics_findings.copies_floor_sentence("add", n_big, copies_floor_s, cpu_big_s, link_gpu))
h2d_source = (published.find("h2d_bandwidth", "H100", host_memory="pinned")[0].id if h2d.source == published.TIER
              else h2d.label)
gpu_figures.append(("H100 host-to-device copy, pinned" if h2d.source != "measured" else "host-to-device copy, pinned",
                    f"{h2d.value / 1e9:.3g} GB/s", h2d.source, h2d_source))

# %% [markdown]
# The copies alone set a floor under the GPU's time for the add: the last line printed compares it
# with this CPU's whole add at the largest size. Now the GPU's curves, with and without the copies.

# %% tags=["nbval-ignore-output"]
gpu_curves = reference.gpu_result(
    "crossover", gpu=info.gpu,
    measure=lambda: [*crossover.measure("add", add_sizes, device="cuda").to_dict("records"),
                     *crossover.measure("matmul", mm_sizes, device="cuda").to_dict("records")])
bounds = []  # labels of GPU curves that are bounds, not measurements
if gpu_curves:  # measured on this GPU, or recorded on one
    gpu_side = "this GPU (measured)" if gpu_curves.source == "measured" else "the recorded GPU"
    for op in ("add", "matmul"):
        curves[op][gpu_curves.label] = crossover.from_recorded(gpu_curves.value, op)
else:  # a bound, each component from the best tier that holds it
    parts = {
        "flop_per_s": crossover.Part(h100.flop_per_s, "datasheet peak", f"{h100.name}, {h100.source}; no published "
                                     "FP32 matmul on an H100 is in the course's data"),
        "bytes_per_s": crossover.Part.from_entry(published.get("azure-h100-babelstream-triad")),
        "h2d_bytes_per_s": crossover.Part.from_entry(published.get("azure-h100-nvbandwidth-h2d")),
        "d2h_bytes_per_s": crossover.Part.from_entry(published.get("azure-h100-nvbandwidth-d2h")),
        "launch_s": crossover.Part.from_entry(published.get("tritonbench1017-gb200-culaunchkernel"),
                                              "another GPU, a GB200: no H100 figure is in the data"),
        "copy_latency_s": crossover.Part(crossover.COPY_LATENCY_S, "typical value", "driver, DMA set-up and PCIe "
                                         "round trip; no published measurement is in the course's data"),
    }
    gpu_side = "the H100 bound (published measurements + datasheet; not measured)"
    label = "\n".join(textwrap.wrap(crossover.parts_legend("H100", parts), 48))
    bounds.append(label)
    print("No GPU here (nor a run recorded on one): the GPU curves are a best-case *bound* for an H100, not a "
          "measurement, built from one figure per component:")
    print("\n".join(f"  {line}" for line in crossover.parts_lines(parts)))
    for op, sizes in (("add", add_sizes), ("matmul", mm_sizes)):
        curves[op][label] = crossover.bound_from_components(op, sizes, parts)
    add_bound = curves["add"][label].set_index("n").loc[n_big, "with_copies_s"]
    gpu_figures.append((f"H100 add with copies, n = {n_big:,}", f"at least {timing.format_seconds(add_bound)}",
                        "bound", "published measurements (memory, copies, launch) + FP32 datasheet + typical latency"))

faster = {}  # (op, GPU label, column) -> the sizes at which the GPU is faster than the CPU
for op in ("add", "matmul"):
    cpu_curve = curves[op][CPU]
    for label, gpu_curve in curves[op].items():
        if label != CPU:
            merged = cpu_curve.merge(gpu_curve, on="n", suffixes=("_cpu", "_gpu"))
            for column in ("compute_s", "with_copies_s"):
                faster[op, label, column] = merged.loc[merged[f"{column}_gpu"] < merged["compute_s_cpu"], "n"].tolist()
            print(f"{op:>6}: {'the bound' if label in bounds else label} is faster than the CPU at n = "
                  f"{', '.join(f'{n:,}' for n in faster[op, label, 'compute_s']) or 'none'} (data on the GPU); "
                  f"with copies at n = {', '.join(f'{n:,}' for n in faster[op, label, 'with_copies_s']) or 'none'}")


def finding(op):
    """The title: what the CPU and GPU curves (with copies) show, premise checked."""
    cpu_curve, gpu_curve = curves[op][CPU], next(c for label, c in curves[op].items() if label != CPU)
    merged = cpu_curve.merge(gpu_curve, on="n", suffixes=("_cpu", "_gpu"))
    title = basics_findings.crossover_title(f"{op} with copies", merged["n"], merged["compute_s_cpu"],
                                            merged["with_copies_s_gpu"], gpu_side)
    return "\n".join(textwrap.wrap(title, 60))


fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
for ax, op in zip(axes, ("add", "matmul"), strict=True):
    crossover.plot(curves[op], op, ax=ax, title=finding(op), bounds=bounds)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the dashed lines (with copies) against the CPU's; the titles say what they show, and whether
# the GPU side is measured or a bound. Without a GPU it is a bound (no markers; dotted without the
# copies, dash-dotted with them): each component is the best figure the course has for it, and the
# legend and the lines printed above say which are published measurements (an H100's memory and
# copy rates, a launch on another GPU) and which are not (the FP32 datasheet peak, a typical copy
# latency). A bound is a best case: expect a real run to be slower. Matrix multiply does `2n^3` FLOP
# on `3n^2` numbers copied, so for large enough `n` its arithmetic outgrows the copies, and a GPU
# can win even when it must copy. Element-wise add does one FLOP per 12 bytes: copying its inputs and output over the
# host link moves as many bytes as the CPU's whole computation reads and writes, so with copies the
# GPU can at best win by the ratio of link bandwidth to the CPU's memory bandwidth. Every launch
# and every copy also costs microseconds whatever its size (the latency floor above): that is why
# GPU curves are flat, and slower than the CPU, for small sizes, and why a GPU does not "win from
# n = 16" however high its peak. The lesson of every deep-learning framework: **move the data to
# the GPU once and keep it there**, and copy back only what you must (the loss, the predictions).
#
# ### Exercise 1.4 — read the crossover off measurements (2 points)
# The lists printed above are the sizes at which the GPU happened to be faster. To decide where
# to run an operation you want one number: the size from which on it pays to move the operation to
# the GPU. Measurements are noisy, so a GPU curve may dip below the CPU curve at a small size by
# chance and lose again at larger sizes; such a dip must not move your answer. Write
# `crossover_size(sizes, t_cpu, t_gpu)` (seconds per call at each size; the sizes in any order)
# returning that size, or `None` when the measurements do not support moving to the GPU at any
# size. A tie is not a win.

# %% nbgrader={"grade": false, "grade_id": "nb01_crossover", "locked": false, "schema_version": 3, "solution": true}
def crossover_size(sizes, t_cpu, t_gpu):
    """The size from which on the GPU pays, read off noisy timings (None if none does)."""
    ### BEGIN SOLUTION
    answer = None
    for s, c, g in sorted(zip(sizes, t_cpu, t_gpu, strict=True), reverse=True):
        if g < c:
            answer = s
        else:
            break
    return answer
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb01_crossover_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from coursekit.checks import check_equal

sizes = [10, 100, 1000, 10_000]
check_equal(crossover_size(sizes, [1, 2, 3, 4], [5, 5, 1, 1]), 1000, what="a clean crossover")
check_equal(crossover_size(sizes, [1, 2, 3, 4], [5, 5, 5, 5]), None, what="when the GPU never wins")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import basics as basics_checks

basics_checks.check_crossover(crossover_size)
### END HIDDEN TESTS
ck.checks.passed("nb01_crossover", 2, hidden=True)

# %% [markdown]
# ## 7. The asynchronous-launch pitfall
# A GPU call such as `torch.matmul(x, y)` on CUDA tensors returns as soon as the work is *queued*;
# the GPU does it later. A timer around the call alone measures the queueing, not the work. Correct
# GPU timing synchronises (`torch.cuda.synchronize()`, or CUDA events): `coursekit.perf.timing` does.
# Without a GPU, the cell below prints what a launch cost where it was measured (another GPU, named
# with its source) and, from the H100's datasheet, the least time its 4096 x 4096 matmul can take.
#
# `time_launches` measures the pitfall properly: it warms up (the first launch pays for start-up),
# then times several launches, each on an idle device, reading the clock twice — when the call
# returns (the wrong way) and after synchronising (the right way) — and reports medians and spreads.

# %%
ck.show(time_launches)

# %% tags=["nbval-ignore-output"]
if info.gpu:
    xg = torch.randn(4096, 4096, device="cuda")
    outg = torch.empty_like(xg)
    pitfall_gpu = time_launches(lambda: torch.matmul(xg, xg, out=outg), device.sync, repeats=7, warmup=2)
    events = timing.benchmark(torch.matmul, xg, xg, device="cuda", min_time=0.3)  # CUDA events
    print(f"4096 x 4096 matmul on the GPU: {pitfall_gpu.summary()}")
    print(f"timing.benchmark with CUDA events: {timing.format_seconds(events.median)} "
          f"(IQR {timing.format_seconds(events.iqr)})")
    assert pitfall_gpu.ratio > 5, "the launch returns long before the matmul has finished"
    gpu_figures.append(("4096^3 matmul: synchronised / launch-only time", f"{pitfall_gpu.ratio:,.0f}x", "measured",
                        f"{device.gpus()[0].name}, measured here"))
elif (recorded_pitfall := reference.gpu_result("async_pitfall")):
    pit = recorded_pitfall.value
    spread = lambda key: f" (IQR {timing.format_seconds(pit[key])})" if key in pit else ""  # noqa: E731
    print(f"No GPU here. {recorded_pitfall.label}, "
          f"{pit['n']} x {pit['n']} matmul: unsynchronised {timing.format_seconds(pit['unsynchronised_s'])}"
          f"{spread('unsynchronised_iqr_s')}, synchronised {timing.format_seconds(pit['synchronised_s'])}"
          f"{spread('synchronised_iqr_s')}.")
    gpu_figures.append(("matmul: synchronised / launch-only time",
                        f"{pit['synchronised_s'] / pit['unsynchronised_s']:,.0f}x", "recorded", recorded_pitfall.label))
else:  # published measurements of a launch (another GPU), and the datasheet's floor under the matmul
    enqueue = published.get("ocannl488-rtx5070ti-launch-enqueue")
    synced = published.get("ocannl488-rtx5070ti-launch-synced")
    matmul_floor_s = 2 * 4096**3 / h100.flop_per_s  # a prediction: at the FP32 datasheet peak
    print(f"No GPU here (nor a run recorded on one). Published measurements of a launch of no work, "
          f"on another GPU ({enqueue.device}):")
    for entry in (enqueue, synced):
        print(f"  {published.describe(entry)}")
    print(f"From the {h100.name} datasheet ({h100.flop_per_s / 1e12:.0f} TFLOP/s FP32), predicted: "
          + basics_findings.pitfall_prediction(published.si_value(enqueue), published.si_value(synced), matmul_floor_s,
                                               "a 4096 x 4096 FP32 matmul"))
    assert matmul_floor_s > 100 * published.si_value(synced), "on fixed data: the work dwarfs the launch"
    gpu_figures.append(("launch of no work: enqueue / waited for (RTX 5070 Ti, WSL2)",
                        f"{enqueue.value:g} / {synced.value:g} {synced.unit}", published.TIER,
                        f"{enqueue.id}, {synced.id}"))
    print("The same effect, on a real asynchronous queue on this CPU:")

# %% [markdown]
# The same contract exists on the CPU: `BackgroundQueue.submit` returns at once and a background
# thread does the work in order, as a GPU does with launches; `synchronize` waits for it all.

# %% tags=["nbval-ignore-output"]
m_async = ck.size(small=512, default=1024)
xa = np.random.default_rng(4).standard_normal((m_async, m_async)).astype(np.float32)


def work(x, repeats=20):
    """The 'kernel': 20 matrix multiplies, tens of milliseconds of real work."""
    for _ in range(repeats):
        np.matmul(x, x)


with BackgroundQueue() as stream:
    pitfall = time_launches(lambda: stream.submit(work, xa), stream.synchronize, repeats=5, warmup=1)
print(f"20 {m_async} x {m_async} matmuls on a background queue: {pitfall.summary()}")

fig, ax = plt.subplots(figsize=(6.4, 1.8))
for row, (_label, values) in enumerate((("submit alone (wrong)", pitfall.unsynchronised),
                                       ("submit + synchronize (right)", pitfall.synchronised))):
    ax.plot(values, [row] * len(values), "o", alpha=0.6)
    ax.plot([np.median(values)], [row], "k|", ms=18, mew=2)
ax.set_yticks([0, 1], ["submit alone (wrong)", "submit + synchronize (right)"])
ax.set_ylim(-0.6, 1.6)
ax.set_xscale("log")
ax.set_xlabel("seconds per launch (dots: 5 launches, bar: median)")
ax.set_title(basics_findings.pitfall_title(pitfall.ratio))
plt.show()

# %%
assert pitfall.right_median > 5 * pitfall.wrong_median, (
    "the synchronised time includes the work; the launch alone does not")

# %% [markdown]
# Without the synchronisation the "measurement" is the time to queue the work (the first figure
# printed above), whatever the size of the work. Worse, the unfinished work then lands inside
# whatever is timed *next*.
#
# ## 8. Map-reduce, streaming SGD and GPUs
# The lecture contrasts three ways to scale learning:
# - **map-reduce**: enormous data on many unreliable commodity machines; loosely coupled jobs that
#   communicate through disk and network; I/O-bound; rarely iterative;
# - **streaming SGD**: one example at a time, sequential and iterative, memory bounded however large
#   the data — but slow;
# - **GPUs**: keep the iteration, but replace each tiny streaming step by a medium-sized computation
#   (a minibatch) done in parallel: compute-bound, big-but-not-too-big data, many passes.
#
# A measured miniature on one logistic-regression problem (`N` examples of 100 features, stored in
# a file and opened *memory-mapped*, so a method that streams holds only the chunk it is reading):
# - **streaming SGD**: one example per step, read chunk by chunk — bounded memory, many tiny steps;
# - **minibatch SGD**: 64 examples per step, the same streaming of chunks;
# - **large batches**: the whole data set per step (full-batch gradient descent), what a GPU's
#   parallelism makes cheap per example;
#
# each trained for the same wall-clock budget, the loss over all the data recorded against the
# training time. Then **map-reduce**: the full gradient as a *map* (worker processes, each summing
# the gradient over chunks of the file) and a *reduce* (adding the partial sums).

# %% tags=["nbval-ignore-output"]
import tempfile
from pathlib import Path

from coursekit.edf import streaming

N = ck.size(small=20_000, default=100_000)
budget_s = ck.size(small=0.5, default=2.0)
data_dir = tempfile.TemporaryDirectory()
data_path = streaming.make_data(Path(data_dir.name) / "logreg.npy", N)
data = streaming.open_data(data_path)
runs = {"streaming SGD (batch 1)": streaming.train(data, batch=1, lr=0.01, budget_s=budget_s, chunk=2_000),
        "minibatch SGD (batch 64)": streaming.train(data, batch=64, lr=0.2, budget_s=budget_s, chunk=10_000),
        f"large batches (batch {N:,})": streaming.train(data, batch=N, lr=4.0, budget_s=budget_s, chunk=N)}
fig, ax = plt.subplots(figsize=(7, 3.6))
for label, run in runs.items():
    ax.plot(run["seconds"], run["loss"], "o-", ms=3, label=label)
final = {label: run["loss"].iloc[-1] for label, run in runs.items()}
ax.set_xlabel("training time (seconds; evaluation not counted)")
ax.set_ylabel("mean logistic loss, all N examples")
ax.set_title(basics_findings.lowest_loss_title(final, budget_s))
ax.legend(fontsize=8)
plt.show()
print(basics_findings.throughput_sentence({label: run["examples"].iloc[-1] for label, run in runs.items()}, budget_s))
pd.DataFrame({"final loss": final,
              "examples seen": {label: run["examples"].iloc[-1] for label, run in runs.items()}})

# %%
start_loss = float(np.log(2))  # w = 0 predicts 1/2 for every example
assert all(abs(run["loss"].iloc[0] - start_loss) < 1e-3 for run in runs.values()), "all start from w = 0"
assert final["minibatch SGD (batch 64)"] < start_loss - 0.1, "minibatch SGD learns within the budget"
assert runs["minibatch SGD (batch 64)"]["examples"].iloc[-1] > runs["streaming SGD (batch 1)"]["examples"].iloc[-1], (
    "per-example steps process fewer examples per second than minibatches")

# %% tags=["nbval-ignore-output"]
w_zero = np.zeros(data.shape[1] - 1, dtype=np.float32)
mr = {w: streaming.mapreduce_gradient(data_path, w_zero, chunks=4 * cores, workers=w) for w in sorted({1, cores})}
for w, (_, seconds) in mr.items():
    print(f"map-reduce gradient with {w} worker(s): {timing.format_seconds(seconds)} "
          f"(including starting the processes)")
g_direct = streaming._grad_sum(np.asarray(data), w_zero) / N
for g_mr, _ in mr.values():
    np.testing.assert_allclose(g_mr, g_direct, rtol=1e-4, atol=1e-6)
print("each map-reduce gradient equals the gradient computed in one pass")
print(basics_findings.mapreduce_sentence({w: seconds for w, (_, seconds) in mr.items()}))
del data
data_dir.cleanup()

# %% [markdown]
# Per-example steps are cheap but each pays Python's and numpy's overhead, so streaming SGD sees
# fewer examples per second than minibatches (asserted above; the examples per second are printed
# below the plot); its memory is one chunk however large the file. Minibatches amortise
# the overhead over 64 examples with the same bounded memory; full batches amortise it over the
# whole data set but take only one step per pass over the data. Which of them ends lowest in the
# budget depends on the problem and the budget: the title says which did here, on a small, easy
# problem (a convex loss, 100 features). On deep networks and large data sets a pass over the data
# per step is too slow and the batch too big for memory, and minibatches win. A GPU makes each
# step's computation massively parallel, which is why deep learning trains on minibatches — large
# enough to fill the GPU, small enough to take many steps — streamed over a data set that need not
# fit in memory. Map-reduce splits *one* computation over machines (here processes); the last line
# printed says what more workers did to its time. Starting workers costs the same however much data
# they then read, which is why map-reduce suits enormous data read once, not many small iterative
# steps.
#
# The key numbers of this notebook, measured on this machine:

# %% tags=["nbval-ignore-output"]
summary = pd.DataFrame([
    ("memory bandwidth (triad)", f"{here.bytes_per_s / 1e9:.1f} GB/s"),
    ("peak compute (GEMM)", f"{here.flop_per_s / 1e9:.0f} GFLOP/s"),
    ("ridge point", f"{here.ridge:.1f} FLOP/byte"),
    (f"MIMD speed-up, {cores} workers", f"{best_at_cores:.1f}x"),
    ("SIMD: numpy vs Python loop, max(X, 0)", f"{relu_speedup:.0f}x"),
    ("SIMD: numpy vs Python loop, saxpy (Python float a)", f"{saxpy_speedup:.0f}x"),
    ("one core's read rate: L1 / DRAM", f"{in_l1 / 1e9:.0f} / {in_dram / 1e9:.0f} GB/s"),
    (f"loss after {budget_s} s: batch 1 / 64 / {N:,}", " / ".join(f"{v:.3f}" for v in final.values())),
    ("async queue: synchronised / launch-only time", f"{pitfall.ratio:,.0f}x"),
], columns=["measured on this machine", "value"]).set_index("measured on this machine")
summary

# %% [markdown]
# And every GPU figure the cells above showed, with its tier (measured on this GPU, recorded by the
# course on one, a published measurement made elsewhere, a bound, or a datasheet peak) and its
# source (a published entry's id in `data/published/`):

# %% tags=["nbval-ignore-output"]
gpu_summary = pd.DataFrame(
    [*gpu_figures, (f"{h100.name} peaks: FP32 / dense BF16 / memory",
                    f"{h100.flop_per_s / 1e12:.0f} / {reference.H100_BF16_DENSE_FLOP_PER_S / 1e12:.0f} TFLOP/s / "
                    f"{h100.bytes_per_s / 1e12:.2f} TB/s", "datasheet peak", h100.source)],
    columns=["GPU figure shown", "value", "tier", "source"]).set_index("GPU figure shown")
assert set(gpu_summary["tier"]) <= {"measured", "recorded", published.TIER, "bound", "datasheet peak",
                                    "no tier holds it"}, "every GPU figure says its tier"
gpu_summary

# %% [markdown]
# How much memory does this notebook's kernel hold now? Binder gives a session about 2 GiB. The
# large arrays were freed when their section ended; what remains is mostly the libraries loaded
# along the way (PyTorch, PoCL's LLVM compiler, numba), which stay until the kernel is shut down.

# %% tags=["nbval-ignore-output"]
xa = None
_ = gc.collect()
rss_mib = psutil.Process().memory_info().rss / 2**20
print(f"this notebook's kernel holds {rss_mib:,.0f} MiB (resident set size)")

# %% [markdown]
# ## Summary
# The first table above holds this machine's key numbers; the second, each GPU figure shown and
# where it comes from. Without a GPU those are published measurements made elsewhere (an H100's
# memory and copy rates and its best BF16 matmul, a launch on another GPU), a bound built from them
# and the FP32 datasheet peak, and the datasheet peaks themselves; no tier holds a measured cost of
# divergence. What the measurements mean:
# - **MIMD** (cores): independent instruction streams; on a quiet machine, speed-up up to the core
#   count, then none.
# - **SIMD** (vector lanes): one instruction on many numbers; numpy's elements per cycle against a
#   Python loop's cycles per element (section 3 prints both), and where numpy's time goes.
# - **SIMT** (GPU threads): code for one thread, run in warps of 32; branches that split a warp cost
#   both paths.
# - **Roofline**: low-intensity operations are memory-bound on every device; matrix multiplies large
#   enough to pass the ridge are the common operation that can use the compute — and the copies to
#   a GPU must be amortised by enough work.
# - **Timing a GPU** needs a synchronisation; without it you time the launch.
#
# Next, **02 · CUDA kernels** writes kernels thread by thread: indexing, bounds checks, shared memory
# and barriers, reductions and a tiled matrix multiply. Before opening it, **shut this notebook's
# kernel down** (Kernel > Shut Down Kernel): on Binder every running kernel keeps its memory, and
# the session's limit is shared by all of them.
