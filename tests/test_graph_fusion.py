"""coursekit.graph.fusion and codegen: groups, generated code, broadcasting, blocks, threads, generators."""

from __future__ import annotations

import numpy as np
import pytest

import coursekit.graph as T
from coursekit.graph import codegen
from coursekit.graph.fusion import FusedElemwise


@pytest.fixture
def small_blocks():
    """Tiny blocks and two threads, so that small test arrays go through many blocks and the thread split."""
    old = (T.config.block_size, T.config.n_threads)
    T.config.block_size, T.config.n_threads = 16, 2
    yield
    T.config.block_size, T.config.n_threads = old


def _fused(f):
    return [v for v in T.nodes.toposort(f.outputs) if isinstance(v.op, FusedElemwise)]


def test_a_chain_becomes_one_fused_node():
    x = T.vector("x", "float32")
    f = T.function([x], T.tanh(2 * x**2 + 3 * x + 1), fusion="numpy")
    (node,) = _fused(f)
    assert f.nodes_after == 1 and len(node.op.ops) == 6
    v = np.linspace(-2, 2, 1001, dtype=np.float32)
    got = f(v)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.tanh(2 * v**2 + 3 * v + 1), rtol=1e-6)


def test_groups_stop_at_non_elementwise_ops_and_at_shared_intermediates():
    x, m = T.vector("x"), T.matrix("m")
    t = T.exp(x) + 1
    f = T.function([x, m], [T.tanh(T.dot(m, t * 2)) * 3, t / 2], fusion="numpy")
    ops = [v.op.name for v in T.nodes.toposort(f.outputs) if v.op is not None]
    assert "dot" in ops and ops.count("fused") >= 2
    xv, mv = np.linspace(-1, 1, 4), np.arange(16.0).reshape(4, 4) / 10
    tv = np.exp(xv) + 1
    a, b = f(xv, mv)
    np.testing.assert_allclose(a, np.tanh(mv @ (tv * 2)) * 3)
    np.testing.assert_allclose(b, tv / 2)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 100, 1000])
def test_block_boundaries_and_threads(small_blocks, n):
    x, y = T.vector("x"), T.vector("y")
    p = 1 / (1 + T.exp(-x))
    f = T.function([x, y], -y * T.log(p) - (1 - y) * T.log(1 - p), fusion="numpy")
    rng = np.random.default_rng(n)
    xv, yv = rng.standard_normal(n) * 5, (rng.random(n) > 0.5).astype(float)
    want = yv * np.logaddexp(0, -xv) + (1 - yv) * np.logaddexp(0, xv)
    np.testing.assert_allclose(f(xv, yv), want, rtol=1e-12, atol=1e-300)


def test_broadcasting_rows_columns_and_scalars(small_blocks):
    m, v, s = T.matrix("m"), T.vector("v"), T.scalar("s")
    col = T.constant(np.arange(7.0).reshape(7, 1))
    f = T.function([m, v, s], T.maximum(m * v + s, col) * 2 - T.exp(v) / (1 + s), fusion="numpy")
    assert _fused(f)
    rng = np.random.default_rng(0)
    mv, vv = rng.standard_normal((7, 5)), rng.standard_normal(5)
    want = np.maximum(mv * vv + 0.5, np.arange(7.0).reshape(7, 1)) * 2 - np.exp(vv) / 1.5
    np.testing.assert_allclose(f(mv, vv, 0.5), want)
    # a transposed (non-contiguous) input and a broadcast view
    np.testing.assert_allclose(f(mv.T.copy().T, vv, 0.5), want)


