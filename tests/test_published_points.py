"""coursekit.perf.published_points: a published measurement placed on a roofline does the work its
source ran, reaches the figure its source reports, and is drawn as a published measurement."""

from __future__ import annotations

import dataclasses

import pytest

from coursekit.perf import published, published_points, reference, roofline


def test_triad_reaches_the_published_bandwidth_at_a_triads_intensity():
    entry = published.get("azure-h100-babelstream-triad")
    k = published_points.triad(entry, "H100")
    assert k.tier == published.TIER and k.device == "H100"
    assert k.intensity == pytest.approx(2 / 24), "float64 triad: 2 FLOP per 3 x 8 bytes"
    assert k.bytes_per_s == pytest.approx(2.97e12) and k.flop == 2 * 1_308_622_848
    h100 = reference.PUBLISHED["NVIDIA H100 SXM"].ceilings()
    assert k.flop_per_s < h100.attainable(k.intensity), "the measurement stands under the datasheet roof"


def test_matmul_reaches_the_published_rate_with_the_sources_shape_and_precision():
    entry = published.get("mamf-h100-sxm-bf16")
    k = published_points.matmul(entry, "H100 BF16")
    m, n, kk = 2048, 2048, 13312
    assert k.flop == 2 * m * n * kk and k.nbytes == (m * kk + kk * n + m * n) * 2
    assert k.flop_per_s == pytest.approx(794.5e12)
    assert k.flop_per_s < reference.H100_BF16_DENSE_FLOP_PER_S, "under the BF16 datasheet peak"


def test_wrong_quantity_unknown_precision_or_missing_size_are_refused():
    triad = published.get("azure-h100-babelstream-triad")
    with pytest.raises(ValueError, match="not a matmul_flops"):
        published_points.matmul(triad, "x")
    with pytest.raises(ValueError, match="no known element size"):
        published_points.triad(dataclasses.replace(triad, precision=None), "x")
    with pytest.raises(ValueError, match="states no array size"):
        published_points.triad(dataclasses.replace(triad, size="default"), "x")
    with pytest.raises(ValueError, match="not M x N x K"):
        published_points.matmul(dataclasses.replace(published.get("mamf-h100-sxm-bf16"), size="4096"), "x")


def test_points_are_drawn_as_hollow_diamonds_with_a_legend_entry():
    import matplotlib

    matplotlib.use("Agg")
    roof = reference.PUBLISHED["NVIDIA H100 SXM"].ceilings()
    k = published_points.triad(published.get("azure-h100-babelstream-triad"), roof.name)
    ax = roofline.plot([roof], [k])
    diamonds = [line for line in ax.get_lines() if line.get_marker() == "D"]
    assert len(diamonds) == 1 and diamonds[0].get_markerfacecolor() == "none"
    handle = published_points.legend_handle()
    assert handle.get_marker() == "D" and "published measurement" in handle.get_label()
