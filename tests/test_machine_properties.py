"""Property-based: the cgroup parsers read any quota or limit a fake sysfs tree holds, and survive malformed files.

Each example writes a cgroup v2 or v1 tree into a fresh temporary directory (hypothesis runs many examples
per test, and function-scoped fixtures such as ``tmp_path`` would be shared between them).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.machine import device, memory

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)

QUOTAS = st.integers(min_value=1, max_value=10**9)  # microseconds of CPU per period
PERIODS = st.integers(min_value=1, max_value=10**6)
# What a broken or unexpected file may hold: empty, words, one field, negative or zero periods, binary junk.
JUNK = st.one_of(
    st.just(""),
    st.just("max"),
    st.sampled_from(["-", "1e5 100000", "100000", "abc def", "0x10 100", "\x00\x01"]),
    st.text(max_size=20),
)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# --- CPU quota: device._cgroup_cpu_limit --------------------------------------------------------------


@PROPERTY
@given(QUOTAS, PERIODS, st.sampled_from(["\n", "", " \n"]))
def test_cpu_max_v2_is_quota_over_period(quota, period, end):
    with tempfile.TemporaryDirectory() as tmp:
        root = _tree(Path(tmp), {"cpu.max": f"{quota} {period}{end}"})
        assert device._cgroup_cpu_limit(root) == quota / period


@PROPERTY
@given(PERIODS)
def test_cpu_max_v2_unlimited_is_none(period):
    with tempfile.TemporaryDirectory() as tmp:
        assert device._cgroup_cpu_limit(_tree(Path(tmp), {"cpu.max": f"max {period}\n"})) is None


@PROPERTY
@given(st.integers(min_value=-1, max_value=10**9), PERIODS)
def test_cfs_quota_v1_is_quota_over_period_and_nonpositive_means_unlimited(quota, period):
    with tempfile.TemporaryDirectory() as tmp:
        root = _tree(Path(tmp), {"cpu/cpu.cfs_quota_us": f"{quota}\n", "cpu/cpu.cfs_period_us": f"{period}\n"})
        assert device._cgroup_cpu_limit(root) == (quota / period if quota > 0 else None)


@PROPERTY
@given(st.booleans(), JUNK, JUNK)
def test_malformed_cpu_files_mean_no_quota_or_a_positive_one(v2, first, second):
    """Whatever the files hold, the answer is None or a positive number of CPUs, never an exception."""
    with tempfile.TemporaryDirectory() as tmp:
        files = (
            {"cpu.max": f"{first} {second}"} if v2 else {"cpu/cpu.cfs_quota_us": first, "cpu/cpu.cfs_period_us": second}
        )
        limit = device._cgroup_cpu_limit(_tree(Path(tmp), files))
        assert limit is None or limit > 0


@PROPERTY
@given(st.booleans(), st.integers(min_value=-(10**6), max_value=10**6), st.integers(min_value=-(10**6), max_value=0))
def test_nonpositive_periods_mean_no_quota(v2, quota, period):
    with tempfile.TemporaryDirectory() as tmp:
        files = (
            {"cpu.max": f"{quota} {period}"}
            if v2
            else {"cpu/cpu.cfs_quota_us": str(quota), "cpu/cpu.cfs_period_us": str(period)}
        )
        assert device._cgroup_cpu_limit(_tree(Path(tmp), files)) is None


# --- memory limit: memory.cgroup_limit_bytes ---------------------------------------------------------------

LIMITS = st.integers(min_value=0, max_value=memory.UNLIMITED_BYTES - 1)
BYTES = st.integers(min_value=0, max_value=2**40)
V2 = ("memory.max", "memory.current", "memory.stat", "inactive_file")
V1 = ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "memory/memory.stat", "total_inactive_file")


@PROPERTY
@given(st.sampled_from([V2, V1]), LIMITS, BYTES, BYTES)
def test_memory_limit_and_usage_less_reclaimable_cache(layout, limit, usage, inactive):
    limit_file, usage_file, stat_file, key = layout
    with tempfile.TemporaryDirectory() as tmp:
        root = _tree(
            Path(tmp),
            {
                limit_file: f"{limit}\n",
                usage_file: f"{usage}\n",
                stat_file: f"anon 4096\nfile 8192\n{key} {inactive}\nactive_file 1\n",
            },
        )
        assert memory.cgroup_limit_bytes(root) == (limit, max(0, usage - inactive))


@PROPERTY
@given(
    st.sampled_from([V2, V1]),
    st.one_of(st.just("max"), st.integers(min_value=memory.UNLIMITED_BYTES, max_value=2**64).map(str)),
    BYTES,
)
def test_no_memory_limit_is_none(layout, unlimited, usage):
    limit_file, usage_file, _, _ = layout
    with tempfile.TemporaryDirectory() as tmp:
        root = _tree(Path(tmp), {limit_file: f"{unlimited}\n", usage_file: f"{usage}\n"})
        assert memory.cgroup_limit_bytes(root) is None


@PROPERTY
@given(LIMITS, JUNK, JUNK)
def test_malformed_usage_and_stat_count_as_zero(limit, usage, stat):
    """A readable limit is reported whatever the usage and stat files hold; unreadable usage counts 0."""
    with tempfile.TemporaryDirectory() as tmp:
        root = _tree(Path(tmp), {"memory.max": str(limit), "memory.current": usage, "memory.stat": stat})
        got = memory.cgroup_limit_bytes(root)
        assert got is not None and got[0] == limit and got[1] >= 0
        try:
            expected_usage = int(usage.strip())
        except ValueError:
            expected_usage = 0
        assert got[1] <= max(0, expected_usage)


@PROPERTY
@given(JUNK, LIMITS)
def test_malformed_v2_limit_falls_back_to_v1(junk, v1_limit):
    with tempfile.TemporaryDirectory() as tmp:
        root = _tree(Path(tmp), {"memory.max": junk, "memory/memory.limit_in_bytes": str(v1_limit)})
        try:
            v2 = int(junk.strip())
        except ValueError:
            v2 = None
        got = memory.cgroup_limit_bytes(root)
        if v2 is None or v2 >= memory.UNLIMITED_BYTES:
            assert got == (v1_limit, 0)
        else:  # junk that happens to be a number is a v2 limit
            assert got is not None and got[0] == v2
