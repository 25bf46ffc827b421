"""coursekit.perf.reference.gpu_result: measured here, else recorded, else published, else nothing; labelled."""

from __future__ import annotations

import json

from coursekit.perf import reference

RECORDED = {
    "recorded": {
        "device": "NVIDIA H100 80GB HBM3",
        "date": "2026-12-01T10:00:00+00:00",
        "versions": {"torch": "2.13.0", "numba-cuda": "0.30.4"},
        "cuda": {"torch built for": "12.8"},
    },
    "ceilings": {"name": "NVIDIA H100 80GB HBM3"},
    "divergence": {"ratio": 1.9},
}


def _write(tmp_path, data=RECORDED):
    (tmp_path / "h100.json").write_text(json.dumps(data))
    return tmp_path


def test_measured_on_this_gpu_comes_first(tmp_path):
    calls = []
    result = reference.gpu_result(
        "divergence", measure=lambda: calls.append(1) or {"ratio": 2.0}, gpu=True, directory=_write(tmp_path)
    )
    assert (result.value, result.source, calls) == ({"ratio": 2.0}, "measured", [1])
    assert "measured here" in result.label and bool(result)


def test_recorded_reference_without_a_gpu_is_labelled(tmp_path):
    result = reference.gpu_result("divergence", measure=lambda: 1 / 0, gpu=False, directory=_write(tmp_path))
    assert (result.value, result.source) == ({"ratio": 1.9}, "recorded")
    assert result.label == "NVIDIA H100 80GB HBM3, recorded 2026-12-01 (torch 2.13.0, numba-cuda 0.30.4, CUDA 12.8)"


def test_published_peak_when_nothing_is_recorded(tmp_path):
    result = reference.gpu_result("ceilings", gpu=False, directory=tmp_path, published=lambda ref: ref.ceilings())
    assert result.source == "published" and result.value.source == "published"
    assert result.value.flop_per_s == reference.PUBLISHED["NVIDIA H100 SXM"].flop_per_s
    assert result.label.startswith("NVIDIA H100 SXM, published peak")


def test_nothing_to_show_is_falsy_and_says_so(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    missing_section = reference.gpu_result("async_pitfall", gpu=False, directory=_write(tmp_path))
    nothing_recorded = reference.gpu_result("divergence", gpu=False, directory=empty)
    for result in (missing_section, nothing_recorded):
        assert not result and result.value is None and result.source == "none"
        assert "none measured, recorded or published" in result.label


def test_published_measurement_is_the_third_tier(tmp_path):
    from coursekit.perf import published

    def triad():
        return published.published_result("triad_bandwidth", "H200")

    def peak(device):
        return device.bytes_per_s

    recorded = reference.gpu_result("divergence", gpu=False, directory=_write(tmp_path), published_measurement=triad)
    assert recorded.source == "recorded", "a recording of this course's own beats a published measurement"
    empty = tmp_path / "none"
    empty.mkdir()
    third = reference.gpu_result(
        "divergence", gpu=False, directory=empty, published_measurement=triad, published=peak, name="H200"
    )
    assert third.source == "published measurement" and third.value == 4.15e12
    assert third.label.startswith("published measurement: NVIDIA H200")

    def nothing():
        return published.published_result("kernel_launch_latency", "H100")

    fourth = reference.gpu_result(
        "divergence", gpu=False, directory=empty, published_measurement=nothing, published=peak
    )
    assert fourth.source == "published" and "published peak" in fourth.label, "the datasheet is the last resort"
