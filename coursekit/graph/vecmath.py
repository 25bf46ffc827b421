"""float32 ``exp``, ``log``, ``log1p`` and ``tanh`` that LLVM can vectorise inside a numba loop.

numba compiles ``math.exp`` to a call of the C library, one element at a time, unless llvmlite
has Intel's SVML (this course's does not): a fused loop with one ``exp`` in it then runs at the
speed of scalar calls, whatever the CPU's vector width. The functions below compute the same
values from float32 arithmetic, a polynomial and two bit casts, with no call and no branch that
LLVM cannot turn into a select, so a loop using them is vectorised to the CPU's lanes (8 with
AVX2, 16 with AVX-512), as torch.compile's C++ does with its vectorised ``exp``/``log``.

The methods are Cephes' (S. Moshier, ``expf.c``, ``logf.c``, ``tanhf.c``): reduce the argument
to a small interval, evaluate a minimax polynomial there, and scale back by a power of two built
from its exponent bits. ``log1p`` uses Kahan's correction ``log(u) * x / (u - 1)`` with
``u = 1 + x``. Special values follow numpy: ``exp(-inf) = 0``, ``exp(x > 88.73) = inf``,
``log(0) = -inf``, ``log(x < 0) = nan``, nan in gives nan out. Their errors against numpy's float32
are measured by ``tests/test_vecmath.py`` on every float32 of a dense grid including the extremes
and subnormals (at most a few units in the last place; see :data:`MAX_ULP`).

:func:`vectorise` rewrites a float32 expression of the code generators to call them. Use them in
numba code (they are ``numba.njit(inline="always")``); from Python they run too:

    >>> import numpy as np
    >>> float(exp32(np.float32(1.0))), float(log32(np.float32(np.e)))
    (2.7182817459106445, 1.0)
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# the largest error against numpy's float32 result, in units in the last place (tests/test_vecmath.py)
MAX_ULP = {"exp": 2, "log": 2, "log1p": 4, "tanh": 4}


@intrinsic
def _bits(typingctx, x):
    """The int32 whose bits are float32 ``x``'s (a bit cast, no conversion)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def _float(typingctx, i):
    """The float32 whose bits are the low 32 bits of integer ``i`` (a bit cast, no conversion;
    numba widens int32 arithmetic to int64, so wider integers are truncated first)."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        low = builder.trunc(args[0], ir.IntType(32)) if i.bitwidth > 32 else args[0]
        return builder.bitcast(low, ir.FloatType())

    return types.float32(i), codegen


F = np.float32
I = np.int32  # noqa: E741 - the int32 constructor, beside F
ROUND = F(12582912.0)  # 1.5 * 2**23: adding it rounds a float32 of magnitude < 2**22 to an integer
ROUND_BITS = I(0x4B400000)  # the bits of ROUND
LOG2E, LN2_HI, LN2_LO = F(1.44269504088896341), F(0.693359375), F(-2.12194440e-4)
EXP_HI, EXP_LO = F(89.0), F(-104.0)  # exp is inf above 88.73 and 0 below -103.98 in float32
EXP_P = (F(1.9875691500e-4), F(1.3981999507e-3), F(8.3334519073e-3), F(4.1665795894e-2), F(1.6666665459e-1), F(0.5))
SQRT_HALF = F(0.707106781186547524)
LOG_P = (
    F(7.0376836292e-2),
    F(-1.1514610310e-1),
    F(1.1676998740e-1),
    F(-1.2420140846e-1),
    F(1.4249322787e-1),
    F(-1.6668057665e-1),
    F(2.0000714765e-1),
    F(-2.4999993993e-1),
    F(3.3333331174e-1),
)
SMALLEST_NORMAL, TWO_23 = F(1.17549435e-38), F(8388608.0)
TANH_P = (F(-5.70498872745e-3), F(2.06390887954e-2), F(-5.37397155531e-2), F(1.33314422036e-1), F(-3.33332819422e-1))
TANH_SMALL, TANH_ONE = F(0.625), F(9.5)  # polynomial below 0.625; tanh(x) rounds to 1 in float32 from 9.1 on
ZERO, HALF, ONE, TWO = F(0.0), F(0.5), F(1.0), F(2.0)
INF, NAN = F(np.inf), F(np.nan)


@numba.njit(inline="always", error_model="numpy")
def exp32(x):
    """e**x in float32 (x float32). Reference: ``np.exp(x)`` within :data:`MAX_ULP` ``["exp"]`` ulp."""
    x = F(x)  # a float64 argument (a template's 1.0 promotes) is rounded to float32 first
    x = EXP_HI if x > EXP_HI else x  # nan passes both tests unchanged
    x = EXP_LO if x < EXP_LO else x
    t = x * LOG2E + ROUND  # k = round(x / ln 2), as an integer and as a float
    k = _bits(t) - ROUND_BITS
    kf = t - ROUND
    r = x - kf * LN2_HI - kf * LN2_LO  # |r| <= ln(2) / 2
    p = EXP_P[0]
    p = p * r + EXP_P[1]
    p = p * r + EXP_P[2]
    p = p * r + EXP_P[3]
    p = p * r + EXP_P[4]
    p = p * r + EXP_P[5]
    y = p * r * r + r + ONE
    k1 = k >> 1  # 2**k in two factors, so that subnormal results (k < -126) come out right
    return y * _float((k1 + I(127)) << I(23)) * _float((k - k1 + I(127)) << I(23))


@numba.njit(inline="always", error_model="numpy")
def log32(x):
    """Natural log in float32. Reference: ``np.log(x)`` within :data:`MAX_ULP` ``["log"]`` ulp."""
    x = F(x)
    tiny = x < SMALLEST_NORMAL  # subnormals: scale into the normal range first
    xs = x * TWO_23 if tiny else x
    bits = _bits(xs)
    e = ((bits >> I(23)) & I(0xFF)) - I(126) - (I(23) if tiny else I(0))
    m = _float((bits & I(0x007FFFFF)) | I(0x3F000000))  # mantissa in [0.5, 1)
    small = m < SQRT_HALF
    ef = F(e - I(1)) if small else F(e)
    m = (m + m - ONE) if small else (m - ONE)
    z = m * m
    p = LOG_P[0]
    p = p * m + LOG_P[1]
    p = p * m + LOG_P[2]
    p = p * m + LOG_P[3]
    p = p * m + LOG_P[4]
    p = p * m + LOG_P[5]
    p = p * m + LOG_P[6]
    p = p * m + LOG_P[7]
    p = p * m + LOG_P[8]
    y = m * z * p + ef * LN2_LO - HALF * z
    y = m + y + ef * LN2_HI
    y = -INF if x == ZERO else y
    y = NAN if x < ZERO else y
    y = x if x == INF else y
    return y if x == x else x


@numba.njit(inline="always", error_model="numpy")
def log1p32(x):
    """log(1 + x) in float32, accurate for tiny x. Reference: ``np.log1p(x)`` within
    :data:`MAX_ULP` ``["log1p"]`` ulp."""
    x = F(x)
    u = x + ONE
    d = u - ONE
    y = log32(u) * (x / d) if d != ZERO else x  # Kahan: the rounding of 1 + x cancels out
    return x if x == INF else y


@numba.njit(inline="always", error_model="numpy")
def tanh32(x):
    """Hyperbolic tangent in float32. Reference: ``np.tanh(x)`` within :data:`MAX_ULP` ``["tanh"]`` ulp."""
    x = F(x)
    a = abs(x)
    z = x * x
    p = ((((TANH_P[0] * z + TANH_P[1]) * z + TANH_P[2]) * z + TANH_P[3]) * z) + TANH_P[4]
    small = p * z * x + x
    small = x if a == ZERO else small  # tanh(-0.0) = -0.0
    ac = TANH_ONE if a > TANH_ONE else a
    large = ONE - TWO / (exp32(ac + ac) + ONE)
    large = ONE if a >= TANH_ONE else large
    large = -large if x < ZERO else large
    return small if a < TANH_SMALL else (large if x == x else x)


# the C library's functions in the generated scalar code -> the vectorisable float32 ones above
# (log1p before log: "math.log(" is not a prefix of "vm.log1p32(")
REPLACEMENTS = (
    ("math.exp(", "vm.exp32("),
    ("math.log1p(", "vm.log1p32("),
    ("math.log(", "vm.log32("),
    ("math.tanh(", "vm.tanh32("),
)


def vectorise(expr: str) -> str:
    """A scalar numba expression of float32 values with ``math.exp/log/log1p/tanh`` replaced by
    :func:`exp32` ... (the generated code imports this module as ``vm``).

    >>> vectorise("(max(t0, 0.0) + math.log1p(math.exp(-abs(t0))))")
    '(max(t0, 0.0) + vm.log1p32(vm.exp32(-abs(t0))))'
    """
    for old, new in REPLACEMENTS:
        expr = expr.replace(old, new)
    return expr
