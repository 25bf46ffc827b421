"""coursekit.gpu.kernels.warps: the grid-stride copy against its docstring's reference and memory
contract, and the divergence and block-size sweeps at tiny sizes (on the simulator without a GPU:
their results are checked, their times mean nothing)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from coursekit.gpu import sim_switch
from coursekit.gpu.contract import check_contract
from coursekit.gpu.kernels import simt, warps
from coursekit.show import python_function

from conftest import run_python

TINY = {"warmup": 0, "min_time": 0.0, "max_time": 0.0, "min_samples": 3}

pytestmark = [
    pytest.mark.filterwarnings(r"ignore:.*Grid size \d+ will likely result in GPU under-utilization"),
    pytest.mark.filterwarnings("ignore:.*Host array used in CUDA kernel will incur copy overhead"),
]


def reference_of(kernel, **names):
    doc = " ".join(python_function(kernel).__doc__.split())
    line = re.search(r"Reference: ``(.+?)``", doc).group(1)
    return eval(line, {"numpy": np}, names)


# (n, blocks, threads): fewer threads than elements (the loop turns), as many, and more (idle threads).
COPY_CASES = [(1, 1, 32), (31, 1, 32), (33, 1, 32), (77, 1, 32), (77, 2, 16), (109, 3, 64)]


@pytest.mark.parametrize("n, grid, block", COPY_CASES)
def test_copy_stride_matches_its_reference(n, grid, block):
    x = (np.arange(n, dtype=np.float32) - n // 2) / 4
    out = np.full(n, np.nan, np.float32)
    warps.copy_stride[grid, block](x, out)
    np.testing.assert_array_equal(out, reference_of(warps.copy_stride, x=x))


@pytest.mark.parametrize("n, grid, block", COPY_CASES)
def test_copy_stride_keeps_its_memory_contract(n, grid, block):
    x = (np.arange(n, dtype=np.float32) - n // 2) / 4
    steps = math.ceil(n / (grid * block))
    tr = check_contract(
        warps.copy_stride, grid, block, x, np.full(n, np.nan, np.float32),
        reads=steps, writes=steps, shared_writes=0, barriers=0, coalesced=("x", "out"), expect={"out": x},
    )  # fmt: skip
    # every element read once and written once, each by the thread stride steps apart
    assert len([a for a in tr.accesses if a.op == "write"]) == n
    for a in tr.accesses:
        assert (a.index[0] - (a.block[0] * block + a.thread[0])) % (grid * block) == 0


def test_signs_flip_every_segment_and_warps_count_their_paths():
    x = warps.signs_every(256, 4)
    assert (x[:4] > 0).all() and (x[4:8] < 0).all() and (np.abs(x) >= 0.5).all()
    assert [warps.paths_per_warp(warps.signs_every(256, L)) for L in (1, 16, 32, 64)] == [2, 2, 1, 1]
    assert warps.paths_per_warp(warps.signs_every(192, 48)) == pytest.approx(4 / 3)  # warps 1 and 4 of 6 split


def test_divergence_sweep_checks_and_returns_one_row_per_segment_length():
    rows = warps.time_divergence_sweep(70, segment_lengths=(1, 32, 64), work=3, threads=32, **TINY)
    assert [r["segment_length"] for r in rows] == [1, 32, 64]
    assert [r["paths_per_warp"] for r in rows] == [2, 1, 1]
    assert all(r["median_s"] > 0 and r["ns_per_element"] == pytest.approx(r["median_s"] / 70 * 1e9) for r in rows)


def test_divergence_reference_is_the_kernel_docstrings():
    x = np.array([0.7, -0.7], np.float32)
    np.testing.assert_allclose(simt.heavy_branches_reference(x, 1), [np.sin(0.7) + 1, np.cos(-0.7) - 1], rtol=1e-6)


def test_block_size_sweep_returns_bandwidth_per_block_size():
    result = warps.time_block_sizes(150, block_sizes=(32, 64), **TINY)
    assert result["n"] == 150 and result["nbytes"] == 2 * 150 * 4
    rows = result["rows"]
    assert [(r["threads_per_block"], r["blocks"]) for r in rows] == [(32, 5), (64, 3)]
    assert all(r["gbs"] == pytest.approx(result["nbytes"] / r["median_s"] / 1e9) for r in rows)
    if sim_switch.enabled():  # the simulator compiles nothing: no registers to read
        assert set(result["resources"].values()) == {None} and "occupancy_pct" not in rows[0]
    else:
        assert result["resources"]["registers_per_thread"] > 0 and rows[0]["occupancy_pct"] > 0


def test_kernel_resources_are_guarded():
    class NoSuchMethods:
        pass

    assert set(warps.kernel_resources(NoSuchMethods()).values()) == {None}

    class Dispatcher:  # numba-cuda's answer for a kernel compiled for two signatures
        def get_regs_per_thread(self):
            return {"sig a": 10, "sig b": 16}

    assert warps.kernel_resources(Dispatcher())["registers_per_thread"] == 16


def test_new_kernels_compute_in_float32_only():
    """numba-cuda's own compiler (no GPU needed) finds no float64 in copy_stride and fma_chain."""
    code = (
        "from numba import float32, int64\n"
        "from coursekit.gpu.kernels import precision, warps\n"
        "from coursekit.gpu import streams\n"
        "v = float32[:]\n"
        "print(precision.float64_work(warps.copy_stride, (v, v)),\n"
        "      precision.float64_work(streams.fma_chain, (v, v, int64)))\n"
    )
    out = run_python(code, env={"NUMBA_ENABLE_CUDASIM": "0", "COURSEKIT_FORCE_CPU": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[] []"
