"""The package's shape stays what the README says: rooms listed in its package map, few modules at
the top, every environment variable the package reads or sets in its table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "coursekit"
README = (ROOT / "README.md").read_text()
MAX_TOP_LEVEL_MODULES = 10
ENV_NAME = re.compile(r"^(COURSEKIT|NUMBA|OMP|OPENBLAS|MKL|NUMEXPR|NPY|ATEN|ONEDNN|OCL|CUDA)_[A-Z0-9_]+$")


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n#", start + len(title))
    return README[start : end if end != -1 else None]


def _rooms() -> list[Path]:
    return sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())


def test_few_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} modules at coursekit's top level: {top}"


def test_every_room_is_in_the_package_map_with_a_docstring():
    table = _section("### Package map")
    for room in _rooms():
        assert f"`{room.name}/`" in table, f"coursekit/{room.name}/ is missing from the README's package map"
        doc = ast.get_docstring(ast.parse((room / "__init__.py").read_text()))
        assert doc and len(doc) > 40, f"coursekit/{room.name}/__init__.py needs a docstring saying what lives there"


def _env_names_in_code() -> set[str]:
    """String constants in coursekit that name an environment variable."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.match(node.value):
                names.add(node.value)
    return names


def test_every_environment_variable_is_in_the_readme_table():
    table = _section("### Environment variables")
    names = _env_names_in_code()
    assert "COURSEKIT_QUICK" in names and "NUMBA_ENABLE_CUDASIM" in names, "the scan finds the known names"
    missing = sorted(n for n in names if f"`{n}`" not in table)
    assert not missing, f"not in the README's table of environment variables: {missing}"


def test_only_settings_reads_the_course_switches():
    """Every COURSEKIT_* switch is named in coursekit/settings.py and nowhere else in the package."""
    for path in PACKAGE.rglob("*.py"):
        if path.name == "settings.py" or "grading" in path.parts:  # the edition's tooling sets them for children
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("COURSEKIT_"):
                raise AssertionError(f"{path.relative_to(ROOT)} names {node.value}: read it through coursekit.settings")
