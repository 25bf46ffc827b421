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
# A *static* framework (Theano, TensorFlow 1) first builds a symbolic graph of the whole computation,
# compiles it, and then runs the compiled graph many times. A *dynamic* one (PyTorch eager) runs each
# operation as Python reaches it. Seeing the whole graph in advance *lets* a compiler rewrite it: fuse
# elementwise operations into one loop, call BLAS, and replace unstable formulas by stable ones.
# Theano did all three. TensorFlow 1 without its XLA compiler did not fuse elementwise chains nor
# rewrite `log(sigmoid(z))`: it ran one kernel per graph node (its graph optimiser, Grappler, fused
# only a few fixed patterns, such as a convolution with its bias and ReLU, in later versions), and a
# stable loss was a function you called (`tf.nn.sigmoid_cross_entropy_with_logits`). Here we use
# `coursekit.graph`, a small Theano-style compiler that really compiles, and then look at how PyTorch
# gets the same benefits today without giving up Python.
#
# **You will learn**
# - how a symbolic graph is built, differentiated (`grad` gives a *graph*), optimised and compiled;
# - what the rewrites buy, measured: fewer passes over memory (speed) and no `inf`/`nan` (stability);
# - define-and-run vs define-by-run, and why control flow needs `ifelse`/`foldl` in a static graph;
# - today's answer: `torch.fx`, the pitfall of tracing, `torch.compile` (graph breaks, compile time)
#   and `torch.export`.
#
# **Outline**
# 1. Build, differentiate, compile, call: the lecture's `a + a**10`
# 2. The lecture's logistic regression, and what each rewrite did
# 3. Speed rewrites, measured: elementwise chains and the training step
# 4. Stability rewrites, shown
# 5. The lecture's benchmark, re-run on this machine
# 6. Define-and-run (TensorFlow 1) vs define-by-run (PyTorch)
# 7. Control flow inside a graph: `ifelse` and `foldl`
# 8. Today's answer in PyTorch: `torch.fx`, tracing, `torch.compile`, `torch.export`
#
# **Time**: 1 to 2 minutes in quick mode (`COURSEKIT_QUICK=1`), 2 to 4 minutes with full sizes;
# most of it is `torch.compile` compiling.

# %% tags=["nbval-ignore-output"]
import os
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

import coursekit as ck
import coursekit.graph as T
from coursekit.checks import check_close, check_true
from coursekit.edf import framework as edf
from coursekit.graph import findings, gpu_figures
from coursekit.graph import torch_graphs as tg
from coursekit.machine import threads as pools
from coursekit.perf import compare, opcost, published, reference, reveal, roofline
from coursekit.perf.ceilings import measure_ceilings

info = ck.setup()
MIN_TIME = 0.1 if info.quick else 0.5  # seconds of timing per contender
# torch.compile keeps what it compiled in a cache on disk; a fresh one makes the compile times below real
_compile_cache = tempfile.TemporaryDirectory(prefix="inductor-nb04-")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = _compile_cache.name
print(
    f"torch {torch.__version__} ({torch.get_num_threads()} threads); "
    f"C++ compiler for torch.compile: {tg.cxx_compiler()}"
)

# %% [markdown]
# ## 1. Build, differentiate, compile, call
# The lecture's first Theano program, in `coursekit.graph` (the lecture wrote Python 2:
# ``print `f([0,1,2])` ``). Building `b` computes nothing: `a` is a symbol, and `b` is a node that
# remembers "add `a` to `a` to the power 10". `T.function` compiles the graph once; calling it runs
# the compiled code.

# %%
a = T.vector("a")  # declare a symbolic variable
b = a + a**10  # build an expression: nothing is computed yet
f = T.function([a], b)  # compile: rewrite the graph, fuse, generate code
print(f([0, 1, 2]))  # call it, as many times as you like
print("the expression:", T.pp(b))
assert np.array_equal(f([0, 1, 2]), [0, 2, 1026])

# %% [markdown]
# `T.grad` differentiates **the graph**, not numbers: it returns new nodes, so the gradient is itself
# printed, optimised and compiled like any expression. Below, `d/da sum(a + a**10) = 1 + 10 a**9`.

# %%
gb = T.grad(b.sum(), a)
print("gradient graph:", T.pp(gb))
fg = T.function([a], gb)
print("gradient at [0, 1, 2]:", fg([0, 1, 2]))
assert np.array_equal(fg([0, 1, 2]), [1, 11, 5121])

# %% [markdown]
# The lecture drew its graphs with `pydotprint`; `T.draw` does the same with matplotlib (inputs at the
# top, output with a thick border). Below, the gradient graph: after optimisation its elementwise
# nodes have become one *fused* node, one generated loop that computes `1 + 10 a**9` in a single pass
# over memory.

# %%
axes = T.draw_optimization(fg, figsize=(10, 3.6))
axes[0].figure.suptitle(
    findings.fusion_graph_title("The gradient graph", fg.nodes_before, fg.nodes_after, len(fg.kernels))
)
axes[0].figure.subplots_adjust(top=0.8)
plt.show()
print(fg.source.split("# numba")[0])  # the generated code (numpy in blocks); numba and CUDA versions follow

# %% [markdown]
# ### A new op, without a gradient
# Each op's derivative is a *rule* `rule(inputs, output, g)`: it gets the op's input variables, its
# output variable and `g`, the gradient of the cost with respect to that output, and returns a list
# with one gradient per input, as graph expressions. The library declares every op with its rule
# (`coursekit/graph/ops.py`). Below, a new elementwise op, **mish** (Misra, 2019; YOLOv4's activation),
# `mish(x) = x · tanh(softplus(x))`, declared the same way: a numpy function, a formula for the numba
# loops and one for CUDA, a cost class, and **no gradient rule**. The graph compiler can evaluate and
# fuse it, but `T.grad` cannot go through it yet.


# %%
def np_mish(x):
    """mish(x) = x tanh(softplus(x)), with softplus as logaddexp(0, x): no overflow."""
    return x * np.tanh(np.logaddexp(0.0, x))


mish = T.ops.Elemwise(
    "mish",
    1,
    np_mish,  # numpy, when the op runs alone
    "({0} * math.tanh(max({0}, 0.0) + math.log1p(math.exp(-abs({0})))))",  # inside a numba loop
    cuda="({0} * tanh(fmax({0}, 0.0) + log1p(exp(-fabs({0})))))",  # inside a CUDA kernel
    np_code="np.logaddexp(0.0, {0}, {tmp}); np.tanh({tmp}, {tmp}); np.multiply({0}, {tmp}, {out})",  # fused blocks
    cost="transcendental",
)
xm = T.vector("xm")
print("mish at [-3, 0, 3]:", [f"{m:.4g}" for m in T.function([xm], mish(xm))(np.array([-3.0, 0.0, 3.0]))])
try:
    T.grad(mish(xm).sum(), xm)
except NotImplementedError as exc:
    print("T.grad says:", exc)

# %% [markdown]
# ### Exercise 4.1 — the gradient rule of mish (3 points)
# Derive `d mish(x) / dx` and write the rule `mish_grad(inputs, output, g)`: a list with one graph
# expression, the gradient with respect to `x`. Build it from the graph's ops (`T.tanh`, `T.softplus`,
# `T.sigmoid`, `T.exp`, arithmetic...). It must be right for **every** float `x`, not only moderate
# ones: the tests compare it with finite differences and, to 10 significant digits (a finite difference
# inside the graph is not that accurate), with torch's autograd on a grid that goes from `-1e4` to `1e4`
# and passes through 0; then they let the compiler differentiate an optimised, fused graph
# `sum(c * mish(W x + b))` with your rule.


# %% nbgrader={"grade": false, "grade_id": "nb04_mish_grad", "locked": false, "schema_version": 3, "solution": true}
def mish_grad(inputs, output, g):
    """Gradient rule of mish: one symbolic gradient per input."""
    ### BEGIN SOLUTION
    x = inputs[0]
    t = T.tanh(T.softplus(x))
    return [g * (t + x * T.sigmoid(x) * (1 - t * t))]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb04_mish_grad_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
xs = T.vector("xs")
with T.grad_rule("mish", mish_grad):
    g_mish = T.function([xs], T.grad(mish(xs).sum(), xs), optimize=False)
x_fd = np.array([-2.0, -0.5, 0.5, 3.0])
check_close(
    g_mish(x_fd), (np_mish(x_fd + 1e-6) - np_mish(x_fd - 1e-6)) / 2e-6, what="d mish/dx (finite differences)", rtol=1e-6
)
print("your rule agrees with finite differences at", x_fd)
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import graph as graph_checks

graph_checks.check_mish_grad(mish_grad)
### END HIDDEN TESTS
ck.checks.passed("nb04_mish_grad", 3, hidden=True)

# %% [markdown]
# ## 2. The lecture's logistic regression
# The lecture's "real example". The model and its training are the lecture's: the cross-entropy with
# an L2 penalty 0.01, learning rate 0.1, and `updates=` that Theano applies *after* the outputs are
# computed. What changed, and why:
# - `w.value` is `w.get_value()` today;
# - the lecture drew its labels with `randint(size=4, ...)` while the features have `N` rows (the `4`
#   only works for `N = 4`) and at random (nothing to learn); here they come from a hidden linear rule,
#   with more rows and more steps (the lecture's 10), and `w` starts small (`0.1 * randn`);
# - `train` returns the cost (a number) instead of the per-example `xent` vector, and the cell prints
#   the cost and the accuracy instead of the final weights and predictions, so the outputs differ from
#   the lecture's.

# %%
rng = np.random.default_rng(0)
N, feats = ck.size(small=400, default=4000), 100
w_true = rng.standard_normal(feats)
features = rng.standard_normal((N, feats))
D = (features, (features @ w_true + 0.5 * rng.standard_normal(N) > 0).astype(np.float64))

x = T.matrix("x")
y = T.vector("y")
w = T.shared(rng.standard_normal(feats) * 0.1, "w")
b = T.shared(np.zeros(()), "b")
w_initial = w.get_value()

p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))  # probability that the label is 1
xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)  # cross-entropy
prediction = p_1 > 0.5
cost = xent.mean() + 0.01 * (w**2).sum()  # the cost to minimise
gw, gb = T.grad(cost, [w, b])  # symbolic gradients: graphs

train = T.function(inputs=[x, y], outputs=[prediction, cost], updates={w: w - 0.1 * gw, b: b - 0.1 * gb})
predict = T.function(inputs=[x], outputs=prediction)

