"""`make lab` really serves the course: JupyterLab + headless Chromium run notebook 01 end to end.

Skipped where Debian's Chromium (/usr/bin/chromium) or Python Playwright is absent. The screenshot
goes to $COURSEKIT_UI_SCREENSHOTS (default: build/ui/ in the repo, git-ignored).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "notebooks/01_gpu_basics.ipynb"
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"
pytestmark = pytest.mark.ui


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-3000:]
            raise RuntimeError(f"jupyter lab exited early with status {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout} s")


@pytest.fixture
def lab_server(tmp_path):
    """JupyterLab serving a temporary copy of the repository, in quick mode."""
    repo = tmp_path / "repo"
    shutil.copytree(
        ROOT,
        repo,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "release", "bench-results", "__pycache__", ".pytest_cache", "kernel-*"
        ),
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        COURSEKIT_QUICK="1",
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
    )
    # No "Would you like to get notified about official Jupyter news?" toast over the screenshot.
    labconfig = tmp_path / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": {NEWS_PLUGIN: True}}))
    log_path = tmp_path / "lab.log"
    log = open(log_path, "w")
    root_flag = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("jupyter")),
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={repo}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            *root_flag,
        ],
        cwd=repo,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log_path)
        yield f"http://127.0.0.1:{port}", token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# Runs in the page: clear outputs, run every cell; gives up after 120 s if the notebook or its
# kernel never becomes ready (page.evaluate itself has no timeout).
_RUN_ALL = """
async () => {
  const runAll = async () => {
    const app = window.jupyterapp;
    let panel = app.shell.currentWidget;
    for (let i = 0; i < 200 && !(panel && panel.sessionContext); i++) {
      await new Promise(r => setTimeout(r, 100));
      panel = app.shell.currentWidget;
    }
    await panel.context.ready;
    await panel.sessionContext.ready;
    await app.commands.execute('notebook:clear-all-cell-outputs');
    await app.commands.execute('notebook:run-all-cells');
    return panel.content.widgets.length;
  };
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error('notebook or kernel not ready after 120 s')), 120000));
  return Promise.race([runAll(), timeout]);
}
"""

_STATE = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const pending = cells.filter(c => c.model.executionCount === null).length;
  const errors = [];
  cells.forEach((c, i) => c.model.outputs.toJSON().forEach(o => {
    if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
  }));
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {pending, errors, cells: cells.length, status: kernel ? kernel.status : 'none'};
}
"""

# Runs in the page: bring the first graded test cell (nbgrader "grade": true) to the middle of the
# view and return its index and printed text, or null when the notebook has none.
_SHOW_FIRST_GRADED = """
async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets;
  const graded = c => { const g = c.model.getMetadata('nbgrader'); return Boolean(g && g.grade); };
  const i = cells.findIndex(graded);
  if (i < 0) return null;
  panel.content.activeCellIndex = i;
  await panel.content.scrollToItem(i, 'center');
  const text = cells[i].model.outputs.toJSON().map(o => [].concat(o.text || '').join('')).join('');
  return {index: i, text};
}
"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)")
def test_lab_runs_notebook_01_in_a_browser(lab_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    base, token = lab_server
    shots = Path(os.environ.get("COURSEKIT_UI_SCREENSHOTS", ROOT / "build" / "ui"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=90_000)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=90_000)
            assert page.evaluate(_RUN_ALL) > 0
            deadline = time.monotonic() + 300
            state = page.evaluate(_STATE)
            while (state["pending"] or state["status"] != "idle") and not state["errors"]:
                assert time.monotonic() < deadline, f"notebook did not finish: {state}"
                time.sleep(1)
                state = page.evaluate(_STATE)
            graded = page.evaluate(_SHOW_FIRST_GRADED)
            page.wait_for_timeout(500)  # let the scrolled cells render
            page.screenshot(path=str(shots / "01_gpu_basics.png"))
        finally:
            browser.close()
    assert state["errors"] == [], f"error outputs in the browser: {state['errors']}"
    assert state["cells"] > 5 and state["pending"] == 0
    assert graded is not None, "notebook 01 has no graded test cell to show"
    first = f"the first exercise's test cell (cell {graded['index']})"
    assert "PASSED" in graded["text"], f"{first} printed: {graded['text']!r}"
