"""Notebook 02's GPU figures without a GPU: the published SGEMM ladder placed on the A6000's
datasheet roofline, the reveal of each kernel, and the published copy figures, all labelled."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest

from coursekit.gpu import gpu_figures
from coursekit.perf import published
from coursekit.perf.reference import GPUResult

N = gpu_figures.SGEMM_N


def test_a6000_ceilings_are_the_datasheet_figures():
    roof = gpu_figures.a6000_ceilings()
    assert (roof.bytes_per_s, roof.flop_per_s, roof.source) == (768e9, 38.7e12, "published")
    assert roof.ridge == pytest.approx(50.39, abs=0.01)
    assert "datasheet" in roof.method["flops"]


def test_requested_bytes_counts_each_kernels_loads():
    n = 64
    assert gpu_figures.requested_bytes("naive", n) == n * n * (2 * n + 1) * 4
    assert gpu_figures.requested_bytes("tiled", n, 16) == n * n * (2 * n / 16 + 1) * 4
    assert gpu_figures.requested_bytes("minimum", n, reads_c=True) == 4 * n * n * 4
    with pytest.raises(ValueError, match="tile size"):
        gpu_figures.requested_bytes("tiled", n)
    with pytest.raises(ValueError, match="traffic"):
        gpu_figures.requested_bytes("cached", n)


def test_ladder_kernels_sit_at_their_requested_intensities():
    k = gpu_figures.sgemm_ladder_kernels()
    assert list(k) == ["uncoalesced", "naive", "tiled", "cublas"]
    assert k["naive"].intensity == pytest.approx(0.25, rel=1e-3)
    assert k["tiled"].intensity == pytest.approx(gpu_figures.SGEMM_TILE / 4, rel=0.01)
    assert k["cublas"].intensity == N / 8  # A, B and C read, C written
    assert all(kernel.flop == 2 * N**3 for kernel in k.values())


def test_ladder_refuses_an_entry_of_another_precision_or_size():
    entries = published.load()
    bad = [e if e.id != "sgemm-a6000-kernel3" else _with(e, size="2048x2048x2048") for e in entries]
    with pytest.raises(ValueError, match="sgemm-a6000-kernel3"):
        gpu_figures.sgemm_ladder_kernels(bad)


def _with(entry, **changes):
    from dataclasses import replace

    return replace(entry, **changes)


def test_course_kernels_match_the_notebooks_intensities():
    k = gpu_figures.course_matmul_kernels(2048, 16)
    assert k["naive"].intensity == pytest.approx(0.25, rel=1e-3)
    assert k["tiled"].intensity == pytest.approx(4, rel=0.01)
    assert k["cublas"].intensity == pytest.approx(2048 / 6)


def test_published_ladder_reveals_the_signs_the_lesson_rests_on():
    kernels = gpu_figures.sgemm_ladder_kernels()
    result = gpu_figures.published_sgemm_ladder()
    assert result.source == published.TIER and result.label.startswith("published measurement:")
    r = gpu_figures.matmul_reveals(result, kernels, gpu_figures.a6000_ceilings(), {"tiled": 4.0})
    assert r["tiled"].revealed == 2980.3e9
    assert r["tiled"].guess_error == pytest.approx(4.0 / 2.9803 - 1)
    assert r["uncoalesced"].roofline_error < 0 and r["naive"].roofline_error < 0
    assert r["tiled"].roofline_error > 0 and r["cublas"].roofline_error > 0
    assert r["naive"].guess is None
    assert "siboehm/SGEMM_CUDA" in r["tiled"].actual.label and "3: SMEM Caching" in r["tiled"].actual.label
    table = gpu_figures.reveal_table(r, kernels)
    assert table.loc["cuBLAS", "revealed (TFLOP/s)"] == 23.25
    assert table.loc["tiled 32x32", "roofline was"] == "2.0x too high"


def test_measured_timings_become_rates_with_their_own_label():
    kernels = gpu_figures.course_matmul_kernels(1024, 16)
    flop = 2 * 1024**3
    measured = GPUResult({"naive_s": flop / 1e12, "tiled_s": flop / 2e12, "cublas_s": flop / 20e12}, "measured", "H100")
    rates = gpu_figures.matmul_rates(measured, kernels)
    assert rates == pytest.approx({"naive": 1e12, "tiled": 2e12, "cublas": 20e12})
    assert gpu_figures.kernel_label(measured, "tiled") == "H100"
    assert gpu_figures.matmul_rates(GPUResult(None, "none", "nothing"), kernels) == {}
    points = gpu_figures.timed_kernels(kernels, rates, "measured")
    assert [p.flop_per_s for p in points] == pytest.approx([1e12, 2e12, 20e12])
    assert gpu_figures.tier_legend(measured) == "measured: H100"


def test_full_ladder_is_sorted_and_ends_at_cublas():
    table = gpu_figures.sgemm_full_ladder()
    assert len(table) == 12
    assert table["GFLOP/s"].is_monotonic_increasing
    assert table.iloc[-1]["of cuBLAS (%)"] == 100 and table.index[0] == "1: Naive"


def test_pinned_vs_pageable_pairs_figures_of_one_source():
    table = gpu_figures.pinned_vs_pageable()
    assert len(table) >= 2  # the two A100 servers of gengwg/gpu have pageable figures
    assert (table["host->device pinned (GB/s)"] > table["host->device pageable (GB/s)"]).all()
    assert all(ids.startswith("gengwg-") for ids in table["entries"])
    sxm = table.loc[[d for d in table.index if "SXM4" in d][0]]
    assert (sxm["host->device pageable (GB/s)"], sxm["host->device pinned (GB/s)"]) == (10.0, 25.7)


def test_pinned_vs_pageable_is_empty_without_pageable_figures():
    pinned_only = [e for e in published.load() if e.conditions.get("host_memory") != "pageable"]
    assert gpu_figures.pinned_vs_pageable(pinned_only).empty


def test_tier_rows_name_the_tier_and_never_invent_one():
    ladder = gpu_figures.published_sgemm_ladder()
    assert gpu_figures.tier_row("matmul", ladder) == {
        "GPU cell": "matmul",
        "tier shown": "published measurement",
        "source": "siboehm/SGEMM_CUDA README.md@60cba6f",
    }
    none = GPUResult(None, "none", "nothing")
    assert gpu_figures.tier_row("sweep", none)["tier shown"] == "none"
    related = gpu_figures.tier_row("transposes", none, ("azure-h100-babelstream-copy",))
    assert related["tier shown"] == "published measurement (related)"
    assert related["source"] == "azure-h100-babelstream-copy"