def test_mixed_dtypes_comparisons_and_switch_inside_a_group(small_blocks):
    x = T.vector("x", "float32")
    k = T.vector("k", "int64")
    out = T.switch(x > 0, x, 0.1 * x) * k + T.cast(x < -1, "float32")
    f = T.function([x, k], out, fusion="numpy")
    assert _fused(f)
    xv, kv = np.linspace(-3, 3, 50, dtype=np.float32), np.arange(50)
    want = np.where(xv > 0, xv, np.float32(0.1) * xv) * kv + (xv < -1).astype(np.float32)
    got = f(xv, kv)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_generated_sources_compile_and_show_every_target():
    x, y = T.vector("x", "float32"), T.vector("y", "float32")
    f = T.function([x, y], T.softplus(x) * y - T.sigmoid(y), fusion="numpy")
    src = f.source
    # numpy blocks, numba, hybrid (driver and one numba loop: float32 exp/log1p are vectorised code there)
    assert src.count("def fused") == 4 and "vm.log1p32(" in src and "vm.exp32(" in src
    T.config.vector_math = False
    try:
        scalar_src = T.function([x, y], T.softplus(x) * y - T.sigmoid(y), fusion="numpy").source
    finally:
        T.config.vector_math = True
    assert scalar_src.count("def fused") == 5  # the hybrid's exp and log1p are numpy ufuncs between two loops
    assert "vm." not in scalar_src and "math.log1p(" in scalar_src
    compile(src.split("# CUDA")[0], "<fused>", "exec")  # valid Python
    (k,) = f.kernels
    in_p, out_p, op, _ = codegen.cuda_source(k.program)
    assert in_p == "float32 i0, float32 i1" and out_p == "float32 out"
    assert "log1p(" in op and "exp(" in op and "float t" in op and "1.0" not in op  # float math, no doubles
    assert op.strip().endswith(f"out = t{len(k.program.instrs) - 1};")


def test_cuda_generator_is_guarded_without_cupy():
    pytest.importorskip("numpy")
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed: the guard is not exercised")
    except ImportError:
        pass
    x = T.vector("x")
    f = T.function([x], T.exp(x) * 2 + 1, fusion="numpy")
    with pytest.raises(RuntimeError, match="CuPy"):
        codegen.cupy_kernel(f.kernels[0].program)


def test_numba_generator_and_the_measurement_that_picks_one(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(T.config, "autotune_min_size", 4096)
    x = T.vector("x", "float32")
    f = T.function([x], T.tanh(2 * x**2 + 3 * x + 1), fusion="auto")
    v = np.linspace(-2, 2, 5000, dtype=np.float32)
    got = f(v)
    (k,) = f.kernels
    assert "numba" in k.timings and "numpy x1 B=8192" in k.timings and k.choice is not None
    np.testing.assert_allclose(got, np.tanh(2 * v**2 + 3 * v + 1), rtol=1e-5)
    np.testing.assert_allclose(k.run_numba([v], v.shape), got, rtol=1e-5)
    assert "measured" in f.report()


def test_hybrid_generator_numba_loops_between_numpy_ufuncs(small_blocks):
    pytest.importorskip("numba")
    from coursekit.graph.hybrid import plan

    z, y = T.vector("z", "float32"), T.vector("y", "float32")
    p = 1 / (1 + T.exp(-z))
    f = T.function([z, y], -y * T.log(p) - (1 - y) * T.log(1 - p), fusion="hybrid")
    (k,) = f.kernels
    kinds = [kind for kind, _ in plan(k.program)]
    assert kinds == ["seg", "uf", "uf", "seg"]  # -|z|; exp; log1p; everything else in one loop
    rng = np.random.default_rng(5)
    zv, yv = (rng.standard_normal(1001) * 20).astype(np.float32), (rng.random(1001) > 0.5).astype(np.float32)
    want = yv * np.logaddexp(0, -zv.astype(np.float64)) + (1 - yv) * np.logaddexp(0, zv.astype(np.float64))
    got = f(zv, yv)
    assert got.dtype == np.float32 and k.choice.startswith("hybrid")
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-30)
    assert "numba.njit(nogil=True" in f.source


def test_autotuning_keeps_the_numba_loop_on_a_near_tie_and_the_fastest_otherwise():
    from coursekit.graph.fusion import NUMBA_TIE, pick_plan

    hybrid, numba_loop, numpy_1 = ("hybrid", 2, 131072), ("numba", 0, None), ("numpy", 1, 8192)
    assert pick_plan({hybrid: 13.9e-3, numba_loop: 13.9e-3, numpy_1: 50e-3}) == numba_loop  # the tie seen here
    assert pick_plan({hybrid: 10e-3, numba_loop: 10e-3 * NUMBA_TIE * 1.01}) == hybrid  # clearly faster: kept
    assert pick_plan({hybrid: 10e-3, numpy_1: 9e-3}) == numpy_1  # no numba candidate: the fastest
