"""Fashion-MNIST (Zalando, MIT licence): 28 x 28 grey images of 10 kinds of clothing.

Two sources: the full set (60,000 train + 10,000 test) from Debian's ``dataset-fashion-mnist``
package at /usr/share/datasets/fashion-mnist/, and a stratified subset shipped with the course in
data/fashion-mnist/ (1,000 train and 200 test images per class), so the course runs anywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from coursekit.datasets.checksums import data_dir, verify, verify_shipped
from coursekit.datasets.idx import read_idx

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SHIPPED_DIR = "fashion-mnist"

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# SHA-256 of Debian's files (dataset-fashion-mnist 0.0~git20200523.55506a9-1), identical to upstream's.
DEBIAN_SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}


def debian_available(directory: Path = DEBIAN_DIR) -> bool:
    """True when Debian's full Fashion-MNIST is installed."""
    return all((directory / name).exists() for pair in FILES.values() for name in pair)


def _paths(split: str, source: str, debian_dir: Path) -> tuple[Path, Path, str]:
    images, labels = FILES[split]
    if source == "debian":
        hint = "Install it with `apt-get install dataset-fashion-mnist`, or use source='shipped'."
        for name in (images, labels):
            verify(debian_dir / name, DEBIAN_SHA256[name], hint=hint)
        return debian_dir / images, debian_dir / labels, f"Debian's dataset-fashion-mnist ({debian_dir})"
    paths = [verify_shipped(f"{SHIPPED_DIR}/{name}") for name in (images, labels)]
    return paths[0], paths[1], f"the subset shipped in {data_dir() / SHIPPED_DIR}"


def load_fashion_mnist(
    split: str = "train",
    source: str = "auto",
    limit: int | None = None,
    normalize: bool = True,
    verbose: bool = True,
    debian_dir: Path = DEBIAN_DIR,
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images and labels: ``X`` of shape (N, 28, 28), ``y`` int64 class numbers.

    ``split``: ``"train"`` or ``"test"``. ``source``: ``"debian"`` (the full set), ``"shipped"``
    (the course's stratified subset) or ``"auto"`` (Debian's when installed, else the subset).
    ``limit``: keep the first N examples. ``normalize``: float32 in [0, 1] (else uint8 0-255).
    Files are verified by SHA-256 first; prints which source it used unless ``verbose=False``.
    Class names are in ``CLASS_NAMES``.
    """
    if split not in FILES:
        raise ValueError(f"load_fashion_mnist: split must be 'train' or 'test', not {split!r}")
    if source not in ("auto", "debian", "shipped"):
        raise ValueError(f"load_fashion_mnist: source must be 'auto', 'debian' or 'shipped', not {source!r}")
    if source == "auto":
        source = "debian" if debian_available(debian_dir) else "shipped"
    image_path, label_path, where = _paths(split, source, debian_dir)
    X, y = read_idx(image_path), read_idx(label_path)
    if X.ndim != 3 or X.shape[1:] != (28, 28) or y.shape != (X.shape[0],):
        raise ValueError(f"{image_path}: expected (N, 28, 28) images and N labels, got {X.shape} and {y.shape}")
    if limit is not None:
        X, y = X[:limit], y[:limit]
    if verbose:
        print(f"Fashion-MNIST {split}: {len(y):,} images from {where}")
    X = X.astype(np.float32) / 255.0 if normalize else X
    return X, y.astype(np.int64)
