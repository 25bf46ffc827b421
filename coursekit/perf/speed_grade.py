"""Speed-grading a student's function as CS149 does: ``T_reference / T_student``, measured on this
machine in one run, by a separate process the student's code cannot reach.

:func:`grade` writes the function's source to a temporary file and starts a fresh
``python -m coursekit.perf.speed_grade`` process. That process, not the notebook's kernel, loads
the source (with ``numpy`` as ``np`` and ``math`` only: any other import is refused), draws fresh
inputs, checks the results against its own reference, times the reference and the student's
function in alternating rounds with its own clock, and prints one line of JSON that :func:`grade`
reads back as a :class:`SpeedResult`. A student's cell can therefore neither replace the timer nor
the checker, nor hand back numbers computed in the notebook.

Three checks must pass:

1. **correct**: on small inputs of several shapes and thresholds the result equals the reference's
   (float32, same shape, inputs unchanged);
2. **fast enough**: ``score = T_reference / T_student`` at :data:`SCORE_N` elements (arrays that
   fit in the caches, so the score measures the code, not the memory) is at least :data:`BAR`;
3. **plausible** (the roofline): on arrays of :data:`PLAUSIBLE_N` elements, far larger than the
   caches, the student's time implies at most :data:`PLAUSIBLE_MARGIN` times this machine's
   measured bandwidth and peak FLOP/s, and the returned array already holds the right numbers when
   the call returns. A cached (memoised) result, or work started in a thread and not waited for
   ("a timing without synchronisation"), fails here.

The separate process and the import guard stop accidents and the casual cheats above; code that
digs into the interpreter (for instance through the globals of numpy's own modules, where the
real ``__import__`` lives) can get past any check run in Python, and is a matter for the course's
rules on academic honesty, not for a timer.

The one task, ``"huber"``, is the elementwise Huber function of notebook 01's Exercise 1.1:
``0.5 r^2`` where ``|r| <= delta``, else ``delta (|r| - delta / 2)``. Its reference is the scalar
loop compiled by numba: a single pass over memory at compiled speed.
"""

from __future__ import annotations

import argparse
import builtins
import functools
import inspect
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from time import perf_counter as _clock  # bound once: a later patch of time.perf_counter misses it
from typing import Any

import numpy as np

BAR = 1 / 80  # pass from T_reference / T_student >= BAR (numpy answers: 1/19 to 1/30 here, loops: 1/400 or less)
SCORE_N = 2**17  # elements per array when scoring: 512 KiB of float32, which stays in a CPU's caches
PLAUSIBLE_N = {"quick": 2**22, "full": 2**23}  # elements per array for the plausibility check (16/32 MiB)
PLAUSIBLE_CALLS = 5  # calls timed on the large arrays: the fastest is judged (a memoised call is fastest)
PLAUSIBLE_MARGIN = 2.0  # a time implying more than 2x the measured bytes/s or FLOP/s is not believed
PILOT_N = 2**14  # a first, small timing: a function BAR / 4 slower than the reference stops here
ROUNDS = {"quick": 15, "full": 31}  # interleaved rounds (reference, student) when scoring
ALLOWED_IMPORTS = ("numpy", "math")  # what the student's source may import
PREAMBLE = "import math\n\nimport numpy as np\n\n\n"
TASKS = ("huber",)
HUBER_BYTES_PER_ELEMENT = 8  # float32: read r, write the result (minimum traffic)
HUBER_FLOP_PER_ELEMENT = 3  # at least: min(|r|, delta), one multiply-subtract, one multiply


