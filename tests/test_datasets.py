"""coursekit.datasets: strict IDX reading, checksummed loaders, and sane shipped data."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
import struct
import tracemalloc
import unicodedata

import numpy as np
import pytest

from coursekit import datasets
from coursekit.datasets import build as build_mod
from coursekit.datasets import dates as dates_mod
from coursekit.datasets import fashion_mnist as fm
from coursekit.datasets import words as words_mod
from coursekit.datasets.idx import read_idx, write_idx

DEBIAN = fm.debian_available()
needs_debian = pytest.mark.skipif(not DEBIAN, reason="Debian's dataset-fashion-mnist is not installed")


# ---------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    path = tmp_path / "a.idx"
    write_idx(path, array, compress=compress)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype).newbyteorder("=") and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, array)


def _idx_bytes(code=0x08, dims=(2, 3), payload=None, magic=b"\x00\x00"):
    header = magic + bytes([code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    return header + (bytes(int(np.prod(dims))) if payload is None else payload)


def _write(tmp_path, data: bytes, gz: bool, name="bad.idx"):
    path = tmp_path / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "data, message",
    [
        (_idx_bytes()[:-1], "truncated payload"),
        (_idx_bytes()[:6], "truncated dimensions"),
        (b"\x00\x00", "truncated magic"),
        (b"", "truncated magic"),
        (_idx_bytes(magic=b"\x12\x34"), "magic number"),
        (_idx_bytes(code=0x07), "unknown dtype code 0x07"),
        (_idx_bytes(dims=()), "zero dimensions"),
        (_idx_bytes() + b"garbage", "trailing bytes"),
        (_idx_bytes(dims=(60000, 28, 28), payload=bytes(100)), "truncated payload"),
    ],
    ids=["short-payload", "short-dims", "short-magic", "empty", "magic", "dtype", "ndim0", "trailing", "lying"],
)
def test_malformed_idx_raises_value_error_naming_the_file(tmp_path, gz, data, message):
    path = _write(tmp_path, data, gz)
    with pytest.raises(ValueError, match=message) as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("gz", [False, True])
def test_lying_header_allocates_nothing_large(tmp_path, gz):
    # declares 2^32-1 x 2^32-1 bytes (16 EiB); the file holds 1 KiB
    path = _write(tmp_path, _idx_bytes(dims=(2**32 - 1, 2**32 - 1), payload=bytes(1024)), gz)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="truncated payload"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"reading a lying header allocated {peak:,} bytes"


def test_corrupted_gzip_raises_value_error(tmp_path):
    good = gzip.compress(_idx_bytes(dims=(100, 100)), mtime=0)
    broken = bytearray(good)
    broken[len(broken) // 2] ^= 0xFF
    for name, data in (("flipped", bytes(broken)), ("cut", good[: len(good) // 2])):
        path = tmp_path / f"{name}.gz"
        path.write_bytes(data)
        with pytest.raises(ValueError) as err:
            read_idx(path)
        assert str(path) in str(err.value)


def test_write_idx_is_deterministic(tmp_path):
    array = np.arange(1000, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


# ------------------------------------------------------------------------- checksums


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of data/ that tests may corrupt."""
    copy = tmp_path / "data"
    shutil.copytree(datasets.data_dir(), copy, ignore=shutil.ignore_patterns("reference"))
    monkeypatch.setenv("COURSEKIT_DATA_DIR", str(copy))
    return copy


def test_checksum_mismatch_names_the_file(data_copy):
    target = data_copy / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch") as err:
        datasets.load_fashion_mnist("test", source="shipped", verbose=False)
    assert str(target) in str(err.value)


def test_missing_shipped_file_says_how_to_restore(data_copy):
    (data_copy / "words" / "words.tsv.gz").unlink()
    with pytest.raises(ValueError, match="missing.*git checkout"):
        datasets.load_words()


def test_readme_lists_the_shipped_checksums():
    readme = (datasets.data_dir() / "README.md").read_text()
    for name, digest in datasets.checksums.shipped_sums().items():
        assert f"| `{name}` | `{digest}` |" in readme


# ---------------------------------------------------------------------- Fashion-MNIST


def test_shipped_fashion_mnist_is_balanced_and_looks_like_clothes(capsys):
    X, y = datasets.load_fashion_mnist("train", source="shipped")
    assert "shipped" in capsys.readouterr().out
    assert X.shape == (10_000, 28, 28) and X.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert np.bincount(y).tolist() == [1000] * 10
    # Fashion-MNIST's published pixel statistics: mean 0.286, std 0.353
    assert X.mean() == pytest.approx(0.286, abs=0.01) and X.std() == pytest.approx(0.353, abs=0.01)
    Xt, yt = datasets.load_fashion_mnist("test", source="shipped", verbose=False)
    assert Xt.shape == (2_000, 28, 28) and np.bincount(yt).tolist() == [200] * 10
    assert len(datasets.CLASS_NAMES) == 10


def test_fashion_mnist_options(capsys):
    X, y = datasets.load_fashion_mnist("test", source="shipped", limit=50, normalize=False, verbose=False)
    assert X.shape == (50, 28, 28) and X.dtype == np.uint8 and capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="split"):
        datasets.load_fashion_mnist("validation")
    with pytest.raises(ValueError, match="source"):
        datasets.load_fashion_mnist(source="internet")


def test_auto_without_debian_uses_the_shipped_subset(tmp_path, capsys):
    X, _ = datasets.load_fashion_mnist("test", debian_dir=tmp_path)
    assert len(X) == 2_000 and "shipped" in capsys.readouterr().out


