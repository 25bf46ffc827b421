"""SHA-256 checks of the files the course reads, with errors that say what to do."""

from __future__ import annotations

import gzip
import hashlib
import os
import site
import sys
from pathlib import Path

from coursekit import settings

ROOT = Path(__file__).resolve().parents[2]
# Where a (non-editable) `pip install` puts data/: the wheel carries it as data files under
# <prefix>/share/coursekit/data (pyproject.toml, [tool.setuptools.data-files]).
INSTALLED_DATA = Path("share") / "coursekit" / "data"


def data_dirs() -> list[Path]:
    """Where the course's ``data/`` folder is looked for, in order: ``$COURSEKIT_DATA_DIR`` (when
    set, the only place), the source checkout next to this package, then the installed copy
    under ``sys.prefix`` (and ``sys.base_prefix``, ``site.USER_BASE``)."""
    chosen = settings.data_dir()
    if chosen is not None:
        return [chosen]
    prefixes = dict.fromkeys([sys.prefix, sys.base_prefix, site.USER_BASE or sys.prefix])
    return [ROOT / "data", *(Path(prefix) / INSTALLED_DATA for prefix in prefixes)]


def data_dir() -> Path:
    """The course's ``data/`` folder: the first of :func:`data_dirs` that holds ``SHA256SUMS``
    (the first candidate when none does, so that errors name where it was expected)."""
    candidates = data_dirs()
    for candidate in candidates:
        if (candidate / "SHA256SUMS").is_file():
            return candidate
    return candidates[0]


def missing_data_message() -> str:
    """What to do when the course's data folder is not found."""
    looked = ", ".join(str(p) for p in data_dirs())
    return (
        f"the course's data/ folder was not found (looked in: {looked}). Install coursekit from the "
        f"course's repository (`pip install .` ships data/ with the package), or set {settings.DATA_DIR_ENV} to the "
        "folder that holds SHA256SUMS (e.g. a clone's data/)."
    )


def write_gzip_deterministic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` gzip-compressed (level 9) with no file name and a zero timestamp, so the
    same bytes in give the same file out, run to run (the shipped checksums depend on it)."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=9) as f:
        f.write(data)


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sums(path: str | os.PathLike) -> dict[str, str]:
    """Parse a ``sha256sum``-style file: ``<hex>  <relative path>`` per line."""
    sums = {}
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*").strip()] = digest
    return sums


def shipped_sums() -> dict[str, str]:
    """Checksums of the files shipped in data/ (from data/SHA256SUMS), by path relative to data/."""
    sums = data_dir() / "SHA256SUMS"
    if not sums.is_file():
        raise FileNotFoundError(missing_data_message())
    return read_sums(sums)


def verify(path: str | os.PathLike, expected: str, hint: str = "") -> Path:
    """Raise ``ValueError`` naming ``path`` when it is missing or its SHA-256 is not ``expected``."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: missing. {hint}".strip())
    actual = sha256(path)
    if actual != expected:
        raise ValueError(
            f"{path}: checksum mismatch (SHA-256 {actual[:16]}..., expected {expected[:16]}...): the file is "
            f"corrupted or was changed. {hint}".strip()
        )
    return path


def verify_shipped(relative: str) -> Path:
    """Verify one shipped file of data/ against data/SHA256SUMS; return its path."""
    sums = shipped_sums()
    if relative not in sums:
        raise ValueError(f"{data_dir() / relative}: not listed in {data_dir() / 'SHA256SUMS'}")
    return verify(
        data_dir() / relative,
        sums[relative],
        hint="Restore it with `git checkout -- data/` or rebuild it with `python -m coursekit.datasets build`.",
    )
