"""SHA-256 checks of the files the course reads, with errors that say what to do."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The course's ``data/`` folder ($COURSEKIT_DATA_DIR overrides)."""
    env = os.environ.get("COURSEKIT_DATA_DIR")
    return Path(env) if env else ROOT / "data"


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
    return read_sums(data_dir() / "SHA256SUMS")


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
