"""Published GPU *measurements* measured elsewhere, with their sources: the third tier of a GPU answer.

A GPU figure in the course comes from one of four tiers, best first: measured on this GPU now,
recorded by this course on a GPU (``data/reference/``), a **published measurement** (this module),
or a vendor's datasheet peak (:data:`coursekit.perf.reference.PUBLISHED`). Published measurements
are what named, reproducible benchmarks reached on a named device (a STREAM triad, a cuBLAS GEMM, an
nccl-tests all-reduce ...), read from the source itself and shipped as JSON in ``data/published/``
(schema: ``data/published/README.md``). Nothing here touches the network.

    >>> from coursekit.perf import published
    >>> e = published.find("triad_bandwidth", device="H200")[0]
    >>> published.si_value(e)                       # bytes/s
    4150000000000.0
    >>> published.label(e)[:40]
    'published measurement: NVIDIA H200 141GB'

:func:`label` always starts with ``"published measurement:"`` so that a notebook never shows one of
these figures as if it were measured here.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from coursekit.perf.reference import GPUResult

SCHEMA = "coursekit-published/1"
TIER = "published measurement"  # GPUResult.source for this tier

# unit -> (dimension, power of ten to SI: bytes/s, FLOP/s or seconds). Decimal prefixes, as the
# shipped sources compute them (BabelStream's MBytes/sec is 1e6, bandwidthTest divides by 1e9, and
# ml-engineering's network README says "1GBps = 10**9 Bytes per second").
UNITS: dict[str, tuple[str, int]] = {
    "MB/s": ("bandwidth", 6),
    "GB/s": ("bandwidth", 9),
    "TB/s": ("bandwidth", 12),
    "GFLOP/s": ("flops", 9),
    "TFLOP/s": ("flops", 12),
    "ns": ("time", -9),
    "us": ("time", -6),
    "ms": ("time", -3),
    "s": ("time", 0),
    "img/s": ("throughput", 0),  # training examples (images) per second
    "K img/s": ("throughput", 3),  # as MXNet's README writes "22.5K img/sec"
}

# quantity -> the dimension its unit must have, and what it means
QUANTITIES: dict[str, tuple[str, str]] = {
    "triad_bandwidth": ("bandwidth", "STREAM-style triad a = b + s*c on device memory (bytes moved / time)"),
    "copy_bandwidth": ("bandwidth", "STREAM-style copy c = a on device memory"),
    "matmul_flops": ("flops", "achieved matrix-multiply rate (2*M*N*K / time)"),
    "h2d_bandwidth": ("bandwidth", "host-to-device copy rate (see conditions.host_memory: pinned or pageable)"),
    "d2h_bandwidth": ("bandwidth", "device-to-host copy rate (see conditions.host_memory)"),
    "p2p_bandwidth": ("bandwidth", "GPU-to-GPU copy rate over NVLink/PCIe"),
    "allreduce_busbw": ("bandwidth", "all-reduce bus bandwidth as nccl-tests reports it (busbw)"),
    "op_overhead": ("time", "a framework's time per call of a tiny operation (dispatch + launch)"),
    "kernel_launch_latency": ("time", "time to launch an empty kernel"),
    "training_throughput": (
        "throughput",
        "a model's training rate: examples (images) per second, forward + backward + update, at the batch in size",
    ),
}

DATE_KINDS = ("measured", "published")
SOURCE_KINDS = ("repository", "issue", "paper", "web")
MAX_QUOTE = 200
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class PublishedDataError(ValueError):
    """A published-measurement file or entry that breaks the schema; the message names the file,
    the entry and the field."""


@dataclass(frozen=True)
class Source:
    """Where a file's figures come from: a repository file at a commit, an issue thread, a paper
    or a web page. ``read`` is the date this course read it."""

    title: str
    author: str
    kind: str
    url: str
    read: str
    repository: str | None = None
    path: str | None = None
    commit: str | None = None
    issue: int | None = None

    def cite(self) -> str:
        """Short citation: ``owner/repo path@commit7`` for a repository file, else
        ``owner/repo#issue`` or the URL."""
        if self.kind == "repository":
            return f"{self.repository} {self.path}@{(self.commit or '')[:7]}"
        if self.kind == "issue" and self.repository:
            return f"{self.repository}#{self.issue}"
        return self.url


