"""coursekit.edf.gpu_figures: notebook 03's GPU figures without a GPU (issue 26): bytes of a tiny
add, the roofline's time for them, a tiny op timed on the CPU, aten operations counted, published
figures by id, the datasheet device of a GPU's name, and nccl-tests' bus bandwidth."""

from __future__ import annotations

import pytest
import torch

from coursekit.edf import gpu_figures, minibatch
from coursekit.perf import published


def test_tiny_add_moves_three_tensors():
    assert gpu_figures.tiny_add_bytes() == 3 * 4096 * 2
    assert gpu_figures.tiny_add_bytes((16, 4096), itemsize=4) == 3 * 16 * 4096 * 4


def test_roofline_seconds_is_bytes_over_bandwidth():
    assert gpu_figures.roofline_seconds(24576, 2039e9) == pytest.approx(12.05e-9, rel=1e-3)
    with pytest.raises(ValueError):
        gpu_figures.roofline_seconds(0, 1e12)


def test_tiny_op_on_the_cpu_is_microseconds_not_nanoseconds():
    seconds = gpu_figures.tiny_op_seconds("cpu", min_time=0.01)
    assert 1e-8 < seconds < 1e-2


def test_count_ops_sees_forward_and_backward():
    w = torch.randn(500, 5, requires_grad=True)
    x, y = torch.randn(1, 500), torch.tensor([3])

    def step() -> None:
        w.grad = None
        torch.nn.functional.cross_entropy(x @ w, y).backward()

    ops = gpu_figures.count_ops(step)
    assert ops.by_name["aten.mm.default"] == 2  # x @ w forward, x.T @ grad backward
    assert any("backward" in name for name in ops.by_name)
    assert ops.views >= 1 and ops.computing == ops.total - ops.views
    plain = gpu_figures.count_ops(lambda: torch.ones(3) + 1)
    assert plain.views == 0 and plain.computing == plain.total >= 2


def test_count_ops_of_the_softmax_regression_step():
    data, label = torch.randn(10, 500), torch.eye(5)[torch.randint(0, 5, (10,))]
    w = torch.zeros(500, 5, requires_grad=True)
    ops = gpu_figures.count_ops(lambda: minibatch.torch_softmax_regression_step(torch, data, label, w))
    assert ops.by_name["aten.mm.default"] == 2 and ops.computing > 5


def test_published_figure_is_the_entry_in_si_units_with_its_tier():
    r = gpu_figures.published_figure(gpu_figures.TINY_OP_ID)
    assert r.value == pytest.approx(7.1e-6) and r.source == published.TIER
    assert r.label.startswith("published measurement: NVIDIA A100")
    for entry_id in gpu_figures.ALLREDUCE_IDS:
        assert gpu_figures.published_figure(entry_id).value > 1e11  # bytes/s
    with pytest.raises(KeyError):
        gpu_figures.published_figure("no-such-entry")


def test_ring_message_size_is_the_entrys():
    assert published.get(gpu_figures.ALLREDUCE_IDS[0]).size.startswith("16GiB")
    assert gpu_figures.RING_NBYTES == 16 * 2**30


def test_datasheet_matches_the_model_and_falls_back_to_the_h100():
    assert "A100" in gpu_figures.datasheet("NVIDIA A100 (variant not stated)").name
    assert "H200" in gpu_figures.datasheet("NVIDIA H200 141GB").name
    assert "H100" in gpu_figures.datasheet("NVIDIA H100 80GB HBM3").name
    assert "H100" in gpu_figures.datasheet("NVIDIA GH200 480GB").name  # no GH200 datasheet: the fallback


def test_busbw_is_algbw_times_the_ring_factor():
    assert gpu_figures.busbw(1e9, 0.01, ranks=2) == pytest.approx(1e11)  # 2 ranks: busbw = algbw
    assert gpu_figures.busbw(1e9, 0.01, ranks=8) == pytest.approx(1e11 * 14 / 8)
    with pytest.raises(ValueError):
        gpu_figures.busbw(1e9, 0.01, ranks=1)
