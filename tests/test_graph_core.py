"""coursekit.graph: building graphs, compiling them, calling them, shared variables and updates."""

from __future__ import annotations

import numpy as np
import pytest

import coursekit.graph as T


def test_the_lectures_first_example():
    a = T.vector("a")
    b = a + a**10
    f = T.function([a], b)
    np.testing.assert_allclose(f([0, 1, 2]), [0.0, 2.0, 1026.0])


def test_dtypes_follow_numpy_including_weak_python_scalars():
    x = T.vector("x", "float32")
    assert (x * 0.5).dtype == np.float32  # a Python float does not promote (NEP 50)
    assert (x * np.float64(0.5)).dtype == np.float64
    assert (x > 0).dtype == np.bool_
    assert T.vector("k", "int64").sum().dtype == np.int64
    assert (T.vector("k", "int64") / 2).dtype == np.float64
    f = T.function([x], 2 * x**2 + 3 * x + 1)
    out = f(np.arange(4, dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 2 * np.arange(4) ** 2 + 3 * np.arange(4) + 1)


def test_one_output_gives_an_array_a_list_gives_a_list():
    x = T.vector("x")
    assert isinstance(T.function([x], x * 2)([1.0]), np.ndarray)
    outs = T.function([x], [x * 2, x.sum()])([1.0, 2.0])
    assert isinstance(outs, list) and len(outs) == 2
    np.testing.assert_allclose(outs[1], 3.0)


def test_reductions_dot_transpose_and_indexing():
    m, v = T.matrix("m"), T.vector("v")
    rng = np.random.default_rng(0)
    mv, vv = rng.standard_normal((3, 4)), rng.standard_normal(4)
    f = T.function(
        [m, v], [T.dot(m, v), m.sum(axis=0), m.mean(axis=1), m.T, m[1], m[1:], T.dot(m, m.T), T.maximum(m, 0), m.mean()]
    )
    got = f(mv, vv)
    want = [mv @ vv, mv.sum(0), mv.mean(1), mv.T, mv[1], mv[1:], mv @ mv.T, np.maximum(mv, 0), mv.mean()]
    for g, w in zip(got, want, strict=False):
        np.testing.assert_allclose(g, w)


def test_shared_variables_and_updates_apply_after_all_outputs():
    w = T.shared(np.array([1.0, 2.0]), "w")
    x = T.vector("x")
    # the output uses w; the update changes w: the output must see the old value
    f = T.function([x], [w * x, w.sum()], updates={w: w + x})
    out, total = f([10.0, 10.0])
    np.testing.assert_allclose(out, [10.0, 20.0])
    np.testing.assert_allclose(total, 3.0)
    np.testing.assert_allclose(w.get_value(), [11.0, 12.0])
    # two updates that read each other's variable use the old values (simultaneous assignment)
    a, b = T.shared(1.0, "a"), T.shared(2.0, "b")
    swap = T.function([], [], updates=[(a, b), (b, a)])
    swap()
    assert (a.get_value(), b.get_value()) == (2.0, 1.0)


def test_get_value_is_a_copy_and_outputs_do_not_alias_state():
    w = T.shared(np.zeros(3), "w")
    w.get_value()[0] = 5.0
    assert w.get_value()[0] == 0.0
    f = T.function([], w)
    out = f()
    out[1] = 7.0
    assert w.get_value()[1] == 0.0
    w.value = np.ones(3)  # the lecture's spelling
    np.testing.assert_allclose(w.value, 1.0)
    with pytest.raises(TypeError, match="dimension"):
        w.set_value(np.ones((2, 2)))


def test_inputs_are_checked_with_clear_messages():
    x = T.vector("x")
    f = T.function([x], x + 1)
    with pytest.raises(TypeError, match="1-d"):
        f(np.ones((2, 2)))
    with pytest.raises(TypeError, match="takes 1 input"):
        f([1.0], [2.0])
    y = T.vector("y")
    with pytest.raises(TypeError, match="not in `inputs`"):
        T.function([x], x + y)
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)
    with pytest.raises(TypeError, match="shared"):
        T.function([T.shared(1.0)], x)


def test_optimize_false_evaluates_the_graph_as_built():
    x = T.vector("x")
    out = T.log(1 + T.exp(x)) * 1
    f0, f1 = T.function([x], out, optimize=False), T.function([x], out)
    assert f0.passes == [] and f0.kernels == []
    assert f1.nodes_after < f0.nodes_after
    v = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(f0(v), f1(v))


def test_report_source_and_printing():
    x = T.vector("x", "float32")
    f = T.function([x], T.tanh(2 * x**2 + 3 * x + 1), fusion="numpy")
    text = f.report()
    assert "elementwise_fusion" in text and "->" in text
    assert "def fused" in f.source and "np.tanh" in f.source and "numba.prange" in f.source
    assert "ElementwiseKernel" in f.generated_code and "tanh(" in f.source
    assert "tanh" in T.pp(f.outputs[0]) and "fused" in T.debugprint(f.outputs)
    assert repr(2 * x + 1) == "((2 * x) + 1)"


def test_draw_returns_axes_before_and_after():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = T.vector("x"), T.vector("y")
    p = 1 / (1 + T.exp(-x))
    f = T.function([x, y], -y * T.log(p) - (1 - y) * T.log(1 - p), fusion="numpy")
    ax = f.draw("before")
    assert len(ax.texts) >= 10
    ax2 = T.draw(f)
    assert any("fused" in t.get_text() for t in ax2.texts)
    a, b = T.draw_optimization(f)
    assert len(a.texts) > len(b.texts)
    plt.close("all")


def test_intermediates_are_freed_after_their_last_use():
    """An unoptimised chain of 12 elementwise ops on 8 MB arrays holds a couple of arrays at a time,
    not all 12 (Theano's allow_gc): notebook 04 evaluates such graphs on 10^7 floats."""
    import tracemalloc

    x = T.vector("x")
    y = x
    for k in range(12):
        y = (y + 1.0) if k % 2 else (y * 0.5)
    f = T.function([x], [y, x * 2.0], optimize=False)
    data = np.ones(1_000_000)  # 8 MB
    tracemalloc.start()
    out, twice = f(data)
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    expected = data.copy()
    for k in range(12):
        expected = (expected + 1.0) if k % 2 else (expected * 0.5)
    np.testing.assert_allclose(out, expected)
    np.testing.assert_allclose(twice, 2.0 * data)
    assert peak_bytes < 5 * data.nbytes, f"peak {peak_bytes / data.nbytes:.1f} arrays held at once"


def test_an_ifelse_branch_keeps_what_it_reads_until_it_runs():
    a, b = T.scalar("a"), T.vector("b")
    shared = b * 3.0
    out = T.ifelse(a > 0, shared + 1.0, shared - 1.0) + shared.sum()
    f = T.function([a, b], out, optimize=False)
    np.testing.assert_allclose(f(1.0, [1.0, 2.0]), [4.0 + 9.0, 7.0 + 9.0])
    np.testing.assert_allclose(f(-1.0, [1.0, 2.0]), [2.0 + 9.0, 5.0 + 9.0])