training_steps = ck.size(small=200, default=500)
costs = [float(train(D[0], D[1])[1]) for _ in range(training_steps)]
accuracy = float((predict(D[0]) == D[1]).mean())
print(f"cost {costs[0]:.3f} -> {costs[-1]:.3f} after {training_steps} steps; training accuracy {accuracy:.1%}")
assert costs[-1] < 0.6 * costs[0] and accuracy > 0.85

# %% [markdown]
# The same model compiled with `optimize=False` (the graph evaluated as built, node by node) must
# follow the same trajectory: the rewrites change how the numbers are computed, not which numbers.

# %%
w_opt = w.get_value()
w.set_value(w_initial)
b.set_value(np.zeros(()))
train_raw = T.function([x, y], [prediction, cost], updates={w: w - 0.1 * gw, b: b - 0.1 * gb}, optimize=False)
costs_raw = [float(train_raw(D[0], D[1])[1]) for _ in range(training_steps)]
np.testing.assert_allclose(costs_raw, costs, rtol=1e-9)
np.testing.assert_allclose(w.get_value(), w_opt, rtol=1e-9, atol=1e-12)
# the difference itself is a rounding error, machine-dependent: asserted above, not printed
print(f"optimised and unoptimised training agree for {training_steps} steps: costs and weights within 1e-9 relative")

# %% [markdown]
# What did the compiler do to the training step? Each pass reports how often it fired and the number
# of op nodes before and after. `sigmoid` recognised `1 / (1 + exp(-t))`, `softplus_stability`
# turned the two `log(sigmoid)` terms into softplus (section 4), `gemv` made `dot(x, w)` and the
# gradient's `dot(x.T, ...)` plus the L2 term single BLAS calls, and `elementwise_fusion` merged what
# is left into a few generated loops.

# %% tags=["nbval-ignore-output"]
print(train.report())
fired = train.fired()
assert fired["sigmoid"] >= 1 and fired["softplus_stability"] >= 2 and fired["gemv"] >= 1
assert train.nodes_after < train.nodes_before / 2

# %% [markdown]
# The graph of `gw` alone, before and after optimisation (the lecture showed the same pair of
# pictures): the chain of small elementwise nodes collapses into fused kernels around one `gemv`.

# %%
f_gw = T.function([x, y], gw)
axes = T.draw_optimization(f_gw, figsize=(12, 5.5))
axes[0].figure.suptitle(
    findings.fusion_graph_title("Optimising the gradient of w", f_gw.nodes_before, f_gw.nodes_after, len(f_gw.kernels))
)
axes[0].figure.subplots_adjust(top=0.88)
axes[0].figure.set_dpi(64)  # a large drawing: keep the stored image small
plt.show()
np.testing.assert_allclose(f_gw(D[0], D[1]), T.function([x, y], gw, optimize=False)(D[0], D[1]), rtol=1e-10)

# %% [markdown]
# ### Exercise 4.2 — a rewrite that must be safe (3 points)
# A local rewrite is a function `node -> node or None`: given one node, return what should replace
# it, or `None` to leave it alone. The compiler visits every node bottom-up and applies it again to
# what it returned, so your function only looks at one node. Useful: `node.is_a("exp")`,
# `node.inputs` (the node's arguments), and any op of `T` to build a replacement (comparisons,
# `T.switch(cond, a, b)`, which is numpy's `where`, ...). A replacement must keep the node's dtype.
#
# Two rewrites look alike: `log(exp(x)) -> x` and `exp(log(x)) -> x`. A compiler may apply a rewrite
# only if it never changes a value that the graph as written computes, for **every** float: negative
# numbers, zeros, infinities and NaN included. (Replacing an overflow by the right answer is allowed;
# replacing a NaN, which says "undefined", by a number is not.) Decide, for each of the two, whether
# dropping the pair is safe as it stands. Then write **one** rewrite, `cancel_exp_log`, that removes
# both kinds of pair from a graph (no `exp` or `log` of the pair may be left) and is safe: where
# dropping a pair is not, replace it by an expression without `exp` or `log` that keeps the graph's
# value on every input.


# %% nbgrader={"grade": false, "grade_id": "nb04_safe_exp_log", "locked": false, "schema_version": 3, "solution": true}
def cancel_exp_log(node):
    """log(exp(x)) and exp(log(x)) without exp or log, keeping the graph's value on every float; None
    for every other node."""
    ### BEGIN SOLUTION
    if node.is_a("log") and node.inputs[0].is_a("exp"):
        return node.inputs[0].inputs[0]
    if node.is_a("exp") and node.inputs[0].is_a("log"):
        x = node.inputs[0].inputs[0]
        return T.switch(x >= 0, x, np.asarray(np.nan, x.dtype))
    return None
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb04_safe_exp_log_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
v = T.vector("v")
expr_el = T.exp(T.log(v)) * 2 + T.log(T.exp(v))
f_el = T.function([v], expr_el, extra_passes=[T.local_rewrite(cancel_exp_log)])
print("fired:", f_el.fired().get("cancel_exp_log", 0), "times")
check_true(f_el.fired().get("cancel_exp_log", 0) >= 2, "your rewrite should fire on exp(log(v)) and on log(exp(v))")
v_test = np.array([-1.0, 0.0, 2.0])
with np.errstate(all="ignore"):
    as_written = T.function([v], expr_el, optimize=False)(v_test)
check_close(f_el(v_test), as_written, what=f"exp(log(v)) * 2 + log(exp(v)) at v = {v_test}, as the graph as written")
print(f"at v = {v_test}: as written {as_written}, rewritten {f_el(v_test)}")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import graph as graph_checks

graph_checks.check_safe_exp_log_rewrite(cancel_exp_log)
### END HIDDEN TESTS
ck.checks.passed("nb04_safe_exp_log", 3, hidden=True)

# %% [markdown]
# ## 3. Speed rewrites, measured
# Two elementwise chains over `n` float32 numbers: the lecture's polynomial with a `tanh`,
# `tanh(2x² + 3x + 1)`, and its logistic-regression cross-entropy `-y log p - (1 - y) log(1 - p)`
# with `p = sigmoid(z)`. Contenders: numpy eager (one full pass over memory and one temporary array per
# operation), the polynomial fused by hand with numpy's `out=`, the compiled graph without and with
# optimisation, numexpr (the lecture's peer), torch eager and `torch.compile`. The compiled graph
# measures its own code generators on the first large call and keeps the fastest (numpy ufuncs in
# cache-sized blocks, a numba loop, or a mix: see `report()`), on one thread or on all the CPUs here.
# Threads and fusion are two different gains, so each chain is compiled twice: one copy runs the
# variant the autotuner found fastest for all the CPUs, the other the fastest it measured on one
# thread (numpy's ufuncs use one).

# %%
n = 10_000_000  # 40 MB per float32 array: larger than the caches of the CPUs the course meets (also in quick mode)
rng = np.random.default_rng(1)
zs = (rng.standard_normal(n) * 3).astype(np.float32)
ys = (rng.random(n) < 0.5).astype(np.float32)
zt, yt = torch.from_numpy(zs), torch.from_numpy(ys)
try:
    import numexpr
except ImportError:
    numexpr = None
    print("numexpr is not installed in this environment: its column is left out")


def poly_numpy(x):
    return np.tanh(2 * x**2 + 3 * x + 1)


def poly_by_hand(x, out):
    """Horner's rule in one buffer: ((2x + 3) x + 1), then tanh in place."""
    np.multiply(x, 2, out=out)
    np.add(out, 3, out=out)
    np.multiply(out, x, out=out)
    np.add(out, 1, out=out)
    return np.tanh(out, out=out)


def poly_torch(x):
    return torch.tanh(2 * x**2 + 3 * x + 1)


def xent_numpy(z, y):
    p = 1 / (1 + np.exp(-z))
    return -y * np.log(p) - (1 - y) * np.log(1 - p)


def xent_torch(z, y):
    p = 1 / (1 + torch.exp(-z))
    return -y * torch.log(p) - (1 - y) * torch.log(1 - p)


zv, yv = T.vector("z", "float32"), T.vector("y", "float32")
pz = 1 / (1 + T.exp(-zv))
graphs = {
    "poly": ([zv], T.tanh(2 * zv**2 + 3 * zv + 1)),
    "xent": ([zv, yv], -yv * T.log(pz) - (1 - yv) * T.log(1 - pz)),
}
compiled = {k: T.function(ins, out) for k, (ins, out) in graphs.items()}  # tuned for all the CPUs here
compiled1 = {k: T.function(ins, out) for k, (ins, out) in graphs.items()}  # to run tuned for one thread (next cell)
raw = {k: T.function(ins, out, optimize=False) for k, (ins, out) in graphs.items()}
buf = np.empty_like(zs)


def args_of(k):
    """The numpy arguments of chain k."""
    return (zs, ys) if k == "xent" else (zs,)


# %% tags=["nbval-ignore-output"]
for k in compiled:  # the first call measures the code generators (numba compiles here), on all CPUs and on one
    compiled[k](*args_of(k))
    for kernel1, kernel in zip(compiled1[k].kernels, compiled[k].kernels, strict=True):
        kernel1.plan = kernel.best_plan(threads=1)  # the fastest one-thread variant that autotuning measured
print("generators chosen, for all CPUs:", {k: [kern.choice for kern in f.kernels] for k, f in compiled.items()})
print("generators chosen, one thread:  ", {k: [kern.choice for kern in f.kernels] for k, f in compiled1.items()})

# %% [markdown]
# `torch.compile` compiles on its first call (tracing with dynamo, code generation with inductor,
# a C++ compiler): we time that call apart from the steady state. The first compile in a process
# also pays inductor's one-time start-up (imports, worker processes, the C++ toolchain), so we first
# compile a one-operation function: what it takes is the start-up, and every compile after it is a
# *warm* one.

# %% tags=["nbval-ignore-output"]
startup = tg.compile_timed(lambda t: t + 1, torch.ones(4))
torch_compiled = {
    "poly": tg.compile_timed(poly_torch, zt),
    "xent": tg.compile_timed(xent_torch, zt, yt),
}
if startup.ok:
    print(f"first torch.compile in this process (t + 1 on 4 numbers): {startup.first_call_s:.1f} s, the start-up")
for k, c in torch_compiled.items():
    print(
        f"torch.compile({k}): " + (f"first call {c.first_call_s:.1f} s (warm)" if c.ok else f"not available: {c.error}")
    )

