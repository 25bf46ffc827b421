"""Labels next to scatter points that do not collide: each label takes the first of a few offsets
around its point where its text box overlaps no label placed before it, no other point, and stays
inside the axes (a greedy search in display coordinates, done once the axes' limits are final)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# (dx, dy) in points, horizontal and vertical alignment: right/left of the point, then above/below.
OFFSETS = (
    (6, 3, "left", "bottom"),
    (6, -3, "left", "top"),
    (-6, 3, "right", "bottom"),
    (-6, -3, "right", "top"),
    (0, 8, "center", "bottom"),
    (0, -8, "center", "top"),
    (8, 0, "left", "center"),
    (-8, 0, "right", "center"),
)
POINT_RADIUS_PX = 4.0  # a marker's half-size: a label box must keep this far from every point


def _annotate(ax, label: str, point: tuple[float, float], offset: tuple, fontsize: float):
    dx, dy, ha, va = offset
    return ax.annotate(label, point, textcoords="offset points", xytext=(dx, dy), ha=ha, va=va, fontsize=fontsize)


def place_labels(ax, points: Sequence[tuple[float, float]], labels: Sequence[str], fontsize: float = 8) -> list:
    """Annotate ``points`` (data coordinates) with ``labels``, each at the first offset of
    :data:`OFFSETS` whose text box collides with nothing placed so far (labels, points, the axes'
    edge); a label that fits nowhere takes the offset with the fewest collisions, labels first.
    Set the axes' scales and limits first. Returns the matplotlib ``Annotation`` objects, in the order of ``points``."""
    ax.figure.canvas.draw()  # final limits and transforms
    renderer = ax.figure.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    centres = ax.transData.transform(np.asarray(points, dtype=float))
    placed: list[Any] = []  # window extents (Bbox) of the labels placed so far
    texts: list[Any] = []
    for (x, y), label, (cx, cy) in zip(points, labels, centres, strict=True):
        best: tuple[int, Any] | None = None  # (collisions, annotation): the first offset with none, else the fewest
        for offset in OFFSETS:
            text = _annotate(ax, label, (x, y), offset, fontsize)
            box = text.get_window_extent(renderer)
            points_hit = sum(
                box.x0 - POINT_RADIUS_PX < px < box.x1 + POINT_RADIUS_PX
                and box.y0 - POINT_RADIUS_PX < py < box.y1 + POINT_RADIUS_PX
                for px, py in centres
                if (px, py) != (cx, cy)
            )
            outside = not (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1)
            collisions = 100 * sum(box.overlaps(other) for other in placed) + 10 * outside + points_hit
            if best is None or collisions < best[0]:
                if best is not None:
                    best[1].remove()
                best = (collisions, text)
            else:
                text.remove()
            if collisions == 0:
                break
        assert best is not None, "OFFSETS is never empty"
        placed.append(best[1].get_window_extent(renderer))
        texts.append(best[1])
    return texts


def overlapping_pairs(texts: Sequence) -> list[tuple[str, str]]:
    """The pairs of texts whose boxes overlap on the drawn figure (for tests and checks)."""
    if not texts:
        return []
    renderer = texts[0].figure.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1 :] if box_a.overlaps(box_b)]
