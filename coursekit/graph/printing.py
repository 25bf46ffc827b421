"""Text forms of a graph: ``pp`` (an infix expression) and ``debugprint`` (one node per line)."""

from __future__ import annotations

import numpy as np

from coursekit.graph.nodes import Constant, Variable, as_list, toposort


def _leaf(v: Variable) -> str:
    if isinstance(v, Constant):
        arr = np.asarray(v.value)
        return repr(arr.item()) if arr.size == 1 and arr.ndim == 0 else f"const{arr.shape}"
    return v.name or f"<{type(v).__name__.lower()}#{v.id}>"


def pp(v, depth: int = 12) -> str:
    """The expression that computes ``v``, in infix notation (deep graphs are cut with ``...``)."""
    if v.op is None:
        return _leaf(v)
    if depth == 0:
        return "..."
    args = [pp(i, depth - 1) for i in v.inputs]
    sym = getattr(v.op, "symbol", None)
    if sym and len(args) == 2:
        return f"({args[0]} {sym} {args[1]})"
    if v.op.name == "neg":
        return f"-{args[0]}"
    return f"{v.op.label()}({', '.join(args)})"


def debugprint(outputs) -> str:
    """One line per node, numbered in evaluation order, e.g. ``%3 = mul(%1, x)  float64 (False,)``."""
    order = toposort(as_list(outputs))
    num: dict[Variable, str] = {}
    lines: list[str] = []
    for v in order:
        if v.op is None:
            num[v] = _leaf(v)
            continue
        num[v] = f"%{len(lines)}"
        args = ", ".join(num[i] for i in v.inputs)
        lines.append(
            f"{num[v]} = {v.op.label()}({args})  {v.dtype.name} {v.broadcastable}" + (f"  # {v.name}" if v.name else "")
        )
    return "\n".join(lines)
