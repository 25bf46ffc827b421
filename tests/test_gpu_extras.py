"""`pip install -e '.[gpu]'` (CUDA 12) and `.[gpu-cuda13]` bring everything the GPU paths need.

numba-cuda alone has no CUDA toolkit: its ``cu12``/``cu13`` extras add the CUDA bindings for that
major version, the runtime, NVRTC and NVVM (libnvvm, which compiles every numba kernel; torch's
wheels do not ship it). CuPy comes per CUDA major version as a separate distribution.
"""

from __future__ import annotations

import importlib.metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT

tomllib = pytest.importorskip("tomllib")

EXTRAS = {"gpu": ("cupy-cuda12x", "cu12"), "gpu-cuda13": ("cupy-cuda13x", "cu13")}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements(extra: str) -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in _project()["optional-dependencies"][extra]]
    return {canonicalize_name(r.name): r for r in reqs}


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_gpu_extra_carries_cupy_and_numba_cuda_with_its_cuda_extra(extra):
    cupy, cuda_extra = EXTRAS[extra]
    reqs = _requirements(extra)
    assert cupy in reqs, f"[{extra}] must install {cupy}"
    assert "numba-cuda" in reqs, f"[{extra}] must install numba-cuda (with its CUDA toolkit extra)"
    assert reqs["numba-cuda"].extras == {cuda_extra}, (
        f"[{extra}] needs numba-cuda[{cuda_extra}] (CUDA bindings, runtime, NVRTC, NVVM), "
        f"not numba-cuda{sorted(reqs['numba-cuda'].extras)}"
    )


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_gpu_extra_keeps_the_tested_numba_cuda(extra):
    core = {canonicalize_name(Requirement(r).name): Requirement(r) for r in _project()["dependencies"]}
    assert _requirements(extra)["numba-cuda"].specifier == core["numba-cuda"].specifier, (
        "the gpu extras must not move numba-cuda away from the version range the course is tested with"
    )


def test_installed_numba_cuda_offers_the_cuda_extras():
    """The extras named above exist in the numba-cuda release installed (and tested) here."""
    try:
        meta = importlib.metadata.metadata("numba-cuda")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("numba-cuda is not installed")
    offered = set(meta.get_all("Provides-Extra") or [])
    assert {"cu12", "cu13"} <= offered, f"numba-cuda {meta['Version']} offers extras {sorted(offered)}"
    core = {canonicalize_name(Requirement(r).name): Requirement(r) for r in _project()["dependencies"]}
    assert core["numba-cuda"].specifier.contains(meta["Version"])
