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
        "nb01_huber",
        "practice",
        "a branch per element vectorised with numpy, speed-graded against the compiled loop in a separate process",
        "tests/test_notebook01_wrong_answers.py",
        ("huber_numpy",),
    ),
    Exercise(
        "nb01_predict",
        "prediction",
        "the roofline time of numpy's a * x + y (its temporary's traffic) before the notebook measures it",
        "tests/test_notebook01_wrong_answers.py",
        ("predict_saxpy_seconds",),
    ),
    Exercise(
        "nb01_intensity",
        "derivation",
        "a dense layer's intensity and the smallest batch that reaches the ridge (None past the limit)",
        "tests/test_notebook01_wrong_answers.py",
        ("layer_intensity", "smallest_compute_bound_batch"),
    ),
    Exercise(
        "nb01_crossover",
        "decision",
        "the size from which on the GPU pays, from noisy timings (a lucky dip must not count)",
        "tests/test_notebook01_wrong_answers.py",
        ("crossover_size",),
    ),
)

# ---- notebook 02 ------------------------------------------------------------------------------------
NB02 = (
    Exercise(
        "nb02_saxpy",
        "practice",
        "a saxpy kernel with a bounds check",
        "tests/test_kernel_wrong_answers.py",
        ("saxpy_kernel",),
    ),
    Exercise(
        "nb02_im2col",
        "derivation",
        "im2col's index map: the image pixel each (window, offset) element copies, with both bounds and"
        " coalesced writes",
        "tests/test_kernel_wrong_answers.py",
        ("im2col",),
    ),
    Exercise(
        "nb02_transpose",
        "derivation",
        "a transpose through a shared tile: the tile's index maps so that reads and writes are both coalesced",
        "tests/test_kernel_wrong_answers.py",
        ("transpose_tiled",),
    ),
    Exercise(
        "nb02_blockargmax",
        "derivation",
        "a tree argmax whose combine rule keeps the first index (ties) and whose padding never wins",
        "tests/test_kernel_wrong_answers.py",
        ("block_argmax",),
    ),
    Exercise(
        "nb02_predict",
        "prediction",
        "sectors per warp and bank-conflict ways of four access patterns, before the tracer counts them",
        "tests/test_kernel_wrong_answers.py",
        ("predictions",),
    ),
    Exercise(
        "nb02_swizzle",
        "derivation",
        "a conflict-free 32 x 32 tile layout without padding (a swizzle) and its inverse for the reads",
        "tests/test_kernel_wrong_answers.py",
        ("transpose_swizzled",),
    ),
    Exercise(
        "nb02_gridstride",
        "practice",
        "saxpy with a grid-stride loop",
        "tests/test_kernel_wrong_answers.py",
        ("saxpy_grid_stride",),
    ),
    Exercise(
        "nb02_blocksize",
        "decision",
        "a block size from occupancy",
        "tests/test_occupancy_wrong_answers.py",
        ("pick_block_size",),
    ),
    Exercise(
        "nb02_triton_lse",
        "derivation",
        "a masked Triton row reduction: the neutral value for masked lanes (-inf, not 0), the row stride of a"
        " slice, a block that covers the row (next power of two) and the row maximum against overflow",
        "tests/test_triton_wrong_answers.py",
        ("logsumexp_kernel", "row_logsumexp"),
    ),
)

# ---- notebook 03 ------------------------------------------------------------------------------------
NB03 = (
    Exercise(
        "nb03_batchnorm",
        "derivation",
        "batch normalisation's backward over the batch: the x-gradient through the batch mean and variance",
        "tests/test_edf_wrong_answers.py",
        ("BatchNorm",),
    ),
    Exercise(
        "nb03_dropout",
        "derivation",
        "inverted dropout: the 1/(1-p) scale from the expected value, a mask per example, identity at inference",
        "tests/test_edf_wrong_answers.py",
        ("Dropout",),
    ),
    Exercise(
        "nb03_softmax_logloss",
        "derivation",
        "the gradient of a label-smoothed softmax log-loss (its uniform term is printed nowhere)",
        "tests/test_edf_wrong_answers.py",
        ("SoftmaxLogLoss",),
    ),
    Exercise(
        "nb03_mse_grad",
        "practice",
        "the MSE gradient without any Python loop (the pattern X.T @ (P - Y) / B is printed above it)",
        "tests/test_minibatch_wrong_answers.py",
        ("mse_grad_minibatch",),
    ),
    Exercise(
        "nb03_train_accumulate",
        "derivation",
        "one large batch's SGD step from micro-batches: each mean weighted by its share, reset and step per batch",
        "tests/test_minibatch_wrong_answers.py",
        ("train_accumulate",),
    ),
)

# ---- notebook 04 ------------------------------------------------------------------------------------
NB04 = (
    Exercise(
        "nb04_mish_grad",
        "derivation",
        "the gradient rule of mish, an op the library does not hold (chain and product rules, right at +-1e4 and 0)",
        "tests/test_graph_wrong_answers.py",
        ("mish_grad",),
    ),
    Exercise(
        "nb04_safe_exp_log",
        "decision",
        "which of exp(log x) -> x and log(exp x) -> x is safe on every float, and the guard the other needs",
        "tests/test_graph_wrong_answers.py",
        ("cancel_exp_log",),
    ),
    Exercise(
        "nb04_log1mexp",
        "derivation",
        "log(1 - exp(-a)) to a few float32 ulps from 1e-38 to 1e4: where each form loses precision, and the switch",
        "tests/test_graph_wrong_answers.py",
        ("log1mexp",),
    ),
    Exercise(
        "nb04_foldl",
        "practice",
        "the lecture's recurrence with foldl, as the RNN shown above",
        "tests/test_graph_wrong_answers.py",
        ("y_rec",),
    ),
    Exercise(
        "nb04_graph_breaks",
        "prediction",
        "which lines break torch.compile's graph, predicted before the notebook explains them",
        "tests/test_graph_wrong_answers.py",
        ("predicted_breaks",),
    ),
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
        "nb05_beam",
        "derivation",
        "beam search from its definition (no code given): a sequence's probability as a product of step softmaxes, "
        "so sums of log-softmax (a product underflows over hundreds of ids); each hypothesis's own state; finished "
        "hypotheses set aside and compared with those cut at max_len; width 1 is greedy",
        "tests/test_apps_wrong_answers.py",
        ("beam_decode",),
    ),
)

EXERCISES = {e.grade_id: e for e in (*NB01, *NB02, *NB03, *NB04, *NB05)}
