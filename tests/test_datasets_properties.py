"""Property-based: IDX files and character vocabularies round-trip whatever they are given."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coursekit.datasets.chars import END, PAD, START, CharVocab, encode_chars
from coursekit.datasets.idx import DTYPES, read_idx, write_idx

PROPERTY = settings(max_examples=150, deadline=None)

# Every IDX dtype, in either byte order (write_idx accepts both; read_idx returns native order).
IDX_DTYPES = sorted({dt.newbyteorder(order).str for dt in DTYPES.values() for order in "<>"})
# dtypes IDX has no code for.
NOT_IDX = ["bool", "<u2", "<u4", "<i8", "<u8", "<f2", "<c8", "<c16", "U3"]
SHAPES = hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6)


def idx_arrays() -> st.SearchStrategy[np.ndarray]:
    """Any array IDX can hold: NaNs, infinities, -0.0 and subnormals included, empty ones too."""
    return st.sampled_from(IDX_DTYPES).flatmap(lambda dtype: hnp.arrays(np.dtype(dtype), SHAPES))


def native_bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, array.dtype.newbyteorder("=")).tobytes()


@PROPERTY
@given(idx_arrays(), st.booleans())
def test_idx_round_trip_is_exact(array, compress):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.idx"
        write_idx(path, array, compress=compress)
        back = read_idx(path)
        first = path.read_bytes()
        write_idx(path, array, compress=compress)
        assert path.read_bytes() == first, "the same array must give the same file"
    assert (first[:2] == b"\x1f\x8b") == compress
    assert back.shape == array.shape
    assert back.dtype == array.dtype.newbyteorder("=") and back.dtype.isnative
    assert back.tobytes() == native_bytes(array), "bit for bit: NaN payloads and -0.0 included"


@PROPERTY
@given(idx_arrays(), st.booleans(), st.data())
def test_idx_truncated_or_padded_file_is_rejected(array, compress, data):
    """read_idx is strict: any shorter file, or one with a byte more, raises ValueError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.idx"
        write_idx(path, array, compress=compress)
        whole = path.read_bytes()
        cut = data.draw(st.integers(0, len(whole) - 1), label="bytes kept")
        path.write_bytes(whole[:cut])
        with pytest.raises(ValueError, match="a.idx"):
            read_idx(path)
        if not compress:
            path.write_bytes(whole + b"\x00")
            with pytest.raises(ValueError, match="trailing bytes"):
                read_idx(path)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(NOT_IDX).flatmap(lambda dtype: hnp.arrays(np.dtype(dtype), SHAPES)))
def test_idx_refuses_dtypes_it_has_no_code_for(array):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.idx"
        with pytest.raises(ValueError, match="no IDX code"):
            write_idx(path, array, compress=False)
        assert not path.exists()


# ------------------------------------------------------------------------- character vocabularies

TEXTS = st.lists(st.text(max_size=12), max_size=6)  # any Unicode but surrogates, PAD included
EXTRA = st.sampled_from([(), (START, END)])


@st.composite
def vocab_and_words(draw):
    """A vocabulary built from random texts, and random words over its alphabet (PAD excluded)."""
    vocab = CharVocab.build(draw(TEXTS), extra=draw(EXTRA))
    alphabet = vocab.chars[1:]
    word = st.text(alphabet=st.sampled_from(alphabet), max_size=20) if alphabet else st.just("")
    return vocab, draw(st.lists(word, min_size=1, max_size=5))


@PROPERTY
@given(TEXTS, EXTRA)
def test_vocab_layout(texts, extra):
    vocab = CharVocab.build(texts, extra=extra)
    assert vocab.chars[0] == PAD and vocab.chars[1 : 1 + len(extra)] == extra
    assert len(set(vocab.chars)) == len(vocab), "no character twice"
    assert set(vocab.chars) == {PAD, *extra, *"".join(texts)}
    assert CharVocab.build(reversed(texts), extra=extra) == vocab, "the order of the texts does not matter"


@PROPERTY
@given(vocab_and_words())
def test_encode_decode_round_trip(vocab_words):
    vocab, words = vocab_words
    for word in words:
        ids = vocab.encode(word)
        assert len(ids) == len(word) and all(1 <= i < len(vocab) for i in ids)
        assert vocab.decode(ids) == word
        assert vocab.decode(np.array(ids + [0] + vocab.encode(words[0]), dtype=np.int64)) == word, "stops at PAD"


@PROPERTY
@given(vocab_and_words())
def test_encode_chars_pads_a_batch_that_decodes_back(vocab_words):
    vocab, words = vocab_words
    ids, lengths, same = encode_chars(words, vocab)
    assert same is vocab and ids.dtype == lengths.dtype == np.int64
    assert ids.shape == (len(words), max(len(w) for w in words))
    assert lengths.tolist() == [len(w) for w in words]
    for row, word in zip(ids, words, strict=True):
        assert vocab.decode(row) == word and not row[len(word) :].any()


@PROPERTY
@given(vocab_and_words(), st.characters(), st.data())
def test_encode_names_a_character_outside_the_vocabulary(vocab_words, stranger, data):
    vocab, words = vocab_words
    assume(stranger not in vocab.chars)
    word = words[0]
    at = data.draw(st.integers(0, len(word)), label="position")
    with pytest.raises(KeyError, match="not in the vocabulary"):
        vocab.encode(word[:at] + stranger + word[at:])
