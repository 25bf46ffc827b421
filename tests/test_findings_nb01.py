"""Notebook 01's computed titles and sentences check their premises (coursekit.perf.basics_findings),
the CPU's FLOP per cycle comes from one derivation (coursekit.machine.cpu_peak), and the crossover's
CPU side is the best of interleaved rounds over thread counts. Each premise: one case where it holds
(the claim appears) and one where it does not (another title appears)."""

from __future__ import annotations

import math

import pytest

from coursekit.machine import cpu_peak
from coursekit.perf import basics_findings as bf
from coursekit.perf import crossover, reference

# ------------------------------------------------------------------------------ crossover


def test_crossover_claims_a_win_from_n_only_when_every_larger_size_wins():
    sizes = [16, 32, 64, 128]
    title = bf.crossover_title("matmul", sizes, [1, 2, 3, 4], [5, 5, 1, 1], "the GPU")
    assert "wins from n = 64" in title


def test_crossover_with_a_lucky_dip_says_what_the_data_show():
    # the case: a CPU thread-pool jump makes the GPU "faster" at n = 32 only
    sizes = [16, 32, 64, 128]
    title = bf.crossover_title("matmul", sizes, [1, 9, 3, 4], [5, 5, 5, 1], "the GPU")
    assert "wins from" not in title
    assert "faster at n = 32" in title and "slower at n = 64" in title and "faster at n = 128" in title


def test_crossover_that_does_not_last_to_the_largest_size_is_no_win():
    title = bf.crossover_title("add", [1, 2, 3], [1, 1, 1], [2, 0.5, 2], "the H100 model")
    assert "wins from" not in title and "slower at n = 3" in title


def test_crossover_all_or_nothing_and_unsorted_sizes():
    assert "faster at every size" in bf.crossover_title("add", [4, 1], [2, 2], [1, 1], "the GPU")
    assert "slower at every size" in bf.crossover_title("add", [4, 1], [1, 1], [2, 2], "the GPU")
    assert "wins from n = 4" in bf.crossover_title("add", [4, 1], [2, 1], [1, 2], "the GPU")
    assert "slower at every size" in bf.crossover_title("add", [1, 2], [1, 1], [1, 1], "the GPU"), "a tie is no win"


def test_crossover_title_names_a_predicted_gpu_side():
    title = bf.crossover_title("add", [1, 2], [1, 1], [2, 0.5], "the H100 as predicted from its datasheet")
    assert "predicted" in title


def test_cpu_side_is_the_best_over_rounds_and_thread_counts():
    frame = crossover.measure_cpu("matmul", [8, 16], thread_counts=[1], rounds=2, min_time=0.001)
    assert frame["n"].tolist() == [8, 16] and (frame["threads"] == 1).all()
    assert (frame["compute_s"] > 0).all() and (frame["compute_s"] == frame["with_copies_s"]).all()


# ---------------------------------------------------------------------------------- MIMD


def test_mimd_says_no_more_beyond_the_cores_only_when_extra_workers_gain_nothing():
    assert "no more with more workers" in bf.mimd_title({1: 1.0, 2: 1.9, 3: 1.9, 4: 1.8}, cores=2)
    title = bf.mimd_title({1: 1.0, 2: 1.5, 3: 2.4, 4: 2.6}, cores=2)
    assert "no more" not in title and "still helped" in title and "2.6x with 4" in title


def test_mimd_without_worker_counts_beyond_the_cores_claims_nothing_about_them():
    title = bf.mimd_title({1: 1.0, 2: 1.8}, cores=4)
    assert "no more" not in title and "1.8x with 2 workers on 4 CPUs" in title


# ---------------------------------------------------------------------------------- SIMD


def test_speedup_title_follows_the_ratio():
    assert bf.speedup_title("relu", "numpy", "the loop", 86.3) == "relu: numpy 86x faster than the loop"
    assert "slower" in bf.speedup_title("relu", "numpy", "the loop", 0.5)
    assert "about as fast" in bf.speedup_title("relu", "numpy", "the loop", 1.05)


def test_per_cycle_says_several_only_when_there_are_several():
    assert "several" in bf.per_cycle(5.2)
    assert "several" not in bf.per_cycle(0.73) and "one element every 1.4 cycles" in bf.per_cycle(0.73)
    assert bf.per_cycle(1 / 210) == "one element every 210 cycles"
    assert "about one" in bf.per_cycle(1.0)


def test_staircase_title_needs_l1_faster_than_dram():
    assert "but" in bf.staircase_title(185e9, 24e9) and "8x less" in bf.staircase_title(185e9, 24e9)
    assert "about as fast" in bf.staircase_title(25e9, 24e9)


