"""The gaussian clusters of the softmax-regression lecture, reproducibly.

The lecture (CMU 10-405, after MinPy's example) draws one centre per class uniformly in
[0, 1)^features, then ``n_samples / n_classes`` points per class from a normal distribution with
standard deviation 0.1 around it, classes in contiguous blocks. (Its ``num_samples / num_classes``
is a float under Python 3, which numpy rejects as a shape: a Python 2 leftover.)
"""

from __future__ import annotations

import numpy as np


def gaussian_clusters(
    n_samples: int = 10_000,
    n_features: int = 500,
    n_classes: int = 5,
    seed: int = 0,
    sigma: float = 0.1,
    shuffle: bool = True,
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """``(X, onehot)``: ``X`` (n_samples, n_features), ``onehot`` (n_samples, n_classes).

    Class sizes differ by at most one when ``n_samples`` is not a multiple of ``n_classes``.
    ``shuffle=False`` keeps the lecture's contiguous class blocks (fine for full-batch gradient
    descent, bad for minibatches: each batch would hold one class).
    """
    if n_samples < n_classes or n_classes < 1 or n_features < 1:
        raise ValueError("gaussian_clusters: need n_samples >= n_classes >= 1 and n_features >= 1")
    rng = np.random.default_rng(seed)
    centres = rng.random((n_classes, n_features))
    labels = np.repeat(np.arange(n_classes), [len(c) for c in np.array_split(np.arange(n_samples), n_classes)])
    X = centres[labels] + rng.normal(0.0, sigma, (n_samples, n_features))
    if shuffle:
        order = rng.permutation(n_samples)
        X, labels = X[order], labels[order]
    onehot = np.eye(n_classes, dtype=dtype)[labels]
    return X.astype(dtype), onehot