# %% tags=["nbval-ignore-output"]
cpus = pools.in_effect()
contenders = {
    "poly": {
        "numpy eager": lambda: poly_numpy(zs),
        "numpy fused by hand": lambda: poly_by_hand(zs, buf),
        "graph, optimize=False": lambda: raw["poly"](zs),
        "graph, optimised, 1 thread": lambda: compiled1["poly"](zs),
        "graph, optimised": lambda: compiled["poly"](zs),
        "torch eager": lambda: poly_torch(zt),
    },
    "xent": {
        "numpy eager": lambda: xent_numpy(zs, ys),
        "graph, optimize=False": lambda: raw["xent"](zs, ys),
        "graph, optimised, 1 thread": lambda: compiled1["xent"](zs, ys),
        "graph, optimised": lambda: compiled["xent"](zs, ys),
        "torch eager": lambda: xent_torch(zt, yt),
    },
}
if numexpr is not None:
    contenders["poly"]["numexpr"] = lambda: numexpr.evaluate("tanh(2 * zs**2 + 3 * zs + 1)")
    contenders["xent"]["numexpr"] = lambda: numexpr.evaluate(
        "-ys * log(1 / (1 + exp(-zs))) - (1 - ys) * log(1 - 1 / (1 + exp(-zs)))"
    )
for k, c in torch_compiled.items():
    if c.ok:
        contenders[k]["torch.compile"] = lambda c=c, k=k: c.fn(zt, *([yt] if k == "xent" else []))
with np.errstate(all="ignore"):  # numpy eager's cross-entropy meets log(0): that is section 4's topic
    elem_ms = {
        k: {m.label: m.median * 1e3 for m in compare.interleaved(fns, check=False, min_time=MIN_TIME, max_time=10)}
        for k, fns in contenders.items()
    }
print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores while timing")
elem_table = pd.DataFrame(elem_ms).round(2)
elem_table.index.name = f"ms per call, n = {n:.0e}"
print(elem_table.to_string())
print(
    f"threads: numpy 1; graph, optimised: as tuned ({compiled['poly'].kernels[0].choice}, ...); torch "
    f"{torch.get_num_threads()}"
    + (
        f"; numexpr {numexpr.get_num_threads()} (its exp/log/tanh "
        + ("from Intel's VML" if numexpr.use_vml else "call the C library, one element at a time")
        + ")"
        if numexpr is not None
        else ""
    )
)
for k, t in elem_ms.items():
    plan_threads = compiled[k].kernels[0].plan[1]  # threads of the variant tuned for all the CPUs (0: numba's pool)
    print(
        f"{k}: "
        + findings.fusion_and_threads(
            t["numpy eager"], t["graph, optimised, 1 thread"], t["graph, optimised"], cpus, plan_threads
        )
    )
    unoptimised = findings.versus("graph, optimize=False", t["graph, optimize=False"], "numpy eager", t["numpy eager"])
    print(f"{k}: {unoptimised}")
for t in elem_ms.values():  # fewer passes over memory, well above the noise. The better of the two variants:
    # on a busy machine the one tuned for all CPUs can lose its second core (see the threads factor above)
    assert min(t["graph, optimised"], t["graph, optimised, 1 thread"]) < t["numpy eager"], t

# %% [markdown]
# **Bytes moved per element.** Evaluated node by node, every elementwise op reads its array inputs
# and writes one new array; a fused kernel reads the inputs once and writes the output once. The
# cell below counts that traffic on the graph before and after optimisation (scalar constants cost
# nothing).


# %%
def bytes_per_element(outputs) -> int:
    """Memory traffic of evaluating ``outputs`` node by node, in bytes per element: every op node
    reads its array inputs and writes its array output once."""
    total = 0
    for node in T.nodes.toposort(T.nodes.as_list(outputs)):
        if node.op is None or node.ndim == 0:
            continue
        arrays = [i for i in node.inputs if i.ndim > 0]
        total += sum(np.dtype(i.dtype).itemsize for i in arrays) + np.dtype(node.dtype).itemsize
    return total


def flops_per_element(outputs) -> int:
    """One FLOP per elementwise op node of the unoptimised graph: a nominal count (tanh, exp, log cost
    far more than one; the next cells measure how much)."""
    return sum(1 for node in T.nodes.toposort(T.nodes.as_list(outputs)) if node.op is not None)


traffic = {
    k: {"before": bytes_per_element(compiled[k].original_outputs), "after": bytes_per_element(compiled[k].outputs)}
    for k in compiled
}
for k, t in traffic.items():
    print(f"{k}: {t['before']} bytes/element before fusion, {t['after']} after ({t['before'] / t['after']:.1f}x less)")
assert all(t["after"] * 2 <= t["before"] for t in traffic.values())

# %% [markdown]
# **What a `tanh` costs.** Counting each op as one FLOP, fusion leaves the work unchanged and divides
# the traffic: on the roofline the point moves right (higher intensity), and up only if it got faster.
# But one FLOP per `tanh`, `exp` or `log1p` hides their cost: each is a few dozen instructions (range
# reduction and a polynomial), not one. Once the traffic is divided, they may be what limits the fused
# kernel. So we measure what one costs here, on an array that stays in the cache (no memory
# traffic), on one thread, computed the way the fused kernel computes it. In float32 that is
# `coursekit.graph.vecmath`: Cephes' polynomials written so that LLVM vectorises them inside the
# numba loop (numba's own `math.exp` is a call of the C library for each element: this llvmlite has
# no SVML, Intel's vector math library). Beside each, numpy's float32 ufunc for the same op, which
# the eager code calls: on some CPUs it has SIMD code for an op and on others not (`log1p` on an
# AVX2-only CPU, for one), and the two columns show which here. (`T.config.vector_math = False`
# switches the polynomials off, to compare.)
#
# Then the roofline, on **one thread** for every point and every ceiling: numpy eager, the fused
# kernel tuned on one thread, the memory and GEMM roofs measured inside `threads.limited(1)`, and, for
# each fused chain, a *transcendental ceiling*: the rate at which this core computes that chain's
# transcendental ops alone, one after the other, drawn as a horizontal line at the nominal FLOP/s it
# would allow.

# %% tags=["nbval-ignore-output"]
with pools.limited(1):
    here1 = measure_ceilings("cpu")  # the roofs on one thread, as every point below
    steps = {k: compiled1[k].kernels[0].transcendental_ops() for k in compiled1}
    rates = opcost.elementwise_rates({name: f for k in steps for name, f in steps[k]})
    numpy_rates = opcost.elementwise_rates({name: getattr(np, name) for name in rates if hasattr(np, name)})
for name, r in rates.items():
    ufunc = f"; numpy's ufunc {numpy_rates[name] / 1e9:.2f}" if name in numpy_rates else ""
    print(
        f"float32 {name}: {r / 1e9:.2f} G elements/s as the fused kernel computes it{ufunc} (one thread, "
        f"from cache); {1e9 / r:.2f} ns each, the time of {opcost.flop_equivalent(r, here1.flop_per_s):.0f} "
        f"FLOPs at this core's GEMM rate ({here1.flop_per_s / 1e9:.0f} GFLOP/s)"
    )
kernels, trans_ceiling, bound_lines = [], {}, []
for k in compiled:
    fl = flops_per_element(compiled[k].original_outputs)
    eager = roofline.Kernel(f"{k}, numpy eager", fl * n, traffic[k]["before"] * n)
    fused = roofline.Kernel(f"{k}, fused, 1 thread", fl * n, traffic[k]["after"] * n)
    kernels += [
        eager.timed(elem_ms[k]["numpy eager"] / 1e3, here1.name),
        fused.timed(elem_ms[k]["graph, optimised, 1 thread"] / 1e3, here1.name),
    ]
    names = " + ".join(name for name, _ in steps[k])
    trans_eps = opcost.serial_rate(rates[name] for name, _ in steps[k])  # elements/s
    trans_ceiling[k] = (names, fl * trans_eps)  # as nominal FLOP/s
    limits = {"memory roof": here1.bytes_per_s / traffic[k]["after"], f"{names}": trans_eps}
    achieved = n / (elem_ms[k]["graph, optimised, 1 thread"] / 1e3)
    bound_lines.append(findings.bound_verdict(f"{k}, fused, 1 thread", achieved, limits))
pairs = {  # chain: (eager intensity, eager FLOP/s, fused intensity, fused FLOP/s)
    k: (eager.intensity, eager.flop_per_s, fused.intensity, fused.flop_per_s)
    for k, eager, fused in zip(compiled, kernels[0::2], kernels[1::2], strict=True)
}
ax = roofline.plot(here1, kernels, title=findings.roofline_title(pairs) + " (one thread)")
for i, (k, (names, flops)) in enumerate(trans_ceiling.items()):  # one above its line, the next below
    ax.axhline(flops, ls="--", lw=1, color=f"C{i + 2}")
    ax.annotate(
        f"{k}: {names} ceiling",
        (ax.get_xlim()[1], flops),
        xytext=(-4, 3 if i % 2 == 0 else -3),
        textcoords="offset points",
        ha="right",
        va="bottom" if i % 2 == 0 else "top",
        fontsize=7,
        color=f"C{i + 2}",
    )
ax.figure.set_size_inches(7, 4.2)
plt.show()
print("\n".join(bound_lines))

# %% [markdown]
# What to look for: the fused points sit right of the eager ones (less traffic per nominal FLOP: that
# is counting, true everywhere). If a fused point sits far below the memory roof but close to its
# dashed transcendental ceiling, memory is no longer what limits it: its `tanh`, `exp` and `log1p`
# are. If it is well below both, either its steps (reading and writing memory, the transcendental
# calls, the cheap arithmetic) follow one another instead of overlapping, and it runs near the rate at
# which their times add up, or something else costs time. The lines printed under the figure say
# which it is on this machine.
#
# **What a fresh output costs.** Each eager op returns a new 40 MB array. The operating system hands
# out new memory pages and zeroes each one on first touch, so a temporary can cost more than its bytes
# of bandwidth. numpy asks the kernel for huge pages (2 MiB: 512 times fewer pages to map than 4 KiB
# ones) where it can; torch's CPU allocator does not by default, so its 40 MB outputs get huge pages
# only where the system gives them to every program (transparent huge pages set to `always`). The
# same multiplication into a new array and into a reused buffer shows what each library's fresh output
# costs here:

# %% tags=["nbval-ignore-output"]
reused, reused_np = torch.empty_like(zt), np.empty_like(zs)
alloc_ms = {
    m.label: m.median * 1e3
    for m in compare.interleaved(
        {
            "numpy: z * 2 (new array)": lambda: zs * 2,
            "numpy: multiply(z, 2, out=buffer)": lambda: np.multiply(zs, 2, out=reused_np),
            "torch: z * 2 (new tensor)": lambda: zt * 2,
            "torch: mul(z, 2, out=buffer)": lambda: torch.mul(zt, 2, out=reused),
        },
        min_time=MIN_TIME,
        max_time=5,
    )
}
print(pd.Series(alloc_ms, name="ms per call").round(2).to_string())
try:  # numpy >= 2
    from numpy._core.multiarray import _get_madvise_hugepage
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _get_madvise_hugepage
thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")  # Linux: e.g. "always [madvise] never"
print(
    f"numpy asks the kernel for huge pages here: {_get_madvise_hugepage()}; transparent huge pages: "
    + (thp.read_text().strip() if thp.exists() else "no such setting on this system")
)
for lib, new, into in (
    ("numpy", "z * 2 (new array)", "multiply(z, 2, out=buffer)"),
    ("torch", "z * 2 (new tensor)", "mul(z, 2, out=buffer)"),
):
    extra = alloc_ms[f"{lib}: {new}"] - alloc_ms[f"{lib}: {into}"]
    print(f"{lib}: a fresh 40 MB output costs {extra:.1f} ms more than a reused buffer")

