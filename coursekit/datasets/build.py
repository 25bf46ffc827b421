"""Regenerate the datasets shipped in data/ from Debian's packages, deterministically.

    python -m coursekit.datasets build          # needs dataset-fashion-mnist and the word lists

Running it twice gives byte-identical files; data/SHA256SUMS lists their checksums.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from coursekit.datasets import fashion_mnist, words
from coursekit.datasets.checksums import data_dir, sha256, verify
from coursekit.datasets.idx import read_idx, write_idx

SEED = 2026
FASHION_PER_CLASS = {"train": 1000, "test": 200}


def stratified_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` indices of each label, drawn with ``seed``, in their original order."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has only {len(members)} examples, {per_class} requested")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def build_fashion_mnist(out: Path, debian_dir: Path = fashion_mnist.DEBIAN_DIR) -> list[Path]:
    """Write the stratified subset (gzip IDX) into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split, (image_name, label_name) in fashion_mnist.FILES.items():
        for name in (image_name, label_name):
            verify(
                debian_dir / name,
                fashion_mnist.DEBIAN_SHA256[name],
                hint="Install it with `apt-get install dataset-fashion-mnist`.",
            )
        images, labels = read_idx(debian_dir / image_name), read_idx(debian_dir / label_name)
        keep = stratified_indices(labels, FASHION_PER_CLASS[split], SEED)
        write_idx(out / image_name, images[keep])
        write_idx(out / label_name, labels[keep])
        written += [out / image_name, out / label_name]
    return written


def build(root: Path | None = None) -> dict[str, str]:
    """Rebuild every shipped dataset under ``root`` (default data/) and its SHA256SUMS."""
    root = root or data_dir()
    files = build_fashion_mnist(root / fashion_mnist.SHIPPED_DIR)
    (root / "words").mkdir(parents=True, exist_ok=True)
    words.write_words(root / words.SHIPPED, words.build_words(seed=SEED))
    files.append(root / words.SHIPPED)
    sums = {str(p.relative_to(root)): sha256(p) for p in sorted(files)}
    (root / "SHA256SUMS").write_text("".join(f"{h}  {name}\n" for name, h in sums.items()))
    return sums