@dataclass(frozen=True)
class SpeedResult:
    """What the grading process measured. Times are seconds per call (fastest of the rounds at
    ``score_n`` elements; fastest of the plausibility calls at ``plausible_n``); rates are bytes/s
    and FLOP/s of the minimum work; ``reason`` says why it failed (empty when ``passed``)."""

    passed: bool
    reason: str
    score: float = math.nan
    bar: float = BAR
    t_reference_s: float = math.nan
    t_student_s: float = math.nan
    score_n: int = SCORE_N
    plausible_n: int = 0
    t_plausible_s: float = math.nan
    implied_bytes_per_s: float = math.nan
    implied_flop_per_s: float = math.nan
    ceiling_bytes_per_s: float = math.nan
    ceiling_flop_per_s: float = math.nan

    def summary(self) -> str:
        """One line for the student: the verdict, the score and the plausibility figures."""
        verdict = "PASSED" if self.passed else f"FAILED ({self.reason})"
        parts = [verdict]
        if math.isfinite(self.score):
            parts.append(
                f"score T_reference / T_student = {self.score:.3f}"
                + (f" = 1/{1 / self.score:,.1f}" if 0 < self.score < 1 else "")
                + f" (bar 1/{1 / self.bar:g}; "
                f"reference {self.t_reference_s * 1e6:,.0f} us, yours {self.t_student_s * 1e6:,.0f} us "
                f"on {self.score_n:,} elements)"
            )
        if math.isfinite(self.implied_bytes_per_s):
            parts.append(
                f"on {self.plausible_n:,} elements yours implies {self.implied_bytes_per_s / 1e9:,.1f} GB/s "
                f"(measured bandwidth {self.ceiling_bytes_per_s / 1e9:,.1f} GB/s; "
                f"over {PLAUSIBLE_MARGIN:g}x that is refused)"
            )
        return "; ".join(parts)


# ------------------------------------------------------------------------------ the grading process


@functools.cache
def _compiled_huber() -> Callable[[np.ndarray, float, np.ndarray], None]:
    """The reference's kernel: the scalar loop, compiled by numba (one pass, r read, out written)."""
    import numba

    @numba.njit(cache=True)
    def huber_kernel(r, delta, out):  # pragma: no cover - compiled
        for i in range(r.size):
            a = abs(r[i])
            out[i] = 0.5 * r[i] * r[i] if a <= delta else delta * (a - 0.5 * delta)

    return huber_kernel


def huber_reference(r: np.ndarray, delta: float, kernel: Callable | None = None) -> np.ndarray:
    """The Huber function of ``r`` (float32 array, any shape) at threshold ``delta``, in a new array,
    by the compiled loop (``kernel``: a :func:`_compiled_huber` already compiled, to save the look-up)."""
    kernel = kernel or _compiled_huber()
    out = np.empty_like(r)
    kernel(np.ascontiguousarray(r).reshape(-1), r.dtype.type(delta), out.reshape(-1))
    return out


def _guarded_import(name: str, *args: Any, **kwargs: Any) -> Any:
    if name.split(".")[0] not in ALLOWED_IMPORTS:
        raise ImportError(f"the graded function may import only {', '.join(ALLOWED_IMPORTS)}, not {name!r}")
    return builtins.__import__(name, *args, **kwargs)


def load_function(source: str, name: str) -> Callable[..., Any]:
    """``name`` from ``source`` (Python text), executed in a namespace whose ``import`` refuses
    anything but :data:`ALLOWED_IMPORTS` (at load time and when the function runs)."""
    guarded = dict(vars(builtins))
    guarded["__import__"] = _guarded_import
    namespace: dict[str, Any] = {"__builtins__": guarded, "__name__": "student_submission"}
    exec(compile(source, "<student submission>", "exec"), namespace)
    fn = namespace.get(name)
    if not callable(fn):
        raise ValueError(f"the source defines no function {name!r}")
    return fn


def _check_correct(fn: Callable, kernel: Callable, rng: np.random.Generator) -> str:
    """Empty if ``fn`` matches the reference on small cases, else what went wrong."""
    cases = [((1000,), 1.0), ((7,), 0.5), ((3, 5), 2.0), ((0,), 1.0), ((4097,), 0.1)]
    for shape, delta in cases:
        r = (3 * rng.standard_normal(shape)).astype(np.float32)
        if r.size >= 4:
            r.reshape(-1)[:4] = [delta, -delta, 0.0, -0.0]  # the boundary belongs to the quadratic part
        before = r.copy()
        got = fn(r, delta)
        expected = huber_reference(r, delta, kernel)
        if not isinstance(got, np.ndarray) or got.shape != r.shape:
            return f"wrong numbers: for r of shape {shape} expected an array of that shape, got {_describe(got)}"
        if got.dtype != np.float32:
            return f"wrong numbers: expected a float32 array for float32 r, got {got.dtype}"
        if not np.array_equal(r, before):
            return "wrong numbers: the function changed its input r"
        if not np.allclose(got, expected, rtol=1e-5, atol=1e-6):
            bad = int(np.argmax(~np.isclose(got, expected, rtol=1e-5, atol=1e-6).reshape(-1)))
            return (
                f"wrong numbers: delta={delta}, r={r.reshape(-1)[bad]!r}: expected {expected.reshape(-1)[bad]!r}, "
                f"got {got.reshape(-1)[bad]!r}"
            )
    return ""


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {shape}" if shape is not None else type(value).__name__