# %% [markdown]
# **Our fused kernel against `torch.compile`'s, with equal allocation.** Both return a fresh output
# when called as above, and the table in this section compares each on its own thread count. To
# compare the generated code itself, the cell below runs both on one thread, each once with a fresh
# output and once writing into a preallocated one (`out=` for our kernel; for torch, a compiled
# function that copies into its argument, which inductor turns into a store straight into that buffer).


# %% tags=["nbval-ignore-output"]
def poly_torch_into(x, out):
    return out.copy_(torch.tanh(2 * x**2 + 3 * x + 1))


poly_kernel1 = compiled1["poly"].kernels[0]  # our one fused kernel, tuned on one thread
equal_ms = {}
if torch_compiled["poly"].ok:
    with tg.threads(1):
        into = tg.compile_timed(poly_torch_into, zt, reused)  # compiled for one thread
        equal_ms = {
            m.label: m.median * 1e3
            for m in compare.interleaved(
                {
                    "ours, fresh output": lambda: compiled1["poly"](zs),
                    "ours, into a buffer": lambda: poly_kernel1(zs, out=reused_np),
                    "torch.compile, fresh output": lambda: torch_compiled["poly"].fn(zt),
                    "torch.compile, into a buffer": lambda: into.fn(zt, reused),
                },
                check=False,
                min_time=MIN_TIME,
                max_time=10,
            )
        }
    print(pd.Series(equal_ms, name="ms per call, tanh(2x²+3x+1), one thread").round(2).to_string())
    for how, ours_label, theirs_label in (
        ("both allocating:  ", "ours, fresh output", "torch.compile, fresh output"),
        ("both into buffers:", "ours, into a buffer", "torch.compile, into a buffer"),
    ):
        print(how, findings.versus("ours", equal_ms[ours_label], "torch.compile", equal_ms[theirs_label]))
    np.testing.assert_allclose(reused_np, reused.numpy(), rtol=1e-5, atol=1e-6)
else:
    print("torch.compile is not available here: nothing to compare")

# %% [markdown]
# **The training step.** The same comparison on the logistic regression's step (`train` above: outputs,
# gradients and updates), on a batch large enough for the arithmetic to outweigh Python. Next to the
# contenders, the step's two matrix-vector products (`x·w` and `xᵀ·g`) alone, in the same rounds.
# Every contender runs on one thread per library (see notebook 03, Setup, "Thread settings").

# %% tags=["nbval-ignore-output"]
Nb = ck.size(small=20_000, default=100_000)
Xb = rng.standard_normal((Nb, feats))
Yb = (Xb @ w_true > 0).astype(np.float64)
Xt, Yt = torch.from_numpy(Xb), torch.from_numpy(Yb)
train_fused_off = T.function([x, y], [prediction, cost], updates={w: w - 0.1 * gw, b: b - 0.1 * gb}, fusion="none")
w_np, b_np = w.get_value().copy(), float(b.get_value())
w_t = torch.tensor(w_np, requires_grad=True)
b_t = torch.tensor(b_np, requires_grad=True)
g_b = rng.standard_normal(Nb) / Nb  # a gradient-sized vector for the products alone


def numpy_step():
    """The step by hand in numpy: forward, gradient, update."""
    global w_np, b_np
    z = Xb @ w_np + b_np
    p = 1 / (1 + np.exp(-z))
    c = (-Yb * np.log(p) - (1 - Yb) * np.log(1 - p)).mean() + 0.01 * (w_np**2).sum()
    gz = (p - Yb) / len(Yb)
    w_np, b_np = w_np - 0.1 * (Xb.T @ gz + 0.02 * w_np), b_np - 0.1 * gz.sum()
    return c


def torch_step():
    p = torch.sigmoid(Xt @ w_t + b_t)
    c = F.binary_cross_entropy(p, Yt) + 0.01 * (w_t**2).sum()
    w_t.grad = b_t.grad = None
    c.backward()
    with torch.no_grad():
        w_t.sub_(0.1 * w_t.grad)
        b_t.sub_(0.1 * b_t.grad)
    return c


with np.errstate(all="ignore"), tg.threads(1):  # one thread per library: see notebook 03, Setup, "Thread settings"
    step_ms = {
        m.label: m.median * 1e3
        for m in compare.interleaved(
            {
                "numpy by hand": numpy_step,
                "graph, optimize=False": lambda: train_raw(Xb, Yb),
                "graph, rewrites, no fusion": lambda: train_fused_off(Xb, Yb),
                "graph, optimised": lambda: train(Xb, Yb),
                "torch eager": torch_step,
                "the two products alone": lambda: (Xb @ w_np, Xb.T @ g_b),
            },
            check=False,
            min_time=3 * MIN_TIME,  # short steps: more rounds against bursts of load
            max_time=10,
        )
    }
products_ms = step_ms.pop("the two products alone")
step_table = pd.Series(step_ms, name=f"ms per step, {Nb} x {feats}").round(3)
print(step_table.to_string())
print(findings.step_verdict(step_ms, products_ms))
assert train.nodes_after < train_fused_off.nodes_after < train_raw.nodes_after  # what each stage removed

# %% [markdown]
# A step is two matrix-vector products, which read all `N x 100` numbers of `x` twice, plus
# elementwise work over `N` numbers, a hundred times fewer. Every contender hands the products to
# BLAS; the rewrites and fusion can only act on the elementwise part. So look for a small gain from
# fusion, possibly lost in the noise; the printed line says which contender is fastest here, by how
# much, and how much of its step the products take.
#
# ## 4. Stability rewrites, shown
# The lecture's cross-entropy computes `p = sigmoid(z)` and then `log(p)` and `log(1 - p)`. For a
# confident, wrong prediction (`z = -100` with label 1) `p` rounds to 0 in float32 and `log(p)` is
# `-inf`: the loss is `inf` and its gradient `nan`. The compiler rewrites
# `log(sigmoid(z)) -> -softplus(-z)` and `log(1 - sigmoid(z)) -> -softplus(z)`, and softplus is
# computed as `max(t, 0) + log1p(exp(-|t|))`, which never overflows. Likewise `log(1 + x) -> log1p(x)`
# keeps tiny `x`, and `log(1 + exp(x)) -> softplus(x)` survives `x = 1000`.

# %%
grid = np.linspace(-120, 120, 241).astype(np.float32)
ones = np.ones_like(grid)
exact = np.logaddexp(0, -grid.astype(np.float64))  # -log(sigmoid(z)) for label 1, in float64
with np.errstate(all="ignore"):
    loss_naive = raw["xent"](grid, ones)
loss_rewritten = compiled["xent"](grid, ones)
print(f"z = -100, label 1: naive {loss_naive[grid == -100][0]}, rewritten {loss_rewritten[grid == -100][0]:.4f}")

xv1 = T.vector("x1", "float32")
cases = {
    "log(1 + x) at x = 1e-10": (T.log(1 + xv1), np.float32(1e-10), 1e-10),
    "log(1 + exp(x)) at x = 1000": (T.log(1 + T.exp(xv1)), np.float32(1000), 1000.0),
    "log(1 + exp(x)) at x = -1000": (T.log(1 + T.exp(xv1)), np.float32(-1000), 0.0),
    "log(sigmoid(x)) at x = -1000": (T.log(T.sigmoid(xv1)), np.float32(-1000), -1000.0),
}
rows = []
for label, (expr, xval, right) in cases.items():
    with np.errstate(all="ignore"):
        naive_value = T.function([xv1], expr, optimize=False)([xval])[0]
    rewritten_value = T.function([xv1], expr)([xval])[0]
    rows.append({"expression": label, "naive": naive_value, "rewritten": rewritten_value, "right answer": right})
    check_close(rewritten_value, right, what=label, rtol=1e-6, atol=0)
print(pd.DataFrame(rows).to_string(index=False))
assert np.isinf(loss_naive[grid == -100][0]) and np.all(np.isfinite(loss_rewritten))
np.testing.assert_allclose(loss_rewritten, exact, rtol=1e-5, atol=1e-6)

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(grid, exact, color="0.7", lw=5, label="exact (float64)")
ax.plot(grid, loss_rewritten, lw=1.5, label="rewritten: softplus (float32)")
ax.plot(grid, np.where(np.isfinite(loss_naive), loss_naive, np.nan), "--", lw=1.5, label="as written (float32)")
inf_at, nan_at = grid[np.isinf(loss_naive)], grid[np.isnan(loss_naive)]
ax.plot(inf_at, np.full_like(inf_at, 125), "x", color="C1", ms=4, label="as written: inf")
ax.plot(nan_at, np.full_like(nan_at, 125), "o", color="C3", ms=3, label="as written: nan")
ax.set_xlabel("logit z (label 1)")
ax.set_ylabel("cross-entropy loss (nats)")
ax.set_title(findings.stability_title(grid, loss_naive, loss_rewritten, exact, rtol=1e-5, atol=1e-6))  # as asserted
assert inf_at.max() < -50 and 0 < nan_at.min() < 50  # float32: exp overflows near 88; 1 - p is 0 from z ~ 17
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Below `z ≈ -88` (where `exp(-z)` overflows float32 and `p` becomes 0) the loss as written is
# infinite. Above `z ≈ 17` it is `nan`, although the right answer is almost 0: `p` rounds to 1,
# `log(1 - p)` is `-inf`, and the label's `(1 - y) = 0` times `-inf` is `nan`: multiplying by zero
# does not remove an infinity. The rewritten graph follows the exact curve everywhere. Theano applied these
# rewrites automatically; PyTorch asks you to call the stable function yourself
# (`F.binary_cross_entropy_with_logits`, `F.softplus`, `torch.log1p`).