@dataclass(frozen=True)
class Entry:
    """One published figure: ``value`` in ``unit`` (as the source states it; :func:`si_value`
    converts), of ``quantity`` on ``device``, measured as ``what`` says with ``software``; ``date``
    is ISO (``YYYY-MM-DD`` or ``YYYY-MM``) and ``date_kind`` says whether it is the measurement's or
    the publication's; ``quote`` is the source's line holding the number."""

    id: str
    quantity: str
    value: float
    unit: str
    device: str
    what: str
    software: str
    date: str
    date_kind: str
    section: str
    quote: str
    source: Source
    file: str
    precision: str | None = None
    size: str | None = None
    conditions: Mapping[str, Any] = field(default_factory=dict)
    notes: str = ""


def published_dir() -> Path:
    """``data/published/``, wherever the course's data folder is (``datasets.data_dir``)."""
    from coursekit.datasets.checksums import data_dir

    return data_dir() / "published"


# ------------------------------------------------------------------------------ validation


def _fail(where: str, message: str) -> PublishedDataError:
    return PublishedDataError(f"{where}: {message}")


def _text(obj: Mapping[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"field {key!r} must be a non-empty string, got {value!r}")
    return value


def parse_date(text: str) -> _dt.date:
    """``YYYY-MM-DD`` or ``YYYY-MM`` (first of the month) as a date; ValueError otherwise."""
    if re.fullmatch(r"\d{4}-\d{2}", text):
        text += "-01"
    return _dt.date.fromisoformat(text)


def _source(raw: Any, where: str) -> Source:
    if not isinstance(raw, Mapping):
        raise _fail(where, "'source' must be an object")
    where = f"{where}: source"
    kind = _text(raw, "kind", where)
    if kind not in SOURCE_KINDS:
        raise _fail(where, f"field 'kind' must be one of {SOURCE_KINDS}, got {kind!r}")
    url = _text(raw, "url", where)
    assert url is not None
    if not url.startswith("https://"):
        raise _fail(where, f"field 'url' must be an https:// address, got {url!r}")
    read = _text(raw, "read", where)
    assert read is not None
    try:
        parse_date(read)
    except ValueError:
        raise _fail(where, f"field 'read' is not an ISO date: {read!r}") from None
    repository = _text(raw, "repository", where, required=kind in ("repository", "issue"))
    path = _text(raw, "path", where, required=kind == "repository")
    commit = _text(raw, "commit", where, required=kind == "repository")
    if commit is not None and not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise _fail(where, f"field 'commit' must be 40 hex digits, got {commit!r}")
    issue = raw.get("issue")
    if kind == "issue" and not (isinstance(issue, int) and issue > 0):
        raise _fail(where, f"field 'issue' must be a positive integer for an issue, got {issue!r}")
    title, author = _text(raw, "title", where), _text(raw, "author", where)
    assert title is not None and author is not None
    return Source(title, author, kind, url, read, repository, path, commit, issue)


def _entry(raw: Any, source: Source, path: Path, index: int) -> Entry:
    where = f"{path}: entry {index}"
    if not isinstance(raw, Mapping):
        raise _fail(where, "must be an object")
    if isinstance(raw.get("id"), str) and raw["id"]:
        where = f"{path}: entry {raw['id']!r}"
    t = {k: _text(raw, k, where) for k in ("id", "quantity", "unit", "device", "what", "software", "date", "section")}
    quantity, unit = t["quantity"], t["unit"]
    if quantity not in QUANTITIES:
        raise _fail(where, f"field 'quantity': {quantity!r} is not one of {sorted(QUANTITIES)}")
    if unit not in UNITS:
        raise _fail(where, f"field 'unit': {unit!r} is not an allowed unit {list(UNITS)}")
    if UNITS[unit][0] != QUANTITIES[quantity][0]:
        needs = QUANTITIES[quantity][0]
        raise _fail(where, f"field 'unit': {unit!r} is a {UNITS[unit][0]} unit, {quantity!r} needs a {needs} unit")
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise _fail(where, f"field 'value' must be a finite number > 0, got {value!r}")
    date = t["date"]
    assert date is not None
    try:
        parse_date(date)
    except ValueError:
        raise _fail(where, f"field 'date' is not an ISO date (YYYY-MM-DD or YYYY-MM): {date!r}") from None
    date_kind = raw.get("date_kind")
    if date_kind not in DATE_KINDS:
        raise _fail(where, f"field 'date_kind' must be one of {DATE_KINDS}, got {date_kind!r}")
    quote = raw.get("quote")
    if not isinstance(quote, str) or not quote.strip():
        raise _fail(where, "field 'quote' must be the source's line holding the number (non-empty)")
    if len(quote) >= MAX_QUOTE:
        raise _fail(where, f"field 'quote' must be shorter than {MAX_QUOTE} characters, has {len(quote)}")
    if not any(math.isclose(float(n), value, rel_tol=1e-9) for n in _NUMBER.findall(quote)):
        raise _fail(where, f"field 'quote' does not contain the figure {value!r}: {quote!r}")
    conditions = raw.get("conditions", {})
    if not isinstance(conditions, Mapping):
        raise _fail(where, "field 'conditions' must be an object")
    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        raise _fail(where, "field 'notes' must be a string")
    precision, size = _text(raw, "precision", where, False), _text(raw, "size", where, False)
    return Entry(
        id=str(t["id"]),
        quantity=str(quantity),
        value=float(value),
        unit=str(unit),
        device=str(t["device"]),
        what=str(t["what"]),
        software=str(t["software"]),
        date=date,
        date_kind=str(date_kind),
        section=str(t["section"]),
        quote=quote,
        source=source,
        file=path.name,
        precision=precision,
        size=size,
        conditions=dict(conditions),
        notes=notes,
    )


def read_file(path: str | Path) -> list[Entry]:
    """Validate and load one ``data/published/*.json`` file; raises :class:`PublishedDataError`
    naming the file, entry and field at the first problem."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise _fail(str(path), f"not valid JSON ({err})") from None
    if not isinstance(doc, Mapping) or doc.get("schema") != SCHEMA:
        raise _fail(str(path), f"'schema' must be {SCHEMA!r}")
    source = _source(doc.get("source"), str(path))
    raw_entries = doc.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise _fail(str(path), "'entries' must be a non-empty list")
    return [_entry(raw, source, path, i) for i, raw in enumerate(raw_entries)]


@lru_cache(maxsize=8)
def _load(directory: str) -> tuple[Entry, ...]:
    entries: list[Entry] = []
    for path in sorted(Path(directory).glob("*.json")):
        entries += read_file(path)
    seen: dict[str, str] = {}
    for e in entries:
        if e.id in seen:
            raise PublishedDataError(f"{e.file}: entry id {e.id!r} is also used in {seen[e.id]}")
        seen[e.id] = e.file
    return tuple(entries)


def load(directory: str | Path | None = None) -> list[Entry]:
    """Every published entry in ``directory`` (default :func:`published_dir`), validated, in file
    order. An absent folder gives an empty list (e.g. an install that did not ship it)."""
    directory = Path(directory) if directory is not None else published_dir()
    if not directory.is_dir():
        return []
    return list(_load(str(directory.resolve())))


# ------------------------------------------------------------------------------ lookups


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def device_matches(device: str, wanted: str) -> bool:
    """Every word of ``wanted`` is a word of ``device`` (case-insensitive): ``"H200"`` matches
    ``"NVIDIA H200 141GB"`` but not ``"NVIDIA GH200 SXM"``; ``"A100 PCIe"`` matches only PCIe."""
    return _tokens(wanted) <= _tokens(device)


def find(
    quantity: str,
    device: str | None = None,
    precision: str | None = None,
    entries: Iterable[Entry] | None = None,
    **conditions: Any,
) -> list[Entry]:
    """Entries of ``quantity`` on ``device`` (see :func:`device_matches`; None: any), of
    ``precision`` (e.g. ``"bf16"``, ``"fp8_e4m3"``, ``"fp32"``) and whose ``conditions`` hold
    every keyword given (compared as text, e.g. ``host_memory="pinned"``); newest date first."""
    if quantity not in QUANTITIES:
        raise KeyError(f"unknown quantity {quantity!r}; known: {sorted(QUANTITIES)}")
    pool = load() if entries is None else list(entries)
    hits = [
        e
        for e in pool
        if e.quantity == quantity
        and (device is None or device_matches(e.device, device))
        and (precision is None or e.precision == precision)
        and all(k in e.conditions and str(e.conditions[k]) == str(v) for k, v in conditions.items())
    ]
    return sorted(hits, key=lambda e: (parse_date(e.date), e.id), reverse=True)


def get(entry_id: str, entries: Iterable[Entry] | None = None) -> Entry:
    """The entry with this id; KeyError naming it otherwise."""
    for e in load() if entries is None else entries:
        if e.id == entry_id:
            return e
    raise KeyError(f"no published entry {entry_id!r}")


def si_value(entry: Entry) -> float:
    """The figure in SI units: bytes/s for bandwidths, FLOP/s for rates, seconds for times,
    examples/s for training throughputs."""
    return float(f"{entry.value!r}e{UNITS[entry.unit][1]}")  # 4.15 TB/s -> 4.15e12 exactly


def label(entry: Entry) -> str:
    """``published measurement: <device>, <what>, <source>, <date>`` — the tier comes first so a
    figure from elsewhere never reads as one measured here."""
    when = entry.date if entry.date_kind == "measured" else f"published {entry.date}"
    return f"{TIER}: {entry.device}, {entry.what}, {entry.source.cite()}, {when}"


def describe(entry: Entry) -> str:
    """One line with the figure and its label, e.g. ``4.15 TB/s — published measurement: ...``."""
    return f"{entry.value:g} {entry.unit} \N{EM DASH} {label(entry)}"


def as_result(entry: Entry, si: bool = True) -> GPUResult:
    """``entry`` as the third tier's :class:`~coursekit.perf.reference.GPUResult`: its value in SI
    units (``si=False``: the :class:`Entry` itself), ``source="published measurement"``, :func:`label`."""
    return GPUResult(si_value(entry) if si else entry, TIER, label(entry))


def published_result(
    quantity: str,
    device: str,
    precision: str | None = None,
    si: bool = True,
    entries: Iterable[Entry] | None = None,
    **conditions: Any,
) -> GPUResult:
    """The third tier as a :class:`~coursekit.perf.reference.GPUResult`: the newest matching entry
    (:func:`find`) with ``source="published measurement"``, ``value`` in SI units (``si=False``:
    the :class:`Entry` itself) and :func:`label` as its label; ``source="none"`` (falsy) with a
    one-line reason when no published measurement matches. Raises ValueError when ``precision``
    is None and the matches differ in precision (BF16 and FP8 figures are not one quantity)."""
    hits = find(quantity, device, precision, entries, **conditions)
    if not hits:
        what = " ".join(x for x in (precision, quantity) if x)
        extra = ", ".join(f"{k}={v}" for k, v in conditions.items())
        reason = f"no published measurement of {what} on {device}" + (f" ({extra})" if extra else "")
        return GPUResult(None, "none", reason)
    precisions = sorted({str(e.precision) for e in hits})
    if precision is None and len(precisions) > 1:
        raise ValueError(f"published {quantity} on {device} comes in several precisions {precisions}: pass precision=")
    return as_result(hits[0], si)


def table(quantity: str | None = None, entries: Iterable[Entry] | None = None) -> Any:
    """The entries as a pandas DataFrame (id, quantity, value, unit, device, precision, size,
    date, source), optionally of one quantity."""
    import pandas as pd

    rows = [
        {
            "id": e.id,
            "quantity": e.quantity,
            "value": e.value,
            "unit": e.unit,
            "device": e.device,
            "precision": e.precision,
            "size": e.size,
            "date": e.date,
            "source": e.source.cite(),
        }
        for e in (load() if entries is None else entries)
        if quantity is None or e.quantity == quantity
    ]
    return pd.DataFrame(rows).set_index("id") if rows else pd.DataFrame(rows)
