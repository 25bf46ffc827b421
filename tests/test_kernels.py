"""coursekit.kernels against numpy on the simulator, on sizes that are not multiples of the block."""

from __future__ import annotations

from conftest import run_python

CHECKS = r"""
import numpy as np
from coursekit import tracer
from coursekit.kernels import matmul, reduce, stencil, simt
from numba import cuda

rng = np.random.default_rng(0)
# stencil: 2 full blocks of 128 and a partial one
n = 2 * stencil.BLOCK + 45
inp = rng.standard_normal(n + 2 * stencil.RADIUS).astype(np.float32)
out = np.zeros(n, np.float32)
stencil.stencil_1d[(n + stencil.BLOCK - 1) // stencil.BLOCK, stencil.BLOCK](inp, out)
assert np.allclose(out, np.convolve(inp, np.ones(7), "valid"), atol=1e-4), "stencil_1d"
small = stencil.make_stencil_1d(2, 8)
out = np.zeros(21, np.float32); inp = rng.standard_normal(25).astype(np.float32)
tracer.trace(small, 3, 8, inp, out)
assert np.allclose(out, np.convolve(inp, np.ones(5), "valid"), atol=1e-5), "traced stencil radius 2"
# reductions
x = rng.standard_normal(301).astype(np.float32)
total = np.zeros(1, np.float32)
reduce.atomic_sum[3, 128](x, total)
assert np.isclose(total[0], x.sum(), atol=1e-3), "atomic_sum"
partial = np.zeros(3, np.float32)
reduce.tree_sum[3, 128](x, partial)
assert np.allclose(partial, np.add.reduceat(x, [0, 128, 256]), atol=1e-4), "tree_sum"
try:
    reduce.make_tree_sum(12)
    raise SystemExit("tree_sum accepted a block that is not a power of two")
except ValueError:
    pass
# matmul, shapes not multiples of the tile
A = rng.standard_normal((13, 9)).astype(np.float32); B = rng.standard_normal((9, 11)).astype(np.float32)
C = np.zeros((13, 11), np.float32)
matmul.matmul_naive[(2, 2), (8, 8)](A, B, C)
assert np.allclose(C, A @ B, atol=1e-4), "matmul_naive"
C[:] = 0
cuda.jit(matmul.make_matmul_tiled(8))[(2, 2), (8, 8)](A, B, C)
assert np.allclose(C, A @ B, atol=1e-4), "matmul_tiled tile 8"
A = rng.standard_normal((17, 20)).astype(np.float32); B = rng.standard_normal((20, 18)).astype(np.float32)
C = np.zeros((17, 18), np.float32)
matmul.matmul_tiled[(2, 2), (16, 16)](A, B, C)
assert np.allclose(C, A @ B, atol=1e-4), "matmul_tiled tile 16"
print("ok")
"""


def test_course_kernels_match_numpy_on_the_simulator():
    out = run_python(CHECKS, env={"COURSEKIT_FORCE_CPU": "1"}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"