# %% [markdown]
# ### Exercise 4.3 — a stable `log1mexp` (3 points)
# The rewrites above swap a formula that fails in floating point for a stable op the library knows.
# Here is one it does not know: `log1mexp(a) = log(1 - exp(-a))` for `a > 0`, the log of `1 - p` when
# you hold `log p = -a` (survival models and other log-space probability code meet it). Written as it
# stands, it is wrong at **both** ends in float32. Find where and why before you fix it: try
# `a = 1e-30`, `1e-4` and `20`, and compare with what the mathematics says there.
#
# Write `log1mexp(a)` for a numpy array `a` of any shape. For float32 `a` it must return float32 and
# be within 8 ulps (units in the last place) of the true value for every `a` from `1e-38` to `1e4`;
# for float64 `a` it must be as accurate at both ends (`a = 1e-300`, `a = 1e4`). Where the formula is
# undefined it says so as the formula does: `-inf` at `a = 0`, NaN for `a < 0`. numpy's `log1p` and
# `expm1` exist for exactly this kind of problem.


# %% nbgrader={"grade": false, "grade_id": "nb04_log1mexp", "locked": false, "schema_version": 3, "solution": true}
def log1mexp(a):
    """log(1 - exp(-a)) for a numpy array a > 0, accurate at both ends; a's dtype."""
    ### BEGIN SOLUTION
    a = np.asarray(a)
    with np.errstate(divide="ignore", invalid="ignore"):  # both branches are computed everywhere
        return np.where(a > np.log(2), np.log1p(-np.exp(-a)), np.log(-np.expm1(-a)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb04_log1mexp_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
a_vis = np.array([1e-30, 1e-4, 20.0, 60.0], dtype=np.float32)
a_64 = a_vis.astype(np.float64)
near = np.where(a_64 < 1, np.log(a_64) - a_64 / 2, -np.exp(-a_64))  # both ends' asymptotics, exact here
with np.errstate(all="ignore"):
    got_vis = log1mexp(a_vis)
check_true(np.asarray(got_vis).dtype == np.float32, f"a float32 result for float32 a, got {np.asarray(got_vis).dtype}")
check_close(got_vis, near.astype(np.float32), what=f"log1mexp at a = {a_vis}", rtol=1e-6, atol=0)
print(f"log1mexp matches both ends' asymptotic forms to 1e-6 relative at {len(a_vis)} values of a (tiny to large)")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import stability as stability_checks

stability_checks.check_log1mexp(log1mexp)
### END HIDDEN TESTS
ck.checks.passed("nb04_log1mexp", 3, hidden=True)


# %% [markdown]
# ## 5. The lecture's benchmark, re-run on this machine
# The lecture compared Theano with the libraries of 2010 on "MLP 60x784 · 784x500, tanh, · 500x10,
# plus backprop" and on "misc elementwise" operations. Here is the same MLP step (softmax
# cross-entropy, backprop, SGD, float32) in five ways: numpy by hand, notebook 03's EDF, the compiled
# graph, torch eager and `torch.compile`. All five start from the same weights, and their first
# losses must agree.

# %%
B, D_in, H_mlp, K = 60, 784, 500, 10
lr_mlp = 0.01
rng = np.random.default_rng(2)
X60 = rng.standard_normal((B, D_in)).astype(np.float32)
labels60 = rng.integers(0, K, B)
onehot60 = np.eye(K, dtype=np.float32)[labels60]

edf.clear()
ex_, ey_ = edf.Input(), edf.Input()
edf_loss = edf.LogLoss(edf.Aref(edf.mlp(ex_, [D_in, H_mlp, K], activation=edf.Tanh, seed=0), ey_))
init = {p.name: p.value.copy() for p in edf.parameters}  # W1, b1, W2, b2: every version starts here
ex_.set(X60)
ey_.set(labels60)


def edf_step():
    edf.Forward()
    edf.Backward(edf_loss)
    edf.SGD(lr_mlp)
    return edf_loss.value.mean()


npw = {k: v.copy() for k, v in init.items()}


def numpy_mlp_step():
    """Forward, backward and SGD by hand."""
    h = np.tanh(X60 @ npw["W1"] + npw["b1"])
    z = h @ npw["W2"] + npw["b2"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(B), labels60]).mean()
    dz = (p - onehot60) / B
    dh = (dz @ npw["W2"].T) * (1 - h * h)
    grads = {"W2": h.T @ dz, "b2": dz.sum(0), "W1": X60.T @ dh, "b1": dh.sum(0)}
    for k, g in grads.items():
        npw[k] -= lr_mlp * g
    return loss


xg, tg1h = T.matrix("x", "float32"), T.matrix("onehot", "float32")
gparams = [T.shared(init[k].copy(), k) for k in ("W1", "b1", "W2", "b2")]
W1g, b1g, W2g, b2g = gparams
zg = T.dot(T.tanh(T.dot(xg, W1g) + b1g), W2g) + b2g
loss_g = (T.log(T.exp(zg).sum(axis=1)) - (tg1h * zg).sum(axis=1)).mean()  # logsumexp(z) - z[label]
graph_step = T.function(
    [xg, tg1h], loss_g, updates=[(p, p - lr_mlp * g) for p, g in zip(gparams, T.grad(loss_g, gparams), strict=True)]
)

tw = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
X60t, labels60t = torch.from_numpy(X60), torch.from_numpy(labels60)


def mlp_loss(x, t):
    return F.cross_entropy(torch.tanh(x @ tw["W1"] + tw["b1"]) @ tw["W2"] + tw["b2"], t)


def make_torch_step(loss_fn):
    def step():
        loss = loss_fn(X60t, labels60t)
        for p in tw.values():
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in tw.values():
                p -= lr_mlp * p.grad
        return loss.detach()

    return step


first_losses = {
    "numpy by hand": float(numpy_mlp_step()),
    "EDF (notebook 03)": float(edf_step()),
    "coursekit.graph": float(graph_step(X60, onehot60)),
    "torch eager": float(make_torch_step(mlp_loss)()),
}
assert max(first_losses.values()) - min(first_losses.values()) < 1e-4 * max(first_losses.values())
# 4 significant digits: what the assertion guarantees. The 7th digit depends on the CPU's summation order.
print({k: f"{v:.4g}" for k, v in first_losses.items()}, "- the same to 1e-4 relative")

# %% tags=["nbval-ignore-output"]
mlp_compiled = tg.compile_timed(mlp_loss, X60t, labels60t)
mlp_fns = {
    "numpy by hand": numpy_mlp_step,
    "EDF (notebook 03)": edf_step,
    "coursekit.graph": lambda: graph_step(X60, onehot60),
    "torch eager": make_torch_step(mlp_loss),
}
if mlp_compiled.ok:
    t0 = time.perf_counter()
    with tg.quiet_torch():
        make_torch_step(mlp_compiled.fn)()  # the backward graph compiles on the first backward
    backward_s = time.perf_counter() - t0
    mlp_compiled.first_call_s += backward_s
    mlp_fns["torch.compile"] = make_torch_step(mlp_compiled.fn)
    print(
        f"torch.compile(MLP loss): first forward and backward {mlp_compiled.first_call_s:.1f} s "
        f"(backward {backward_s:.1f} s)"
    )
else:
    print(f"torch.compile is not available here: {mlp_compiled.error}")
with tg.threads(1):  # one thread per library, as for the logistic regression step
    mlp_ms = {
        m.label: m.median * 1e3 for m in compare.interleaved(mlp_fns, check=False, min_time=MIN_TIME, max_time=10)
    }
print(pd.Series(mlp_ms, name="ms per MLP step").round(3).to_string())
assert mlp_ms["coursekit.graph"] < 5 * mlp_ms["numpy by hand"]  # a BLAS-bound step: all in the same league

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
names = list(mlp_ms)
ax1.barh(names, [mlp_ms[k] for k in names], color=[f"C{i}" for i in range(len(names))])
ax1.invert_yaxis()
ax1.set_xlabel("time per training step (ms)")
ax1.set_title(findings.fastest_title("MLP 60x784·784x500·500x10 + backprop", mlp_ms), fontsize=10)
elem_names = [c for c in elem_table.index if elem_table[["poly", "xent"]].loc[c].notna().all()]
pos = np.arange(len(elem_names))
for j, k in enumerate(["poly", "xent"]):
    ax2.barh(pos + 0.4 * j, [elem_ms[k][c] for c in elem_names], height=0.4, label=k)
ax2.set_yticks(pos + 0.2, elem_names)
ax2.invert_yaxis()
ax2.set_xlabel(f"time per call over {n:.0e} float32 (ms)")
ax2.set_title(findings.elementwise_title({k: {c: elem_ms[k][c] for c in elem_names} for k in elem_ms}), fontsize=9)
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The MLP step is two matrix products forward (`x·W1`, `h·W2`) and three backward (`dW2 = hᵀ·dz`,
# `dh = dz·W2ᵀ`, `dW1 = xᵀ·dh`; `x` is data, so no `dx`). EDF (notebook 03) computes `dx` anyway, a
# fourth backward product (60x500·500x784) the others skip. Every contender calls the same kind of
# BLAS routine (one thread each, as in section 3), so look for the differences in the overhead around
# the products: Python, temporaries, the update. The elementwise chains are where a compiler that sees
# the whole expression can win by a wide margin, as the lecture's slide showed in 2010; the titles
# above say what this machine shows.
#
# ## 6. Define-and-run vs define-by-run
# The cs231n lecture's TensorFlow 1 program (two-layer ReLU network, `N, D, H = 64, 1000, 100`),
# translated term by term: `tf.placeholder` is an input variable, `tf.Variable` a shared variable,
# `tf.gradients` is `T.grad`, `assign` is an update, and `session.run` is the compiled function. The
# graph is built and compiled **once**; the loop only feeds data. (`T.function` also rewrites and
# fuses; TensorFlow 1's `session.run`, without XLA, ran this graph one kernel per node.) Beside it,
# PyTorch builds a new graph on every iteration as the Python runs, and differentiates it op by op:
# autograd records each operation as it runs, and `backward()` walks that record in reverse.
#
# Three bugs in the slides: `loss_val, = sess.run([loss, updates], ...)` unpacks two results into
# one name (a `ValueError`); PyTorch's `if w1.grad: w1.grad.data.zero_()` asks for the truth value
# of a 1000x100 tensor (a `RuntimeError` from the second step on); and the two versions differ (sum
# vs mean of the loss, learning rate 1e-6 vs 1e-5, `wl` for `w1`). We use one loss and one rate.

# %% tags=["nbval-ignore-output"]
N6, D6, H6, steps6, lr6 = 64, 1000, 100, 50, 1e-5
rng = np.random.default_rng(3)
x6, y6 = rng.standard_normal((N6, D6)).astype(np.float32), rng.standard_normal((N6, D6)).astype(np.float32)
w1_0 = rng.standard_normal((D6, H6)).astype(np.float32)
w2_0 = rng.standard_normal((H6, D6)).astype(np.float32)

# --- define: the graph, once ("TensorFlow 1") ---
x_ph, y_ph = T.matrix("x", "float32"), T.matrix("y", "float32")  # tf.placeholder
w1_var, w2_var = T.shared(w1_0, "w1"), T.shared(w2_0, "w2")  # tf.Variable
h6 = T.maximum(T.dot(x_ph, w1_var), 0)
diff = T.dot(h6, w2_var) - y_ph
loss6 = (diff**2).sum(axis=1).mean()
grad_w1, grad_w2 = T.grad(loss6, [w1_var, w2_var])  # tf.gradients
t0 = time.perf_counter()
session_run = T.function(
    [x_ph, y_ph], loss6, updates=[(w1_var, w1_var - lr6 * grad_w1), (w2_var, w2_var - lr6 * grad_w2)]
)  # the session; the updates are the assign ops
define_s = time.perf_counter() - t0
# --- run: many times ---
static_losses = [float(session_run(x6, y6)) for _ in range(steps6)]

# --- define-by-run ("PyTorch"): the graph is rebuilt on every iteration ---
xt6, yt6 = torch.from_numpy(x6), torch.from_numpy(y6)
w1t = torch.tensor(w1_0, requires_grad=True)
w2t = torch.tensor(w2_0, requires_grad=True)
dynamic_losses = []
for _ in range(steps6):
    loss = (xt6.mm(w1t).clamp(min=0).mm(w2t) - yt6).pow(2).sum(dim=1).mean()
    w1t.grad = w2t.grad = None
    loss.backward()
    with torch.no_grad():
        w1t -= lr6 * w1t.grad
        w2t -= lr6 * w2t.grad
    dynamic_losses.append(loss.item())

np.testing.assert_allclose(static_losses, dynamic_losses, rtol=2e-3)
print(
    f"compiled the static graph once in {define_s * 1e3:.0f} ms; loss {static_losses[0]:.3g} -> "
    f"{static_losses[-1]:.3g}; the two curves agree to 0.2 % at all {steps6} steps"
)
slide_error = None
try:
    if w1t.grad:  # the slide's test
        pass
except RuntimeError as exc:
    slide_error = str(exc).splitlines()[0]
assert slide_error is not None, "a tensor of several values has no truth value: the slide's test must raise"
print("the slide's `if w1.grad:` ->", slide_error)

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.4))
ax.semilogy(static_losses, lw=4, color="0.75", label="define-and-run (coursekit.graph, 'TF1')")
ax.semilogy(dynamic_losses, "--", label="define-by-run (PyTorch eager)")
ax.set_xlabel("training step")
ax.set_ylabel("loss (mean squared error, log scale)")
ax.set_title(findings.curves_title(static_losses, dynamic_losses, rtol=2e-3))
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Same mathematics, same curve. The difference is *when* the graph exists: the static one can be
# optimised, saved and run without Python before any data arrives; the dynamic one is ordinary Python,
# easy to debug and free to change at every step. The next section shows what that costs a static graph.
#
# ## 7. Control flow inside a graph
# **Conditionals.** With a dynamic graph, `y = w1 x if z > 0 else w2 x` is a Python `if`. A static
# graph must contain the branch itself: TensorFlow's `tf.cond`, here `T.ifelse` (lazy: only the
# branch taken is computed). The slide's TensorFlow version has a bug worth seeing: it wrote
# `tf.cond(tf.less(z, 0), f1, f2)` with `f1` using `w1`, which picks `w1` when `z < 0`, the opposite
# of its own formula. Below, the right condition, with gradients checked against PyTorch's `if`.

