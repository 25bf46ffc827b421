"""Words the notebooks' computed sentences share: a list of names as English writes it."""

from __future__ import annotations

from collections.abc import Sequence


def listing(names: Sequence[str]) -> str:
    """``['a']`` -> ``'a'``, ``['a', 'b', 'c']`` -> ``'a, b and c'``.

    >>> listing(["naive"]), listing(["naive", "tiled"]), listing(["Coat", "Pullover", "Shirt"])
    ('naive', 'naive and tiled', 'Coat, Pullover and Shirt')
    """
    if not names:
        raise ValueError("listing: no names")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
