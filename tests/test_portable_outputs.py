"""Outputs that nbval compares hold on any machine.

nbval compares the stored output of every cell not tagged ``nbval-ignore-output`` with what the cell
prints on the machine that runs the test. A float printed to many digits there differs from one
machine to the next in its last digits: BLAS and numpy sum in another order with AVX2 than with
AVX-512, with one thread than with two, and torch picks other kernels. An AVX2-only AMD EPYC failed
notebook 04 on ``2.415498`` vs ``2.415497``. This test reads every compared output of every notebook
(after nbval's own sanitising) and flags, by rule:

- a float printed with more than :data:`MAX_SIGNIFICANT_DIGITS` significant digits;
- a nonzero float smaller than :data:`ROUNDING_SIZED` in magnitude: the size of a rounding error,
  which depends on the machine's summation order.

A number that is the same everywhere (an exact input value, a constant in a message) goes in
:data:`ALLOWED` with the reason it cannot change; every entry there must still match something,
so the list cannot rot.
"""

from __future__ import annotations

import configparser
import html
import re
from pathlib import Path

import nbformat
import pytest

from conftest import NOTEBOOKS, ROOT

MAX_SIGNIFICANT_DIGITS = 4
ROUNDING_SIZED = 1e-6
IGNORE_TAGS = {"nbval-ignore-output", "nbval-skip", "raises-exception"}

# (notebook stem, text on the number's line) -> why the number is the same on every machine.
ALLOWED: dict[tuple[str, str], str] = {
    ("02_cuda_kernels", "isclose(error, 0, abs_tol=1e-6)"): "a tolerance written in the code, not a result",
    ("04_static_vs_dynamic", "costs and weights within 1e-9 relative"): "the tolerance the cell asserts, not a result",
    ("04_static_vs_dynamic", "log(1 + x) at x = 1e-10"): (
        "exact inputs and their correctly rounded answers (log1p(1e-10) = 1e-10 to 7 digits), in float64"
    ),
    ("04_static_vs_dynamic", "log(1 + exp(x)) at x = 1000"): "softplus(1000) = 1000 exactly in float64",
    ("04_static_vs_dynamic", "log(1 + exp(x)) at x = -1000"): "0.0 exactly: exp(-1000) underflows everywhere",
    ("04_static_vs_dynamic", "log(sigmoid(x)) at x = -1000"): "-1000 exactly: x - log1p(exp(x)) with exp(x) = 0",
    ("04_static_vs_dynamic", "z = -100, label 1"): (
        "100 + log1p(exp(-100)) = 100 in float64 (exp(-100) is below an ulp of 100): exact on every machine"
    ),
}

FLOAT = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][-+]?\d+)?(?![\w.])")
HIGHLIGHTED_SOURCE = re.compile(r'<div class="highlight".*?</div>', re.S)
STYLE = re.compile(r"<style.*?</style>", re.S)
TAG = re.compile(r"<[^>]+>")


def significant_digits(token: str) -> int:
    """Significant digits of a printed float: ``2.415498`` -> 7, ``0.1250`` -> 4, ``1.0e-10`` -> 2."""
    mantissa = re.split(r"[eE]", token.lstrip("+-"))[0]
    digits = mantissa.replace(".", "").lstrip("0")
    return len(digits) if digits else 1


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    """nbval's replacements from tests/nbval_sanitize.cfg, applied before comparing."""
    config = configparser.ConfigParser()
    config.read(ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def compared_text(cell: nbformat.NotebookNode) -> str:
    """The text of a code cell's outputs that nbval compares: streams and text/* data; source
    listings (``ck.show``) and style sheets stripped, as they hold code, not results."""
    parts: list[str] = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        for mime, value in out.get("data", {}).items():
            if mime == "text/html":
                value = TAG.sub(" ", STYLE.sub("", HIGHLIGHTED_SOURCE.sub("", value)))
                parts.append(html.unescape(value))
            elif mime.startswith("text/"):
                parts.append(value)
    text = "\n".join(parts)
    for pattern, replacement in _sanitizers():
        text = pattern.sub(replacement, text)
    return text


def flagged_numbers(stem: str, text: str) -> list[tuple[str, str, str]]:
    """(number, its line, rule broken) for each float in ``text`` that may differ between machines."""
    found = []
    for line in text.splitlines():
        if any(stem == nb and snippet in line for nb, snippet in ALLOWED):
            continue
        for token in FLOAT.findall(line):
            value = float(token)
            if significant_digits(token) > MAX_SIGNIFICANT_DIGITS:
                found.append((token, line.strip(), f"more than {MAX_SIGNIFICANT_DIGITS} significant digits"))
            elif 0 < abs(value) < ROUNDING_SIZED:
                found.append((token, line.strip(), f"below {ROUNDING_SIZED:g}: a rounding error's size"))
    return found


def _compared_cells(path: Path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and not IGNORE_TAGS & set(cell.metadata.get("tags", ())):
            yield index, compared_text(cell)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_compared_outputs_print_no_machine_dependent_digits(path):
    problems = [
        f"cell {index}: {number} ({rule}) in {line!r}"
        for index, text in _compared_cells(path)
        for number, line, rule in flagged_numbers(path.stem, text)
    ]
    assert not problems, (
        f"{path.name}: nbval compares these numbers, whose last digits can differ on another CPU. Print "
        "fewer digits and assert the agreement, tag the cell nbval-ignore-output, or add an entry to "
        "ALLOWED with the reason it cannot change:\n  " + "\n  ".join(problems)
    )


def test_every_allowed_entry_still_matches_a_compared_line():
    texts = {p.stem: "\n".join(text for _, text in _compared_cells(p)) for p in NOTEBOOKS}
    stale = [key for key in ALLOWED if key[1] not in texts.get(key[0], "")]
    assert not stale, f"ALLOWED entries that no compared output holds any more (remove them): {stale}"


@pytest.mark.parametrize(
    ("token", "digits"), [("2.415498", 7), ("0.1250", 4), ("1.0e-10", 2), ("-3.", 1), ("0.0", 1), ("988.", 3)]
)
def test_significant_digits(token, digits):
    assert significant_digits(token) == digits


def test_the_rule_catches_the_avx2_failure_and_spares_integers():
    """The line that failed on an AVX2 EPYC is flagged; counts, sizes and short figures are not."""
    flagged = flagged_numbers("04_static_vs_dynamic", "{'numpy by hand': 2.415498, 'torch eager': 2.415497}")
    assert [number for number, _, _ in flagged] == ["2.415498", "2.415497"]
    assert flagged_numbers("x", "16 blocks of 64 threads for 784 pixels; loss.grad = 0.1250; 12 KiB") == []
    assert [n for n, _, _ in flagged_numbers("x", "max cost difference 2.2e-16")] == ["2.2e-16"]
