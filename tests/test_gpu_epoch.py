"""Notebook 05's predict-then-reveal of LeNet's GPU epoch (coursekit.apps.gpu_epoch): the bounds'
arithmetic, the tier kept through the conversion, the datasheet lookup, and each sentence's premise
(one case where it holds, one where it does not)."""

from __future__ import annotations

from collections import Counter

import pytest

from coursekit.apps import gpu_epoch, lenet
from coursekit.perf import datasheets, published, reveal
from coursekit.perf.datasheets import OTHER_DEVICES
from coursekit.perf.reference import PUBLISHED, GPUResult, ReferenceDevice

TOY = ReferenceDevice("Toy GPU 100", "GPU", 2020, 1000, 1.0, None, 100e9, 1e12, None, "a test")


def test_bounds_are_flops_over_peak_bytes_over_bandwidth_and_steps_times_calls():
    b = gpu_epoch.epoch_bounds(1e6, 1e5, TOY, ops_per_step=30, per_call_s=5e-6, images=60_000, batch=100)
    assert b.steps == 600
    assert b.compute_s == pytest.approx(1e6 * 60_000 / 1e12)  # 0.06 s
    assert b.memory_s == pytest.approx(1e5 * 60_000 / 100e9)  # 0.06 s
    assert b.launch_s == pytest.approx(600 * 30 * 5e-6)  # 0.09 s
    assert b.roofline_s == max(b.compute_s, b.memory_s)
    assert gpu_epoch.epoch_bounds(1e6, 1e6, TOY, 30).roofline_limit == "memory bandwidth"
    assert gpu_epoch.epoch_bounds(1e7, 1e5, TOY, 30).roofline_limit == "FP32 peak"
    assert gpu_epoch.epoch_bounds(1e6, 1e5, TOY, 30).launch_s is None
    assert gpu_epoch.epoch_bounds(1e6, 1e5, TOY, 30, images=150, batch=100).steps == 2  # a partial batch
    with pytest.raises(ValueError, match="positive"):
        gpu_epoch.epoch_bounds(0, 1e5, TOY, 30)
    with pytest.raises(ValueError, match="per-call"):
        gpu_epoch.epoch_bounds(1e6, 1e5, TOY, 30, per_call_s=0.0)


def test_lenet_step_runs_its_layers_backward_and_a_foreach_sgd():
    ops = gpu_epoch.aten_ops_per_step(lenet.lenet)
    assert ops["aten.convolution.default"] == 2 and ops["aten.convolution_backward.default"] == 2
    assert ops["aten.tanh.default"] == 3 and ops["aten.tanh_backward.default"] == 3
    assert any(k.startswith("aten._foreach") for k in ops), "SGD in its multi-tensor form, as on a GPU"
    assert not any(k in ops for k in ("aten.view.default", "aten.t.default", "aten.detach.default")), "views"
    assert 20 <= sum(ops.values()) <= 60
    assert gpu_epoch.ops_listing(Counter({"aten.tanh.default": 3})) == "tanh x3"


def test_epoch_from_rate_keeps_the_tier_and_says_the_rate():
    rate = published.published_result("training_throughput", "GTX 980", cudnn="none", gpus=1)
    epoch = gpu_epoch.epoch_from_rate(rate)
    assert epoch.source == published.TIER and epoch.label.startswith("published measurement: GeForce GTX 980")
    assert epoch.value == pytest.approx(60_000 / 22_500)  # 22.5K img/sec in MXNet's README
    assert "22,500 images/s" in epoch.label
    none = GPUResult(None, "none", "nothing")
    assert gpu_epoch.epoch_from_rate(none) is none


def test_epoch_from_rows_picks_lenet_at_batch_100_in_fp32():
    rows = [
        {"model": "lenet", "batch": 100, "precision": "fp16", "examples_per_s": 90_000.0},
        {"model": "lenet", "batch": 100, "precision": "fp32", "examples_per_s": 60_000.0},
        {"model": "lstm", "batch": 100, "precision": "fp32", "examples_per_s": 1.0},
    ]
    measured = GPUResult({"rows": rows}, "measured", "NVIDIA H200, measured here")
    epoch = gpu_epoch.epoch_from_rows(measured)
    assert epoch.source == "measured" and epoch.value == pytest.approx(1.0)
    assert not gpu_epoch.epoch_from_rows(GPUResult({"rows": rows[2:]}, "recorded", "a GPU"))


