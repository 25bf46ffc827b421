"""Datasets for the course, all offline: shipped subsets in data/ (checksummed), Debian's full
copies when installed, and generated sets.

- :func:`read_idx` — the MNIST/Fashion-MNIST file format, read strictly.
- :func:`load_fashion_mnist` — images and labels; ``CLASS_NAMES``.
- :func:`gaussian_clusters` — the softmax-regression lecture's data.
- :func:`load_words`, :func:`encode_chars`, :class:`CharVocab` — words by language for RNNs.
- :func:`load_dates` — human-written dates -> ISO 8601, for seq2seq.
"""

from coursekit.datasets.chars import END, PAD, START, CharVocab, encode_chars
from coursekit.datasets.checksums import data_dir, sha256
from coursekit.datasets.clusters import gaussian_clusters
from coursekit.datasets.dates import Dates, load_dates
from coursekit.datasets.fashion_mnist import CLASS_NAMES, load_fashion_mnist
from coursekit.datasets.idx import read_idx, write_idx
from coursekit.datasets.words import LANGUAGES, load_words

__all__ = [
    "CLASS_NAMES",
    "END",
    "LANGUAGES",
    "PAD",
    "START",
    "CharVocab",
    "Dates",
    "data_dir",
    "encode_chars",
    "gaussian_clusters",
    "load_dates",
    "load_fashion_mnist",
    "load_words",
    "read_idx",
    "sha256",
    "write_idx",
]
