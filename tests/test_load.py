"""The machine's load: printed by ck.setup(), a busy machine warned of, and the stored-outputs
guard (`load.main(['--check'])`, which `make notebook(s)` runs) refusing only when busy."""

from __future__ import annotations

import pytest

from coursekit import session
from coursekit.machine import load


def test_current_load_is_read_and_printed():
    now = load.current()
    assert now is not None and now.load_1min >= 0 and now.cpus >= 1
    assert str(now).startswith("load ") and str(now).endswith(" CPUs")


@pytest.mark.parametrize(
    ("load_1min", "cpus", "busy"), [(3.7, 2, True), (0.4, 2, False), (40.0, 64, False), (1, 1, True)]
)
def test_busy_is_load_per_cpu(load_1min, cpus, busy):
    state = load.Load(load_1min, cpus)
    assert state.busy is busy
    assert (load.busy_line(state) is not None) is busy


def test_setup_line_carries_the_load_and_the_busy_warning():
    quiet = session.Setup(quick=True, gpu=False, simulator=True, seed=0, cpus=2, load=load.Load(0.2, 2))
    assert "load 0.2 on 2 CPUs" in str(quiet) and "busy" not in str(quiet)
    busy = session.Setup(quick=True, gpu=False, simulator=True, seed=0, cpus=2, load=load.Load(3.7, 2))
    assert str(busy).splitlines()[1].startswith("note: this machine is busy (load 3.7 on 2 CPUs)")


def test_check_refuses_only_when_busy(monkeypatch, capsys):
    monkeypatch.setattr(load, "current", lambda: load.Load(3.7, 2))
    assert load.main(["--check"]) == 1
    assert "refusing" in capsys.readouterr().err
    assert load.main([]) == 0, "without --check it only reports"
    monkeypatch.setattr(load, "current", lambda: load.Load(0.3, 2))
    assert load.main(["--check"]) == 0


def test_wait_until_quiet_polls_until_the_load_falls_or_time_is_up():
    readings = iter([load.Load(3.0, 2), load.Load(2.0, 2), load.Load(0.9, 2), load.Load(0.1, 2)])
    slept: list[float] = []
    quiet = load.wait_until_quiet(60, poll_s=5, read=lambda: next(readings), sleep=slept.append)
    assert quiet == load.Load(0.9, 2) and slept == [5, 5], "stops at the first quiet reading"
    slept.clear()
    still_busy = load.wait_until_quiet(10, poll_s=5, read=lambda: load.Load(4.0, 2), sleep=slept.append)
    assert still_busy.busy and slept == [5, 5], "gives up after the timeout and returns the busy load"
