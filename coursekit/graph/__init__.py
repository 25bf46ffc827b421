"""``coursekit.graph``: a small symbolic expression compiler in the spirit of Theano.

    import coursekit.graph as T
    x = T.vector("x")
    f = T.function([x], T.tanh(2 * x**2 + 3 * x + 1))   # build once: optimise, fuse, generate code
    f([0.0, 1.0, 2.0])                                  # call many times
    print(f.report()); print(f.source); f.draw()

Stages, one module each: ``nodes`` (variables, the Op base), ``ops`` (elementwise operations) and
``tensor`` (reductions, dot, indexing), ``grad`` (reverse-mode on the graph), ``rewrites``
(optimisation passes), ``fusion`` + ``codegen`` + ``hybrid`` (fused elementwise kernels: numpy
blocks, one numba loop, numba loops between numpy ufuncs, CUDA), ``compile`` (``function``),
``control`` (``ifelse``, ``foldl``/``scan``), ``draw`` and ``printing``; ``torch_graphs`` is today's
PyTorch side (``torch.compile``, graph breaks, ``torch.export``).
Importing this package never imports numba, torch or cupy.
"""

from types import SimpleNamespace

from .compile import Function, function
from .control import foldl, ifelse, scan
from .draw import draw, draw_optimization
from .grad import GRAD_RULES, DisconnectedInputError, grad, grad_graph, grad_rule, register_grad
from .nodes import (
    Constant,
    Input,
    Op,
    SharedVariable,
    Variable,
    config,
    constant,
    count_nodes,
    matrix,
    scalar,
    shared,
    tensor,
    tensor3,
    vector,
)
from .ops import (
    ELEMWISE,
    abs_,
    cast,
    dot,
    eq,
    exp,
    expm1,
    ge,
    gt,
    le,
    log,
    log1p,
    lt,
    maximum,
    mean,
    minimum,
    neq,
    ones_like,
    outer,
    sigmoid,
    sign,
    softplus,
    sqrt,
    sum,  # noqa: A004 - Theano's name, used as T.sum
    switch,
    tanh,
    zeros_like,
)
from .printing import debugprint, pp
from .rewrites import (
    GraphRewrite,
    LocalRewrite,
    PassReport,
    RewriteError,
    apply_local,
    default_passes,
    graph_rewrite,
    local_rewrite,
    optimize,
)

nnet = SimpleNamespace(sigmoid=sigmoid, softplus=softplus)  # Theano spelled these T.nnet.sigmoid
where = switch

__all__ = [
    "ELEMWISE",
    "GRAD_RULES",
    "Constant",
    "DisconnectedInputError",
    "Function",
    "GraphRewrite",
    "Input",
    "LocalRewrite",
    "Op",
    "PassReport",
    "RewriteError",
    "SharedVariable",
    "Variable",
    "abs_",
    "apply_local",
    "cast",
    "config",
    "constant",
    "count_nodes",
    "debugprint",
    "default_passes",
    "dot",
    "draw",
    "draw_optimization",
    "eq",
    "exp",
    "expm1",
    "foldl",
    "function",
    "ge",
    "grad",
    "grad_graph",
    "grad_rule",
    "graph_rewrite",
    "gt",
    "ifelse",
    "le",
    "local_rewrite",
    "log",
    "log1p",
    "lt",
    "matrix",
    "maximum",
    "mean",
    "minimum",
    "neq",
    "nnet",
    "ones_like",
    "optimize",
    "outer",
    "pp",
    "register_grad",
    "scalar",
    "scan",
    "shared",
    "sigmoid",
    "sign",
    "softplus",
    "sqrt",
    "sum",
    "switch",
    "tanh",
    "tensor",
    "tensor3",
    "vector",
    "where",
    "zeros_like",
]
