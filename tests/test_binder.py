"""binder/ matches the package's dependencies and the pinned versions the tests use."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import ROOT

tomllib = pytest.importorskip("tomllib")
BINDER = ROOT / "binder"


def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one specifier per line ...
        assert spec.operator == "==", f"{path.name}: {line!r} must be pinned with =="  # ... and a pin
        pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_binder_pins_every_core_dependency_within_its_range():
    pins = _pins(BINDER / "requirements.txt")
    for dep in _project()["dependencies"]:
        req = Requirement(dep)
        name = canonicalize_name(req.name)
        assert name in pins, f"binder/requirements.txt does not pin {req.name}"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name} {pins[name]} is outside {req.specifier}"


def test_binder_pins_equal_the_tested_constraints():
    binder = _pins(BINDER / "requirements.txt")
    constraints = _pins(ROOT / "requirements" / "constraints.txt")
    for name, version in binder.items():
        assert name in constraints, f"{name} is pinned for Binder but not tested (requirements/constraints.txt)"
        assert version.public == constraints[name].public, f"{name}: Binder {version} vs tested {constraints[name]}"


def test_binder_does_not_install_the_package_from_requirements():
    text = (BINDER / "requirements.txt").read_text()
    pattern = r"^\s*(-e\s+)?\.(\[.*\])?\s*$"
    assert not re.search(pattern, text, re.M), "no `-e .` in requirements.txt: it defeats the cache"


def test_postbuild_installs_coursekit_strictly():
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK), "postBuild must be executable"
    text = post.read_text()
    assert "set -euo pipefail" in text
    assert re.search(r"pip install --no-deps -e \.", text)


def test_runtime_satisfies_requires_python():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"runtime.txt should read like python-3.11, not {runtime!r}"
    assert SpecifierSet(_project()["requires-python"]).contains(match.group(1) + ".0")


def test_repo2docker_accepts_the_configuration():
    exe = Path(sys.executable).with_name("repo2docker")
    if not exe.exists():
        pytest.skip("jupyter-repo2docker is not installed (it is in the dev extra)")
    out = subprocess.run([str(exe), "--no-build", "--debug", str(ROOT)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    dockerfile = out.stdout + out.stderr
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in dockerfile
    assert "./binder/postBuild" in dockerfile


def test_binder_and_ci_install_a_pocl_that_builds_on_recent_cpus():
    apt = (BINDER / "apt.txt").read_text().split()
    assert "pocl-opencl-icd" in apt, "binder/apt.txt must install Debian's PoCL (repo2docker reads it)"
    assert "pocl-opencl-icd" in (ROOT / ".ci" / "run").read_text(), ".ci/run must install Debian's PoCL"
