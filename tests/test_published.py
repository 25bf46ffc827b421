"""coursekit.perf.published: the shipped published measurements keep their sources, look-ups find
the right device and precision, labels say the tier, and a malformed entry is refused by name."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from coursekit.perf import published
from coursekit.perf.reference import GPUResult

FILES = sorted(published.published_dir().glob("*.json"))
ENTRIES = published.load()


def test_the_folder_ships_files_and_a_readme():
    assert FILES, f"no published measurements in {published.published_dir()}"
    readme = (published.published_dir() / "README.md").read_text()
    for path in FILES:
        assert f"`{path.name}`" in readme, f"{path.name} is not described in data/published/README.md"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_entry_has_its_source_and_a_checkable_figure(path):
    entries = published.read_file(path)  # raises on any schema breach
    assert entries
    for e in entries:
        assert e.value > 0 and e.unit in published.UNITS
        assert published.UNITS[e.unit][0] == published.QUANTITIES[e.quantity][0]
        assert e.quote.strip() and len(e.quote) < published.MAX_QUOTE
        published.parse_date(e.date)
        assert e.date_kind in published.DATE_KINDS
        assert e.device.strip() and e.what.strip() and e.software.strip() and e.section.strip()
        s = e.source
        assert s.title and s.author and s.url.startswith("https://") and s.read
        if s.kind == "repository":
            assert s.repository and s.path and s.commit and len(s.commit) == 40
            assert s.url.endswith(s.path) and s.commit in s.url
        if s.kind == "issue":
            assert s.repository and s.issue and s.url.endswith(str(s.issue))


def test_ids_are_unique_and_dates_are_not_in_the_future():
    ids = [e.id for e in ENTRIES]
    assert len(ids) == len(set(ids))
    for e in ENTRIES:
        assert published.parse_date(e.date) <= published.parse_date(e.source.read), e.id


def test_the_issue_targets_are_covered():
    covered = {e.quantity for e in ENTRIES}
    wanted = {"triad_bandwidth", "matmul_flops", "h2d_bandwidth", "d2h_bandwidth", "allreduce_busbw", "op_overhead"}
    wanted |= {"kernel_launch_latency"}
    assert wanted <= covered, wanted - covered
    assert published.find("h2d_bandwidth", "A100", host_memory="pageable")
    assert published.find("h2d_bandwidth", "T4", host_memory="pinned")
    assert len(published.find("matmul_flops", "A6000", precision="fp32")) >= 10  # the naive-to-cuBLAS ladder


# ------------------------------------------------------------------------------ look-ups


def test_h200_triad_is_the_azure_babelstream_figure():
    (triad,) = published.find("triad_bandwidth", device="H200")
    assert (triad.value, triad.unit) == (4.15, "TB/s")
    assert published.si_value(triad) == 4.15e12
    assert triad.source.repository == "Azure/AI-benchmarking-guide"


def test_device_words_match_whole_words_only():
    assert published.device_matches("NVIDIA H200 141GB (Azure ND H200 v5 VM, 8 GPUs)", "h200")
    assert not published.device_matches("NVIDIA GH200 SXM (900W 141GiB HBM3e version)", "H200")
    assert published.device_matches("NVIDIA A100 80GB PCIe (in a Dell server)", "A100 PCIe")
    assert not published.device_matches("NVIDIA A100-SXM4-80GB (in an NVIDIA DGX A100)", "A100 PCIe")
    assert all("GH200" not in e.device for e in published.find("matmul_flops", "H200"))


def test_find_filters_precision_and_conditions_newest_first():
    bf16 = published.find("matmul_flops", "H100 SXM", precision="bf16")
    assert [e.id for e in bf16] == ["mamf-h100-sxm-bf16"]
    fp8 = published.find("matmul_flops", "H100", precision="fp8_e4m3")
    assert {e.precision for e in fp8} == {"fp8_e4m3"} and len(fp8) >= 2
    dates = [published.parse_date(e.date) for e in fp8]
    assert dates == sorted(dates, reverse=True)
    pinned = published.find("h2d_bandwidth", "A100-SXM4-80GB", host_memory="pinned")
    pageable = published.find("h2d_bandwidth", "A100-SXM4-80GB", host_memory="pageable")
    assert pinned and pageable and all(e.conditions["host_memory"] == "pinned" for e in pinned)
    assert max(e.value for e in pageable) < min(e.value for e in pinned)
    with pytest.raises(KeyError, match="unknown quantity"):
        published.find("bandwidth")


def test_raw_launch_is_cheaper_than_the_framework_call_on_the_same_gpu():
    (raw,) = published.find("kernel_launch_latency", "GB200")
    framework = published.find("op_overhead", "GB200")
    assert framework and all(published.si_value(raw) < published.si_value(e) for e in framework)
    assert published.si_value(raw) == 3.0e-6


def test_get_and_table():
    assert published.get("sgemm-a6000-kernel1").value == 309.0
    with pytest.raises(KeyError, match="no-such-id"):
        published.get("no-such-id")
    frame = published.table("triad_bandwidth")
    assert set(frame["quantity"]) == {"triad_bandwidth"} and "azure-h200-babelstream-triad" in frame.index


# ------------------------------------------------------------------------------ labels and the tier


def test_label_names_tier_device_what_source_and_date():
    e = published.get("azure-h200-babelstream-triad")
    text = published.label(e)
    assert text.startswith("published measurement: NVIDIA H200 141GB")
    assert "BabelStream triad" in text and "Azure/AI-benchmarking-guide" in text and "2024-09-24" in text
    assert "Azure_Results/ND_H200_v5_results.md@8fd0c6e" in text
    assert published.describe(e).startswith("4.15 TB/s")
    issue = published.get("flaggems4558-a100-torch-add-1x4096")
    assert "flagos-ai/FlagGems#4558" in published.label(issue)


def test_published_result_has_the_gpu_result_shape():
    result = published.published_result("triad_bandwidth", "H200")
    assert isinstance(result, GPUResult) and bool(result)
    assert result.source == "published measurement" and result.value == 4.15e12
    assert result.label == published.label(published.get("azure-h200-babelstream-triad"))
    raw = published.published_result("triad_bandwidth", "H200", si=False)
    assert isinstance(raw.value, published.Entry)
    none = published.published_result("kernel_launch_latency", "H100")
    assert not none and none.source == "none" and none.value is None
    assert "no published measurement of kernel_launch_latency on H100" in none.label


def test_published_result_refuses_to_mix_precisions():
    with pytest.raises(ValueError, match="precision"):
        published.published_result("matmul_flops", "H100")
    assert published.published_result("matmul_flops", "H100 SXM", precision="bf16").value == 794.5e12


# ------------------------------------------------------------------------------ malformed data


def _good_doc() -> dict:
    return json.loads((published.published_dir() / "azure-nd-h200-v5.json").read_text())


def _write(tmp_path: Path, doc: dict, name: str = "bad.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("unit", "GB/sec", "field 'unit': 'GB/sec' is not an allowed unit"),
        ("unit", "TFLOP/s", "is a flops unit"),
        ("quantity", "bandwidth", "field 'quantity'"),
        ("value", 0, "field 'value' must be a finite number > 0"),
        ("value", -1.5, "field 'value'"),
        ("value", "4.15", "field 'value'"),
        ("value", True, "field 'value'"),
        ("value", 4.2, "does not contain the figure 4.2"),
        ("quote", "", "field 'quote'"),
        ("quote", "x" * 250 + " 4.15", "shorter than 200"),
        ("date", "24/09/2024", "field 'date' is not an ISO date"),
        ("date_kind", "guessed", "field 'date_kind'"),
        ("device", "", "field 'device' must be a non-empty string"),
        ("software", None, "field 'software'"),
        ("conditions", "pinned", "field 'conditions'"),
    ],
)
def test_a_malformed_entry_is_rejected_by_file_entry_and_field(tmp_path, field, value, message):
    doc = _good_doc()
    entry = doc["entries"][0]
    if value is None:
        del entry[field]
    else:
        entry[field] = value
    path = _write(tmp_path, doc)
    with pytest.raises(published.PublishedDataError, match=message) as err:
        published.read_file(path)
    assert str(path) in str(err.value) and repr(entry["id"]) in str(err.value)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("path", None, "field 'path'"),
        ("commit", "8fd0c6e", "40 hex digits"),
        ("url", "http://example.com", "https://"),
        ("kind", "blog", "field 'kind'"),
        ("read", "yesterday", "field 'read'"),
        ("title", "  ", "field 'title'"),
    ],
)
def test_a_source_without_its_fields_is_rejected(tmp_path, field, value, message):
    doc = _good_doc()
    if value is None:
        del doc["source"][field]
    else:
        doc["source"][field] = value
    with pytest.raises(published.PublishedDataError, match=message):
        published.read_file(_write(tmp_path, doc))


def test_whole_file_problems_are_named(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(published.PublishedDataError, match="broken.json: not valid JSON"):
        published.read_file(tmp_path / "broken.json")
    doc = _good_doc()
    doc["schema"] = "something-else"
    with pytest.raises(published.PublishedDataError, match="'schema'"):
        published.read_file(_write(tmp_path, doc))
    doc = _good_doc()
    doc["entries"] = []
    with pytest.raises(published.PublishedDataError, match="'entries' must be a non-empty list"):
        published.read_file(_write(tmp_path, doc))


def test_duplicate_ids_across_files_are_rejected(tmp_path):
    doc = _good_doc()
    _write(tmp_path, doc, "a.json")
    _write(tmp_path, copy.deepcopy(doc), "b.json")
    with pytest.raises(published.PublishedDataError, match="also used in a.json"):
        published.load(tmp_path)


def test_an_absent_folder_gives_no_entries(tmp_path):
    assert published.load(tmp_path / "missing") == []
    assert published.find("triad_bandwidth", "H200", entries=[]) == []
