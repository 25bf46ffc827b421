"""coursekit.graph.torch_graphs: graph breaks found where they are, nothing on stderr,
torch.compile's absence reported in one line, and torch.export's round trip."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from coursekit.graph import torch_graphs as tg  # noqa: E402


def mixed(x):
    y = torch.sin(x) * 2  # (a)
    if x.shape[0] > 2:  # (b)
        y = y + 1
    for _ in range(3):  # (c)
        y = y * 0.5
    print("checkpoint")  # (d)
    if y.sum() > 0:  # (e)
        y = y.cos()
    n_max = int(y.max())  # (f)
    z = y.numpy()  # (g)
    return torch.from_numpy(z) + n_max  # (h)


ARGS = (torch.randn(6),)


def test_graph_breaks_are_found_on_their_lines(capsys):
    n_graphs, breaks = tg.graph_breaks(mixed, *ARGS)
    assert n_graphs == 4
    assert [b.label for b in breaks] == ["d", "e", "f"]
    assert [b.line for b in breaks] == [6, 7, 9]  # counted from the def line
    assert all(b.reason for b in breaks)
    assert capsys.readouterr().err == ""  # dynamo's warning about .item() is held back


def test_quiet_torch_collects_warnings_instead_of_printing(capsys):
    import warnings

    with tg.quiet_torch() as held:
        warnings.warn("a lesson, not noise", UserWarning, stacklevel=1)
    assert any("a lesson, not noise" in h for h in held)
    assert capsys.readouterr().err == ""


def test_compile_without_a_cxx_compiler_is_one_line(monkeypatch):
    monkeypatch.setattr(tg, "cxx_compiler", lambda: None)
    c = tg.compile_timed(lambda x: x * 2, torch.ones(3))
    assert not c.ok and c.fn is None and "C++ compiler" in c.error


def test_compile_failure_is_reported_not_raised():
    c = tg.compile_timed(lambda x: x * 2, torch.ones(3), backend="no-such-backend")
    assert not c.ok and c.error


def test_export_roundtrip_gives_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    x = torch.randn(3, 4)
    loaded, out = tg.export_roundtrip(model, (x,), tmp_path / "m.pt2")
    assert (tmp_path / "m.pt2").stat().st_size > 0
    torch.testing.assert_close(out, model(x))
    torch.testing.assert_close(loaded.module()(x + 1), model(x + 1))


def test_threads_sets_and_restores_every_pool():
    import coursekit.graph as T

    before_torch, before_graph = torch.get_num_threads(), T.config.n_threads
    from coursekit.machine import threads as pools

    blas = pools._openblas()
    before_blas = blas[0]() if blas else None
    with tg.threads(1):
        assert torch.get_num_threads() == 1 and T.config.n_threads == 1
        if blas:
            assert blas[0]() == 1
    assert torch.get_num_threads() == before_torch and T.config.n_threads == before_graph
    if blas:
        assert blas[0]() == before_blas


def test_measure_compile_break_even_fits_two_lines_and_reports_a_failure(monkeypatch):
    """With a stand-in 'compiled' function that does nothing, compiled wins early; with a compile that
    fails, the result says why instead of a break-even (no real compile: the test stays fast)."""
    free = tg.Compiled(lambda x: x, 0.0)
    monkeypatch.setattr(tg, "compile_timed", lambda fn, *args, **kw: free)
    m = tg.measure_compile_break_even("cpu", ks=(2, 16), n=64)
    assert m["ks"] == [2, 16] and len(m["eager_us"]) == len(m["compiled_us"]) == 2
    assert m["compiled_us"][1] < m["eager_us"][1]
    assert m["wins_from"] is not None and m["wins_from"] <= 2
    monkeypatch.setattr(tg, "compile_timed", lambda fn, *args, **kw: tg.Compiled(None, None, "no compiler"))
    failed = tg.measure_compile_break_even("cpu", n=64)
    assert failed["error"] == "no compiler" and "wins_from" not in failed
