"""The course's CUDA kernels compute in float32, as the GPU would compile them.

numba types a bare float literal as float64, so ``acc = 0.0`` or ``sin(v) + 1.0`` in a kernel makes
the GPU compute in FP64 (1/64 of the FP32 rate on consumer GPUs), and the notebooks' timings would
measure that. The simulator cannot show this: it runs kernels as Python and infers no types.

How these tests check typing for real, without a GPU: each runs in a fresh interpreter with
``NUMBA_ENABLE_CUDASIM=0``, so ``numba.cuda`` is numba-cuda's real CUDA target, and calls
:func:`coursekit.gpu.kernels.precision.float64_work`, which runs numba-cuda's own compiler
(``numba.cuda.compiler.compile_cuda``: bytecode analysis, type inference with the CUDA typing
context, lowering to LLVM IR) on the kernel with float32 argument types — the same steps
``cuda.jit`` runs on a GPU machine, stopping before NVVM turns the IR into PTX (which needs the
CUDA toolkit; no CUDA driver is touched). It then looks in three places: the inferred type of
every variable, the signature of every operation (arithmetic, comparison, call, store), and the
LLVM instructions. Negative controls (kernels written with ``0.0`` literals, the way the course's
kernels were) prove each pattern is caught.
"""

from __future__ import annotations

import json

from conftest import ROOT, run_python

REAL_TARGET = {"NUMBA_ENABLE_CUDASIM": "0", "COURSEKIT_FORCE_CPU": "1"}


