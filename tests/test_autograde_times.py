"""The recorded autograding times: every notebook measured, the README's table and time-out are
that record, and `coursekit nbgrader-course` writes the time-out that fits it."""

from __future__ import annotations

from coursekit.grading import autograde_times, nbgrader_course

from conftest import NOTEBOOKS, ROOT

TIMES = autograde_times.load()


def test_every_notebook_was_measured_with_its_provenance():
    assert TIMES is not None, "run benchmarks/autograde_times.py"
    assert sorted(TIMES["notebooks"]) == sorted(p.stem for p in NOTEBOOKS)
    assert TIMES["measured_on"] and TIMES["machine"]
    for name, row in TIMES["notebooks"].items():
        assert 0 < row["heaviest_cell"]["seconds"] <= row["cells_s"] <= row["wall_s"], name
        assert row["heaviest_graded_cell"]["grade_id"].startswith(f"nb{name[:2]}_"), name


def test_readme_shows_the_record_and_its_time_out():
    readme = (ROOT / "README.md").read_text()
    assert autograde_times.readme_table(TIMES) in readme, "README's table differs from autograde_times.json"
    assert f"({autograde_times.fitting_timeout_s(TIMES)} s: that cell times {autograde_times.SAFETY_FACTOR}" in readme


def test_time_out_fits_the_heaviest_cell_with_room():
    timeout_s = autograde_times.fitting_timeout_s(TIMES)
    heaviest_s = max(row["heaviest_cell"]["seconds"] for row in TIMES["notebooks"].values())
    assert timeout_s >= autograde_times.SAFETY_FACTOR * heaviest_s and timeout_s % 60 == 0


def test_nbgrader_course_writes_that_time_out(tmp_path):
    nbgrader_course.make_course(tmp_path, NOTEBOOKS[:1])
    config = (tmp_path / "nbgrader_config.py").read_text()
    assert f"c.Execute.timeout = {autograde_times.fitting_timeout_s(TIMES)}\n" in config
    assert "The heaviest cell measured in quick mode" in config
    nbgrader_course.make_course(tmp_path / "set", NOTEBOOKS[:1], timeout_s=600)
    assert "c.Execute.timeout = 600\n" in (tmp_path / "set" / "nbgrader_config.py").read_text()
