"""coursekit.machine.cpu_paths: which SIMD path each library took, and the forced-AVX2 environment."""

from __future__ import annotations

import pytest

from coursekit.machine import cpu_paths


def test_avx2_env_names_every_library_and_only_numpy_targets_this_cpu_has():
    env = cpu_paths.avx2_env()
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["NUMBA_CPU_NAME"] == "haswell"
    assert env["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    from numpy._core import _multiarray_umath as umath

    for target in env.get("NPY_DISABLE_CPU_FEATURES", "").split():
        assert umath.__cpu_features__.get(target), f"numpy refuses to disable {target}, which this CPU lacks"


def test_check_avx2_paths_names_each_library_off_the_avx2_path():
    on = {
        "numpy": "X86_V3",
        "OpenBLAS": "Haswell",
        "torch": "AVX2",
        "oneDNN": "Intel AVX2",
        "numba": "haswell",
        "inductor": "avx2",
    }
    assert cpu_paths.check_avx2_paths(on) == []
    off = {**on, "numpy": "AVX512_ICL", "oneDNN": "Intel AVX-512 with Intel DL Boost", "torch": "AVX512"}
    assert [w.split(":")[0] for w in cpu_paths.check_avx2_paths(off)] == ["numpy", "torch", "oneDNN"]
    assert [w.split(":")[0] for w in cpu_paths.check_avx2_paths({**on, "inductor": "avx512"})] == ["inductor"]
    assert cpu_paths.check_avx2_paths({**on, "OpenBLAS": "unknown (threadpoolctl is not installed)"}) == []


@pytest.mark.slow
def test_forced_environment_is_honoured_by_every_library_here():
    """A child process with avx2_env() takes the AVX2 path in numpy, OpenBLAS, torch, oneDNN, numba and
    torch.compile's generated C++."""
    import os

    paths = cpu_paths._probe({**os.environ, **cpu_paths.avx2_env()})
    assert cpu_paths.check_avx2_paths(paths) == [], paths
