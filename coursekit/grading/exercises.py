"""What each graded exercise asks of a student, and where its wrong answers are proven to fail.

One :class:`Exercise` per graded solution cell of the notebooks. ``kind`` says what earning its
points takes:

- ``"derivation"``: working out a formula, a gradient or an index map that is not printed nearby;
- ``"decision"``: choosing between designs (a block size, a rewrite that must stay safe) from evidence;
- ``"prediction"``: predicting a number (a time, a bound, a graph break) before the notebook shows it;
- ``"practice"``: writing down what the lesson has just shown (worth points, but not understanding).

``tests/test_exercises.py`` checks that every graded cell has an entry, that each notebook has at
least three exercises and that at least two thirds of its points need understanding (anything but
practice), that every ``wrong_answers`` file exists and names the exercise, and that no module of
the student edition defines a name in ``writes`` (an exercise must not re-derive a shipped piece).
"""

from __future__ import annotations

from dataclasses import dataclass

UNDERSTANDING = ("derivation", "decision", "prediction")
KINDS = (*UNDERSTANDING, "practice")
MIN_EXERCISES = 3
MIN_UNDERSTANDING_SHARE = 2 / 3


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: ``grade_id`` of its solution cell, its ``kind`` (one of :data:`KINDS`),
    ``needs`` (one line: what the student has to work out), ``wrong_answers`` (the test file, relative
    to the repository, whose plausible wrong answers are proven to fail its checks) and ``writes``
    (the names the student defines, which the shipped package must not define)."""

    grade_id: str
    kind: str
    needs: str
    wrong_answers: str
    writes: tuple[str, ...] = ()


# ---- notebook 01 ------------------------------------------------------------------------------------
NB01 = (
    Exercise(
        "nb01_saxpy", "practice", "saxpy as one numpy expression", "tests/test_notebook01_helpers.py", ("saxpy_numpy",)
    ),
    Exercise(
        "nb01_intensity",
        "derivation",
        "a matrix-vector product's intensity and its bound from the ceilings",
        "tests/test_notebook01_helpers.py",
        ("matvec_intensity", "predicted_bound"),
    ),
    Exercise(
        "nb01_crossover",
        "decision",
        "the size from which on the GPU wins, robust to one noisy dip",
        "tests/test_notebook01_helpers.py",
        ("crossover_size",),
    ),
)

# ---- notebook 02 ------------------------------------------------------------------------------------
NB02 = (
    Exercise("nb02_saxpy", "practice", "a saxpy kernel with a bounds check", "tests/test_kernel_wrong_answers.py"),
    Exercise("nb02_relu2d", "practice", "a 2-D ReLU kernel", "tests/test_kernel_wrong_answers.py"),
    Exercise("nb02_transpose", "derivation", "a transpose through a shared tile", "tests/test_kernel_wrong_answers.py"),
    Exercise("nb02_blockmax", "derivation", "a block-level max reduction", "tests/test_kernel_wrong_answers.py"),
    Exercise(
        "nb02_noconflicts", "derivation", "a transpose without bank conflicts", "tests/test_kernel_wrong_answers.py"
    ),
    Exercise("nb02_gridstride", "practice", "saxpy with a grid-stride loop", "tests/test_kernel_wrong_answers.py"),
    Exercise("nb02_blocksize", "decision", "a block size from occupancy", "tests/test_occupancy_wrong_answers.py"),
)

# ---- notebook 03 ------------------------------------------------------------------------------------
NB03 = (
    Exercise("nb03_tanh", "practice", "Tanh's backward", "tests/test_edf_wrong_answers.py"),
    Exercise("nb03_addbias", "practice", "AddBias's backward (the slide's code)", "tests/test_edf_wrong_answers.py"),
    Exercise("nb03_vdot", "practice", "VDot's backward (the slide's code)", "tests/test_edf_wrong_answers.py"),
    Exercise(
        "nb03_softmax_logloss", "derivation", "the fused softmax-log-loss gradient", "tests/test_edf_wrong_answers.py"
    ),
    Exercise("nb03_mse_grad", "derivation", "the minibatched MSE gradient", "tests/test_edf_wrong_answers.py"),
    Exercise("nb03_train_loop", "practice", "the slide's training loop", "tests/test_edf_wrong_answers.py"),
)

# ---- notebook 04 ------------------------------------------------------------------------------------
NB04 = (
    Exercise("nb04_tanh_grad", "practice", "tanh's gradient rule", "tests/test_graph_wrong_answers.py"),
    Exercise("nb04_exp_log", "decision", "a rewrite exp(log x) -> x", "tests/test_graph_wrong_answers.py"),
    Exercise("nb04_softplus", "practice", "softplus from the formula given", "tests/test_graph_wrong_answers.py"),
    Exercise("nb04_foldl", "derivation", "the lecture's recurrence with foldl", "tests/test_graph_wrong_answers.py"),
    Exercise("nb04_graph_breaks", "practice", "graph breaks listed above", "tests/test_graph_wrong_answers.py"),
)

# ---- notebook 05 ------------------------------------------------------------------------------------
NB05 = (
    Exercise(
        "nb05_conv_size",
        "derivation",
        "a convolution's output size with padding, stride and dilation (no formula given), 0 where it does not fit",
        "tests/test_apps_wrong_answers.py",
        ("conv_output_size",),
    ),
    Exercise(
        "nb05_conv1",
        "derivation",
        "LeNet's first convolution as a CUDA kernel: conv2d's index map (no flip), the thread map, bounds, "
        "bias, coalescing; checked in the tracer and inside the trained LeNet",
        "tests/test_apps_conv1.py",
        ("conv1_kernel",),
    ),
    Exercise(
        "nb05_nb_log_prob",
        "derivation",
        "add-alpha smoothed log P(n-gram | class) derived from the pseudo-count idea (no formula given)",
        "tests/test_apps_wrong_answers.py",
        ("log_prob",),
    ),
    Exercise(
        "nb05_last_real",
        "practice",
        "the last real output of a padded batch (one gather)",
        "tests/test_apps_wrong_answers.py",
        ("last_real_output",),
    ),
    Exercise(
        "nb05_greedy",
        "derivation",
        "greedy decoding that feeds back its choice and stops",
        "tests/test_apps_wrong_answers.py",
        ("greedy_decode",),
    ),
)

EXERCISES = {e.grade_id: e for e in (*NB01, *NB02, *NB03, *NB04, *NB05)}