CACHES = {"L1d": 32 * 2**10, "L2": 2**20, "L3": 32 * 2**20}


def test_in_cache_rate_above_dram_when_it_is():
    text = bf.in_cache_rate("numpy.maximum", 8e5, 8e5 / 60e9, 8e5, CACHES, in_dram=24e9)
    assert "fits in L2" in text and "above one core's DRAM plateau" in text


def test_in_cache_rate_below_dram_says_bandwidth_was_not_the_limit():
    text = bf.in_cache_rate("numpy.maximum", 8e5, 8e5 / 15e9, 8e5, CACHES, in_dram=24e9)
    assert "not above" in text and "something other than memory bandwidth" in text
    assert "larger than every cache" in bf.in_cache_rate("x", 1e9, 0.1, 1e9, CACHES, in_dram=24e9)


def test_pace_sentence_blames_the_loop_only_when_a_copy_is_faster():
    assert "the work per element, not moving the bytes" in bf.pace_sentence("numpy.maximum", 12e9, 75e9)
    assert "moving the bytes sets its pace" in bf.pace_sentence("numpy.maximum", 70e9, 75e9)
    assert "too noisy" in bf.pace_sentence("numpy.maximum", 100e9, 50e9)


# ----------------------------------------------------------------------- OpenCL and roofs


def test_beyond_caches_compares_sizes_with_the_last_level_cache():
    assert "4.0x the 32 MiB last-level cache (larger than it)" in bf.beyond_caches(128 * 2**20, 32 * 2**20)
    assert "(within it)" in bf.beyond_caches(16 * 2**20, 32 * 2**20)
    assert "unknown" in bf.beyond_caches(16 * 2**20, None)


def test_against_roof_says_cache_only_above_the_roof_with_cache_sized_data():
    llc = 32 * 2**20
    assert "last-level cache" in bf.against_roof("OpenCL", 53e9, 38e9, 32 * 2**20, llc)  # the stored case
    assert "above" not in bf.against_roof("OpenCL", 30e9, 38e9, 128 * 2**20, llc)
    assert "measured low" in bf.against_roof("OpenCL", 80e9, 38e9, 256 * 2**20, llc)


def test_ridge_title_only_matmuls_when_exactly_the_matmuls_pass():
    kernels = [("add n=1", 0.08), ("dot n=1", 0.25), ("matmul n=64", 10.7), ("matmul n=256", 42.7)]
    assert bf.ridge_title(kernels, 5.2).startswith("Only matmuls pass")
    assert bf.ridge_title(kernels, 20.0).startswith("Only the larger matmuls pass")  # a high ridge: n=64 is left of it
    assert bf.ridge_title(kernels, 100.0).startswith("None of these kernels")
    assert "dot n=1" in bf.ridge_title(kernels, 0.1)


# ------------------------------------------------------------------ pitfall and streaming


def test_pitfall_title_needs_the_synchronised_time_longer():
    assert "2,193x too short" in bf.pitfall_title(2193.0)
    assert "too short" not in bf.pitfall_title(1.05)


def test_lowest_loss_names_a_winner_only_beyond_the_tolerance():
    final = {"streaming SGD (batch 1)": 0.47, "minibatch SGD (batch 64)": 0.44, "large batches (batch 20,000)": 0.43}
    assert bf.lowest_loss_title(final, 0.5).endswith("the lowest loss with large batches")
    final["minibatch SGD (batch 64)"] = 0.4301
    title = bf.lowest_loss_title(final, 0.5)
    assert "lowest" not in title and "within 1%" in title


def test_throughput_and_mapreduce_sentences_follow_the_numbers():
    text = bf.throughput_sentence({"a": 10.0, "b": 1000.0}, 0.5)
    assert "fewest: a" in text and "most: b" in text
    assert "cost more than splitting" in bf.mapreduce_sentence({1: 0.08, 2: 0.13})
    assert "less time" in bf.mapreduce_sentence({1: 0.2, 2: 0.1})
    assert "about the same" in bf.mapreduce_sentence({1: 0.1, 2: 0.11})
    assert "one CPU" in bf.mapreduce_sentence({1: 0.1})


def test_devices_ratios_in_orders_of_magnitude():
    assert bf.orders_of_magnitude(22.0) == "22x (1.3 orders of magnitude)"
    assert "datasheet" in bf.devices_title("H100", 340, 88) and "340x" in bf.devices_title("H100", 340, 88)


# ------------------------------------------------------------------- FLOP per cycle, one way


