"""coursekit.machine.caches: the one reader of sysfs's cache descriptions, on a fake sysfs tree."""

from __future__ import annotations

import pytest

from coursekit.machine import caches, device
from coursekit.perf import memsweep


def _cache(root, cpu, index, level, kind, size, shared):
    folder = root / f"cpu{cpu}" / "cache" / f"index{index}"
    folder.mkdir(parents=True)
    for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
        (folder / name).write_text(f"{value}\n")


@pytest.fixture
def sysfs(tmp_path):
    """4 CPUs: private 32K L1d and L1i and 1024K L2 each, two 32768K L3 instances (CPUs 0-1, 2-3)."""
    for cpu in range(4):
        _cache(tmp_path, cpu, 0, 1, "Data", "32K", str(cpu))
        _cache(tmp_path, cpu, 1, 1, "Instruction", "32K", str(cpu))
        _cache(tmp_path, cpu, 2, 2, "Unified", "1024K", str(cpu))
        _cache(tmp_path, cpu, 3, 3, "Unified", "32768K", "0-1" if cpu < 2 else "2-3")
    return tmp_path


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [("32K", 32 * 2**10), ("1024K", 2**20), ("32768K", 32 * 2**20), ("2M", 2 * 2**20), ("1G", 2**30), ("512", 512)],
)
def test_sizes_are_read_in_bytes(text, nbytes):
    assert caches.parse_size(text + "\n") == nbytes


def test_each_instance_is_listed_once_and_instruction_caches_left_out(sysfs):
    found = caches.caches([0, 1, 2, 3], root=sysfs)
    assert [c.name for c in found] == ["L1d"] * 4 + ["L2"] * 4 + ["L3"] * 2
    assert {c.shared_cpus for c in found if c.level == 3} == {"0-1", "2-3"}
    assert all(c.nbytes == 32 * 2**20 for c in found if c.level == 3)


def test_last_level_sums_the_instances_of_the_cpus_asked_about(sysfs, monkeypatch):
    assert caches.last_level_nbytes([0, 1, 2, 3], root=sysfs) == 64 * 2**20
    assert caches.last_level_nbytes([2, 3], root=sysfs) == 32 * 2**20
    monkeypatch.setattr(device, "affinity_cpus", lambda: {0})  # default: the CPUs this process may run on
    assert caches.last_level_nbytes(root=sysfs) == 32 * 2**20
    assert caches.last_level_nbytes(root=sysfs / "missing") is None


def test_a_level_given_in_megabytes_and_memsweep_names_cpu0s_caches(tmp_path, monkeypatch):
    _cache(tmp_path, 0, 0, 1, "Data", "48K", "0")
    _cache(tmp_path, 0, 2, 2, "Unified", "2M", "0")
    (tmp_path / "cpu0" / "cache" / "index3").mkdir()  # an unreadable entry is skipped
    monkeypatch.setattr(caches, "SYSFS_CPU", tmp_path)
    assert memsweep.cache_sizes() == {"L1d": 48 * 2**10, "L2": 2 * 2**20}
    assert caches.last_level_nbytes([0]) == 2 * 2**20