# %%
N7, D7, H7 = 3, 4, 5
rng = np.random.default_rng(4)
xv7, w1v7, w2v7 = rng.standard_normal((N7, D7)), rng.standard_normal((D7, H7)), rng.standard_normal((D7, H7))
x7, z7, w17, w27 = T.matrix("x"), T.scalar("z"), T.matrix("w1"), T.matrix("w2")
y7 = T.ifelse(z7 > 0, T.dot(x7, w17), T.dot(x7, w27))
f7 = T.function([x7, z7, w17, w27], [y7, *T.grad(y7.sum(), [x7, w17, w27])])


def grad_or_zero(t):
    """torch leaves .grad as None for a tensor the graph did not use; the static graph gives zeros."""
    return t.grad if t.grad is not None else torch.zeros_like(t)


for zval in (10.0, -10.0):
    xt7, w1t7, w2t7 = (torch.tensor(v, requires_grad=True) for v in (xv7, w1v7, w2v7))
    yt7 = xt7.mm(w1t7) if zval > 0 else xt7.mm(w2t7)  # PyTorch: normal Python
    yt7.sum().backward()
    got = f7(xv7, zval, w1v7, w2v7)
    expected = (yt7, grad_or_zero(xt7), grad_or_zero(w1t7), grad_or_zero(w2t7))
    for g, t, name in zip(got, expected, ("y", "dy/dx", "dy/dw1", "dy/dw2"), strict=True):
        check_close(g, t.detach().numpy(), what=f"{name} at z = {zval}", rtol=1e-10)
    print(
        f"z = {zval:+.0f}: value and gradients match PyTorch's Python `if` "
        f"(gradient of the unused weight: {np.abs(got[3] if zval > 0 else got[2]).max():.0f})"
    )

# %% [markdown]
# **Loops.** A dynamic graph loops with Python's `for`. A static graph needs a loop *node*:
# TensorFlow's `tf.foldl(fn, elems, initializer)`, here `T.foldl` (`T.scan` returns every state). The
# body is a Python function that is called **once**, on symbols, to build the graph of one step.
# An example, a tiny recurrent network `h_t = tanh(h_{t-1} * u + x_t)`, against a Python loop in torch:

# %%
x8, h0_8, u8 = T.matrix("x"), T.vector("h0"), T.vector("u")
h_last = T.foldl(lambda h, x_t: T.tanh(h * u8 + x_t), x8, h0_8)
f8 = T.function([x8, h0_8, u8], [h_last, *T.grad(h_last.sum(), [x8, h0_8, u8])])

rng = np.random.default_rng(5)
xs8, h0s8, us8 = rng.standard_normal((6, 4)), rng.standard_normal(4), rng.standard_normal(4)
xt8, h0t8, ut8 = (torch.tensor(v, requires_grad=True) for v in (xs8, h0s8, us8))
h = h0t8
for t in range(xt8.shape[0]):  # PyTorch: normal Python
    h = torch.tanh(h * ut8 + xt8[t])
h.sum().backward()
for g, t, name in zip(f8(xs8, h0s8, us8), (h, xt8.grad, h0t8.grad, ut8.grad), ("h_T", "dx", "dh0", "du"), strict=True):
    check_close(g, t.detach().numpy(), what=name, rtol=1e-9)
print("T.foldl: the last state and the gradients with respect to x, h0 and u match the Python loop in torch")

# %% [markdown]
# ### Exercise 4.4 — the lecture's recurrence with `foldl` (2 points)
# Build `y_t = (y_{t-1} + x_t) * w` for `t = 1..T` with `T.foldl`, starting from `y0`, where `x` is a
# `T x D` matrix and `y0`, `w` are vectors of length `D`. `y` must be the **last** state (a vector).
# The tests compare values and gradients with a Python loop in torch.

# %% nbgrader={"grade": false, "grade_id": "nb04_foldl", "locked": false, "schema_version": 3, "solution": true}
x_seq, y_init, w_rec = T.matrix("x"), T.vector("y0"), T.vector("w")
### BEGIN SOLUTION
y_rec = T.foldl(lambda prev_y, cur_x: (prev_y + cur_x) * w_rec, x_seq, y_init)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb04_foldl_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
f_rec = T.function([x_seq, y_init, w_rec], y_rec)
check_close(
    f_rec(np.ones((2, 3)), np.zeros(3), np.full(3, 2.0)), np.full(3, 6.0), what="y after 2 steps of (y + 1) * 2 from 0"
)
print("two steps: (0 + 1) * 2 = 2, (2 + 1) * 2 = 6")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import graph as graph_checks

graph_checks.check_foldl_recurrence(y_rec, x_seq, y_init, w_rec)
### END HIDDEN TESTS
ck.checks.passed("nb04_foldl", 2, hidden=True)

# %% [markdown]
# ## 8. Today's answer in PyTorch
# PyTorch kept define-by-run for writing models and added tools that *capture* a graph from ordinary
# Python when one is wanted: to inspect or transform it (`torch.fx`), to compile it (`torch.compile`)
# or to save and deploy it (`torch.export`).
#
# **`torch.fx.symbolic_trace`** runs the module's `forward` on proxy objects and records every call.


# %%
class TwoLayer(torch.nn.Module):
    def __init__(self, d_in=8, hidden=16, d_out=3):
        super().__init__()
        self.fc1 = torch.nn.Linear(d_in, hidden)
        self.fc2 = torch.nn.Linear(hidden, d_out)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


torch.manual_seed(0)
model = TwoLayer()
gm = torch.fx.symbolic_trace(model)
print(gm.graph)
print(gm.code.strip())
x_in = torch.randn(5, 8)
assert torch.equal(gm(x_in), model(x_in))

# %% [markdown]
# **The pitfall of tracing: data-dependent control flow.** A tracer records the operations that
# *ran*. A Python `if` on a tensor's value runs only one branch, so a trace contains only that branch.
# The old tracer, `torch.jit.trace` (deprecated in torch 2.13: it says so, and warns about exactly this
# problem), silently bakes in the branch it saw and gives the wrong answer on inputs that should take
# the other one. Its warnings are the lesson, so they are printed here. Today's tools refuse instead
# of guessing: `torch.fx` raises, and `torch.compile` breaks the graph there and lets Python decide.


# %%
def relu_or_negate(x):
    if x.sum() > 0:  # data-dependent: depends on the values, not only the shape
        return x * 2
    return -x


positive, negative = torch.ones(3), -torch.ones(3)
with tg.quiet_torch() as said:
    traced = torch.jit.trace(relu_or_negate, positive)
for line in dict.fromkeys(s.split(". ")[0] for s in said):
    print("torch.jit.trace said:", line)
print("traced graph:", traced.code.strip().splitlines()[-1].strip())
print(
    f"on {negative.tolist()}: eager gives {relu_or_negate(negative).tolist()}, "
    f"the trace gives {traced(negative).tolist()}"
)
assert not torch.equal(traced(negative), relu_or_negate(negative))  # the trace is silently wrong

try:
    torch.fx.symbolic_trace(relu_or_negate)
except Exception as exc:  # noqa: BLE001 - the refusal is the point
    print(f"torch.fx.symbolic_trace refuses: {type(exc).__name__}: {str(exc).splitlines()[0]}")