def test_datasheet_for_finds_the_model_number_in_a_label():
    assert datasheets.datasheet_for("NVIDIA H200, measured here") is PUBLISHED["NVIDIA H200 SXM"]
    assert datasheets.datasheet_for("NVIDIA H100 80GB HBM3, recorded 2026-12-01") is PUBLISHED["NVIDIA H100 SXM"]
    label = published.label(published.get("mxnet-mnist-gtx980-lenet-cuda7"))
    assert datasheets.datasheet_for(label) is OTHER_DEVICES["NVIDIA GTX 980"]
    assert datasheets.datasheet_for("Tesla T4, measured here") is None


def test_the_gtx980_datasheet_is_its_cores_clock_and_bus():
    d = OTHER_DEVICES["NVIDIA GTX 980"]
    assert d.flop_per_s == pytest.approx(4.98e12, rel=1e-3) and d.bytes_per_s == 224e9
    assert "NVIDIA GTX 980" not in PUBLISHED  # notebook 01's device table is unchanged


def test_bound_verdict_says_how_far_above_when_above_both():
    b = gpu_epoch.epoch_bounds(1e6, 1e5, TOY, ops_per_step=30, per_call_s=5e-6)  # roofline 60 ms, launch 90 ms
    text = gpu_epoch.bound_verdict(b, 0.9)
    assert text.startswith("The revealed epoch (900 ms) is above both bounds: 10.0x the launch bound (90 ms)")


def test_bound_verdict_names_a_bound_that_is_not_a_floor():
    b = gpu_epoch.epoch_bounds(1e6, 1e5, TOY, ops_per_step=30, per_call_s=5e-6)
    text = gpu_epoch.bound_verdict(b, 0.08)  # 80 ms: above the roofline's 60 ms, under the launches' 90
    assert "is under the launch bound" in text and "not a floor" in text and "above" not in text
    with pytest.raises(ValueError):
        gpu_epoch.bound_verdict(b, 0.0)


def test_bound_lines_put_the_ceilings_and_bounds_on_screen():
    b = gpu_epoch.epoch_bounds(1e6, 1e5, TOY, ops_per_step=30, per_call_s=5e-6)
    lines = gpu_epoch.bound_lines(b, "5 us, from a test")
    assert lines[0].startswith("the GPU: Toy GPU 100 (a test): FP32 peak 1 TFLOP/s, memory 100 GB/s")
    assert any("launch-bound:  600 steps x 30 operations x 5 us per call = 90 ms" in x for x in lines)
    assert not any("launch" in x for x in gpu_epoch.bound_lines(gpu_epoch.epoch_bounds(1e6, 1e5, TOY, 30)))


def test_the_published_gtx980_epoch_reveals_far_above_the_datasheet_roofline():
    """What notebook 05 asserts on the fixed data: MXNet's epoch is many times the GTX 980's floor."""
    net = lenet.lenet()
    rate = published.published_result("training_throughput", "GTX 980", cudnn="none", gpus=1)
    epoch = gpu_epoch.epoch_from_rate(rate)
    b = gpu_epoch.epoch_bounds(
        lenet.training_flops_per_example(net),
        lenet.training_bytes_per_example(net),
        datasheets.datasheet_for(epoch.label) or TOY,
        ops_per_step=31,
        per_call_s=published.si_value(published.get("flaggems4558-a100-torch-add-1x4096")),
    )
    assert b.device.name == "NVIDIA GTX 980"
    r = reveal.reveal("LeNet epoch", "s", epoch, roofline_prediction=b.roofline_s)
    assert r.roofline_error is not None and r.roofline_error < -0.8  # the floor is far under the reveal
    assert epoch.value > 5 * max(b.roofline_s, b.launch_s or 0.0)
    cudnn = published.get("mxnet-mnist-gtx980-lenet-cudnn3")
    assert 60_000 / published.si_value(cudnn) > epoch.value  # cuDNN v3 was the slower row
