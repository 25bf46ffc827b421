"""Pictures of a :class:`coursekit.gpu.tracer.Trace`: who wrote each element, and each barrier
phase's reads and writes of one block."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from coursekit.gpu.tracer import Trace


def plot_writers(tr: Trace, array: str, ax=None, title: str | None = None):
    """Which (block, thread) wrote each element of ``array``: colour = block, text = thread.

    1-D arrays are drawn as a row of cells, 2-D arrays as an image with the block tiling. Returns
    the Axes.
    """
    import matplotlib.pyplot as plt

    owner = tr.writers(array)
    per_block = int(np.prod(tr.block))
    blocks = np.where(owner >= 0, owner // per_block, -1)
    threads = np.where(owner >= 0, owner % per_block, -1)
    grid2d = blocks.reshape(1, -1) if blocks.ndim == 1 else blocks
    if ax is None:
        width = min(12, 0.35 * grid2d.shape[1] + 1.5)
        _, ax = plt.subplots(figsize=(width, 1.4 if blocks.ndim == 1 else 0.35 * grid2d.shape[0] + 1.2))
    shown = np.ma.masked_less(grid2d, 0)
    n_blocks = int(np.prod(tr.grid))
    cmap = "tab10" if n_blocks <= 10 else "tab20" if n_blocks <= 20 else "viridis"  # no repeated colours
    ax.imshow(
        shown,
        cmap=cmap,
        vmin=-0.5,
        vmax=(10 if n_blocks <= 10 else 20 if n_blocks <= 20 else n_blocks) - 0.5,
        aspect="auto" if blocks.ndim == 1 else "equal",
        interpolation="nearest",
    )
    if blocks.ndim == 2:  # name each block at the centre of the cells it wrote
        for b in np.unique(blocks[blocks >= 0]):
            r, c = np.argwhere(blocks == b).mean(axis=0)
            ax.text(c, r, f"block {b}", ha="center", va="center", fontsize=7, color="black")
    if blocks.ndim == 1 and blocks.size <= 64:
        for i, t in enumerate(threads):
            ax.text(i, 0, "-" if t < 0 else str(t), ha="center", va="center", fontsize=7)
    ax.set_xlabel(
        f"element of '{array}' (colour = block, number = thread in block; - = not written)"
        if blocks.ndim == 1
        else "column"
    )
    if blocks.ndim == 1:
        ax.set_yticks([])
    else:
        ax.set_ylabel("row")
        for x in np.arange(0, grid2d.shape[1], tr.block[0]):
            ax.axvline(x - 0.5, color="black", lw=1)
        for y in np.arange(0, grid2d.shape[0], tr.block[1]):
            ax.axhline(y - 0.5, color="black", lw=1)
    ax.grid(False)
    ax.set_title(title or f"Who wrote '{array}': grid {tr.grid[:2]}, block {tr.block[:2]}")
    return ax


def _block_index(block: int | tuple) -> tuple[int, int, int]:
    """``blockIdx`` as (x, y, z): an int is the x index of a 1-D grid; a tuple is padded with zeros."""
    parts = (block,) if isinstance(block, (int, np.integer)) else tuple(block)
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"block must be an int or a tuple of 1 to 3 ints, not {block!r}")
    x, y, z = (*(int(p) for p in parts), 0, 0, 0)[:3]
    return x, y, z


def plot_accesses(tr: Trace, block: int | tuple = 0, space: str = "shared", array: str | None = None, ax_list=None):
    """Reads and writes of one block, one panel per barrier phase: rows = threads, columns = element
    of ``array`` in ``space`` ("shared" or "global"; 1-D arrays, or the first index of 2-D ones);
    blue = written, orange = read, green = both. ``block`` is ``blockIdx`` as an int (1-D grid) or
    an (x, y[, z]) tuple. Returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    wanted = _block_index(block)
    t = tr.table()
    if t.empty:
        raise ValueError(f"no {space}-memory accesses in this block")
    t = t[(t["space"] == space) & (t["block"].apply(lambda b: _block_index(b) == wanted))]
    if array is not None:
        t = t[t["array"] == array]
    if t.empty:
        raise ValueError(f"no {space}-memory accesses in this block")
    n_threads = int(np.prod(tr.block))
    width = 1 + max(i[0] for i in t["index"])
    phases = sorted(t["phase"].unique())
    if ax_list is None:
        _, ax_list = plt.subplots(
            1, len(phases), figsize=(min(14, 4.5 * len(phases)), 0.18 * n_threads + 1.4), squeeze=False
        )
        ax_list = ax_list[0]
    from matplotlib.patches import Patch

    cmap = ListedColormap(["white", "tab:blue", "tab:orange", "tab:green"])
    label = f"{space}-memory index" + (f" of '{array}'" if array else "")
    for ax, phase in zip(ax_list, phases, strict=False):  # a caller may pass more Axes than phases
        grid = np.zeros((n_threads, width), dtype=int)
        for _, row in t[t["phase"] == phase].iterrows():
            tx, ty, tz = _block_index(row["thread"])
            tid = tx + tr.block[0] * (ty + tr.block[1] * tz)
            grid[tid, row["index"][0]] |= 1 if row["op"] == "write" else 2
        ax.imshow(grid, cmap=cmap, vmin=0, vmax=3, aspect="auto", interpolation="nearest")
        ax.set_xlabel(label)
        ax.set_ylabel("thread")
        name = wanted[0] if wanted[1:] == (0, 0) else wanted[:2] if wanted[2] == 0 else wanted
        when = f"after barrier {phase}" if phase else "before any barrier"
        ax.set_title(f"block {name}, phase {phase}\n({when})", fontsize=9)
        ax.grid(False)
    handles = [
        Patch(color=c, label=lab)
        for c, lab in (("tab:blue", "written"), ("tab:orange", "read"), ("tab:green", "read and written"))
    ]
    ax_list[-1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))  # beside, not on
    if ax_list[0].figure is not None:
        ax_list[0].figure.tight_layout()
    return ax_list


def plot_shared(tr: Trace, block: int | tuple = 0, ax_list=None):
    """Shared-memory reads and writes of one block per barrier phase (see :func:`plot_accesses`)."""
    return plot_accesses(tr, block=block, space="shared", ax_list=ax_list)