def _run_json(code: str) -> dict:
    out = run_python(code, env=REAL_TARGET, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_course_kernel_computes_in_float32():
    found = _run_json(
        "import json, inspect\n"
        "from numba.cuda.dispatcher import CUDADispatcher\n"
        "from coursekit.gpu import streams\n"
        "from coursekit.gpu.kernels import matmul, precision, reduce, simt, stencil, transpose, warps\n"
        "listed = {id(k) for _, k, _ in precision.typed_kernels()}\n"
        "unlisted = [f'{m.__name__}.{n}' for m in (matmul, reduce, simt, stencil, transpose, warps, streams)\n"
        "            for n, obj in vars(m).items() if isinstance(obj, CUDADispatcher) and id(obj) not in listed]\n"
        "print(json.dumps({'unlisted': unlisted, 'found': precision.check_course_kernels()}))\n"
    )
    assert found["unlisted"] == [], f"add these kernels to precision.typed_kernels(): {found['unlisted']}"
    assert len(found["found"]) >= 10
    bad = {name: lines for name, lines in found["found"].items() if lines}
    assert bad == {}, "float64 work in course kernels:\n" + json.dumps(bad, indent=1)


NEGATIVE_CONTROLS = r"""
import json, math
from numba import cuda, float32, int64
from coursekit.gpu.kernels.precision import float64_work

def acc_literal(a, b, out):           # acc = 0.0: the whole sum in float64
    i = cuda.grid(1)
    if i < out.size:
        acc = 0.0
        for k in range(a.size):
            acc += a[k] * b[k]
        out[i] = acc

def acc_float32(a, b, out):           # the fix
    i = cuda.grid(1)
    if i < out.size:
        acc = float32(0)
        for k in range(a.size):
            acc += a[k] * b[k]
        out[i] = acc

def max_literal(a, b, out):           # max(x, 0.0) is float64
    i = cuda.grid(1)
    if i < out.size:
        out[i] = max(a[i], 0.0)

def step_literal(a, b, out):          # v = sin(v) + 1.0 turns v into a float64
    i = cuda.grid(1)
    if i < out.size:
        v = a[i]
        for _ in range(3):
            v = math.sin(v) + 1.0
        out[i] = v

def fill_literal(a, b, out):          # x if ... else 0.0: a float64 phi node
    i = cuda.grid(1)
    out[i] = a[i] if i < a.size else 0.0

def compare_int(a, b, out):           # float32 > int compares in float64
    i = cuda.grid(1)
    if i < out.size and a[i] > 0:
        out[i] = b[i]

def scale_cast(a, b, out):            # float32(0.5): a float64 literal cast once, at compile time
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] * float32(0.5) + b[i]

v = float32[:]
print(json.dumps({f.__name__: float64_work(f, (v, v, v)) for f in
                  (acc_literal, acc_float32, max_literal, step_literal, fill_literal, compare_int, scale_cast)}))
"""


def test_the_check_catches_float64_literals_and_passes_float32_code():
    found = _run_json(NEGATIVE_CONTROLS)
    for name in ("acc_literal", "max_literal", "step_literal", "fill_literal", "compare_int"):
        assert found[name], f"{name} computes in float64, but the check found nothing"
    assert any("acc" in line and "float64" in line for line in found["acc_literal"])
    assert any("double" in line for line in found["compare_int"]), "the LLVM IR check sees the float64 compare"
    assert found["acc_float32"] == [] and found["scale_cast"] == []


# The kernels written inside the notebooks, with the argument types the notebooks launch them
# with (v: float32 vector, m: float32 matrix, s: float32 scalar, i: int32 vector).
NOTEBOOK_KERNELS = {
    "02_cuda_kernels": {
        "add_one_thread": "v v v",
        "add_blocks": "v v v",
        "add_threads": "v v v",
        "add_grid": "v v v",
        "add_grid_unchecked": "v v v",
        "saxpy_kernel": "s v v v",
        "brighten": "m m s",
        "im2col": "m m",
        "transpose_tiled": "m m",
        "block_argmax": "v i",
        "transpose_tile32": "m m",
        "transpose_padded": "m m",
        "tile_stride2_read": "m m",
        "transpose_swizzled": "m m",
        "saxpy_grid_stride": "s v v v",
        "warp_sum_early_return": "v v",
    },
}
# Never compiled for a GPU: the lecture's stencil, bugs included, runs in the tracer only (its
# tile shape, BLOCK * 2 * R, is not even a constant numba-cuda accepts for a shared array).
# who_is_here shows activemask() under divergence in the tracer only (int64 masks, one warp).
TRACED_ONLY = {"stencil_lecture", "who_is_here"}

NOTEBOOK_CHECK = r"""
import ast, json, math, sys
import numpy as np
from numba import cuda, float32, int32
from coursekit.gpu.kernels.precision import float64_work

path, table = sys.argv[1], json.loads(sys.argv[2])
tree = ast.parse(open(path).read())
ns = {"cuda": cuda, "float32": float32, "int32": int32, "np": np, "math": math}
for node in tree.body:  # module-level constants such as TILE = 8 or NEG_INF = float32(-np.inf)
    if isinstance(node, ast.Assign) and all(isinstance(t, (ast.Name, ast.Tuple)) for t in node.targets):
        try:
            exec(compile(ast.Module([node], []), path, "exec"), ns)
        except Exception:
            pass
launched = {n.args[0].id for n in ast.walk(tree)  # cuda.jit(kernel) or tracer.trace(kernel, ...)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("jit", "trace")
            and n.args and isinstance(n.args[0], ast.Name)}
kernels, found = [], {}
for node in tree.body:
    if not isinstance(node, ast.FunctionDef):
        continue
    if node.name in launched or any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                                    and n.value.id == "cuda" for n in ast.walk(node)):
        kernels.append(node.name)
    if node.name in table:
        node.decorator_list = []
        exec(compile(ast.Module([node], []), path, "exec"), ns)
        types = {"v": float32[:], "m": float32[:, :], "s": float32, "i": int32[:]}
        found[node.name] = float64_work(ns[node.name], [types[t] for t in table[node.name].split()])
print(json.dumps({"kernels": kernels, "found": found}))
"""


def test_notebook_kernels_compute_in_float32():
    for stem in ("01_gpu_basics", "02_cuda_kernels"):
        table = NOTEBOOK_KERNELS.get(stem, {})
        path = ROOT / "notebooks" / f"{stem}.py"
        out = run_python(
            f"import sys; sys.argv = ['check', {str(path)!r}, {json.dumps(table)!r}]\n" + NOTEBOOK_CHECK,
            env=REAL_TARGET,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        unknown = set(result["kernels"]) - set(table) - TRACED_ONLY
        assert not unknown, f"{stem}: new kernels {sorted(unknown)}: add their argument types to NOTEBOOK_KERNELS"
        assert set(result["found"]) == set(table), f"{stem}: kernels missing from the notebook"
        bad = {name: lines for name, lines in result["found"].items() if lines}
        assert bad == {}, f"float64 work in {stem}'s kernels:\n" + json.dumps(bad, indent=1)
