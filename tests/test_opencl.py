"""coursekit.gpu.opencl: available only when a probe kernel builds and runs; one clear line otherwise."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from coursekit import settings
from coursekit.gpu import opencl

ZEN5_LOG = (
    "clBuildProgram failed: BUILD_PROGRAM_FAILURE - clBuildProgram failed: BUILD_PROGRAM_FAILURE\n\n"
    "Build on <pyopencl.Device 'pthread-AMD EPYC 9B45'>:\n\nerror: unknown target CPU 'generic'\n"
    "note: valid target CPU values are: nocona, core2, ..."
)


@pytest.fixture
def fresh(monkeypatch):
    """opencl with its cached verdict cleared before and after, and the switch unset."""
    monkeypatch.delenv(settings.NO_OPENCL_ENV, raising=False)
    opencl.verdict.cache_clear()
    yield opencl
    opencl.verdict.cache_clear()


def _real_devices():
    try:
        import pyopencl as cl

        return cl, opencl._cpu_devices(cl)
    except Exception:  # noqa: BLE001 - no pyopencl or no platform: nothing real to patch
        return None, []


def test_failed_pocl_build_means_not_available(fresh, monkeypatch):
    cl, devices = _real_devices()
    if not devices:
        pytest.skip("no OpenCL CPU device listed here, so no build to make fail")

    def failing_build(self, *args, **kwargs):
        raise cl.RuntimeError(ZEN5_LOG)

    monkeypatch.setattr(cl.Program, "build", failing_build)
    assert fresh.available() is False
    line = fresh.describe()
    assert "\n" not in line
    assert "unknown target CPU 'generic'" in line, line
    assert "apt-get install pocl-opencl-icd" in line, "the fix must be named"
    assert len(fresh.verdict().failures) == len(devices), "every listed device must have been tried"
    with pytest.raises(RuntimeError, match="unknown target CPU"):
        fresh.context()


def test_first_working_device_is_taken(fresh, monkeypatch):
    cl, devices = _real_devices()
    if not devices:
        pytest.skip("no OpenCL CPU device listed here")
    real_probe = opencl._run_probe
    broken = devices[0].int_ptr

    def probe(cl_module, device):
        if device.int_ptr == broken:
            raise cl_module.RuntimeError(ZEN5_LOG)
        return real_probe(cl_module, device)

    monkeypatch.setattr(opencl, "_run_probe", probe)
    v = fresh.verdict()
    assert len(v.failures) == 1 and "unknown target CPU" in v.failures[0]
    if len(devices) == 1:
        assert v.device is None and not fresh.available()
    else:
        assert v.device is not None and v.device.int_ptr != broken
        assert "skipped 1 that cannot build kernels" in fresh.describe()


def test_wrong_answer_from_the_probe_means_not_available(fresh, monkeypatch):
    _, devices = _real_devices()
    if not devices:
        pytest.skip("no OpenCL CPU device listed here")
    monkeypatch.setattr(opencl, "PROBE_SOURCE", opencl.PROBE_SOURCE.replace("+ 1.0f", "+ 2.0f"))
    assert fresh.available() is False
    assert "wrong values" in fresh.describe()


def test_without_pyopencl(fresh, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyopencl", None)  # makes `import pyopencl` raise ImportError
    assert fresh.available() is False
    assert "pyopencl is not installed" in fresh.describe()
    assert "pocl-opencl-icd" in fresh.describe()


def test_switch_hides_opencl(fresh, monkeypatch):
    monkeypatch.setenv(settings.NO_OPENCL_ENV, "1")
    assert fresh.available() is False
    assert fresh.describe() == "OpenCL: not available: switched off by COURSEKIT_NO_OPENCL=1."


def test_system_icds_are_used_only_when_unset_and_present(monkeypatch, tmp_path):
    monkeypatch.delenv("OCL_ICD_VENDORS", raising=False)
    assert opencl.use_system_icds(str(tmp_path / "absent")) is False
    assert "OCL_ICD_VENDORS" not in os.environ
    assert opencl.use_system_icds(str(tmp_path)) is True
    assert os.environ["OCL_ICD_VENDORS"] == str(tmp_path)
    monkeypatch.setenv("OCL_ICD_VENDORS", "/somewhere/else")
    assert opencl.use_system_icds(str(tmp_path)) is False
    assert os.environ["OCL_ICD_VENDORS"] == "/somewhere/else", "a user's choice is never overwritten"


def test_relu_kernel_on_the_chosen_device_matches_numpy(fresh):
    if not fresh.available():
        pytest.skip(fresh.describe())
    src = """__kernel void relu(__global const float *x, __global float *out, const int n) {
        int i = get_global_id(0); if (i < n) out[i] = fmax(x[i], 0.0f); }"""
    _, queue = fresh.context()
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)  # not a multiple of any group size
    xb, ob = fresh.to_device(x), fresh.device_empty(x.nbytes)
    fresh.build(src).relu(queue, (1024,), None, xb, ob, np.int32(1000))  # 24 surplus work-items
    out = fresh.to_host(ob, np.empty_like(x))
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    assert fresh.verdict().device.name.strip() in fresh.describe()


# The notebooks without OpenCL (COURSEKIT_NO_OPENCL=1: each OpenCL cell prints one line, none raises)
# run in `make test-portable`, with the AVX2 paths forced and one CPU: CI's second lane. Running
# notebooks 01 and 02 a second time here cost 45 s of `make test`.
