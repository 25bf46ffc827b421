"""benchmarks/gpu_lane.py: its dry run proves, on any machine, that every GPU step is wired.

The dry run runs each step on the CPU and numba-cuda's simulator at tiny sizes; these tests check
the files it leaves (summary, log, reference JSON that loads with coursekit.perf.roofline), that it never
writes into data/reference/, and that a failing step is reported without a reference being written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from coursekit.perf import reference

from conftest import ROOT

REFERENCE_DIR = ROOT / "data" / "reference"


def _env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "COURSEKIT_QUICK")}
    env.update(COURSEKIT_FORCE_CPU="1", COURSEKIT_CACHE_DIR=str(tmp_path / "cache"))  # a dry run anywhere
    return env


def test_dry_run_runs_every_step_and_writes_a_reference_that_loads(tmp_path):
    before = sorted(p.name for p in REFERENCE_DIR.iterdir())
    out = subprocess.run(
        [sys.executable, "benchmarks/gpu_lane.py", "--out", str(tmp_path / "lane")],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert sorted(p.name for p in REFERENCE_DIR.iterdir()) == before, "a dry run must not touch data/reference/"
    lane = tmp_path / "lane"
    assert "DRY RUN" in (lane / "lane.log").read_text()

    summary = json.loads((lane / "summary.json").read_text())
    assert summary["dry_run"] is True and summary["ok"] is True
    steps = {s["step"]: s["status"] for s in summary["steps"]}
    expected = [
        "preflight",
        "precision",
        "recorded",
        "ceilings",
        "kernels",
        "async_pitfall",
        "crossover",
        "matmul_kernels",
        "divergence",
        "reduction",
        "transpose",
        "divergence_sweep",
        "block_size",
        "streams",
        "minibatch",
        "softmax_regression",
        "compile_speedup",
        "applications",
        "reference",
    ]
    assert list(steps) == expected and set(steps.values()) == {"ok"}
    assert summary["results"]["precision"]["float64_findings"] == 0
    assert len(summary["results"]["precision"]["kernels"]) >= 10

    (path,) = [p for p in lane.glob("*.json") if p.name != "summary.json"]
    assert summary["results"]["reference"]["path"] == str(path) and summary["results"]["reference"]["reference"] is None
    data = json.loads(path.read_text())
    assert "NOT a GPU reference" in data["recorded"]["device"]
    assert {"date", "versions", "host_cpu", "driver", "cuda"} <= set(data["recorded"])
    assert data["recorded"]["versions"]["numba-cuda"]
    pit = data["async_pitfall"]
    assert pit["repeats"] >= 3 and pit["synchronised_s"] > 0 and pit["unsynchronised_s"] > 0
    assert {"unsynchronised_iqr_s", "synchronised_iqr_s"} <= set(pit)
    assert {row["op"] for row in data["crossover"]} == {"add", "matmul"}
    mm = data["matmul_kernels"]
    assert mm["naive_rel_error"] < 1e-5 and mm["tiled_rel_error"] < 1e-5, "both kernels computed A @ B"
    assert min(mm["naive_s"], mm["tiled_s"], mm["cublas_s"], mm["stencil_s"]) > 0
    assert data["divergence"]["agree_s"] > 0 and data["divergence"]["alternate_s"] > 0
    assert [r["segment_length"] for r in data["divergence_sweep"]] == [1, 32, 64]
    assert [r["paths_per_warp"] for r in data["divergence_sweep"]] == [2, 1, 1]
    assert [r["threads_per_block"] for r in data["block_size"]["rows"]] == [32, 64, 128]
    assert data["streams"]["n_streams"] == 2 and data["streams"]["serial_s"] > 0
    lenet = data["minibatch"]["lenet_inference"]
    assert [r["batch"] for r in lenet] == [1, 8] and all(r["images_per_s"] > 0 for r in lenet)
    assert all(r["examples_per_s"] > 0 for r in data["minibatch"]["softmax_grad"])

    ceilings, kernels = reference.load_reference("dry run", directory=lane)
    assert ceilings.source == "recorded" and ceilings.name == data["recorded"]["device"]
    assert len(kernels) >= 5 and all(k.device == ceilings.name and k.seconds > 0 for k in kernels)
    assert reference.reference_data("dry run", directory=lane)["divergence"] == data["divergence"]


FAILING = r"""
import sys
sys.path.insert(0, "benchmarks")
import record_reference as rr
import gpu_lane

def broken(dev):
    raise RuntimeError("simulated failure")

gpu_lane.preflight = gpu_lane.precision = lambda gpu: {"skipped in this test": True}
rr.STEPS.clear()
rr.STEPS.update({"recorded": rr.environment, "ceilings": broken})
sys.exit(gpu_lane.main(["--dry-run", "--out", sys.argv[1]]))
"""


def test_a_failing_step_is_reported_and_no_reference_is_written(tmp_path):
    lane = tmp_path / "lane"
    out = subprocess.run(
        [sys.executable, "-c", FAILING, str(lane)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    summary = json.loads((lane / "summary.json").read_text())
    steps = {s["step"]: s for s in summary["steps"]}
    assert summary["ok"] is False
    assert steps["ceilings"]["status"] == "failed" and "simulated failure" in steps["ceilings"]["error"]
    assert steps["reference"]["status"] == "skipped"
    assert "simulated failure" in (lane / "lane.log").read_text(), "the traceback is in the log"
    assert json.loads((lane / "partial-recording.json").read_text())["recorded"]["device"]
    assert sorted(p.name for p in lane.glob("*.json")) == ["partial-recording.json", "summary.json"]
