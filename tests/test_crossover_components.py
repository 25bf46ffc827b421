"""crossover.bound_from_components: a GPU bound built from one figure per component, each labelled
with its basis (published measurement, datasheet peak, typical value), and drawn unlike a measurement."""

from __future__ import annotations

import matplotlib
import pytest

from coursekit.perf import crossover, published

matplotlib.use("Agg")


def parts(**override: float) -> dict[str, crossover.Part]:
    values = {
        "flop_per_s": 1e12,
        "bytes_per_s": 1e11,
        "h2d_bytes_per_s": 1e10,
        "d2h_bytes_per_s": 2e10,
        "launch_s": 1e-6,
        "copy_latency_s": 2e-6,
    }
    values.update(override)
    return {key: crossover.Part(value, "made up", "a test") for key, value in values.items()}


def test_bound_adds_launch_the_slower_of_compute_and_memory_and_each_copy_at_its_own_rate():
    frame = crossover.bound_from_components("add", [1000], parts())
    # add: 1000 FLOP, 12,000 bytes in device memory, 8,000 bytes in and 4,000 out over the link
    assert frame.loc[0, "compute_s"] == pytest.approx(1e-6 + 12_000 / 1e11)
    copies = 3 * 2e-6 + 8_000 / 1e10 + 4_000 / 2e10
    assert frame.loc[0, "with_copies_s"] == pytest.approx(frame.loc[0, "compute_s"] + copies)
    big = crossover.bound_from_components("matmul", [1024], parts(launch_s=0.0))
    assert big.loc[0, "compute_s"] == pytest.approx(2 * 1024**3 / 1e12), "a large matmul is compute-bound"


def test_bound_refuses_a_missing_component():
    incomplete = parts()
    del incomplete["copy_latency_s"]
    with pytest.raises(KeyError, match="copy_latency_s"):
        crossover.bound_from_components("add", [16], incomplete)


def test_a_published_part_is_in_si_units_and_names_its_source():
    entry = published.get("azure-h100-nvbandwidth-h2d")
    part = crossover.Part.from_entry(entry, "note")
    assert part.value == 51e9 and part.basis == published.TIER
    assert entry.device in part.source and entry.source.cite() in part.source and part.source.endswith("; note")


def test_lines_and_legend_say_the_basis_of_each_component():
    mixed = parts()
    mixed["flop_per_s"] = crossover.Part(67e12, "datasheet peak", "H100 datasheet")
    lines = crossover.parts_lines(mixed)
    assert lines[0] == "FP32 compute: 67 TFLOP/s (datasheet peak: H100 datasheet)"
    assert len(lines) == len(crossover.COMPONENTS)
    legend = crossover.parts_legend("H100", mixed)
    assert legend.startswith("H100 bound: FP32 peak = datasheet peak; memory, copy in")
    assert "launch, copy latency = made up" in legend


def test_plot_draws_a_bound_without_markers_and_says_so():
    cpu = crossover.bound_from_components("add", [16, 32], parts(launch_s=0.0, copy_latency_s=0.0))
    cpu["with_copies_s"] = cpu["compute_s"]
    gpu = crossover.bound_from_components("add", [16, 32], parts())
    ax = crossover.plot({"CPU": cpu, "GPU": gpu}, "add", bounds=["GPU"])
    styles = {line.get_label(): (line.get_linestyle(), line.get_marker()) for line in ax.get_lines()}
    assert styles["CPU"] == ("-", "o"), "a measurement: markers and a solid line"
    assert styles["GPU (bound, not measured)"] == (":", "None")
    assert styles["the same bound + copies"] == ("-.", "None")