def _seconds(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = _clock()
    out = fn(*args)
    return _clock() - start, out


def _score(fn: Callable, kernel: Callable, n: int, rounds: int, rng: np.random.Generator) -> tuple[float, float]:
    """Fastest seconds per call of the reference and of ``fn`` on ``n`` elements, in alternating
    rounds (the order flips every round), after one untimed call of each. The fastest, not the
    median: on a shared machine a round can only be slowed down by other work, never sped up."""
    r = (3 * rng.standard_normal(n)).astype(np.float32)
    ref = lambda: huber_reference(r, 1.0, kernel)  # noqa: E731
    student = lambda: fn(r, 1.0)  # noqa: E731
    ref()
    student()
    times: dict[str, list[float]] = {"ref": [], "student": []}
    for i in range(rounds):
        order = (("ref", ref), ("student", student)) if i % 2 == 0 else (("student", student), ("ref", ref))
        for label, call in order:
            times[label].append(_seconds(call)[0])
    return min(times["ref"]), min(times["student"])


def _plausibility(fn: Callable, kernel: Callable, n: int, rng: np.random.Generator) -> tuple[float, str]:
    """Fastest of :data:`PLAUSIBLE_CALLS` calls on ``n`` fresh elements (seconds), each result checked
    the moment the call returns (its last element first: work still running in a thread has not
    reached it)."""
    r = (3 * rng.standard_normal(n)).astype(np.float32)
    expected = huber_reference(r, 1.0, kernel)
    best = math.inf
    for _ in range(PLAUSIBLE_CALLS):
        seconds, got = _seconds(fn, r, 1.0)
        best = min(best, seconds)
        flat = got.reshape(-1) if isinstance(got, np.ndarray) and got.size == n else None
        if flat is None or not math.isclose(float(flat[-1]), float(expected[-1]), rel_tol=1e-5, abs_tol=1e-6):
            return best, "wrong numbers when the call returned (work not finished: a timing without synchronisation?)"
        if not np.allclose(flat, expected, rtol=1e-5, atol=1e-6):
            return best, f"wrong numbers on {n:,} elements"
    return best, ""


def run_grading(
    source: str, name: str, bytes_per_s: float, flop_per_s: float, quick: bool = True, seed: int | None = None
) -> SpeedResult:
    """The grading process's work (see the module's docstring): ``bytes_per_s`` and ``flop_per_s``
    are this machine's measured ceilings (bytes/s, FLOP/s). Returns the verdict."""
    rng = np.random.default_rng(seed)
    mode = "quick" if quick else "full"
    ceilings: dict[str, Any] = {"ceiling_bytes_per_s": bytes_per_s, "ceiling_flop_per_s": flop_per_s}
    try:
        fn = load_function(source, name)
    except Exception as exc:  # noqa: BLE001 - the student's source: any error is a failed submission
        return SpeedResult(False, f"could not load {name}: {type(exc).__name__}: {exc}", **ceilings)
    kernel = _compiled_huber()
    try:
        wrong = _check_correct(fn, kernel, rng)
        if wrong:
            return SpeedResult(False, wrong, **ceilings)
        t_ref, t_student = _score(fn, kernel, PILOT_N, 3, rng)
        if t_ref / t_student < BAR / 4:
            return SpeedResult(
                False, f"too slow: {t_student / t_ref:,.0f}x the reference's time on {PILOT_N:,} elements",
                t_ref / t_student, BAR, t_ref, t_student, PILOT_N, **ceilings,
            )  # fmt: skip
        t_ref, t_student = _score(fn, kernel, SCORE_N, ROUNDS[mode], rng)
        score = t_ref / t_student
        if score < BAR:
            return SpeedResult(
                False, f"too slow: {1 / score:,.0f}x the reference's time (the bar is {1 / BAR:g}x)",
                score, BAR, t_ref, t_student, SCORE_N, **ceilings,
            )  # fmt: skip
        n_big = PLAUSIBLE_N[mode]
        t_big, wrong = _plausibility(fn, kernel, n_big, rng)
    except Exception as exc:  # noqa: BLE001 - the student's code: any error is a failed submission
        return SpeedResult(False, f"{name} raised {type(exc).__name__}: {exc}", **ceilings)
    rates: dict[str, Any] = {
        "implied_bytes_per_s": HUBER_BYTES_PER_ELEMENT * n_big / t_big,
        "implied_flop_per_s": HUBER_FLOP_PER_ELEMENT * n_big / t_big,
    }
    measured: dict[str, Any] = dict(score=score, bar=BAR, t_reference_s=t_ref, t_student_s=t_student, score_n=SCORE_N,
                    plausible_n=n_big, t_plausible_s=t_big, **rates, **ceilings)  # fmt: skip
    if wrong:
        return SpeedResult(False, wrong, **measured)
    if rates["implied_bytes_per_s"] > PLAUSIBLE_MARGIN * bytes_per_s or (
        rates["implied_flop_per_s"] > PLAUSIBLE_MARGIN * flop_per_s
    ):
        why = (
            f"implausibly fast: {t_big * 1e6:,.1f} us on {n_big:,} elements would move "
            f"{rates['implied_bytes_per_s'] / 1e9:,.0f} GB/s, more than {PLAUSIBLE_MARGIN:g}x this machine's "
            f"measured {bytes_per_s / 1e9:,.1f} GB/s (a cached result, or work not waited for?)"
        )
        return SpeedResult(False, why, **measured)
    return SpeedResult(True, "", **measured)


# ------------------------------------------------------------------------------ the notebook's side


def function_source(fn: Callable[..., Any]) -> str:
    """The source text of ``fn`` (works for functions defined in a notebook cell)."""
    return textwrap.dedent(inspect.getsource(fn))


def grade(
    fn: Callable[..., Any] | str,
    ceilings: Any = None,
    name: str | None = None,
    task: str = "huber",
    quick: bool | None = None,
    timeout_s: float = 300.0,
    seed: int | None = None,
) -> SpeedResult:
    """Grade ``fn`` (a function, or its source text with ``name``) in a fresh Python process.

    ``ceilings``: a :class:`coursekit.perf.roofline.Ceilings` (bytes/s and FLOP/s) for the
    plausibility check; None measures (or loads) this machine's in the grading process. ``quick``
    defaults to :func:`coursekit.settings.quick`. The process gets ``timeout_s`` seconds.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {TASKS}")
    if isinstance(fn, str):
        source, name = fn, name or "huber_numpy"
    else:
        source, name = function_source(fn), name or fn.__name__
    if quick is None:
        from coursekit import settings

        quick = settings.quick()
    with tempfile.TemporaryDirectory(prefix="speed_grade_") as tmp:
        path = Path(tmp) / "submission.py"
        path.write_text(PREAMBLE + source)
        cmd = [sys.executable, "-m", "coursekit.perf.speed_grade", "--source", str(path), "--function", name]
        cmd += ["--quick"] if quick else []
        cmd += [] if seed is None else ["--seed", str(seed)]
        if ceilings is not None:
            cmd += [
                "--bytes-per-s",
                repr(float(ceilings.bytes_per_s)),
                "--flop-per-s",
                repr(float(ceilings.flop_per_s)),
            ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=_child_env(), cwd=tmp)
        except subprocess.TimeoutExpired:
            return SpeedResult(False, f"too slow: the grading process ran past {timeout_s:g} s")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return SpeedResult(False, f"the grading process failed (exit {done.returncode}): {done.stderr.strip()[-600:]}")
    return SpeedResult(**json.loads(lines[-1]))


def _child_env() -> dict[str, str]:
    """This process's environment, with the directory that holds this coursekit first on the path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def main(argv: list[str] | None = None) -> int:
    """The grading process: prints the :class:`SpeedResult` as one line of JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, type=Path, help="file holding the student's function")
    parser.add_argument("--function", required=True, help="the function's name")
    parser.add_argument("--bytes-per-s", type=float, help="measured bandwidth (bytes/s); default: measure")
    parser.add_argument("--flop-per-s", type=float, help="measured peak (FLOP/s); default: measure")
    parser.add_argument("--quick", action="store_true", help="smaller plausibility arrays, fewer rounds")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    bytes_per_s, flop_per_s = args.bytes_per_s, args.flop_per_s
    if bytes_per_s is None or flop_per_s is None:
        from coursekit.perf import ceilings

        here = ceilings.measure_ceilings("cpu")
        bytes_per_s, flop_per_s = here.bytes_per_s, here.flop_per_s
    source = args.source.read_text()
    result = run_grading(source, args.function, bytes_per_s, flop_per_s, quick=args.quick, seed=args.seed)
    print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
