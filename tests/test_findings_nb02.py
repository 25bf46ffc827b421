"""Notebook 02's computed titles state a finding only when the numbers show it, and the summation
bound it checks the reductions with is Higham and Mary's, failure probability included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coursekit.gpu import findings
from coursekit.gpu.kernels import reduce  # tests/conftest.py decided the simulator switch


def test_ridge_title_names_only_the_kernels_past_the_ridge():
    h100 = {"naive": 0.25, "tiled": 4.0, "cublas": 341.0}
    assert "only cublas gets past" in findings.ridge_title(h100, 20.0, "H100")
    low_ridge = findings.ridge_title(h100, 3.0, "a GPU with a low ridge")
    assert "naive sits under" in low_ridge and "tiled and cublas get past" in low_ridge
    assert "only" not in low_ridge
    assert "every kernel sits under" in findings.ridge_title(h100, 500.0, "x")
    assert "every kernel gets past" in findings.ridge_title(h100, 0.1, "x")


def test_divergence_title_claims_a_cliff_only_when_the_times_show_one():
    assert "warps stop running both paths" in findings.divergence_cliff_title(2.0)
    flat = findings.divergence_cliff_title(1.1)
    assert "no clear cliff" in flat and "warps stop" not in flat


def test_streams_title_claims_overlap_only_when_faster():
    assert "overlap copies and kernel" in findings.streams_title(4, 1.8)
    assert "no clear overlap" in findings.streams_title(4, 0.9)


def test_sum_error_bound_has_the_factor_n_in_its_failure_probability():
    small = reduce.sum_error_bound(np.ones(1_000, np.float32))
    large = reduce.sum_error_bound(np.ones(1_000_000, np.float32))
    assert large.failure_probability == pytest.approx(1_000 * small.failure_probability)
    one_term = 2 * math.exp(-(8.0**2) * (1 - 2.0**-24) ** 2 / 2)
    assert small.failure_probability == pytest.approx(1_000 * one_term)


def test_sum_error_bound_holds_for_one_by_one_float32_sums():
    for seed, n in ((0, 1_000), (1, 100_003), (2, 1 << 20)):
        x = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
        exact = x.astype(np.float64).sum()
        bound = reduce.sum_error_bound(x)
        assert abs(float(np.cumsum(x, dtype=np.float32)[-1]) - exact) <= bound.error
        # the bound is about lam sqrt(n) u sum|x|, far below the worst case (n - 1) u sum|x|
        worst = (n - 1) * 2.0**-24 * np.abs(x.astype(np.float64)).sum()
        assert bound.error < worst * 9 / math.sqrt(n)


def test_roof_fraction_title_says_beat_only_above_the_roof():
    both = findings.roof_fraction_title({"naive": 10.3, "tiled": 0.49, "cuBLAS": 0.6}, "A6000")
    assert "naive beats its no-cache roof" in both and "tiled reaches 49 % and cuBLAS 60 % of theirs" in both
    below = findings.roof_fraction_title({"naive": 0.5}, "this GPU")
    assert below == "this GPU: naive reaches 50 % of its roof" and "beat" not in below
    above = findings.roof_fraction_title({"a": 2.0, "b": 1.5}, "x")
    assert above == "x: a and b beat their no-cache roof (caches)" and "reaches" not in above
    with pytest.raises(ValueError):
        findings.roof_fraction_title({}, "x")


def test_roofline_verdict_follows_the_signs_of_the_errors():
    mixed = findings.roofline_verdict({"naive": -0.9, "tiled": 1.0})
    assert "too little for naive" in mixed and "too much for tiled" in mixed
    high = findings.roofline_verdict({"tiled": 1.0, "cuBLAS": 0.66})
    assert "too much for tiled and cuBLAS" in high and "too little" not in high
    low = findings.roofline_verdict({"naive": -0.4})
    assert "too little for naive" in low and "too much" not in low
    with pytest.raises(ValueError):
        findings.roofline_verdict({})
