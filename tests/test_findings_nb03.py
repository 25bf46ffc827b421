"""coursekit.edf.findings: each verdict of notebook 03 states its finding only when the numbers
support it (premise holds), and says what the numbers show otherwise (premise fails)."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.edf import findings, gradcheck, minibatch
from coursekit.edf import framework as edf


def test_thread_verdict_says_which_was_faster():
    assert "one thread was 1.5x slower than 2" in findings.thread_verdict(144e-6, 216e-6, 2)
    assert "one thread was 2.0x faster than 2" in findings.thread_verdict(200e-6, 100e-6, 2)
    assert "one thread was about as fast as 2 (" in findings.thread_verdict(100e-6, 105e-6, 2)
    assert "nothing to compare" in findings.thread_verdict(100e-6, 100e-6, 1)


def test_intensity_limit_of_the_mnist_layer():
    assert findings.intensity_limit(784, 128) == pytest.approx(2 * 784 * 128 / (4 * 912))
    flop, nbytes = minibatch.vdot_traffic(10**7, 784, 128)  # the limit is where a huge batch tends
    assert flop / nbytes == pytest.approx(findings.intensity_limit(784, 128), rel=1e-3)


def test_gpu_prediction_sides_of_each_ridge():
    lines = findings.gpu_layer_prediction(55.0, 67e12, 3.35e12)  # H100 SXM: FP32 ridge 20 FLOP/byte
    assert "FP32 on CUDA cores" in lines[0] and "compute-bound" in lines[0]
    assert all("memory-bound" in line for line in lines[1:])  # TF32 ~148, BF16 ~295 FLOP/byte
    low = findings.gpu_layer_prediction(5.0, 67e12, 3.35e12)
    assert all("memory-bound" in line for line in low)


def test_cache_note_only_above_the_roof():
    levels = [("L1d", 32 * 2**10), ("L2", 2**20), ("L3", 32 * 2**20)]
    above = findings.cache_note([("B=1", 60e9), ("B=4", 30e9), ("B=64", 5e9)], 20e9, 784 * 128 * 4, levels)
    assert above is not None and above.startswith("B=1 moves 60 GB/s, 3.0x the DRAM roof")
    assert "L2" in above and "1 more point(s): B=4" in above
    assert findings.cache_note([("B=1", 10e9)], 20e9, 784 * 128 * 4, levels) is None
    nowhere = findings.cache_note([("B=1", 60e9)], 20e9, 10**9, levels)
    assert nowhere is not None and "none of the caches" in nowhere


def test_roof_verdict_claims_the_full_rate_only_when_reached():
    p = findings.RoofPoint
    roof = {"peak_flop_per_s": 100e9, "bytes_per_s": 20e9}  # ridge 5 FLOP/byte
    full = findings.roof_verdict([p("B=1", 0.5, 9e9), p("B=256", 40, 90e9)], **roof)
    assert "full rate" in full and "not the full rate" not in full and "90%" in full
    above = findings.roof_verdict([p("B=1", 0.5, 9e9), p("B=256", 40, 113e9)], **roof)
    assert "113%" in above and "understates" in above
    part = findings.roof_verdict([p("B=1", 0.5, 9e9), p("B=256", 40, 47e9)], **roof)
    assert "not the full rate" in part and "47%" in part
    none_past = findings.roof_verdict([p("B=1", 0.5, 9e9), p("B=4", 2, 20e9)], **roof)
    assert "no point passes the ridge" in none_past and "B=1 at 90%" in none_past


def test_vdot_and_throughput_titles():
    assert findings.vdot_title(["B=1", "B=64"], [1e9, 3e9]) == "Batched VDot: B=64 reaches 3.0x the FLOP/s of B=1"
    assert "B=1 reached the highest" in findings.vdot_title(["B=1", "B=64"], [3e9, 1e9])
    assert "77x more examples/s" in findings.throughput_title(77)
    assert "no faster" in findings.throughput_title(0.9)


def test_overflow_sentence_names_the_first_scale_past_the_limit():
    said = findings.overflow_sentence([1, 2, 3, 4], [29.39, 58.78, 88.17, 117.56], 88.72)
    assert said.startswith("features 4 times larger") and "scale 3" in said and "88.17" in said
    earlier = findings.overflow_sentence([1, 2, 3, 4], [29.0, 90.0, 120.0, 160.0], 88.72)
    assert earlier.startswith("features 2 times larger")
    assert "does not overflow" in findings.overflow_sentence([1, 2], [10.0, 20.0], 88.72)


def test_gradcheck_sentence_needs_the_threshold_between():
    good = findings.gradcheck_sentence(1e-8, 1.9, 1e-5)
    assert "1e+03x below" in good and "2e+05x above" in good
    assert "does not separate" in findings.gradcheck_sentence(4e-5, 1.9, 1e-5)
    assert "does not separate" in findings.gradcheck_sentence(1e-8, 1e-6, 1e-5)


def test_indentation_title_orders_only_when_the_losses_do():
    updates = {"A": 10, "B": 1, "C": 100}
    ordered = findings.indentation_title({"A": 1.09, "B": 22.0, "C": 0.018}, updates)
    assert ordered.startswith("Indentation decides: more updates, lower loss: C (100 updates)")
    unordered = findings.indentation_title({"A": 0.01, "B": 22.0, "C": 0.5}, updates)
    assert unordered.startswith("Final losses:") and "lower loss" not in unordered


def test_confusion_sentence_counts_the_group():
    group = {"Shirt", "Coat"}
    most = findings.confusion_sentence([("Shirt", "Coat"), ("Coat", "Shirt"), ("Bag", "Sandal")], group)
    assert "67%" in most and ": most of them" in most
    few = findings.confusion_sentence([("Shirt", "Coat"), ("Bag", "Sandal"), ("Bag", "Trouser")], group)
    assert "33%" in few and "not most" in few


def test_tta_title_and_sentence():
    races = [findings.Race(1, 1.7, 0.3), findings.Race(100, 0.13, 0.95), findings.Race(1000, 0.33, 3.0)]
    assert findings.tta_title(races, 0.75) == "Fastest to 75% test accuracy here: B = 100"
    assert "in between" in findings.tta_sentence(races) and "B = 1000 needed the most epochs" in findings.tta_sentence(
        races
    )
    edge = [findings.Race(1, 0.1, 0.3), findings.Race(100, 0.2, 1.0)]
    assert "at an end of the range" in findings.tta_sentence(edge)
    none = [findings.Race(1, None, 8.0), findings.Race(100, None, 8.0)]
    assert findings.tta_title(none, 0.75).startswith("No batch size reached")
    assert "nothing to compare" in findings.tta_sentence(none)


def test_ddp_sentence_breaks_the_step_down():
    one = {"step_s": 2.0e-3, "sync_s": 1.8e-3, "compute_s": 1.2e-3, "allreduce_s": 0.02e-3}
    two = {"step_s": 5.0e-3, "sync_s": 4.6e-3, "compute_s": 1.0e-3, "allreduce_s": 0.6e-3}
    lines = findings.ddp_sentence(one, two)
    assert "2.5x slower than one process" in lines[0]
    assert "(1.2x faster than the whole batch)" in lines[1]
    assert "compute 22%" in lines[2] and "all_reduce alone 13%" in lines[2] and "the rest 65%" in lines[2]
    assert "0.60 ms more for DDP's hooks" in lines[3]
    faster = findings.ddp_sentence(one, {**two, "step_s": 1.0e-3})
    assert "2.0x faster than one process" in faster[0]


def test_edf_torch_sentence():
    sentence = findings.edf_torch_sentence(1.14, 0.78)
    assert "as the lecture wrote it is 1.1x slower than torch (1.14x" in sentence
    assert "it is 1.3x faster than torch (0.78x)" in sentence
    assert "takes 32% of EDF's epoch" in sentence  # 1 - 0.78 / 1.14
    assert "is about as fast as torch (0.95x" in findings.edf_torch_sentence(0.95, 0.7)


def test_mlp_gemm_flop_counts_three_products_per_layer():
    edf_count = minibatch.mlp_gemm_flop((784, 128, 10), 100)
    torch_count = minibatch.mlp_gemm_flop((784, 128, 10), 100, input_gradient=False)
    layer1, layer2 = 2 * 100 * 784 * 128, 2 * 100 * 128 * 10
    assert sum(edf_count.values()) == 3 * (layer1 + layer2)
    assert sum(edf_count.values()) - sum(torch_count.values()) == layer1


def test_input_without_gradient_changes_no_parameter_gradient():
    """Input(requires_grad=False): the data's gradient is None, every parameter's is the same."""
    rng = np.random.default_rng(1)
    images, labels = rng.random((30, 784), dtype=np.float32), rng.integers(0, 10, 30)
    grads = {}
    for wanted in (True, False):
        with edf.fresh_graph():
            model = minibatch.edf_mlp(input_grad=wanted)
            model.x.set(images)
            model.y.set(labels)
            edf.Forward()
            edf.Backward(model.loss)
            grads[wanted] = {p.name: p.grad.copy() for p in edf.parameters}
            assert (model.x.grad is None) is (not wanted)
    assert grads[True].keys() == grads[False].keys()
    for name, g in grads[True].items():
        np.testing.assert_array_equal(g, grads[False][name])


def test_every_component_skips_an_input_without_gradient():
    """Each built-in component may take a no-gradient Input directly; Backward leaves it None."""
    rng = np.random.default_rng(2)
    for make in (edf.Sigmoid, edf.Tanh, edf.ReLU, edf.Softmax):
        with edf.fresh_graph():
            x, y = edf.Input(requires_grad=False), edf.Input()
            b = edf.Parameter(np.zeros(4), name="b")
            loss = edf.LogLoss(edf.Aref(edf.Softmax(edf.AddBias(make(x), b)), y))
            x.set(rng.standard_normal((5, 4)))
            y.set(rng.integers(0, 4, 5))
            edf.Forward()
            edf.Backward(loss)
            assert x.grad is None and b.grad is not None and np.all(np.isfinite(b.grad))
    with edf.fresh_graph():
        x, y = edf.Input(requires_grad=False), edf.Input()
        b = edf.Parameter(np.zeros(4), name="b")
        loss = edf.LogLoss(edf.Aref(edf.Softmax(edf.AddBias(x, b)), y))
        x.set(rng.standard_normal((5, 4)))
        y.set(rng.integers(0, 4, 5))
        edf.Forward()
        edf.Backward(loss)
        assert x.grad is None and abs(float(b.grad.sum())) < 1e-12  # softmax gradients sum to zero per row


def test_gradcheck_floor_lets_tiny_right_gradients_pass_and_catches_wrong_ones():
    class Weights:
        def __init__(self, value):
            self.value, self.grad, self.name = np.array(value, dtype=np.float64), None, "w"

    w = Weights([1e-7, 1.0])  # f = 2 + 0.5 (w0^2 + w1^2): a large loss, a tiny gradient entry (1e-7)

    def f():
        return 2.0 + 0.5 * float(np.sum(w.value**2))

    def right():
        w.grad = w.value.copy()

    def wrong():
        w.grad = 2 * w.value

    ok = gradcheck.check(f, [w], right)
    assert ok.passed and ok.max_rel_error < ok.threshold / 100, ok
    assert ok.floor == pytest.approx(gradcheck.rounding_floor(f(), ok.eps, ok.threshold))
    bad = gradcheck.check(f, [w], wrong)
    assert not bad.passed and bad.max_rel_error > 0.1
    terms64, terms32 = gradcheck.expected_error(1e-5, np.float64), gradcheck.expected_error(1e-5, np.float32)
    assert terms64["rounding"] < 1e-10 < terms32["rounding"]


def test_fixed_cost_verdict_names_what_sets_the_time():
    fixed = findings.fixed_cost_verdict(12e-9, 7.1e-6)  # premise holds: the call is 590x the bytes
    assert "a fixed cost per call" in fixed and "(0.2%)" in fixed
    bytes_bound = findings.fixed_cost_verdict(12e-9, 30e-9)  # premise fails: the bytes set the time
    assert "the bytes, not a fixed cost" in bytes_bound and "fixed cost per call" not in bytes_bound


def test_b1_step_estimate_compares_the_cpu_with_the_estimate():
    lines = findings.b1_step_estimate(7, 4, 7.1e-6, 30e-6)
    assert "7 x 7.1 us = 49.7 us" in lines[0] and "about 20,100 examples/s (an estimate" in lines[0]
    assert "faster than that GPU estimate" in lines[1]
    slower = findings.b1_step_estimate(7, 4, 7.1e-6, 200e-6)
    assert "slower than that GPU estimate" in slower[1]
    with pytest.raises(ValueError):
        findings.b1_step_estimate(0, 4, 7.1e-6, 30e-6)


def test_iteration_estimate_says_which_cost_dominates():
    bws = [("datasheet peak", 3.35e12), ("published triad", 2.97e12)]
    calls = findings.iteration_estimate(40e6, bws, 14, 7.1e-6)
    assert "the per-operation cost, not the bytes," in calls[-1] and "113 us" in calls[-1]
    data = findings.iteration_estimate(4e9, bws, 14, 7.1e-6)  # 4 GB: the bytes dominate
    assert "the bytes, not the per-operation cost," in data[-1]
    with pytest.raises(ValueError):
        findings.iteration_estimate(40e6, [], 14, 7.1e-6)


def test_allreduce_comparison_sides():
    below = findings.allreduce_comparison(0.5e9, 400e3, 367.2e9, 16 * 2**30)
    assert "734x below" in below and "no like-for-like race" in below
    above = findings.allreduce_comparison(400e9, 400e3, 367.2e9, 16 * 2**30)
    assert "at or above" in above
