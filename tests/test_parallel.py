"""Data-parallel SGD (coursekit.edf.data_parallel): the all_reduce-averaged gradient of 2 gloo processes
equals one process's gradient of the whole minibatch, and DDP training runs in 1 and 2 processes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from coursekit.edf import data_parallel as parallel  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend")


def test_allreduce_averaged_gradient_equals_big_minibatch_gradient():
    result = parallel.gradient_matches(world_size=2, batch=64)
    assert result["ranks_agree"] == 1.0, "every rank should hold the same averaged gradient"
    assert result["max_abs_grad"] > 1e-3, "a trivial (zero) gradient would prove nothing"
    assert result["max_abs_diff"] < 1e-6 * max(1.0, result["max_abs_grad"]) * 10


def test_compare_gradients_catches_a_sum_instead_of_an_average():
    right = parallel.big_batch_gradient(64)
    summed = (2 * right).tolist()  # all_reduce's SUM without the division by world_size
    result = parallel.compare_gradients([{"grad": summed}, {"grad": summed}], batch=64)
    assert result["max_abs_diff"] > 1e-3
    half = parallel.flat_gradient(parallel.make_model(), *[t[:32] for t in parallel.fake_batch(64)])
    result = parallel.compare_gradients([{"grad": half.tolist()}, {"grad": right.tolist()}], batch=64)
    assert result["max_abs_diff"] > 1e-3 and result["ranks_agree"] == 0.0  # one rank's slice only


def test_ordered_arguments_for_spawn():
    args = parallel._ordered(parallel.train_worker, {"steps": 5, "check_batch": 8})
    assert args[0] == 5 and args[-1] == 8 and len(args) == 6  # steps ... check_batch, defaults in between
    with pytest.raises(TypeError, match="unknown"):
        parallel._ordered(parallel.train_worker, {"stpes": 5})


@pytest.mark.slow
def test_ddp_training_keeps_the_copies_identical():
    two = parallel.run(parallel.train_worker, world_size=2, steps=10, allreduce_repeats=3)
    assert [r["local_batch"] for r in two] == [50, 50]
    assert two[0]["test_accuracy"] == two[1]["test_accuracy"]
    assert all(r["last_loss"] < r["first_loss"] and r["allreduce_s"] > 0 for r in two)