# %% [markdown]
# **Graph breaks.** `torch.compile` captures graphs with *dynamo*, which reads Python bytecode and
# records the tensor operations it meets, on tensors it has not computed. Where it meets something it
# cannot put in a graph, it ends the graph, runs that piece in Python, and starts a new graph after
# it: a *graph break*. Each break costs a return to Python and splits the code the compiler may fuse.
# `torch._dynamo.explain` finds them without compiling (below via `tg.graph_breaks`, which also
# reports each break's line). One example: a Python `if` on a tensor's value.


# %% tags=["nbval-ignore-output"]
def scaled_then_branch(x):
    y = torch.sin(x) * 2
    if y.sum() > 0:  # a branch on the data: break
        y = y.cos()
    return y + 1


n_graphs, breaks = tg.graph_breaks(scaled_then_branch, torch.randn(8))
print(f"{n_graphs} graphs, {len(breaks)} break(s)")
for br in breaks:
    print(f"  line {br.line}: {br.code!r}: {br.reason}")
assert n_graphs == 2 and len(breaks) == 1 and breaks[0].line == 2

# %% [markdown]
# ### Exercise 4.5 — predict the graph breaks (2 points)
# Which of the labelled lines of `mixed` make `torch.compile` break the graph? **Predict before you
# run anything**: reason from what dynamo knows while it traces (it records operations on tensors
# whose shapes and dtypes it knows, but not their values) and from what has to happen in Python. Put
# the labels of the lines that break in the set `predicted_breaks`, e.g. `{"a", "c"}`. The hidden
# test asks `explain`; the cells after the test show what dynamo did, line by line, and why.


# %%
def mixed(x):
    y = torch.sin(x) * 2  # (a)
    if x.shape[0] > 2:  # (b)
        y = y + 1
    for _ in range(3):  # (c)
        y = y * 0.5
    print("checkpoint")  # (d)
    y = torch.where(y > 0, y, -y)  # (e)
    big = y[y > 0.5]  # (f)
    n_max = int(y.max())  # (g)
    z = y.numpy()  # (h)
    return torch.from_numpy(z) + n_max + big.sum()  # (i)


# %% nbgrader={"grade": false, "grade_id": "nb04_graph_breaks", "locked": false, "schema_version": 3, "solution": true}
### BEGIN SOLUTION
predicted_breaks = {"d", "f", "g"}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb04_graph_breaks_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_true(isinstance(predicted_breaks, (set, frozenset, list, tuple)), "predicted_breaks should be a set of labels")
check_true(set(predicted_breaks) <= set("abcdefghi"), f"labels are 'a' to 'i', got {sorted(predicted_breaks)}")
print(f"you predict breaks at {sorted(predicted_breaks)}")
### BEGIN HIDDEN TESTS
from coursekit.grading.hidden import graph as graph_checks

graph_checks.check_graph_break_prediction(mixed, (torch.randn(6),), predicted_breaks)
### END HIDDEN TESTS
ck.checks.passed("nb04_graph_breaks", 2, hidden=True)

# %% [markdown]
# **What dynamo did.** The cell below asks `explain` for `mixed`'s breaks and the reason dynamo gives
# for each (the function runs once, so its `print` prints).

# %%
n_graphs_mixed, breaks_mixed = tg.graph_breaks(mixed, torch.randn(6))
print(f"{n_graphs_mixed} graphs, {len(breaks_mixed)} breaks")
for br in breaks_mixed:
    print(f"  ({br.label}) {br.code!r}: {br.reason}")
assert [br.label for br in breaks_mixed] == ["d", "f", "g"] and n_graphs_mixed == 4

# %% [markdown]
# Line by line:
# - **(b)** `x.shape[0] > 2` is decided while tracing: shapes are known, so Python takes the branch at
#   compile time and the compiled code is *guarded* on the shape (a new shape compiles again). No break.
# - **(c)** a loop over `range(3)` is unrolled into three multiplications. No break.
# - **(d)** `print` is a side effect that must happen in Python, in order: the graph ends there.
# - **(e)** `torch.where` chooses by value *inside* the graph: both sides are computed and the choice is
#   an op, like `T.switch`. This is how a value-dependent `if` stays in a graph. No break.
# - **(f)** `y[y > 0.5]`: the result's *size* depends on the values (a data-dependent shape), which
#   dynamo does not put in a graph by default. Break.
# - **(g)** `int(y.max())` asks for a Python number, i.e. `.item()`: a value dynamo does not have. Break.
# - **(h)** `.numpy()` and `torch.from_numpy`: dynamo translates numpy code on tensors into torch ops, so
#   they stay in the graph. No break.

# %% [markdown]
# **Compile time, apart from steady-state time.** Every `torch.compile` above was timed on its first
# call (which traces and generates C++), then measured in the steady state. Those were *warm*
# compiles: the process had already paid inductor's start-up, on a one-op function in section 3. A
# program's first compile pays both. The table counts the calls that pay each back: the warm compile
# alone, and the start-up plus the warm compile. A new input shape or dtype triggers a new compilation
# (the compiled code is guarded by what it assumed), so a varying batch size can compile again.

# %% tags=["nbval-ignore-output"]
compile_rows = []
for label, c, eager_ms, comp_ms in [
    (
        "tanh(2x^2 + 3x + 1)",
        torch_compiled["poly"],
        elem_ms["poly"]["torch eager"],
        elem_ms["poly"].get("torch.compile"),
    ),
    ("cross-entropy", torch_compiled["xent"], elem_ms["xent"]["torch eager"], elem_ms["xent"].get("torch.compile")),
    ("MLP step", mlp_compiled, mlp_ms["torch eager"], mlp_ms.get("torch.compile")),
]:
    if c.ok and startup.ok and comp_ms is not None:
        compile_rows.append(
            {
                "function": label,
                "warm compile (s)": round(c.first_call_s, 2),
                "eager (ms)": round(eager_ms, 3),
                "compiled (ms)": round(comp_ms, 3),
                "calls to pay back (warm)": findings.payback_calls(c.first_call_s, eager_ms, comp_ms),
                "(with start-up)": findings.payback_calls(startup.first_call_s + c.first_call_s, eager_ms, comp_ms),
            }
        )
compile_table = pd.DataFrame(compile_rows)
print(compile_table.to_string(index=False) if compile_rows else "torch.compile is not available on this machine")
if startup.ok:
    print(f"inductor's start-up in this process: {startup.first_call_s:.1f} s (the first compile, of t + 1)")
for k, c in torch_compiled.items():
    if c.ok:  # compiling (with an empty cache) costs more than a steady-state call
        assert c.first_call_s > 2 * elem_ms[k]["torch.compile"] / 1e3, (k, c.first_call_s)

# %% [markdown]
# **Conv + ReLU: a fusion a static graph allows** (the cs231n lecture's example of what a framework can
# do once it sees the graph). A convolution is a library call (oneDNN on the CPU, cuDNN on a GPU);
# the ReLU after it is one more pass over the convolution's output, unless the library applies it as
# the output is written (an *epilogue* or *post-op*). Below, a small `Conv2d + relu` compiled by
# `torch.compile` twice, warm, and the kernel calls of the code inductor generated each time: by
# default, and with inductor's `freezing` option (inference: the weights become constants, which lets
# it apply oneDNN's fused patterns on the CPU). Loop kernels are named after the operations they
# came from, so read their arguments too: a loop that takes the input image before the convolution
# prepares its inputs (layout, bias). The line at the end says what inductor did here.


# %% tags=["nbval-ignore-output"]
class ConvReLU(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, img):
        return torch.relu(self.conv(img))


torch.manual_seed(0)
conv_relu, img = ConvReLU().eval(), torch.randn(2, 3, 16, 16)
conv_calls = {}
if startup.ok:
    for label, freeze in (("default", False), ("freezing=True", True)):
        out_cr, conv_calls[label], secs = tg.inductor_calls(conv_relu, img, freezing=freeze)
        with torch.no_grad():
            torch.testing.assert_close(out_cr, conv_relu(img))
        print(f"{label} ({secs:.1f} s to compile):")
        for call in conv_calls[label]:
            print("   ", call.split("(")[0] + ("(..., 'relu', ...)" if "'relu'" in call else "(...)"))
    print(findings.conv_relu_verdict(conv_calls["default"], conv_calls["freezing=True"]))
else:
    print("torch.compile is not available here:", startup.error)

# %% [markdown]
# **On a GPU, large arrays** (a prediction from section 3's traffic count, not a measurement made
# here): eager PyTorch launches one kernel per operation, and each reads and writes the whole array in
# GPU memory; the compiled version launches one fused kernel (generated by Triton). For a memory-bound
# chain, expect the time to fall by about the traffic ratio printed in section 3, less where a GPU's
# transcendental throughput or launch overhead limits it. On a GPU the cell below measures it. Without
# one, no tier holds this speed-up (nobody published these two chains), so it says so in one line and
# prints the prediction: each chain's bytes moved at the triad bandwidth that BabelStream reached on an
# H100 (a published measurement, named in the output), about the best a memory-bound kernel does there.

# %% tags=["nbval-ignore-output"]
gpu_compile = reference.gpu_result("compile_speedup", measure=lambda: tg.measure_compile_speedup("cuda"), gpu=info.gpu)
if gpu_compile:
    print(f"{gpu_compile.label}:")
    print(pd.Series(gpu_compile.value).to_string())
else:
    print(reveal.no_figure_line("the eager-vs-compiled speed-up of these two chains on a GPU"))
triad = published.get(gpu_figures.TRIAD)
print(f"prediction, not a measurement: every byte of section 3's count at {published.describe(triad)}")
for k, pred in gpu_figures.traffic_prediction(traffic, n, published.si_value(triad)).items():
    print(
        f"  {k}, n = {n:.0e}: eager >= {pred['eager_ms']:.3g} ms ({traffic[k]['before']} bytes/element), "
        f"fused >= {pred['fused_ms']:.3g} ms ({traffic[k]['after']} bytes/element): at most {pred['ratio']:.1f}x faster"
    )

# %% [markdown]
# ### Predict, then reveal: when does compiling pay on a tiny tensor?
# On a large array a GPU is busy moving bytes, and fusion divides them. On a *tiny* tensor it has
# almost nothing to do: an eager op is a call through PyTorch's dispatcher and a kernel launch, and a
# compiled function is one call through dynamo's guards and inductor's launcher, then one fused
# kernel. **A chain of `k` element-wise ops on a tiny tensor: eager makes `k` calls, the compiled
# function one. From how many ops `k` does the compiled call win?**
#
# The cell below puts the ceilings on screen (datasheet peaks) and the roofline's prediction: bytes
# over bandwidth, plus one launch per kernel, the same launch on both sides. Write your own estimate
# in `my_guess` (a whole number of ops) before you run the cell after it. It is not graded.

