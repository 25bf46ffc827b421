"""Drawing a graph with matplotlib, in layers (inputs at the top, outputs at the bottom), like
Theano's ``pydotprint`` but with no Graphviz needed."""

from __future__ import annotations

from coursekit.graph.nodes import Constant, Input, SharedVariable, Variable, as_list, toposort

COLORS = {
    "input": "#b7e4c7",
    "shared": "#ffd6a5",
    "constant": "#e9ecef",
    "op": "#cfe2ff",
    "fused": "#e0c3fc",
    "control": "#ffadad",
}


def _kind(v: Variable) -> str:
    if isinstance(v, SharedVariable):
        return "shared"
    if isinstance(v, Constant):
        return "constant"
    if isinstance(v, Input):
        return "input"
    if v.op.name == "fused":
        return "fused"
    if v.op.name in ("ifelse", "scan", "scan_grad"):
        return "control"
    return "op"


def _label(v: Variable, width: int) -> str:
    text = v.label()
    if v.op is not None and v.op.name == "fused":
        ops = v.op.ops
        text = (
            f"fused ({len(ops)} ops)\n"
            + "\n".join(", ".join(ops[i : i + 3]) for i in range(0, min(len(ops), 9), 3))
            + ("\n..." if len(ops) > 9 else "")
        )
    elif v.op is not None and v.name:
        text = f"{v.op.label()}\n= {v.name}"
    return "\n".join(line if len(line) <= width else line[: width - 1] + "~" for line in text.split("\n"))


def layout(outputs) -> dict[Variable, tuple[float, float]]:
    """(x, y) for every variable: y is the longest path from a leaf, x spreads each layer, ordered by
    the mean x of the inputs to keep edges short."""
    order = toposort(as_list(outputs))
    depth: dict[Variable, int] = {}
    for v in order:
        depth[v] = 0 if not v.inputs else 1 + max(depth[i] for i in v.inputs)
    layers: dict[int, list[Variable]] = {}
    for v in order:
        layers.setdefault(depth[v], []).append(v)
    pos: dict[Variable, tuple[float, float]] = {}
    width = max(len(vs) for vs in layers.values())
    for d in sorted(layers):
        vs = layers[d]
        if d:
            vs.sort(key=lambda v: sum(pos[i][0] for i in v.inputs) / len(v.inputs))
        for k, v in enumerate(vs):
            pos[v] = ((k + 0.5) * width / len(vs), -d)
    return pos


def draw(graph, ax=None, title: str | None = None, label_width: int = 22):
    """Draw ``graph`` (a variable, a list of them, or a compiled function's optimised graph).
    Outputs get a thick border. Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    if hasattr(graph, "outputs") and hasattr(graph, "update_exprs"):
        graph = graph.outputs + graph.update_exprs
    outputs = as_list(graph)
    pos = layout(outputs)
    width = max(x for x, _ in pos.values()) + 0.5
    height = -min(y for _, y in pos.values()) + 1
    if ax is None:
        _, ax = plt.subplots(figsize=(min(16, max(5, 1.6 * width)), min(14, max(2.5, 1.0 * height))))
    outs = set(outputs)
    for v, (x, y) in pos.items():
        for i in v.inputs:
            xi, yi = pos[i]
            ax.annotate(
                "",
                xy=(x, y + 0.18),
                xytext=(xi, yi - 0.18),
                arrowprops={"arrowstyle": "->", "color": "#6c757d", "lw": 0.8, "shrinkA": 2, "shrinkB": 2},
            )
    for v, (x, y) in pos.items():
        kind = _kind(v)
        ax.text(
            x,
            y,
            _label(v, label_width),
            ha="center",
            va="center",
            fontsize=7,
            bbox={
                "boxstyle": "round,pad=0.3" if v.op is None else "square,pad=0.3",
                "fc": COLORS[kind],
                "ec": "black",
                "lw": 2.0 if v in outs else 0.6,
            },
        )
    ax.set_xlim(0, width)
    ax.set_ylim(-height + 0.4, 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def draw_optimization(f, figsize=None):
    """The compiled function's graph before and after optimisation, side by side; returns both Axes."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=figsize or (14, 6))
    f.draw("before", ax=a)
    f.draw("after", ax=b)
    fig.tight_layout()
    return a, b