def ident(vendor: str, family: int, model: int, *flags: str) -> cpu_peak.CPUId:
    return cpu_peak.CPUId(vendor, family, model, frozenset(flags))


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [
        (ident("AuthenticAMD", 0x19, 0x11, "avx2", "fma", "avx512f"), 32),  # Zen 4: AVX-512 double-pumped
        (ident("AuthenticAMD", 0x19, 0x01, "avx2", "fma"), 32),  # Zen 3
        (ident("AuthenticAMD", 0x17, 0x31, "avx2", "fma"), 32),  # Zen 2
        (ident("AuthenticAMD", 0x17, 0x01, "avx2", "fma"), 16),  # Zen: 128-bit pipes
        (ident("GenuineIntel", 6, 0x9E, "avx", "avx2", "fma"), 32),  # Kaby Lake (i7-7700K)
        (ident("GenuineIntel", 6, 0x3A, "avx"), 16),  # Ivy Bridge
        (ident("GenuineIntel", 6, 0x55, "avx2", "fma", "avx512f"), None),  # Skylake-SP: 1 or 2 FMA units
        (ident("AuthenticAMD", 0x1A, 0x02, "avx2", "fma", "avx512f"), None),  # Zen 5
        (ident("ARM", -1, -1, "asimd"), None),
    ],
)
def test_flop_per_cycle_is_derived_or_said_unknown(cpu, expected):
    per_cycle, how = cpu_peak.fp32_flop_per_cycle(cpu)
    assert per_cycle == expected
    assert (f"= {expected}" in how) if expected else ("not derived" in how)


def test_cpu_id_reads_cpuinfo_text():
    text = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nflags\t\t: fma avx2 avx512f\n"
    got = cpu_peak.cpu_id(text)
    assert (got.vendor, got.family, got.model) == ("AuthenticAMD", 25, 17) and "avx512f" in got.flags


def test_peak_check_explains_a_measurement_above_the_nominal_peak():
    zen4 = ident("AuthenticAMD", 0x19, 0x11, "avx512f")
    above = cpu_peak.check_peak(197e9, cores=2, clock_hz=2.6e9, ident=zen4)
    assert above.peak_flop_per_s == pytest.approx(166.4e9)
    assert "turbo" in above.sentence() and "3.08 GHz" in above.sentence()
    below = cpu_peak.check_peak(100e9, cores=2, clock_hz=2.6e9, ident=zen4)
    assert "turbo" not in below.sentence() and "60% of the peak" in below.sentence()
    unknown = cpu_peak.check_peak(100e9, cores=2, clock_hz=2.6e9, ident=ident("ARM", -1, -1))
    assert math.isnan(unknown.peak_flop_per_s) and "unknown" in unknown.sentence()


def test_published_cpus_and_gpus_use_the_same_per_cycle_factor():
    table = reference.published_peaks()
    cpus, gpus = table[table["kind"] == "CPU"], table[table["kind"] == "GPU"]
    assert (cpus["flop_per_cycle_per_core"].round(6) == 32).all()
    assert (gpus["flop_per_cycle_per_core"].round() == 2).all()


def test_dgx1_lecture_figure_is_fp16():
    p100 = reference.PUBLISHED["NVIDIA P100 SXM2 (1/8 of a DGX-1)"]
    assert reference.DGX1_GPUS * reference.P100_SXM2_FP16_FLOP_PER_S == pytest.approx(170e12, rel=0.01)
    assert reference.DGX1_GPUS * p100.flop_per_s == pytest.approx(85e12, rel=0.01)


# ----------------------------------------------------------- GPU figures from elsewhere


def test_copies_floor_says_the_gpu_cannot_win_only_when_the_copies_alone_are_slower():
    slower = bf.copies_floor_sentence("add", 1 << 20, 245e-6, 184e-6, "an H100")
    assert "at least 245 us" in slower and "184 us" in slower and "cannot win" in slower and "1.3x" in slower
    room = bf.copies_floor_sentence("add", 1 << 20, 100e-6, 300e-6, "an H100")
    assert "cannot win" not in room and "3.0x of room" in room


def test_pitfall_prediction_calls_the_timer_too_short_only_when_the_work_outlasts_the_launch():
    long_work = bf.pitfall_prediction(2.65e-6, 6.43e-6, 2 * 4096**3 / 67e12, "a 4096 x 4096 FP32 matmul")
    assert "2.05 ms" in long_work and "774x too short" in long_work
    tiny_work = bf.pitfall_prediction(2.65e-6, 6.43e-6, 2.7e-6, "a tiny add")
    assert "too short" not in tiny_work and "would not show" in tiny_work
