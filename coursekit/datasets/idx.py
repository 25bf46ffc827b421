"""The IDX file format of MNIST and Fashion-MNIST: read strictly, write deterministically.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the payload in row-major order, big-endian. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from coursekit.datasets.checksums import write_gzip_deterministic

# IDX dtype codes and their big-endian numpy types.
DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # read payloads 1 MiB at a time: memory never exceeds what the file holds


def _fail(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: not a valid IDX file: {what}")


def _read_exact(f, n: int, path: Path, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _fail(path, f"truncated {what} ({len(data)} of {n} bytes)")
    return data


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a numpy array of native byte order.

    Checks the magic number, the dtype code, the number of dimensions and that the payload
    length matches the header exactly. Any malformed, truncated or corrupted file raises
    ``ValueError`` naming the file and what is wrong; the payload is read in chunks, so a header
    that declares more data than the file holds never causes a large allocation.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            file_size = os.fstat(raw.fileno()).st_size
            f = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            return _parse(f, path, None if compressed else file_size)
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"{path}: corrupted gzip data ({exc})") from exc


def _parse(f, path: Path, file_size: int | None) -> np.ndarray:
    magic = _read_exact(f, 4, path, "magic number")
    if magic[0] != 0 or magic[1] != 0:
        raise _fail(path, f"magic number starts with {magic[:2].hex()}, expected 0000")
    code, ndim = magic[2], magic[3]
    if code not in DTYPES:
        raise _fail(path, f"unknown dtype code 0x{code:02x} (known: {', '.join(f'0x{c:02x}' for c in DTYPES)})")
    if ndim == 0:
        raise _fail(path, "zero dimensions")
    dims = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, path, "dimensions"))
    dtype = DTYPES[code]
    expected = int(np.prod(dims, dtype=object)) * dtype.itemsize  # Python int: no overflow
    header = 4 + 4 * ndim
    if file_size is not None and file_size - header != expected:
        kind = "truncated payload" if file_size - header < expected else "trailing bytes after the payload"
        raise _fail(path, f"{kind}: header {dims} declares {expected:,} bytes, file holds {file_size - header:,}")
    payload = bytearray()
    while len(payload) <= expected:
        chunk = f.read(min(_CHUNK, expected + 1 - len(payload)))
        if not chunk:
            break
        payload += chunk
    if len(payload) < expected:
        raise _fail(path, f"truncated payload: header {dims} declares {expected:,} bytes, found {len(payload):,}")
    if len(payload) > expected:
        raise _fail(path, f"trailing bytes after the {expected:,}-byte payload declared by header {dims}")
    return np.frombuffer(bytes(payload), dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool = True) -> None:
    """Write ``array`` as IDX (gzip with a zero timestamp when ``compress``: byte-identical reruns)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX code")
    code = _CODES[native]
    if not 1 <= array.ndim <= 255:
        raise ValueError("write_idx: arrays need 1 to 255 dimensions")
    data = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data += np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()
    path = Path(path)
    if compress:
        write_gzip_deterministic(path, data)
    else:
        path.write_bytes(data)
