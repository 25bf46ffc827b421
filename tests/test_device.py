"""coursekit.machine.device: detection that never crashes, with and without GPU libraries."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import numpy as np
import pandas as pd
import pytest

from coursekit.machine import device

from conftest import run_python


def _fake_cupy(available: bool, first_array_raises: bool) -> types.ModuleType:
    """A stand-in for CuPy installed on a machine whose GPU is missing or unusable."""
    cupy = types.ModuleType("cupy")
    cupy.__spec__ = importlib.machinery.ModuleSpec("cupy", None)

    class CUDARuntimeError(RuntimeError):
        pass

    def zeros(*_args, **_kwargs):
        if first_array_raises:
            raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return np.zeros(*_args)

    cupy.zeros = zeros
    cupy.cuda = types.SimpleNamespace(is_available=lambda: available)
    return cupy


def test_describe_has_a_cpu_row_with_facts(fresh_device):
    table = fresh_device.describe()
    assert isinstance(table, pd.DataFrame)
    assert list(table.index) == ["CPU"], "with COURSEKIT_FORCE_CPU=1 only the CPU is listed"
    row = table.loc["CPU"]
    assert row["cores"] >= 1 and row["logical"] >= row["cores"]
    assert row["memory_gib"] > 0
    assert row["vector_bits"] in (0, 128, 256, 512)
    for column in ("name", "cores", "logical", "simd", "vector_bits", "memory_gib", "driver"):
        assert column in table.columns


@pytest.mark.parametrize(
    "flags, first, bits",
    [
        ({"sse2", "avx", "avx2", "fma", "avx512f"}, "AVX-512", 512),
        ({"sse2", "sse4_2", "avx", "avx2"}, "AVX2", 256),
        ({"sse2"}, "SSE2", 128),
        ({"fp", "asimd"}, "NEON", 128),
        (set(), None, 0),
    ],
)
def test_simd_extensions_from_cpu_flags(fresh_device, flags, first, bits):
    names, width = fresh_device.simd_extensions(flags)
    assert (names[0] if names else None) == first
    assert width == bits


def test_no_gpu_means_numpy_everywhere(fresh_device):
    assert not fresh_device.gpu_available()
    assert fresh_device.get_xp("auto") is np
    assert fresh_device.get_xp("cpu") is np
    fresh_device.sync()  # a no-op without a GPU: must not raise
    fresh_device.sync("cpu")


def test_no_cupy_installed(fresh_device, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    monkeypatch.setattr(fresh_device, "_installed", lambda name: name != "cupy" and name in ("numpy", "torch"))
    assert fresh_device.backends()["cupy"] is False
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        fresh_device.get_xp("cuda")


@pytest.mark.parametrize("available, raises", [(False, False), (True, True)])
def test_cupy_without_a_device_counts_as_no_gpu(fresh_device, monkeypatch, available, raises):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(available, raises))
    assert fresh_device._cupy_usable() is False
    assert fresh_device.backends()["cupy"] is False
    assert fresh_device.get_xp("auto") is np
    with pytest.raises(RuntimeError, match="no usable GPU"):
        fresh_device.get_xp("gpu")
    fresh_device.sync()  # must not touch the fake CuPy's (absent) device


def test_get_xp_rejects_unknown_devices(fresh_device):
    with pytest.raises(ValueError, match="unknown device"):
        fresh_device.get_xp("tpu")


def test_torch_cpu_only(fresh_device, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def must_not_run():
        raise AssertionError("sync() called torch.cuda.synchronize() without a GPU")

    monkeypatch.setattr(torch.cuda, "synchronize", must_not_run)
    found = fresh_device.backends()
    assert found["torch"] is True and found["torch-cuda"] is False
    fresh_device.sync()


def test_sync_waits_on_each_imported_gpu_library(fresh_device, monkeypatch):
    """On the GPU path sync() must call each framework's synchronise (fake libraries here)."""
    calls = []
    torch = types.SimpleNamespace(
        cuda=types.SimpleNamespace(
            is_available=lambda: True, is_initialized=lambda: True, synchronize=lambda: calls.append("torch")
        )
    )
    stream = types.SimpleNamespace(synchronize=lambda: calls.append("cupy"))
    cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(get_current_stream=lambda: stream))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.delitem(sys.modules, "numba.cuda", raising=False)
    monkeypatch.setattr(fresh_device, "gpu_available", lambda: True)
    fresh_device.sync()
    assert calls == ["torch", "cupy"]
    calls.clear()
    fresh_device.sync("cpu")
    assert calls == []


