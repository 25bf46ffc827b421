"""A seq2seq set generated on the spot: dates written the way people write them -> ISO 8601.

``"Tuesday 3 May 1998"``, ``"May 3, 1998"``, ``"3.5.1998"`` ... all map to ``"1998-05-03"``. An
encoder reads the human form character by character; a decoder writes the ISO form (many-to-many).
Nothing is shipped: the same ``seed`` always gives the same pairs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from coursekit.datasets.chars import END, START, CharVocab

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
FIRST, LAST = dt.date(1950, 1, 1), dt.date(2049, 12, 31)


def _fmt(d: dt.date, style: int) -> str:
    month, wd = MONTHS[d.month - 1], WEEKDAYS[d.weekday()]
    return [
        f"{d.day} {month} {d.year}",  # 3 May 1998
        f"{month} {d.day}, {d.year}",  # May 3, 1998
        f"{d.day:02d} {month[:3]} {d.year}",  # 03 May 1998
        f"{month[:3]} {d.day} {d.year}",  # May 3 1998
        f"{wd} {d.day} {month} {d.year}",  # Sunday 3 May 1998
        f"{wd[:3]}, {month[:3]} {d.day}, {d.year}",  # Sun, May 3, 1998
        f"{d.day}.{d.month}.{d.year}",  # 3.5.1998 (day first)
        f"{d.year}/{d.month:02d}/{d.day:02d}",  # 1998/05/03
        f"{d.day} {month.lower()} {d.year}",  # 3 may 1998
    ][style]


FORMATS = 9


def parse_human_date(text: str, style: int) -> dt.date:
    """Invert format ``style`` (used to test that every pair round-trips)."""
    t = text.replace(",", "")
    parts = t.replace(".", " ").replace("/", " ").split()
    months = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}
    months.update({m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)})
    if style in (0, 2, 8):
        day, mon, year = parts
    elif style in (1, 3):
        mon, day, year = parts
    elif style == 4:
        _, day, mon, year = parts
    elif style == 5:
        _, mon, day, year = parts
    elif style == 6:
        return dt.date(int(parts[2]), int(parts[1]), int(parts[0]))
    elif style == 7:
        return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
    else:
        raise ValueError(f"unknown style {style}")
    return dt.date(int(year), months[mon.lower()], int(day))


@dataclass(frozen=True)
class Dates:
    """Pairs of human-written dates (``sources``) and ISO 8601 dates (``targets``), with the style
    index of each source and the two character vocabularies (the target one has START/END)."""

    sources: list[str]
    targets: list[str]
    styles: list[int]
    source_vocab: CharVocab
    target_vocab: CharVocab

    def __len__(self) -> int:
        return len(self.sources)

    def __repr__(self) -> str:
        """Short: the size, the first pair and the vocabulary sizes (not every date)."""
        first = f", e.g. {self.sources[0]!r} -> {self.targets[0]!r}" if self.sources else ""
        return (
            f"Dates({len(self)} pairs{first}; {len(set(self.styles))} styles; "
            f"vocabularies: {len(self.source_vocab)} source, {len(self.target_vocab)} target characters)"
        )


def load_dates(n: int = 10_000, seed: int = 0) -> Dates:
    """``n`` random dates between 1950 and 2049 in random human styles, and their ISO forms."""
    rng = np.random.default_rng(seed)
    span = (LAST - FIRST).days + 1
    days = rng.integers(0, span, n)
    styles = rng.integers(0, FORMATS, n)
    dates = [FIRST + dt.timedelta(days=int(k)) for k in days]
    sources = [_fmt(d, int(s)) for d, s in zip(dates, styles, strict=True)]
    targets = [d.isoformat() for d in dates]
    # Vocabularies from every character any style can produce, not just this sample's.
    source_chars = "".join(MONTHS + WEEKDAYS) + "".join(m.lower() for m in MONTHS) + "0123456789 ,./"
    return Dates(
        sources,
        targets,
        [int(s) for s in styles],
        CharVocab.build([source_chars]),
        CharVocab.build(["0123456789-"], extra=(START, END)),
    )
