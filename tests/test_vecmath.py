"""coursekit.graph.vecmath: float32 exp/log/log1p/tanh as vectorisable polynomials, checked in ulp
against the correctly rounded result on a dense grid of float32 bit patterns (every sign, exponent
and subnormal range), their special values against numpy's, and vectorised by LLVM."""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest

from coursekit.graph import vecmath as vm

FUNCS = {
    "exp": (vm.exp32, np.exp),
    "log": (vm.log32, np.log),
    "log1p": (vm.log1p32, np.log1p),
    "tanh": (vm.tanh32, np.tanh),
}


def _loop(f):
    @numba.njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[i] = f(x[i])

    return apply


LOOPS = {name: _loop(f) for name, (f, _) in FUNCS.items()}


def _grid() -> np.ndarray:
    """Every 701st float32 bit pattern (6 million values: all signs, exponents, subnormals, inf, nan),
    plus the edges: +-0, +-inf, nan, the smallest subnormal and normal, the largest finite."""
    bits = np.arange(0, 2**32, 701, dtype=np.uint64).astype(np.uint32).view(np.float32)
    edges = np.array(
        [
            0.0,
            -0.0,
            np.inf,
            -np.inf,
            np.nan,
            1e-45,
            -1e-45,
            1.1754944e-38,
            3.4028235e38,
            -3.4028235e38,
            88.72283,
            88.72284,
            -103.97208,
            -103.97209,
            -1.0,
            1.0,
            0.625,
            -0.625,
            9.0,
        ],
        dtype=np.float32,
    )
    return np.concatenate([bits, edges])


def ulp_error(got: np.ndarray, x: np.ndarray, ref) -> np.ndarray:
    """|got - exact| in units in the last place of the correctly rounded float32 result (exact: the
    float64 function); 0 where both are the same inf or both nan, inf where only one is nan/inf."""
    with np.errstate(all="ignore"):
        exact = ref(x.astype(np.float64))
        rounded = exact.astype(np.float32)
        err = np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(rounded)).astype(np.float64)
    agree = (np.isnan(got) & np.isnan(rounded)) | (np.isinf(got) & (got == rounded))
    err[agree] = 0.0
    err[np.isnan(err)] = np.inf
    return err


@pytest.mark.parametrize("name", FUNCS)
def test_within_max_ulp_of_the_correctly_rounded_result_everywhere(name):
    x = _grid()
    out = np.empty_like(x)
    LOOPS[name](x, out)
    err = ulp_error(out, x, FUNCS[name][1])
    worst = int(np.argmax(err))
    assert err.max() <= vm.MAX_ULP[name], f"{name}({x[worst]!r}) = {out[worst]!r}: {err[worst]:.2f} ulp"


@pytest.mark.parametrize("name", FUNCS)
def test_special_values_are_numpys(name):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, -2.0, 1e-45, 100.0, -200.0], dtype=np.float32)
    out = np.empty_like(x)
    LOOPS[name](x, out)
    with np.errstate(all="ignore"):
        want = FUNCS[name][1](x)
    exact = ~np.isfinite(want) | np.isin(want, [0.0, 1.0, -1.0]) | (x == 0)  # inf, nan, 0, +-1: no rounding
    np.testing.assert_array_equal(out[exact], want[exact])  # nan == nan here
    np.testing.assert_array_equal(np.signbit(out[x == 0]), np.signbit(want[x == 0]))  # f(-0.0) keeps its sign


@pytest.mark.parametrize("name", FUNCS)
def test_a_loop_calling_it_is_vectorised_and_calls_nothing(name):
    fn = LOOPS[name]
    fn(np.ones(64, np.float32), np.empty(64, np.float32))
    asm = fn.inspect_asm(fn.signatures[0])
    packed = re.findall(r"\b\w+ps\s+[^\n]*%[xyz]mm", asm)
    assert len(packed) > 10, f"{name}: LLVM did not vectorise the loop ({len(packed)} packed float ops)"
    assert not re.search(r"call\w*\s+\w*(exp|log|tanh)", asm), f"{name}: the loop still calls the C library"


def test_vectorise_rewrites_only_the_four_functions():
    assert vm.vectorise("math.log(math.log1p(math.exp(math.tanh(math.sqrt(t0)))))") == (
        "vm.log32(vm.log1p32(vm.exp32(vm.tanh32(math.sqrt(t0)))))"
    )


def test_the_compiled_cross_entropy_agrees_with_and_without_vector_math():
    import coursekit.graph as T

    rng = np.random.default_rng(1)
    z = (rng.standard_normal(300_001) * 30).astype(np.float32)
    y = (rng.random(z.size) < 0.5).astype(np.float32)
    zv, yv = T.vector("z", "float32"), T.vector("y", "float32")
    p = 1 / (1 + T.exp(-zv))
    expr = -yv * T.log(p) - (1 - yv) * T.log(1 - p)
    old = T.config.fusion
    try:
        T.config.fusion = "numba"
        results = {}
        for vector_math in (True, False):
            T.config.vector_math = vector_math
            results[vector_math] = T.function([zv, yv], expr)(z, y)
    finally:
        T.config.fusion, T.config.vector_math = old, True
    np.testing.assert_allclose(results[True], results[False], rtol=2e-6, atol=1e-7)