# %%
tiny = torch.ones(1, 4096, dtype=torch.bfloat16)  # the size of the published eager figure revealed below
tiny_bytes = tiny.numel() * tiny.element_size()
for gpu_name in ("NVIDIA A100 SXM 80GB", "NVIDIA H200 SXM"):
    sheet = reference.PUBLISHED[gpu_name]
    print(
        f"{sheet.name} ({sheet.source}): {sheet.bytes_per_s / 1e12:.3g} TB/s, "
        f"{sheet.flop_per_s / 1e12:.3g} TFLOP/s FP32; "
        f"one op on the (1, 4096) bfloat16 tensor reads and writes {2 * tiny_bytes / 1e3:.3g} kB: "
        f"{2 * tiny_bytes / sheet.bytes_per_s * 1e9:.2g} ns at the memory roof"
    )
print("eager, k ops: k x (launch + one pass over the tensor); compiled: 1 x (launch + one pass)")
roofline_k = {
    launch_s: gpu_figures.wins_from(gpu_figures.roofline_break_even(tiny_bytes, sheet.bytes_per_s, launch_s))
    for launch_s in (0.0, 1e-6, 1e-5, 1e-4)
}
assert len(set(roofline_k.values())) == 1, roofline_k  # the launch latency cancels: one answer for any
roofline_k = roofline_k[0.0]
print(f"the roofline's prediction: the compiled call wins from k = {roofline_k} ops, whatever the launch costs")
my_guess = None  # your estimate, in ops

# %% tags=["nbval-ignore-output"]
gpu_break_even = reference.gpu_result(
    "compile_break_even",
    measure=lambda: tg.measure_compile_break_even("cuda"),
    gpu=info.gpu,
    published_measurement=gpu_figures.published_break_even,
)
revealed = gpu_figures.break_even_result(gpu_break_even)
shown = reveal.reveal(
    "the chain length from which the compiled call wins",
    "ops",
    revealed,
    roofline_prediction=float(roofline_k),
    guess=my_guess,
    roofline_basis="bytes / bandwidth + the same launch on both sides",
)
print(shown.text())
if revealed.source == "published measurement":  # fixed data: the roofline leaves out the host's work
    print("for scale, the published per-call costs it is computed from and beside:")
    print("\n".join(f"  {line}" for line in gpu_figures.launch_scale_lines()))
    assert shown.roofline_error is not None and shown.roofline_error < 0, shown.text()
assert not revealed or revealed.value >= 1, revealed

# %% [markdown]
# The revealed figure says which tier it comes from. Without a GPU it is *computed* from two
# published measurements on two different GPUs (an eager `torch.add` on an A100, a compiled no-op call
# on a GB200): both are almost all host-side work (Python, dispatch, guards, the driver's launch),
# which is why dividing one by the other is a fair estimate, and why it is not a measurement of either
# GPU. The roofline is right that the bytes do not matter on a tiny tensor, and wrong to assume one
# launch costs the same on both sides: in the published figures a compiled call pays dynamo's guards
# and inductor's launcher, several eager ops' worth. The same question on this machine's CPU,
# measured here: a chain of `x + 1.0` on 4096 float32 numbers, eager and compiled, on one thread,
# timed at two lengths.

# %% tags=["nbval-ignore-output"]
if startup.ok:
    with tg.threads(1):  # one thread on both sides, as in section 3 (inductor fixes its threads when it compiles)
        cpu_break_even = tg.measure_compile_break_even("cpu")
    print(findings.break_even_verdict("this CPU, one thread, measured here", cpu_break_even))
    if not cpu_break_even.get("error"):  # at 2 ops the compiled call's overhead shows; at 16 its one call wins
        assert cpu_break_even["compiled_us"][0] > cpu_break_even["eager_us"][0], cpu_break_even
        assert cpu_break_even["compiled_us"][-1] < cpu_break_even["eager_us"][-1], cpu_break_even
else:
    cpu_break_even = {"error": startup.error}
    print("torch.compile is not available here:", startup.error)

# %% [markdown]
# **`torch.export`: a whole graph, saved to a file.** Unlike `torch.compile`, `torch.export` accepts no
# graph break: it captures the entire program as one graph (or raises), which can be saved, loaded and
# run without the Python source, like TensorFlow 1's saved graphs. Data-dependent branches must be
# written with `torch.cond`, today's `tf.cond`, so that both branches are in the graph.


# %%
class Branchy(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda t: t * 2, lambda t: -t, (x,))


with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "two_layer.pt2"
    loaded, out_loaded = tg.export_roundtrip(model, (x_in,), path)
    size_kb = path.stat().st_size / 1024
    torch.testing.assert_close(out_loaded, model(x_in))
    path_b = Path(tmp) / "branchy.pt2"
    loaded_b, _ = tg.export_roundtrip(Branchy(), (positive,), path_b)
    for inp in (positive, negative):
        torch.testing.assert_close(loaded_b.module()(inp), relu_or_negate(inp))
print(f"exported TwoLayer to a {size_kb:.0f} KiB file, loaded it back: same outputs")
print("the exported graph:")
print(loaded.graph_module.code.strip())
print(
    "Branchy, exported with torch.cond, is right on both inputs:",
    [loaded_b.module()(v).tolist() for v in (positive, negative)],
)

# %% [markdown]
# The table below collects this machine's numbers, and the GPU figures shown above with their tier.

# %% tags=["nbval-ignore-output"]
poly_t = elem_ms["poly"]
summary_rows = [
    {
        "measurement": f"{name}: optimised graph vs numpy eager",
        "value": findings.factor_phrase(elem_ms[k]["numpy eager"] / elem_ms[k]["graph, optimised"]),
    }
    for k, name in (("poly", "tanh(2x²+3x+1)"), ("xent", "cross-entropy"))
]
summary_rows += [
    {
        "measurement": "tanh(2x²+3x+1): fusion alone (1 thread), then threads",
        "value": f"{poly_t['numpy eager'] / poly_t['graph, optimised, 1 thread']:.2f}x, "
        + (
            "one thread kept"
            if compiled["poly"].kernels[0].plan[1] == 1
            else f"{poly_t['graph, optimised, 1 thread'] / poly_t['graph, optimised']:.2f}x"
        ),
    },
    {
        "measurement": "bytes/element before -> after fusion (poly, xent)",
        "value": f"{traffic['poly']['before']} -> {traffic['poly']['after']}, "
        f"{traffic['xent']['before']} -> {traffic['xent']['after']}",
    },
    {
        "measurement": "fused poly, 1 thread: lowest ceiling, fraction reached",
        "value": "{} ({:.0%})".format(
            *findings.nearest_bound(
                n / (poly_t["graph, optimised, 1 thread"] / 1e3),
                {"memory roof": here1.bytes_per_s / traffic["poly"]["after"], "tanh": rates["tanh"]},
            )
        ),
    },
    {
        "measurement": "MLP step: coursekit.graph / torch eager",
        "value": f"{mlp_ms['coursekit.graph'] / mlp_ms['torch eager']:.2f}x the time",
    },
    {
        "measurement": "torch.compile: start-up, then warm compile of poly",
        "value": f"{startup.first_call_s:.1f} s, {torch_compiled['poly'].first_call_s:.1f} s"
        if startup.ok and torch_compiled["poly"].ok
        else "n/a",
    },
    {
        "measurement": "tiny tensor, compiled beats eager from k ops: this CPU (measured here)",
        "value": f"k = {cpu_break_even['wins_from']}" if cpu_break_even.get("wins_from") else "n/a",
    },
    {
        "measurement": "tiny tensor, compiled beats eager from k ops: GPU (roofline, then revealed)",
        "value": f"k = {roofline_k}, then "
        + (f"k = {revealed.value:.0f} ({revealed.source})" if revealed else "no tier holds it"),
    },
    {
        "measurement": "cross-entropy at z = -100, label 1: as written / rewritten",
        "value": f"{loss_naive[grid == -100][0]} / {loss_rewritten[grid == -100][0]:.1f}",
    },
]
summary = pd.DataFrame(summary_rows)
print(summary.to_string(index=False))

# %% [markdown]
# ## Summary
# | what | where this notebook shows it |
# |---|---|
# | fused elementwise chain vs numpy eager | section 3: the speed-up split into fusion (one thread each) and threads; fusion divides the bytes moved per element (counted) |
# | what limits a fused chain | section 3's roofline, all on one thread: the memory roof or the chain's measured transcendental ceiling, as printed |
# | stability rewrites | section 4: the cross-entropy stays finite and exact where the formula as written gives `inf` or `nan` (asserted) |
# | MLP step | section 5: every contender calls BLAS for the products; what separates them is the overhead around them (the title names the fastest) |
# | define-and-run vs define-by-run | section 6: the same loss curve (asserted to 0.2 %); the static graph is built and compiled once |
# | `torch.compile` | section 8: a one-time start-up, then a compile per function (times printed), then fused code; graph breaks found by `explain`; what it fused of a conv + relu |
# | GPU: eager vs compiled on large arrays | section 8: measured on a GPU; without one no tier holds it (one line), and a prediction from the traffic count at a published H100 triad bandwidth (tier: published measurement, `azure-h100-babelstream-triad`) |
# | GPU: from how many ops a compiled call wins on a tiny tensor | section 8, predict then reveal: the roofline's answer, then the best tier (measured on a GPU; without one, computed from two published measurements, `flaggems4558-a100-torch-add-1x4096` and `tritonbench1017-gb200-inductor-e2e`, with the raw launch and Inductor's per-kernel path for scale); beside it this CPU's break-even, measured here |
#
# - A static graph lets a compiler see the whole computation before it runs: it can rewrite for
#   stability, call BLAS and fuse elementwise chains before the first call (Theano did; TensorFlow 1
#   without XLA ran its graph one kernel per node). A dynamic framework differentiates just as well,
#   op by op (PyTorch's autograd records each op as it runs), but it sees one op at a time, so it
#   cannot rewrite or fuse what comes next. A rewrite is only valid if it keeps the graph's value on
#   every float, NaN and infinities included.
# - The price is that control flow must be graph nodes (`ifelse`, `foldl`) and Python disappears
#   from the running program; a tracer that ignores this gives silently wrong answers.
# - PyTorch today keeps eager Python and captures graphs on demand: `torch.fx` to transform,
#   `torch.compile` to compile (falling back to Python at graph breaks), `torch.export` to save.
#
# Next, **05 · Applications** trains real networks, a CNN and RNNs, on CPU and GPU.
