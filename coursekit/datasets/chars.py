"""Character vocabularies and padded batches for character-level RNNs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

PAD = "\x00"
START = "\x02"  # start-of-sequence token for decoders
END = "\x03"  # end-of-sequence token


@dataclass(frozen=True)
class CharVocab:
    """A character vocabulary; id 0 is padding, and ``extra`` tokens (e.g. start/end) follow it."""

    chars: tuple[str, ...]

    @classmethod
    def build(cls, texts: Iterable[str], extra: Sequence[str] = ()) -> CharVocab:
        """All characters in ``texts`` (sorted), after the padding symbol and ``extra``."""
        seen = sorted(set("".join(texts)) - {PAD, *extra})
        return cls((PAD, *extra, *seen))

    @property
    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``'s characters; ``KeyError`` names a character outside the vocabulary."""
        index = self.index
        try:
            return [index[c] for c in text]
        except KeyError as exc:
            raise KeyError(f"character {exc.args[0]!r} of {text!r} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``, stopping at the first padding id."""
        out = []
        for i in ids:
            if int(i) == 0:
                break
            out.append(self.chars[int(i)])
        return "".join(out)


def encode_chars(
    texts: Sequence[str], vocab: CharVocab | None = None, max_len: int | None = None
) -> tuple[np.ndarray, np.ndarray, CharVocab]:
    """Pad ``texts`` into an int64 id matrix.

    Returns ``(ids, lengths, vocab)``: ``ids`` (N, T) with 0 as padding after each text, T the
    longest length (or ``max_len``, truncating longer texts); ``lengths`` (N,) int64, what
    ``torch.nn.utils.rnn.pack_padded_sequence`` needs. Builds the vocabulary when none is given.
    """
    vocab = vocab or CharVocab.build(texts)
    encoded = [vocab.encode(t)[:max_len] if max_len else vocab.encode(t) for t in texts]
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    ids = np.zeros((len(texts), max_len or (int(lengths.max()) if len(texts) else 0)), dtype=np.int64)
    for row, e in zip(ids, encoded, strict=True):
        row[: len(e)] = e
    return ids, lengths, vocab
