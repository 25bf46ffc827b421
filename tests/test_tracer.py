"""coursekit.gpu.tracer: thread-by-thread execution, recorded accesses, strict bounds, barriers."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.gpu import tracer, tracer_plots
from coursekit.gpu.contract import check_contract, races

float32 = np.float32  # kernels name a dtype; the tracer accepts numpy's as numba's
cuda = None  # the kernels' `cuda`: tracer.trace binds it to its thread-by-thread fake


def vector_add(a, b, out):
    i = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    if i < out.size:
        out[i] = a[i] + b[i]


def reverse_in_block(x, out):
    """Each block reverses its 4 elements through shared memory (needs the barrier)."""
    tile = cuda.shared.array(4, float32)
    t = cuda.threadIdx.x
    g = cuda.grid(1)
    tile[t] = x[g]
    cuda.syncthreads()
    out[g] = tile[3 - t]


def reverse_no_barrier(x, out):
    tile = cuda.shared.array(4, float32)
    t = cuda.threadIdx.x
    g = cuda.grid(1)
    tile[t] = x[g]
    out[g] = tile[3 - t]


def test_trace_runs_the_kernel_and_records_every_access():
    a, b, out = np.arange(10, dtype=np.float32), np.ones(10, np.float32), np.zeros(10, np.float32)
    tr = tracer.trace(vector_add, 3, 4, a, b, out)
    np.testing.assert_array_equal(out, a + 1)
    table = tr.table()
    assert len(table) == 30  # 10 threads x (2 reads + 1 write); the 2 idle threads touch nothing
    assert set(table["array"]) == {"a", "b", "out"} and set(table["space"]) == {"global"}
    counts = tr.counts()
    assert len(counts) == 10 and (counts["global reads"] == 2).all() and (counts["global writes"] == 1).all()
    np.testing.assert_array_equal(tr.writers("out"), np.arange(10))
    assert tr.phases == 1


def test_out_of_bounds_names_block_and_thread():
    def unchecked(a, out):
        out[cuda.grid(1)] = a[cuda.grid(1)]

    with pytest.raises(tracer.KernelError, match=r"block \(2, 0\), thread 2: IndexError: index \(10,\)"):
        tracer.trace(unchecked, 3, 4, np.zeros(10), np.zeros(10))


def test_negative_indices_are_errors_not_wraps():
    def minus_one(a, out):
        i = cuda.grid(1)
        out[i] = a[i - 1]

    with pytest.raises(tracer.KernelError, match=r"thread 0: IndexError: index \(-1,\)"):
        tracer.trace(minus_one, 1, 4, np.zeros(4), np.zeros(4))


def test_barrier_separates_phases_and_shared_memory_is_per_block():
    x = np.arange(8, dtype=np.float32)
    out = np.zeros(8, np.float32)
    tr = tracer.trace(reverse_in_block, 2, 4, x, out)
    np.testing.assert_array_equal(out, [3, 2, 1, 0, 7, 6, 5, 4])
    assert tr.phases == 2
    shared = tr.table().query("space == 'shared'")
    assert set(shared.query("op == 'write'")["phase"]) == {0} and set(shared.query("op == 'read'")["phase"]) == {1}


def test_missing_barrier_reads_unwritten_shared_memory_deterministically():
    results = []
    for _ in range(3):
        out = np.zeros(4, np.float32)
        tracer.trace(reverse_no_barrier, 1, 4, np.arange(4, dtype=np.float32), out)
        results.append(out)
    # threads run one at a time: threads 0 and 1 read cells 3 and 2 before threads 3 and 2 wrote them
    for out in results:
        assert np.isnan(out[:2]).all() and out[2:].tolist() == [1.0, 0.0]


def test_two_dimensional_grid_and_atomics():
    def count_positive(img, total):
        col, row = cuda.grid(2)
        if row < img.shape[0] and col < img.shape[1] and img[row, col] > 0:
            cuda.atomic.add(total, 0, 1)

    img = np.random.default_rng(0).standard_normal((5, 7))
    total = np.zeros(1, np.int64)
    tr = tracer.trace(count_positive, (2, 2), (4, 4), img, total)
    assert total[0] == (img > 0).sum()
    assert tr.grid == (2, 2, 1) and tr.block == (4, 4, 1)


def test_plots_return_axes():
    import matplotlib

    matplotlib.use("Agg")
    out = np.zeros(8, np.float32)
    tr = tracer.trace(reverse_in_block, 2, 4, np.arange(8, dtype=np.float32), out)
    ax = tracer_plots.plot_writers(tr, "out")
    assert "block" in ax.get_xlabel()
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), [[0, 0, 0, 0, 1, 1, 1, 1]])  # colour = block
    assert [t.get_text() for t in ax.texts] == ["0", "1", "2", "3"] * 2  # out[g] is written by thread g % 4
    axes = tracer_plots.plot_shared(tr, block=1)
    assert len(axes) == 2 and "shared" in axes[0].get_xlabel()
    before, after = (np.asarray(a.get_images()[0].get_array()) for a in axes)
    np.testing.assert_array_equal(before, np.eye(4, dtype=int))  # phase 0: thread t writes tile[t]
    np.testing.assert_array_equal(after, 2 * np.eye(4, dtype=int)[::-1])  # phase 1: thread t reads tile[3 - t]
    with pytest.raises(ValueError, match="no shared"):
        tracer_plots.plot_shared(tracer.trace(vector_add, 1, 2, np.ones(2), np.ones(2), np.zeros(2)))


def test_trace_refuses_huge_launches():
    with pytest.raises(ValueError, match="small"):
        tracer.trace(vector_add, 1000, 1024, np.ones(1), np.ones(1), np.zeros(1))


def test_plot_accesses_of_global_memory_per_phase():
    import matplotlib

    matplotlib.use("Agg")
    out = np.zeros(8, np.float32)
    tr = tracer.trace(reverse_in_block, 2, 4, np.arange(8, dtype=np.float32), out)
    axes = tracer_plots.plot_accesses(tr, block=0, space="global", array="x")
    assert len(axes) == 1 and "'x'" in axes[0].get_xlabel()  # x is read only before the barrier
    axes = tracer_plots.plot_accesses(tr, block=0, space="global", array="out")
    assert len(axes) == 1 and axes[0].get_title().startswith("block 0, phase 1")


def write_rows(out):
    """out[row, col] = 1 for the thread's own element of a 2-D grid (rows from y, columns from x)."""
    col = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    row = cuda.threadIdx.y + cuda.blockIdx.y * cuda.blockDim.y
    out[row, col] = 1


