"""A non-editable install (`pip install .`, as a wheel) finds the course's data outside the clone."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coursekit import settings
from coursekit.datasets import checksums

from conftest import ROOT

pytestmark = pytest.mark.slow

# Run in the installed environment, from a folder outside the clone: every shipped file the
# notebooks read must come from <prefix>/share/coursekit/data.
CHECK_INSTALLED = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import coursekit
    from coursekit import datasets
    from coursekit.perf import published, reference
    package = Path(coursekit.__file__).resolve()
    assert "site-packages" in str(package), package
    data = datasets.data_dir()
    assert data == Path(sys.prefix) / "share" / "coursekit" / "data", data
    images, labels = datasets.load_fashion_mnist("test", source="shipped", limit=3, verbose=False)
    assert images.shape[0] == 3
    words, languages, names = datasets.load_words()
    assert len(words) == len(languages) > 1000
    assert reference.reference_dir() == data / "reference"
    assert len(published.load()) > 10, "the published GPU measurements are installed"
    print("installed data:", data)
    """
)


def _venv_with_wheel(tmp_path: Path) -> Path:
    """A fresh venv holding coursekit installed from a wheel; its dependencies come from this
    environment's site-packages (a .pth line), so nothing is downloaded."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT), "-w", str(wheels)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    venv_site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies only: a plain path line does not run this environment's editable-install hook.
    (venv_site / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    wheel = next(wheels.glob("coursekit-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return python


@pytest.fixture(scope="module")
def installed_python(tmp_path_factory):
    return _venv_with_wheel(tmp_path_factory.mktemp("install"))


def _run(python: Path, code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", settings.DATA_DIR_ENV)}
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, cwd=cwd, env={**clean, **env}, timeout=300
    )


def test_installed_package_finds_its_data(installed_python, tmp_path):
    out = _run(installed_python, CHECK_INSTALLED, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "installed data:" in out.stdout


def test_installed_package_says_what_to_do_without_data(installed_python, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = "from coursekit import datasets; datasets.load_words()"
    out = _run(installed_python, code, cwd=tmp_path, COURSEKIT_DATA_DIR=str(empty))
    assert out.returncode != 0
    assert "COURSEKIT_DATA_DIR" in out.stderr and str(empty) in out.stderr, out.stderr[-2000:]


def test_data_dirs_order(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.DATA_DIR_ENV, raising=False)
    dirs = checksums.data_dirs()
    assert dirs[0] == ROOT / "data", "a clone uses its own data/ first"
    assert dirs[1] == Path(sys.prefix) / "share" / "coursekit" / "data"
    assert checksums.data_dir() == ROOT / "data"
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(tmp_path))
    assert checksums.data_dirs() == [tmp_path], "COURSEKIT_DATA_DIR, when set, is the only place looked in"
    assert checksums.data_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="COURSEKIT_DATA_DIR"):
        checksums.shipped_sums()
