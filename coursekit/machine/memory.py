"""How much memory this process may use: the machine's, capped by its cgroup's limit.

On a Binder pod (mybinder.org gives 2 GB) or in a container, the machine reports all of its RAM
while the cgroup kills the kernel past its limit: measurement arrays sized from the machine's free
memory would be sized for memory the process cannot have. :func:`available_bytes` is what
measurements size their arrays from.
"""

from __future__ import annotations

from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 writes "no limit" as a huge number (9223372036854771712); anything this large means none.
UNLIMITED_BYTES = 1 << 60


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= UNLIMITED_BYTES else value


def _reclaimable_bytes(stat: Path) -> int:
    """Page cache the kernel gives back under pressure (``inactive_file`` of ``memory.stat``)."""
    try:
        for line in stat.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key in ("inactive_file", "total_inactive_file"):
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def cgroup_limit_bytes(root: Path = CGROUP_ROOT) -> tuple[int, int] | None:
    """(limit, usage) in bytes of this process's memory cgroup (v2 ``memory.max`` and
    ``memory.current``, or v1 ``memory.limit_in_bytes`` and ``memory.usage_in_bytes``), usage less
    reclaimable page cache; None when no limit is set."""
    for limit_file, usage_file, stat in (
        (root / "memory.max", root / "memory.current", root / "memory.stat"),
        (
            root / "memory" / "memory.limit_in_bytes",
            root / "memory" / "memory.usage_in_bytes",
            root / "memory" / "memory.stat",
        ),
    ):
        limit = _read_int(limit_file)
        if limit is not None:
            usage = _read_int(usage_file) or 0
            return limit, max(0, usage - _reclaimable_bytes(stat))
    return None


def available_bytes() -> int:
    """Memory this process could still allocate, in bytes: the machine's available memory, capped
    by what its cgroup's limit leaves (limit less usage)."""
    import psutil

    available = int(psutil.virtual_memory().available)
    cgroup = cgroup_limit_bytes()
    if cgroup:
        available = min(available, cgroup[0] - cgroup[1])
    return max(0, available)