def test_plot_accesses_keeps_the_blocks_of_a_2d_grid_apart():
    """block=(0, 1) shows that block's 4 writes only; filtering on x alone would merge (0, 0) into it."""
    import matplotlib

    matplotlib.use("Agg")
    tr = tracer.trace(write_rows, (2, 2), (2, 2), np.zeros((4, 4), np.float32))
    (ax,) = tracer_plots.plot_accesses(tr, block=(0, 1), space="global", array="out")
    image = np.asarray(ax.get_images()[0].get_array())
    expected = np.zeros((4, 4), dtype=int)  # rows: thread tx + 2 * ty; columns: the row index written
    for ty in range(2):
        for tx in range(2):
            expected[tx + 2 * ty, 2 + ty] = 1  # block y = 1 covers rows 2 and 3; 1 = written
    np.testing.assert_array_equal(image, expected)
    assert ax.get_title().startswith("block (0, 1), phase 0")


def test_plot_accesses_counts_the_z_thread_index():
    import matplotlib

    matplotlib.use("Agg")

    def by_z(out):
        out[cuda.threadIdx.z] = 1

    tr = tracer.trace(by_z, 1, (1, 1, 3), np.zeros(3, np.float32))
    (ax,) = tracer_plots.plot_accesses(tr, block=0, space="global", array="out")
    np.testing.assert_array_equal(np.asarray(ax.get_images()[0].get_array()), np.eye(3, dtype=int))


def early_return_before_barrier(x, out):
    tile = cuda.shared.array(4, float32)
    t = cuda.threadIdx.x
    if t >= 2:
        return  # these threads never reach the barrier below
    tile[t] = x[t]
    cuda.syncthreads()
    out[t] = tile[t]


def count_with_atomics(x, total):
    cuda.atomic.add(total, 0, x[cuda.grid(1)])


def test_trace_counts_barriers_races_divergence_and_atomics():
    x = np.arange(8, dtype=np.float32)
    tr = tracer.trace(reverse_in_block, 2, 4, x, np.zeros(8, np.float32))
    assert tr.barriers == {(0, 0, 0): 1, (1, 0, 0): 1} and tr.divergent == [] and races(tr) == []
    racy = tracer.trace(reverse_no_barrier, 2, 4, x, np.zeros(8, np.float32))
    assert racy.barriers[(0, 0, 0)] == 0 and races(racy)
    diverged = tracer.trace(early_return_before_barrier, 1, 4, x[:4], np.zeros(4, np.float32))
    assert diverged.divergent == [(0, 0, 0)]
    with pytest.raises(AssertionError, match="only some of its threads"):
        check_contract(early_return_before_barrier, 1, 4, x[:4], np.zeros(4, np.float32))
    total = np.zeros(1, np.float32)
    atomics = check_contract(count_with_atomics, 2, 4, x, total, reads=1, writes=1, expect={"total": [28]})
    assert all(a.atomic for a in atomics.accesses if a.array == "total") and races(atomics) == []
    assert tr.shared_shapes == {"shared": (4,)}
