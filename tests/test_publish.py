"""The student edition (`coursekit publish`): what it holds, that nothing of the instructor's leaks
into it, and (slow) that its own test passes: every notebook runs with only its graded cells failing."""

from __future__ import annotations

import shutil
import sys

import nbformat
import pytest
import tomllib

from coursekit.grading import edition_check, edition_venv, leak_scan, publish
from coursekit.grading.exercises import EXERCISES

from conftest import NOTEBOOKS, ROOT

pytest.importorskip("nbgrader")

EDITION_TOP = ["README.md", "binder", "coursekit", "data", "notebooks", "pyproject.toml", "tests"]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition") / "students"
    publish.publish(out)
    return out


def test_edition_tree(edition):
    top = sorted(p.name for p in edition.iterdir())
    assert top == EDITION_TOP
    assert sorted(p.name for p in (edition / "notebooks").iterdir()) == [p.name for p in NOTEBOOKS]
    assert [p.name for p in (edition / "tests").iterdir()] == ["test_notebooks.py"]
    assert (edition / "data" / "SHA256SUMS").is_file() and (edition / "binder" / "postBuild").is_file()
    assert not (edition / "coursekit" / "assignments.py").exists(), "the instructor's tools stay home"
    assert not list(edition.rglob("__pycache__"))
    readme = (edition / "README.md").read_text()
    assert all(p.stem in readme for p in NOTEBOOKS) and "NotImplementedError" in readme


def test_edition_installs_nothing_of_the_instructors(edition):
    project = tomllib.loads((edition / "pyproject.toml").read_text())["project"]
    assert set(project["optional-dependencies"]) == {"gpu", "gpu-cuda13", "opencl", "triton"}
    text = (edition / "pyproject.toml").read_text() + (edition / "binder" / "requirements.txt").read_text()
    assert "nbgrader" not in text, "nbgrader's instructor panels must not appear in the students' JupyterLab"


def test_edition_leaks_nothing(edition):
    """No exceptions list: no solution, hidden test, shipped re-derivation or answer shown above."""
    assert leak_scan.leaks(edition) == []


def test_leak_scan_finds_what_was_planted(edition, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(edition, copy)
    secrets = leak_scan._instructor_only_text(ROOT)
    solution = next(text for what, _, text in secrets if what.startswith("the solution"))
    hidden = next(text for what, _, text in secrets if what.startswith("a hidden test"))
    (copy / "coursekit" / "notes.md").write_text(f"handy:\n{solution}\n")
    (copy / "coursekit" / "more.py").write_text(f"{hidden}\n")
    # a reformatted copy: the beam search's lines under another first line and other indentation
    beam = next(text for what, gid, text in secrets if gid == "nb05_beam")
    loop = "\n".join("        " + line.strip() for line in beam.splitlines()[1:])
    header = 'def decode(step, state, start_id, end_id, max_len, beam_width):\n    """Beam search."""'
    (copy / "coursekit" / "decode.py").write_text(f"{header}\n{loop}\n")
    # a shipped module that re-derives what an exercise asks the student to write
    exercise = next(e for e in EXERCISES.values() if e.writes)
    (copy / "coursekit" / "extra.py").write_text(f"class {exercise.writes[0]}:\n    pass\n")
    shutil.copy(ROOT / "notebooks" / "01_gpu_basics.py", copy / "notebooks")
    shutil.copy(ROOT / "tests" / "test_edf_wrong_answers.py", copy / "tests")
    found = "\n".join(leak_scan.leaks(copy))
    for expected in (
        "notes.md: contains the solution",
        "more.py: contains a hidden test",
        "decode.py: contains most lines of the solution of nb05_beam",
        f"extra.py: defines {exercise.writes[0]}, which {exercise.grade_id} asks the student to write",
        "the .py twin",
        "an instructor",
    ):
        assert expected in found, f"the scan missed {expected!r}:\n{found}"


def test_an_answer_shown_above_its_exercise_is_found():
    """A `ck.show`-style listing above the exercise (in the source or the stored output, HTML or
    text) shows the answer; the same listing after the exercise, or a part of the answer, does not."""
    answer = "    beta_grad = out_grad.sum(axis=0)\n    return x_grad + 0, beta_grad"
    solution = _cell(
        f"def f(x_grad, out_grad):\n    ### BEGIN SOLUTION\n{answer}\n    ### END SOLUTION",
        solution=True,
        grade_id="nb09_f",
    )
    listing = _cell("ck.show(lib.f)")
    listing.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": "<pre>  beta_grad = out_grad.sum(axis=0)\n  return x_grad + 0, beta_grad</pre>"},
        )
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("import numpy as np"), solution, listing]
    assert leak_scan.shown_above(nb) == []
    nb.cells = [_cell("import numpy as np"), listing, solution]
    assert leak_scan.shown_above(nb) == [("nb09_f", 1)]
    nb.cells = [_cell("x = 1\nreturn x_grad + 0, beta_grad\nbeta_grad = 0"), solution]
    assert leak_scan.shown_above(nb) == [], "one of the answer's lines is not the answer"


