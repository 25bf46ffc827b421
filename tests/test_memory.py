"""coursekit.machine.memory: the memory a process may use, cgroup limits counted (a Binder pod's 2 GB)."""

from __future__ import annotations

import types

from coursekit.machine import memory


def _cgroup(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_cgroup_v2_limit_and_usage_less_reclaimable_cache(tmp_path):
    root = _cgroup(
        tmp_path,
        {
            "memory.max": "2147483648\n",
            "memory.current": "900000000\n",
            "memory.stat": "anon 1\ninactive_file 100000000\n",
        },
    )
    assert memory.cgroup_limit_bytes(root) == (2147483648, 800000000)


def test_cgroup_v1_and_no_limit(tmp_path):
    v1 = _cgroup(tmp_path / "v1", {"memory/memory.limit_in_bytes": "1073741824", "memory/memory.usage_in_bytes": "5"})
    assert memory.cgroup_limit_bytes(v1) == (1073741824, 5)
    unlimited = _cgroup(tmp_path / "none", {"memory/memory.limit_in_bytes": "9223372036854771712"})
    assert memory.cgroup_limit_bytes(unlimited) is None
    assert memory.cgroup_limit_bytes(_cgroup(tmp_path / "max", {"memory.max": "max"})) is None
    assert memory.cgroup_limit_bytes(tmp_path / "absent") is None


def test_available_is_capped_by_what_the_cgroup_leaves(monkeypatch):
    machine = types.SimpleNamespace(total=64 * 2**30, available=60 * 2**30)
    monkeypatch.setattr("psutil.virtual_memory", lambda: machine)
    monkeypatch.setattr(memory, "cgroup_limit_bytes", lambda: (2 * 2**30, 2**29))
    assert memory.available_bytes() == 2 * 2**30 - 2**29
    monkeypatch.setattr(memory, "cgroup_limit_bytes", lambda: None)
    assert memory.available_bytes() == 60 * 2**30
