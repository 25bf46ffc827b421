"""Triton's switch (coursekit.gpu.triton_setup): decided before triton loads, respected once made,
and cells can still define kernels without triton."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from coursekit.gpu import triton_setup

from conftest import ROOT


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != triton_setup.INTERPRET_ENV}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env={**clean, **env}, timeout=300
    )


def test_switch_turns_the_interpreter_on_without_a_gpu_and_off_with_one(monkeypatch):
    monkeypatch.delenv(triton_setup.INTERPRET_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "triton", raising=False)
    assert triton_setup.switch(gpu_present=False) is True
    assert os.environ[triton_setup.INTERPRET_ENV] == "1" and triton_setup.device() == "cpu"
    monkeypatch.delenv(triton_setup.INTERPRET_ENV)
    assert triton_setup.switch(gpu_present=True) is False
    assert triton_setup.device() == "cuda"
    monkeypatch.setenv(triton_setup.INTERPRET_ENV, "1")
    assert triton_setup.switch(gpu_present=True) is True, "a value the user set wins"


def test_kernels_refuse_to_load_before_the_switch():
    if not triton_setup.triton_available():
        pytest.skip(triton_setup.MISSING)
    out = _python("import coursekit.gpu.triton_setup as t; t.load()")
    assert out.returncode != 0 and "ck.setup()" in out.stderr, out.stderr[-1500:]


def test_switching_after_triton_loaded_the_other_way_raises():
    if not triton_setup.triton_available():
        pytest.skip(triton_setup.MISSING)
    code = (
        "import os; os.environ['TRITON_INTERPRET'] = '0'; import triton; del os.environ['TRITON_INTERPRET']\n"
        "from coursekit.gpu import triton_setup as t; t.switch(gpu_present=False)"
    )
    out = _python(code)
    assert out.returncode != 0 and "restart the kernel" in out.stderr, out.stderr[-1500:]


def test_stand_ins_let_a_cell_define_a_kernel():
    triton, tl = triton_setup.stand_ins()

    @triton.jit
    def kernel(x_ptr, n, BLOCK: tl.constexpr):
        return n + 1

    assert kernel(None, 1, 4) == 2, "the function comes back unchanged"
    assert triton.jit(num_warps=4)(kernel) is kernel
