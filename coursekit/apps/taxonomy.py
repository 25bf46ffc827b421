"""The shapes of sequence problems, drawn: which inputs feed which outputs through an RNN."""

from __future__ import annotations

# name -> (example, number of inputs, number of outputs, aligned?, the demo of notebook 05)
SHAPES: dict[str, tuple[str, int, int, bool, str]] = {
    "one-to-one": ("image classification", 1, 1, True, "LeNet (section 2)"),
    "one-to-many": ("image captioning", 1, 3, False, "not built here"),
    "many-to-one": ("sequence classification", 4, 1, False, "language of a word (section 3)"),
    "many-to-many\n(aligned)": ("tagging, NER", 4, 4, True, "not built here"),
    "encoder-decoder": ("translation", 3, 3, False, "date translator (section 4)"),
}


def plot_shapes(shapes: dict[str, tuple[str, int, int, bool, str]] = SHAPES):
    """One panel per shape: input boxes (bottom, red), recurrent states (middle, green, linked
    left to right), outputs (top, blue). Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, axes = plt.subplots(1, len(shapes), figsize=(2.6 * len(shapes), 3.4))
    colours = {"in": "#f4a6a6", "h": "#a6d8a6", "out": "#a6c4f4"}

    def box(ax, x, y, kind):
        ax.add_patch(
            FancyBboxPatch((x - 0.3, y - 0.25), 0.6, 0.5, boxstyle="round,pad=0.02", fc=colours[kind], ec="k", lw=0.8)
        )

    def arrow(ax, x0, y0, x1, y1):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "lw": 0.9})

    for ax, (name, (example, n_in, n_out, aligned, demo)) in zip(axes, shapes.items(), strict=True):
        if aligned:  # one state per step; each step reads an input and writes an output
            steps, ins, outs = max(n_in, n_out), list(range(n_in)), list(range(n_out))
        elif n_in == 1:  # one input, then the state unrolls to emit outputs
            steps, ins, outs = n_out, [0], list(range(n_out))
        elif n_out == 1:  # read everything, answer once at the end
            steps, ins, outs = n_in, list(range(n_in)), [n_in - 1]
        else:  # encoder steps read, decoder steps write
            steps, ins, outs = n_in + n_out, list(range(n_in)), list(range(n_in, n_in + n_out))
        for s in range(steps):
            box(ax, s, 1, "h")
            if s:
                arrow(ax, s - 0.7, 1, s - 0.3, 1)
        for s in ins:
            box(ax, s, 0, "in")
            arrow(ax, s, 0.25, s, 0.75)
        for s in outs:
            box(ax, s, 2, "out")
            arrow(ax, s, 1.25, s, 1.75)
        ax.set_xlim(-0.6, max(steps, 4) - 0.4)
        ax.set_ylim(-0.6, 2.6)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"{name}\n{example}", fontsize=9)
        ax.text((max(steps, 4) - 1) / 2, -0.55, demo, ha="center", va="top", fontsize=8, style="italic")
    fig.suptitle("Sequence problems by shape: red = inputs, green = recurrent state, blue = outputs", fontsize=10)
    fig.tight_layout()
    return fig