def test_defines_finds_def_and_class_at_any_depth():
    assert leak_scan.defines("class A:\n    def batchnorm_backward(self):\n        pass\n", "batchnorm_backward")
    assert leak_scan.defines("async def f():\n    pass\n", "f")
    assert not leak_scan.defines("x = batchnorm_backward(1)\n# def batchnorm_backward\n", "batchnorm_backward")
    assert not leak_scan.defines("def batchnorm_backward2():\n    pass\n", "batchnorm_backward")


def _cell(source, **nbgrader):
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": nbgrader} if nbgrader else {})


def _error(name):
    return nbformat.v4.new_output("error", ename=name, evalue="x", traceback=[])


def test_unexpected_failures_tells_graded_from_ordinary_cells():
    nb = nbformat.v4.new_notebook()
    stub = _cell("def f(): raise NotImplementedError()", solution=True, grade_id="nb09_f")
    stub.outputs = [_error("NotImplementedError")]
    failing_test = _cell("check(f)", grade=True, grade_id="nb09_f_tests")
    failing_test.outputs = [_error("NotImplementedError")]
    nb.cells = [stub, failing_test]
    assert edition_check.unexpected_failures(nb) == []
    lucky_test = _cell("pass", grade=True, grade_id="nb09_g_tests")
    broken = _cell("1 / 0")
    broken.outputs = [_error("ZeroDivisionError")]
    nb.cells += [lucky_test, broken]
    problems = edition_check.unexpected_failures(nb)
    assert problems == ["nb09_g_tests: passed without a solution", "code cell 3: ZeroDivisionError: x"]


@pytest.mark.slow
@pytest.mark.edition  # make test-edition, CI's third step: 4 to 5 minutes, half of make test's time
def test_edition_runs_its_own_test_in_a_fresh_venv(edition, tmp_path):
    """The edition installed as a student installs it (a new venv, `pip install .`, `coursekit
    kernel`), nothing of this clone on the path: its kernel finds the installed coursekit and data,
    and every blank notebook runs with only its graded cells failing. The course's one run of the
    student version (about a minute of pip with a warm cache, then the notebooks)."""
    try:
        summary = edition_venv.check(edition, tmp_path / "venv")
    except edition_venv.RegistryUnreachable as exc:  # a classroom or CI runner without the network
        pytest.skip(f"needs the package registry, which is unreachable here: {str(exc).splitlines()[0]}")
    assert summary.startswith(f"{len(NOTEBOOKS) + 1} passed in "), summary  # no failure, no error, no skip
    assert sorted(p.name for p in edition.iterdir()) == EDITION_TOP, (
        "installing must leave the edition as it was (no build/, no *.egg-info to push to the students)"
    )
    kernel = (tmp_path / "venv" / "share" / "jupyter" / "kernels" / "python3" / "kernel.json").read_text()
    assert '"OMP_WAIT_POLICY": "PASSIVE"' in kernel


def test_student_requirements_drop_the_torch_index_only_for_a_local_wheel(edition, monkeypatch, tmp_path):
    text = (edition / "binder" / "requirements.txt").read_text()
    assert edition_venv.TORCH_INDEX in text and edition_venv.torch_pin(text).startswith("torch==")
    monkeypatch.setattr(edition_venv, "local_wheel", lambda python, pin: False)
    assert edition_venv.student_requirements(edition, tmp_path) == text
    monkeypatch.setattr(edition_venv, "local_wheel", lambda python, pin: True)
    local = edition_venv.student_requirements(edition, tmp_path)
    assert edition_venv.TORCH_INDEX not in local and edition_venv.torch_pin(local) == edition_venv.torch_pin(text)


def test_pip_failures_without_the_network_are_told_apart_from_real_ones():
    """No route to the index: RegistryUnreachable (the fresh-venv test skips, saying why); any other
    failure stays a RuntimeError that fails the check."""
    offline = "WARNING: Retrying ... NewConnectionError: Failed to establish a new connection: [Errno -3]"
    with pytest.raises(edition_venv.RegistryUnreachable, match="could not reach the package index"):
        edition_venv._run([sys.executable, "-c", f"import sys; sys.stderr.write({offline!r}); sys.exit(1)"], 60)
    with pytest.raises(RuntimeError) as failed:
        edition_venv._run(
            [sys.executable, "-c", "import sys; sys.stderr.write('no matching version'); sys.exit(1)"], 60
        )
    assert not isinstance(failed.value, edition_venv.RegistryUnreachable)
