"""This machine's CPU caches as Linux's sysfs describes them (``/sys/devices/system/cpu/cpu*/cache``).

One reader for the whole package: :func:`caches` lists the data and unified caches of some CPUs,
each instance once, named ``"L1d"``, ``"L2"``, ``"L3"`` ...; :func:`last_level_nbytes` sums the last
level over the CPUs this process may use, as STREAM does.
Where sysfs says nothing (not Linux, some containers) the answers are empty or None. A virtual
machine may report its own figures, not the host's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from coursekit.machine import device

SYSFS_CPU = Path("/sys/devices/system/cpu")
_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}


@dataclass(frozen=True)
class Cache:
    """One cache instance: its ``level`` (1, 2, 3 ...), ``kind`` (``"Data"`` or ``"Unified"``),
    size in bytes and the CPUs sharing it (sysfs's ``shared_cpu_list``, e.g. ``"0-3"``)."""

    level: int
    kind: str
    nbytes: int
    shared_cpus: str

    @property
    def name(self) -> str:
        """``"L1d"`` for a level-1 data cache, ``"L2"``, ``"L3"`` for unified ones."""
        return f"L{self.level}" + ("d" if self.kind == "Data" else "")


def parse_size(text: str) -> int:
    """A sysfs cache size in bytes: ``"32K"`` -> 32768, ``"2M"`` -> 2097152, ``"512"`` -> 512.

    >>> parse_size("32768K") == 32 * 2**20
    True
    """
    text = text.strip()
    return int(text[:-1]) * _UNITS[text[-1]] if text[-1] in _UNITS else int(text)


def caches(cpus: Iterable[int] | None = None, root: Path | None = None) -> list[Cache]:
    """Data and unified caches of ``cpus`` (default: :func:`device.affinity_cpus`, the CPUs this
    process may run on), instruction caches left out. A cache shared by several of them is listed
    once. Sorted by level. ``root`` is sysfs's CPU folder (default :data:`SYSFS_CPU`)."""
    root = SYSFS_CPU if root is None else root
    found: dict[tuple[int, str, str], Cache] = {}  # (level, kind, CPUs sharing it) -> cache
    for cpu in sorted(device.affinity_cpus() if cpus is None else cpus):
        for index in sorted((root / f"cpu{cpu}" / "cache").glob("index*")):
            try:
                kind = (index / "type").read_text().strip()
                if kind == "Instruction":
                    continue
                level = int((index / "level").read_text())
                shared = (index / "shared_cpu_list").read_text().strip() if (index / "shared_cpu_list").exists() else ""
                nbytes = parse_size((index / "size").read_text())
            except (OSError, ValueError, KeyError, IndexError):
                continue
            found.setdefault((level, kind, shared or f"cpu{cpu}"), Cache(level, kind, nbytes, shared))
    return sorted(found.values(), key=lambda c: (c.level, c.kind, c.shared_cpus))


def last_level_nbytes(cpus: Iterable[int] | None = None, root: Path | None = None) -> int | None:
    """Bytes of last-level cache over ``cpus`` (default: those this process may run on): each
    instance counted once, as STREAM sums all of them. None when sysfs says nothing."""
    found = caches(cpus, root)
    if not found:
        return None
    top = max(c.level for c in found)
    return sum(c.nbytes for c in found if c.level == top)
