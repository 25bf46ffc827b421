"""coursekit.apps: notebook 05's models — shapes, parameter counts, packing, decoding, and tiny
training runs that learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from coursekit.apps import langid, lenet, seq2seq, taxonomy, throughput
from coursekit.datasets import load_dates, load_fashion_mnist
from coursekit.datasets.chars import END, START, CharVocab

# ---- LeNet ----------------------------------------------------------------------------------------


def test_lenet_shapes_params_and_flops():
    model = lenet.lenet()
    rows = lenet.layer_table(model)
    assert [r.out_shape for r in rows] == [
        (20, 24, 24),
        (20, 24, 24),
        (20, 12, 12),
        (50, 8, 8),
        (50, 8, 8),
        (50, 4, 4),
        (800,),
        (500,),
        (500,),
        (10,),
    ]
    assert [r.params for r in rows if r.params] == [520, 25_050, 400_500, 5_010]
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters()) == 431_080
    # conv1: 20*24*24 outputs x (2*25 + 1); fc1: 500 x (2*800 + 1)
    assert rows[0].flops == 20 * 24 * 24 * 51 and rows[7].flops == 500 * 1601
    assert lenet.training_flops_per_example(model) == 3 * sum(r.flops for r in rows)
    assert 1e5 < lenet.training_bytes_per_example(model) < 1e7
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_layer_flops_of_other_layers():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert lenet.layer_flops(conv, (3, 16, 16), (8, 16, 16)) == 8 * 16 * 16 * 2 * 27
    assert lenet.layer_flops(nn.Linear(4, 2, bias=False), (4,), (2,)) == 16
    assert lenet.layer_flops(nn.Flatten(), (2, 2), (4,)) == 0


def test_confusion_matrix_counts():
    m = lenet.confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_batches_cover_every_index_once():
    got = torch.cat(list(lenet.batches(103, 10, shuffle=True, generator=torch.Generator().manual_seed(0))))
    assert sorted(got.tolist()) == list(range(103))
    assert [len(b) for b in lenet.batches(25, 10, shuffle=False)] == [10, 10, 5]


@pytest.mark.slow
def test_lenet_learns_on_a_small_sample():
    torch.manual_seed(0)
    X, y = load_fashion_mnist("train", source="shipped", limit=1000, verbose=False)
    X, y = torch.from_numpy(X).unsqueeze(1), torch.from_numpy(y)
    model = lenet.lenet()
    opt = torch.optim.SGD(model.parameters(), **lenet.LECTURE_SGD)
    before = lenet.evaluate(model, X, y)
    losses = [lenet.train_epoch(model, opt, X, y, generator=torch.Generator().manual_seed(e))[0] for e in range(3)]
    assert losses[-1] < losses[0]
    assert lenet.evaluate(model, X, y) > max(0.5, before + 0.3)
    assert lenet.predict(model, X[:7]).shape == (7,)


def test_plots_draw(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(i) for i in range(3)]
    lenet.plot_confusion(np.eye(3, dtype=int) * 5, names, title="t")
    images = np.zeros((6, 28, 28))
    fig = lenet.plot_samples(images, np.array([0, 1, 2, 0, 1, 2]), np.array([0, 1, 0, 0, 2, 2]), names, n=3)
    assert len(fig.axes) == 6
    fig = taxonomy.plot_shapes()
    assert len(fig.axes) == len(taxonomy.SHAPES)
    plt.close("all")


# ---- language identification ---------------------------------------------------------------------


def test_ngrams_mark_word_boundaries():
    assert langid.ngrams("ab", 2) == ["a", "b", "^a", "ab", "b$"]
    assert "ing$" in langid.ngrams("sing", 4) and "^" not in langid.ngrams("sing", 4)


def _add_one(counts):  # the exercise's answer lives in the tests and the hidden checker, not in coursekit
    table = np.asarray(counts, dtype=float) + 1.0
    return np.log(table / table.sum(axis=1, keepdims=True))


def test_naive_bayes_on_toy_languages():
    words = ["aaab", "aaba", "abaa", "xxxy", "xxyx", "xyxx"]
    labels = np.array([0, 0, 0, 1, 1, 1])
    nb = langid.NaiveBayes(_add_one, n_max=2).fit(words, labels, 2)
    assert nb.predict(["aab", "xyx", "baaa", "q"]).tolist()[:3] == [0, 1, 0]
    assert nb.scores(["q"]).shape == (1, 2)  # unseen n-grams only: the prior decides
    assert np.isfinite(nb.log_prob).all() and nb.log_prob.shape == (2, len(nb.vocab))


def test_coursekit_ships_no_smoothed_naive_bayes():
    assert not hasattr(langid, "smoothed_log_prob")
    with pytest.raises(TypeError):
        langid.NaiveBayes(n_max=2)  # the estimate of log P(g | class) must be given


def test_split_is_a_partition():
    tr, te = langid.split(100, 0.2, seed=1)
    assert len(te) == 20 and sorted(np.concatenate([tr, te]).tolist()) == list(range(100))


def test_bucketed_batches_cover_once_and_reduce_padding():
    lengths = np.random.default_rng(0).integers(3, 21, 500)
    for bucket in (True, False):
        got = np.concatenate(list(langid.bucketed_batches(lengths, 32, bucket=bucket, seed=3)))
        assert sorted(got.tolist()) == list(range(500))
    bucketed, real = langid.padded_steps(lengths, 32, bucket=True)
    randomised, _ = langid.padded_steps(lengths, 32, bucket=False)
    assert real <= bucketed < randomised


def _padded_batch(seed=0):
    torch.manual_seed(seed)
    lengths = torch.tensor([4, 1, 6, 2])
    ids = torch.randint(1, 10, (4, 6))
    ids[torch.arange(6) >= lengths[:, None]] = 0
    return ids, lengths


def test_packing_returns_the_last_real_state_not_the_padding():
    ids, lengths = _padded_batch()
    gather = lambda o, n: o[torch.arange(len(n)), n - 1]  # noqa: E731  (the exercise's answer, here only)
    model = langid.CharLSTM(10, 3, embed=5, hidden=7, last_output=gather).eval()
    with torch.no_grad():
        packed = model.features(ids, lengths, packed=True)
        gathered = model.features(ids, lengths, packed=False)
        # each word alone, no padding at all
        alone = torch.cat([model.features(ids[i : i + 1, : int(n)], lengths[i : i + 1]) for i, n in enumerate(lengths)])
        outputs, _ = model.lstm(model.embed(ids))
    torch.testing.assert_close(packed, gathered)
    torch.testing.assert_close(packed, alone)
    assert not torch.allclose(packed, outputs[:, -1])  # the last padded step is a different (wrong) answer
    with pytest.raises(ValueError, match="last_output"):
        langid.CharLSTM(10, 3, embed=5, hidden=7)(ids, lengths, packed=False)


def test_bidirectional_lstm_needs_packing():
    ids, lengths = _padded_batch()
    model = langid.CharLSTM(10, 3, embed=5, hidden=7, bidirectional=True).eval()
    assert model(ids, lengths).shape == (4, 3)
    with pytest.raises(ValueError, match="pack"):
        model(ids, lengths, packed=False)


@pytest.mark.slow
def test_char_lstm_learns_first_letter_rule():
    rng = np.random.default_rng(0)
    n = 400
    lengths = torch.from_numpy(rng.integers(2, 8, n))
    ids = torch.from_numpy(rng.integers(3, 8, (n, 8)))
    labels = torch.from_numpy(rng.integers(0, 2, n))
    ids[:, 0] = labels + 1  # the class is written in the first character
    ids[torch.arange(8) >= lengths[:, None]] = 0
    torch.manual_seed(0)
    model = langid.CharLSTM(8, 2, embed=8, hidden=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for e in range(8):
        loss, _ = langid.train_epoch(model, opt, ids, lengths, labels, batch_size=32, seed=e)
    assert loss < 0.2
    assert (langid.predict(model, ids, lengths) == labels.numpy()).mean() > 0.95


# ---- seq2seq -------------------------------------------------------------------------------------


def test_encode_pairs_shifts_targets_for_teacher_forcing():
    d = load_dates(5, seed=0)
    data = seq2seq.encode_pairs(d.sources, d.targets, d.source_vocab, d.target_vocab)
    tv = d.target_vocab
    assert data["dec_in"].shape == data["dec_out"].shape == (5, 11)
    assert (data["dec_in"][:, 0] == tv.index[START]).all() and (data["dec_out"][:, -1] == tv.index[END]).all()
    assert torch.equal(data["dec_in"][:, 1:], data["dec_out"][:, :-1])
    assert tv.decode(data["dec_out"][0, :-1].tolist()) == d.targets[0]


@pytest.mark.parametrize("attention", [False, True])
def test_seq2seq_shapes(attention):
    d = load_dates(6, seed=1)
    data = seq2seq.encode_pairs(d.sources, d.targets, d.source_vocab, d.target_vocab)
    model = seq2seq.Seq2Seq(len(d.source_vocab), len(d.target_vocab), embed=8, hidden=16, attention=attention)
    logits = model(data["src"], data["src_len"], data["dec_in"])
    assert logits.shape == (6, 11, len(d.target_vocab))
    texts, weights = seq2seq.decode_batch(model, data["src"], data["src_len"], d.target_vocab, max_len=12)
    assert len(texts) == 6
    if attention:
        assert weights.shape[0] == 6 and weights.shape[2] == data["src"].shape[1]
        np.testing.assert_allclose(weights.sum(axis=2), 1.0, rtol=1e-5)
        # no attention on padding
        for row, n in enumerate(data["src_len"].tolist()):
            assert np.all(weights[row, :, n:] == 0)
    else:
        assert weights is None


def test_decode_batch_cuts_each_row_at_its_end_token():
    vocab = CharVocab.build(["0123456789-"], extra=(START, END))
    end = vocab.index[END]

    class Scripted(seq2seq.Seq2Seq):
        def encode(self, src, src_len):
            return {"t": 0}

        def step(self, prev, memory):
            t = memory["t"]
            rows = [[vocab.index["1"], vocab.index["2"], end, end], [vocab.index["7"], end, vocab.index["3"], end]]
            logits = torch.full((2, len(vocab)), -1.0)
            for r in range(2):
                logits[r, rows[r][min(t, 3)]] = 1.0
            return logits, {"t": t + 1}, None

    model = Scripted(5, len(vocab), embed=2, hidden=2, attention=False)
    texts, _ = seq2seq.decode_batch(model, torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 3]), vocab)
    assert texts == ["12", "7"]


@pytest.mark.slow
def test_seq2seq_learns_to_copy_dates_a_little():
    d = load_dates(1200, seed=2)
    data = seq2seq.encode_pairs(d.sources, d.targets, d.source_vocab, d.target_vocab)
    torch.manual_seed(0)
    model = seq2seq.Seq2Seq(len(d.source_vocab), len(d.target_vocab), embed=16, hidden=48, attention=True)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = [seq2seq.train_epoch(model, opt, data, seed=e)[0] for e in range(2)]
    assert losses[1] < 0.7 * losses[0]
    acc, decoded = seq2seq.exact_match(model, data, d.targets, d.target_vocab)
    assert len(decoded) == 1200 and 0.0 <= acc <= 1.0


# ---- dates repr, throughput ----------------------------------------------------------------------


def test_dates_repr_is_short():
    d = load_dates(10_000)
    text = repr(d)
    assert len(text) < 300 and "10000 pairs" in text and d.sources[0] in text


@pytest.mark.parametrize("name", ["lenet", "lstm", "seq2seq"])
def test_training_throughput_is_positive(name):
    assert throughput.training_examples_per_s(name, "cpu", batch=8, min_time=0.01, warmup=1) > 0


def test_throughput_rejects_unknown_models():
    with pytest.raises(ValueError, match="unknown model"):
        throughput.training_examples_per_s("resnet", "cpu")