def test_debian_source_when_absent_says_how_to_install(tmp_path):
    with pytest.raises(ValueError, match="apt-get install dataset-fashion-mnist") as err:
        datasets.load_fashion_mnist(source="debian", debian_dir=tmp_path)
    assert str(tmp_path) in str(err.value)


@needs_debian
def test_full_debian_set_and_subset_provenance(capsys):
    X, y = datasets.load_fashion_mnist("train", source="auto", normalize=False)
    assert "Debian" in capsys.readouterr().out
    assert X.shape == (60_000, 28, 28) and np.bincount(y).tolist() == [6000] * 10
    shipped, shipped_y = datasets.load_fashion_mnist("train", source="shipped", normalize=False, verbose=False)
    keep = build_mod.stratified_indices(y, 1000, build_mod.SEED)
    np.testing.assert_array_equal(shipped, X[keep])
    np.testing.assert_array_equal(shipped_y, y[keep])


@needs_debian
@pytest.mark.skipif(not (words_mod.DICT_DIR / "american-english").exists(), reason="Debian word lists absent")
def test_build_reproduces_the_shipped_files_byte_for_byte(tmp_path):
    sums = build_mod.build(tmp_path)
    assert sums == datasets.checksums.shipped_sums()


def test_stratified_indices():
    labels = np.array([0, 1, 0, 1, 0, 1, 2, 2, 2])
    keep = build_mod.stratified_indices(labels, 2, seed=0)
    assert np.bincount(labels[keep]).tolist() == [2, 2, 2] and (np.diff(keep) > 0).all()
    with pytest.raises(ValueError, match="only 3"):
        build_mod.stratified_indices(labels, 4, seed=0)


# --------------------------------------------------------------------------- clusters


def test_gaussian_clusters_like_the_lecture():
    X, onehot = datasets.gaussian_clusters()
    assert X.shape == (10_000, 500) and onehot.shape == (10_000, 5)
    assert (onehot.sum(axis=1) == 1).all() and onehot.sum(axis=0).tolist() == [2000] * 5
    labels = onehot.argmax(1)
    means = np.stack([X[labels == c].mean(0) for c in range(5)])
    assert (-0.01 <= means).all() and (means <= 1.01).all()  # centres uniform in [0, 1), +- sampling noise
    assert X[labels == 0].std(0).mean() == pytest.approx(0.1, abs=0.01)
    nearest = ((X[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    assert (nearest == labels).mean() > 0.99  # 500 dimensions: the clusters are well separated
    X2, onehot2 = datasets.gaussian_clusters()
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(onehot, onehot2)


def test_gaussian_clusters_uneven_and_unshuffled():
    X, onehot = datasets.gaussian_clusters(n_samples=11, n_features=3, n_classes=3, shuffle=False)
    labels = onehot.argmax(1)
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    with pytest.raises(ValueError):
        datasets.gaussian_clusters(n_samples=2, n_classes=3)


# ------------------------------------------------------------------------------ words


def test_words_balanced_normalised_and_single_labelled():
    words, labels, codes = datasets.load_words()
    assert codes == ["en", "fr", "de", "it", "es", "nl"]
    assert np.bincount(labels).tolist() == [3000] * 6
    assert len(set(words)) == len(words), "no word appears twice (so none under two labels)"
    for w in words:
        assert w == w.lower() and w.isalpha() and 3 <= len(w) <= 20
        assert unicodedata.normalize("NFC", w) == w
    assert any(not w.isascii() for w in words), "accents are kept"
    first_hundred = {codes[i] for i in labels[:100]}
    assert len(first_hundred) == 6, "the file is shuffled: any prefix mixes languages"


def test_words_filters():
    words, labels, codes = datasets.load_words(languages=["es", "en"], limit=10)
    assert codes == ["es", "en"] and np.bincount(labels).tolist() == [10, 10]
    with pytest.raises(ValueError, match="unknown language"):
        datasets.load_words(languages=["xx"])


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Cat's", "cat"),
        ("NASA", None),
        ("ab", None),
        ("Straße", "straße"),
        ("e-mail", None),
        ("aujourd'hui", None),
        ("Ünïcödé", "ünïcödé"),
        ("x" * 21, None),
        ("cafe\u0301", "café"),
    ],
)
def test_normalize_word(raw, expected):
    assert words_mod.normalize_word(raw) == expected


def test_encode_chars_pads_and_round_trips():
    ids, lengths, vocab = datasets.encode_chars(["abc", "a", "cab"])
    assert ids.shape == (3, 3) and lengths.tolist() == [3, 1, 3]
    assert ids[1].tolist()[1:] == [0, 0] and (ids[ids != 0] > 0).all()
    assert [vocab.decode(row) for row in ids] == ["abc", "a", "cab"]
    ids2, lengths2, _ = datasets.encode_chars(["abcabc"], vocab, max_len=4)
    assert ids2.shape == (1, 4) and lengths2.tolist() == [4]
    with pytest.raises(KeyError, match="'z'"):
        vocab.encode("z")


# ------------------------------------------------------------------------------ dates


def test_dates_round_trip_every_style():
    d = datasets.load_dates(2000, seed=3)
    assert len(d) == 2000 and set(d.styles) == set(range(dates_mod.FORMATS))
    for source, target, style in zip(d.sources, d.targets, d.styles, strict=True):
        assert dates_mod.parse_human_date(source, style) == dt.date.fromisoformat(target)
        d.source_vocab.encode(source)
        d.target_vocab.encode(target)
    assert datasets.START in d.target_vocab.chars and datasets.END in d.target_vocab.chars
    again = datasets.load_dates(2000, seed=3)
    assert again.sources == d.sources and again.targets == d.targets
    assert datasets.load_dates(2000, seed=4).sources != d.sources