def test_simulator_switched_on_without_gpu_before_numba_loads():
    out = run_python(
        "import sys, coursekit as ck\n"
        "s = ck.setup(verbose=False)\n"
        "assert 'numba' not in sys.modules\n"
        "from coursekit.machine import device\n"
        "from numba import cuda\n"
        "import numpy as np\n"
        "@cuda.jit\n"
        "def k(x):\n"
        "    i = cuda.grid(1)\n"
        "    if i < x.size:\n"
        "        x[i] = i\n"
        "x = np.zeros(37)\n"
        "k[2, 32](x)\n"
        "assert (x == np.arange(37)).all()\n"
        "b = device.backends()\n"
        "print(s.simulator, b['numba-cuda-simulator'], b['numba-cuda'])\n",
        env={"COURSEKIT_FORCE_CPU": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "False"]


def test_setup_after_numba_cuda_import_explains_what_to_do():
    out = run_python(
        "from numba import cuda\nimport coursekit as ck\nck.setup()\n",
        env={"COURSEKIT_FORCE_CPU": "1"},
    )
    assert out.returncode != 0
    assert "Restart the kernel" in out.stderr


def test_setup_after_plain_numba_import_still_enables_simulator():
    out = run_python(
        "import numba, coursekit as ck\nck.setup(verbose=False)\nfrom numba import cuda\n"
        "from coursekit.gpu import sim_switch\nprint(sim_switch.enabled(), type(cuda.gpus).__name__)\n",
        env={"COURSEKIT_FORCE_CPU": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "FakeDeviceList"]


def test_importing_coursekit_loads_no_heavy_framework():
    out = run_python("import sys, coursekit\nprint(sorted(m for m in ('numba', 'torch', 'cupy') if m in sys.modules))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_summary_line_names_cpu_and_gpu_state(fresh_device):
    line = fresh_device.summary_line()
    assert line.startswith("CPU: ") and "GPU: none" in line


def test_importing_coursekit_loads_no_heavy_library():
    out = run_python(
        "import sys, coursekit\n"
        "heavy = [m for m in ('pandas', 'numba', 'torch', 'cupy', 'matplotlib') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"import coursekit loaded {out.stdout.strip()}"


@pytest.mark.parametrize("name, expected", [("cpu", "cpu"), ("CUDA", "cuda"), ("gpu", "cuda"), (" Auto ", "auto")])
def test_parse_device_accepts_the_course_names(name, expected):
    assert device.parse_device(name) == expected


def test_parse_device_names_the_caller_and_the_choices():
    with pytest.raises(ValueError, match=r"Timer: unknown device 'tpu'; use 'cpu' or 'cuda'"):
        device.parse_device("tpu", allow_auto=False, who="Timer")
    with pytest.raises(ValueError, match="use 'cpu' or 'cuda'"):
        device.parse_device("auto", allow_auto=False)


def test_cgroup_quota_v2_and_v1(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert device._cgroup_cpu_limit(v2) == 1.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert device._cgroup_cpu_limit(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert device._cgroup_cpu_limit(v1) == 2.0
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert device._cgroup_cpu_limit(v1) is None
    assert device._cgroup_cpu_limit(tmp_path / "absent") is None


def test_usable_cpus_honours_affinity_and_quota(monkeypatch):
    def usable():  # the answer is cached per process: ask afresh after each change
        device.usable_cpus.cache_clear()
        return device.usable_cpus()

    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(device, "_cgroup_cpu_limit", lambda: None)
    try:
        assert device.affinity_cpus() == {0, 1, 2, 3}
        assert usable() == 4
        monkeypatch.setattr(device, "_cgroup_cpu_limit", lambda: 1.5)  # a Binder-like quota: 1.5 CPUs
        assert usable() == 2
        monkeypatch.setattr(device, "_cgroup_cpu_limit", lambda: 8.0)
        assert usable() == 4
    finally:
        device.usable_cpus.cache_clear()


def test_the_cuda_room_refuses_to_load_before_the_simulator_switch():
    out = run_python(
        "try:\n"
        "    import coursekit.gpu.kernels\n"
        "except RuntimeError as exc:\n"
        "    print('refused:', exc)\n"
        "import sys\n"
        "print('numba loaded:', 'numba' in sys.modules)\n"
    )
    assert out.returncode == 0, out.stderr
    assert "refused: coursekit.gpu.kernels needs numba-cuda's simulator switch decided" in out.stdout
    assert "ck.setup()" in out.stdout
    assert "numba loaded: False" in out.stdout, "the guard runs before numba is imported"


def test_importing_any_module_leaves_the_environment_alone():
    """Only ck.setup() and coursekit.settings write environment variables, never an import."""
    out = run_python(
        "import importlib, os, pathlib\n"
        "import coursekit\n"
        "before = dict(os.environ)\n"
        "refused = []\n"
        "root = pathlib.Path(coursekit.__file__).parent\n"
        "names = sorted('.'.join(('coursekit', *p.relative_to(root).with_suffix('').parts))\n"
        "               for p in root.rglob('*.py'))\n"
        "for name in names:\n"
        "    name = name.removesuffix('.__init__')\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except RuntimeError:\n"
        "        refused.append(name)\n"
        "changed = {k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)}\n"
        "print('changed:', sorted(changed))\n"
        "print('refused:', sorted(refused))\n",
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "changed: []" in out.stdout, out.stdout
    assert "coursekit.gpu.kernels" in out.stdout, "without ck.setup() the CUDA room refuses to load"
