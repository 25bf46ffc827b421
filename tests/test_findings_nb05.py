"""Notebook 05's computed titles and verdicts (coursekit.apps.findings): each claim appears when
its premise holds on synthetic data, and the neutral wording when it does not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coursekit.apps import findings


def test_loss_title_claims_a_fall_only_when_every_epoch_falls():
    assert findings.loss_title([0.9, 0.5, 0.4]) == "Loss falls every epoch"
    title = findings.loss_title([0.9, 0.5, 0.6])
    assert "does not fall every epoch" in title and "epoch 2" in title


def test_accuracy_title_names_the_best_epoch():
    assert findings.accuracy_title([0.7, 0.81, 0.8]) == "Best test accuracy 0.810 (epoch 2)"


def test_confusion_title_lists_the_classes_the_hardest_one_is_taken_for():
    names = ["A", "B", "C", "D"]
    cm = np.array([[90, 5, 5, 0], [20, 50, 20, 10], [0, 0, 100, 0], [0, 1, 0, 99]])
    title = findings.confusion_title(cm, names)
    assert title.startswith("Hardest class: B (50% right)")
    assert "A, C and D" in title
    # a class with a negligible share of the errors is not listed
    cm2 = np.array([[90, 5, 5, 0], [40, 50, 9, 1], [0, 0, 100, 0], [0, 1, 0, 99]])
    title2 = findings.confusion_title(cm2, names)
    assert "mostly taken for A" in title2 and "D" not in title2.split("taken for")[1]
    assert findings.confusion_title(np.eye(3, dtype=int) * 5, names[:3]) == "No test image is misclassified"


def test_family_title_claims_families_only_above_chance():
    groups = ["g", "r", "g", "r", "r", "g"]  # two families of three
    inside = np.full((6, 6), 0)
    for i in range(6):
        inside[i, i] = 100
        for j in range(6):
            if i != j and groups[i] == groups[j]:
                inside[i, j] = 10  # every error stays in the family
    obs, chance = findings.within_group_share(inside, groups)
    assert obs == 1.0 and chance == pytest.approx(0.4)
    assert findings.family_title({"model": (obs, chance)}).startswith("Most errors stay within a language family")
    uniform = np.full((6, 6), 5) + np.eye(6, dtype=int) * 95
    obs_u, chance_u = findings.within_group_share(uniform, groups)
    assert obs_u == pytest.approx(0.4)
    title = findings.family_title({"model": (obs_u, chance_u), "other": (obs, chance)})
    assert "no clear family pattern" in title
    assert all(math.isnan(v) for v in findings.within_group_share(np.eye(6), groups))


def test_wilson_interval_and_mcnemar_textbook_values():
    lo, hi = findings.wilson_interval(876, 1000)
    assert lo < 0.876 < hi and hi - lo == pytest.approx(0.0408, abs=1e-3)
    assert findings.wilson_interval(0, 10)[0] == 0.0
    assert findings.mcnemar_p(0, 0) == 1.0
    assert findings.mcnemar_p(5, 5) == 1.0
    assert findings.mcnemar_p(0, 6) == pytest.approx(2 / 64)  # all six discordant pairs one way
    assert findings.mcnemar_p(10, 30) < 0.01


def test_compare_classifiers_names_a_winner_only_when_significant():
    rng = np.random.default_rng(0)
    base = rng.random(2000) < 0.8
    better = base.copy()
    better[np.flatnonzero(~base)[:150]] = True  # 150 examples only the second gets right
    result = findings.compare_classifiers(base, better, "naive Bayes", "LSTM")
    assert result.verdict.startswith("LSTM beats naive Bayes") and result.p_value < 0.05
    assert result.only_b == 150 and result.only_a == 0
    close = base.copy()
    flip_on, flip_off = np.flatnonzero(~base)[:12], np.flatnonzero(base)[:10]
    close[flip_on], close[flip_off] = True, False
    result2 = findings.compare_classifiers(base, close, "naive Bayes", "LSTM")
    assert result2.verdict.startswith("No significant difference") and result2.p_value > 0.05
    with pytest.raises(ValueError):
        findings.compare_classifiers(base, close[:5], "a", "b")


def test_length_title_claims_long_inputs_only_when_the_bins_show_it():
    bins = ["0-9", "10-13", "14-17", "18-21", "22-39"]
    title = findings.length_title(bins, [0.99, 0.98, 0.98, 0.97, 0.97], [0.9, 0.8, 0.6, 0.4, 0.3])
    assert title.startswith("Attention helps long inputs most")
    # the stored outputs the review read: attention lowest on the shortest inputs
    title2 = findings.length_title(bins, [0.72, 0.9, 0.95, 0.97, 0.98], [0.3, 0.3, 0.32, 0.3, 0.31])
    assert "long inputs" not in title2 and "lowest at 0-9 characters with attention (0.72)" in title2
    title3 = findings.length_title(bins, [0.72, 0.9, 0.95, 0.97, 0.98], [0.0, 0.0, 0.0, 0.0, 0.0])
    assert title3.startswith("Without attention almost no date is right")
    # both converged (the default mode's curves): no claim about length either way
    title4 = findings.length_title(bins, [1.0, 1.0, 1.0, 1.0, 1.0], [0.95, 0.94, 0.99, 0.96, 0.97])
    assert title4 == "Exact match hardly depends on length: 1.00-1.00 with attention, 0.94-0.99 without"


def test_attention_title_checks_every_field():
    w = np.zeros((4, 10))
    w[0, 1] = w[1, 2] = 1  # field "year": outputs 0-1 look at inputs 1-2
    w[2, 6] = w[3, 7] = 1  # field "day": outputs 2-3 look at inputs 6-7
    fields = {"year": (slice(0, 2), slice(1, 3)), "day": (slice(2, 4), slice(6, 8))}
    assert findings.attention_title(w, fields).startswith("Attention: each ISO field looks at its source")
    w[3, 7], w[3, 0] = 0, 1
    assert findings.attention_title(w, fields) == "Attention: year look at their source; day not yet"
    w[0, 1], w[0, 9] = 0, 1
    assert "no field" in findings.attention_title(w, fields)


def test_tuning_ranking_names_the_largest_effect_only_when_it_stands_out():
    rates = {"float32": 1000.0, "float32, 1 thread": 600.0, "channels_last": 1100.0}
    s = findings.tuning_ranking(rates, "float32", "float32, 1 thread")
    assert s.startswith("Here the largest effect comes from the thread count")
    close = {"float32": 1000.0, "float32, 1 thread": 800.0, "channels_last": 1230.0}
    s2 = findings.tuning_ranking(close, "float32", "float32, 1 thread")
    assert s2.startswith("Here no single change stands out") and "channels_last" in s2
    s3 = findings.tuning_ranking({"float32": 1000.0, "channels_last": 1500.0}, "float32", None)
    assert s3.startswith("Here the largest effect comes from channels_last (1.50x")
    assert "nothing to rank" in findings.tuning_ranking({"float32": 1.0}, "float32", None)


def test_gpu_flop_ratio_and_epoch_phrase():
    assert findings.gpu_flop_ratio(67e12, 200e9) == pytest.approx(335)
    with pytest.raises(ValueError):
        findings.gpu_flop_ratio(1.0, 0.0)
    assert findings.epoch_phrase(0.5).startswith("under a second")
    assert findings.epoch_phrase(37.9) == "38 seconds"
    assert findings.epoch_phrase(150) == "2.5 minutes (150 s)"
