"""The student edition checked as a student gets it: a fresh virtual environment, the edition
installed into it (not editable, its data under ``<venv>/share/coursekit/data``), and the edition's
own test run there, with nothing of this repository on the path.

``coursekit publish --out DIR --check`` (``make student-check``) and ``tests/test_publish.py`` use it.
The environment gets the pinned versions of ``binder/requirements.txt`` (what the edition's Binder
installs), pytest and nbclient, then the edition itself and its Jupyter kernel (``coursekit jupyter-kernel``).
Packages come from the package index, as for a student, so the check needs the network or a local
mirror; torch's CPU build comes from a local wheel when pip finds one without any index.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TORCH_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
TEST_TOOLS = ("pytest", "nbclient")


# What pip prints when it cannot reach its index at all (no network, no DNS, a proxy refusing).
CONNECTION_ERRORS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ProxyError",
)


class RegistryUnreachable(RuntimeError):
    """pip could not reach the package index (a classroom or CI runner without the network)."""


def _run(command: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    """Run ``command``; on failure raise with its output's tail (the reason pip or pytest gave):
    :class:`RegistryUnreachable` when pip could not connect to its index, else RuntimeError."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kw)
    if done.returncode != 0:
        tail = done.stdout[-3000:] + done.stderr[-3000:]
        if any(marker in done.stdout + done.stderr for marker in CONNECTION_ERRORS):
            raise RegistryUnreachable(
                "pip could not reach the package index, and not everything the edition needs is on this "
                "machine: the fresh-venv check needs the index (or a local mirror that pip is configured "
                f"with). pip said:\n{tail[-1500:]}"
            )
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{tail}")
    return done


def torch_pin(requirements: str) -> str | None:
    """The ``torch==...`` line of a requirements text, or None."""
    return next((line.strip() for line in requirements.splitlines() if line.strip().startswith("torch==")), None)


def local_wheel(python: Path, pin: str) -> bool:
    """Whether pip (of ``python``) can install ``pin`` without any index, i.e. from a local
    wheel on its find-links path (resolution only: nothing is installed)."""
    command = [str(python), "-m", "pip", "install", "-q", "--dry-run", "--no-index", "--no-deps", "--ignore-installed"]
    command.append(pin)
    return subprocess.run(command, capture_output=True, timeout=300).returncode == 0


def student_requirements(edition: Path, python: Path) -> str:
    """The edition's ``binder/requirements.txt``, less torch's CPU index when its torch pin is
    installable from a local wheel (a machine that cannot reach download.pytorch.org)."""
    text = (Path(edition) / "binder" / "requirements.txt").read_text()
    pin = torch_pin(text)
    if pin and local_wheel(python, pin):
        text = "\n".join(line for line in text.splitlines() if line.strip() != TORCH_INDEX) + "\n"
    return text


def make_venv(edition: Path, venv: Path, base_python: str = sys.executable) -> Path:
    """A new venv at ``venv`` holding the edition as a student installs it; returns its python.
    Takes about a minute with pip's cache warm (several with a cold cache)."""
    edition, venv = Path(edition).resolve(), Path(venv).resolve()
    _run([base_python, "-m", "venv", "--clear", str(venv)], timeout=300)
    python = venv / "bin" / "python"
    requirements = venv / "student-requirements.txt"
    requirements.write_text(student_requirements(edition, python))
    # --retries 1: without the network, fail in seconds; --no-compile: Python compiles on first import
    # instead (torch's thousands of files took a good part of the install's time)
    pip_install = [str(python), "-m", "pip", "install", "-q", "--retries", "1", "--no-compile"]
    _run([*pip_install, "-r", str(requirements), *TEST_TOOLS], timeout=1800)
    with tempfile.TemporaryDirectory() as tmp:  # setuptools writes build/ and *.egg-info into its source
        source = Path(tmp) / "edition"
        shutil.copytree(edition, source)
        _run([*pip_install, str(source)], timeout=900)
    _run([str(venv / "bin" / "coursekit"), "jupyter-kernel"], timeout=120)
    return python


# What a student's command line offers: the instructor's commands need coursekit/grading, which the
# edition leaves out, so they must not be listed there.
STUDENT_COMMANDS = ("info", "bench", "jupyter-kernel")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would point Python at this repository's coursekit
    or data."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSEKIT_DATA_DIR", "VIRTUAL_ENV")}
    return {**env, **extra}


def where_coursekit(python: Path, cwd: Path) -> tuple[Path, Path]:
    """(coursekit's ``__init__.py``, its data folder) as ``python`` sees them from ``cwd``."""
    code = "import coursekit, coursekit.datasets as d; print(coursekit.__file__); print(d.data_dir())"
    out = _run([str(python), "-c", code], timeout=120, cwd=cwd, env=clean_env()).stdout.split()
    return Path(out[0]), Path(out[1])


def run_edition_tests(edition: Path, python: Path, timeout: float = 3600) -> subprocess.CompletedProcess:
    """The edition's own test (every blank notebook runs; only graded cells fail), in quick mode,
    run by ``python`` in the edition's folder. Returns pytest's completed process."""
    command = [str(python), "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"]
    env = clean_env(COURSEKIT_QUICK="1")
    return subprocess.run(command, capture_output=True, text=True, cwd=edition, env=env, timeout=timeout)


def edition_commands(venv: Path) -> list[str]:
    """The subcommands that the edition's ``coursekit --help`` lists, after checking that each of
    them parses its own ``--help`` and that ``coursekit info`` runs: an edition lists only what
    works there. Raises RuntimeError when one fails."""
    exe = str(Path(venv) / "bin" / "coursekit")
    usage = _run([exe, "--help"], timeout=120, env=clean_env()).stdout
    commands = re.search(r"\{([a-z,-]+)\}", usage)
    if commands is None:
        raise RuntimeError(f"no command list in the edition's `coursekit --help`:\n{usage}")
    names = commands.group(1).split(",")
    for name in names:
        _run([exe, name, "--help"], timeout=120, env=clean_env())
    _run([exe, "info"], timeout=300, env=clean_env())
    return names


def check(edition: Path, venv: Path) -> str:
    """Install the edition into a fresh ``venv``, check that its notebooks' kernel finds the
    installed coursekit and data, and run the edition's own test. Returns pytest's summary line;
    raises RuntimeError or AssertionError when anything fails."""
    python = make_venv(edition, venv)
    package, data = where_coursekit(python, Path(edition) / "notebooks")
    prefix = Path(venv).resolve()
    if prefix not in package.parents or data != prefix / "share" / "coursekit" / "data":
        raise AssertionError(f"the fresh venv's kernel would use {package} and {data}, not the installed edition")
    commands = edition_commands(Path(venv))
    if set(commands) != set(STUDENT_COMMANDS):
        raise AssertionError(f"the edition's `coursekit --help` lists {commands}, not {list(STUDENT_COMMANDS)}")
    run = run_edition_tests(Path(edition), python)
    if run.returncode != 0:
        raise AssertionError(f"the edition's own test failed:\n{run.stdout[-5000:]}{run.stderr[-2000:]}")
    return run.stdout.strip().splitlines()[-1]
