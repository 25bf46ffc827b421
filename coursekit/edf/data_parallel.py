"""Data-parallel SGD with ``torch.distributed``: workers for notebook 03, and a ``torchrun`` script.

Each of ``world_size`` processes holds a full copy of the model, computes the gradient of its own
slice of every minibatch, and ``all_reduce`` averages the gradients, so every copy takes the same
step as one process would on the whole minibatch. On CPUs the backend is gloo; on GPUs, NCCL.

From a notebook (``torch.multiprocessing.spawn`` needs the worker in an importable module)::

    from coursekit.edf import data_parallel as parallel
    parallel.gradient_matches(world_size=2)           # all_reduce-averaged == big-minibatch gradient
    parallel.run(parallel.train_worker, world_size=2, steps=50)

As a script, one process per rank started by torchrun (``--nnodes``/``--node_rank``/
``--master_addr`` spread it over machines)::

    torchrun --nproc_per_node=2 -m coursekit.edf.data_parallel --steps 100

No communication is written here: ``dist.all_reduce`` and ``DistributedDataParallel`` do it.
Processes rendezvous through a file in a fresh temporary directory (``file://``), so concurrent
runs never compete for a TCP port; under torchrun, through its ``env://`` variables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coursekit.machine import device

SIZES = (784, 128, 10)  # the lecture's MLP


def make_model(seed: int = 0) -> Any:
    """The 784-128-10 sigmoid MLP (float32), identically initialised in every process for a seed."""
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.Sigmoid(), torch.nn.Linear(SIZES[1], SIZES[2])
    )


def fake_batch(batch: int, seed: int = 1) -> tuple[Any, Any]:
    """A reproducible minibatch: ``batch`` random 784-pixel images and labels 0..9 (torch tensors)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, SIZES[0], generator=g), torch.randint(0, SIZES[-1], (batch,), generator=g)


def flat_gradient(model: Any, images: Any, labels: Any) -> Any:
    """The gradient of the mean cross-entropy over the batch, all parameters flattened into one vector."""
    import torch

    model.zero_grad()
    torch.nn.functional.cross_entropy(model(images), labels).backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def _init(rank: int, world_size: int, init_method: str, threads: int | None) -> Any:
    """Join the process group (gloo) and set this process's thread count (default: usable CPUs / world_size)."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads or max(1, device.usable_cpus() // world_size))
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world_size)
    return dist


def _write(out_dir: str, rank: int, result: dict[str, Any]) -> None:
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))


def _averaged_gradient(dist: Any, rank: int, world_size: int, batch: int) -> list[float]:
    """This rank's slice of a ``fake_batch(batch)``: its gradient, all_reduce-averaged over the ranks."""
    model = make_model()
    images, labels = fake_batch(batch)
    local = batch // world_size  # equal slices: the mean of the slices' means is the batch mean
    part = slice(rank * local, (rank + 1) * local)
    grad = flat_gradient(model, images[part], labels[part])
    dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # the sum over ranks, in every rank ...
    grad /= world_size  # ... divided by their number: the average
    return grad.tolist()


def gradient_worker(rank: int, world_size: int, init_method: str, out_dir: str, batch: int = 64) -> None:
    """Rank ``rank`` computes the gradient of its slice of one minibatch, then all_reduce-averages it.

    Writes the averaged gradient (``"grad"``, a list of floats) to ``out_dir/rank{rank}.json``.
    ``batch`` must be a multiple of ``world_size``.
    """
    dist = _init(rank, world_size, init_method, threads=1)
    try:
        _write(out_dir, rank, {"grad": _averaged_gradient(dist, rank, world_size, batch)})
    finally:
        dist.destroy_process_group()


def train_worker(
    rank: int,
    world_size: int,
    init_method: str,
    out_dir: str,
    steps: int = 100,
    global_batch: int = 100,
    eta: float = 0.1,
    threads: int | None = 1,
    allreduce_repeats: int = 20,
    check_batch: int = 0,
) -> None:
    """DistributedDataParallel training of the MLP on the shipped Fashion-MNIST subset.

    Each step processes ``global_batch`` examples in all, ``global_batch / world_size`` per rank
    (the same shuffled order in every rank; rank r takes the r-th slice of each batch). Writes
    per-rank ``step_s`` (median seconds per step after 3 warm-up steps), the first and last
    training losses, the test accuracy, and ``allreduce_s``, the median time of one all_reduce of
    a tensor as large as the whole gradient (float32) after a barrier (the exchange alone, no
    waiting), to ``out_dir/rank{rank}.json``. For the breakdown of a step, each step's forward and
    backward is timed (``sync_s``, the exchange included) and then done again on the same slice
    under ``model.no_sync()`` (``compute_s``: DDP's hooks run, nothing is exchanged, no update).
    ``threads``: torch threads per process (None: cores / world_size). With ``check_batch`` > 0,
    first does :func:`gradient_worker`'s check on a ``check_batch`` minibatch (result ``"grad"``).
    """
    import numpy as np
    import torch
    from torch.nn.parallel import DistributedDataParallel

    from coursekit.datasets import load_fashion_mnist

    dist = _init(rank, world_size, init_method, threads)
    try:
        checked = {"grad": _averaged_gradient(dist, rank, world_size, check_batch)} if check_batch else {}
        images, labels = load_fashion_mnist("train", source="shipped", verbose=False)
        test_images, test_labels = load_fashion_mnist("test", source="shipped", verbose=False)
        xs = torch.from_numpy(images.reshape(len(images), -1))
        ys = torch.from_numpy(labels)
        model = DistributedDataParallel(make_model())  # broadcasts rank 0's parameters to every rank
        opt = torch.optim.SGD(model.parameters(), lr=eta, momentum=0.9)
        local = global_batch // world_size
        order = torch.from_numpy(np.random.default_rng(0).permutation(len(xs)))
        losses, seconds, synced, alone = [], [], [], []
        for step in range(steps):
            start = (step * global_batch) % (len(xs) - global_batch + 1)
            idx = order[start + rank * local : start + (rank + 1) * local]
            t0 = time.perf_counter()
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            loss.backward()  # DDP all_reduce-averages the gradients during backward, in buckets
            t1 = time.perf_counter()
            opt.step()
            seconds.append(time.perf_counter() - t0)
            synced.append(t1 - t0)
            losses.append(loss.item())
            t0 = time.perf_counter()  # the same forward and backward again, without the exchange
            with model.no_sync():
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx]).backward()
            alone.append(time.perf_counter() - t0)
            opt.zero_grad()
        with torch.no_grad():
            scores = model.module(torch.from_numpy(test_images.reshape(len(test_images), -1)))
            accuracy = float((scores.argmax(1) == torch.from_numpy(test_labels)).float().mean())
        n_params = sum(p.numel() for p in model.parameters())
        buffer = torch.zeros(n_params)
        reduce_times = []
        for _ in range(allreduce_repeats + 2):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(buffer)
            reduce_times.append(time.perf_counter() - t0)
        _write(
            out_dir,
            rank,
            {
                "world_size": world_size,
                "threads": torch.get_num_threads(),
                "local_batch": local,
                "step_s": statistics.median(seconds[3:] or seconds),
                "first_loss": statistics.mean(losses[:5]),
                "last_loss": statistics.mean(losses[-5:]),
                "test_accuracy": accuracy,
                "allreduce_s": statistics.median(reduce_times[2:]),
                "sync_s": statistics.median(synced[3:] or synced),
                "compute_s": statistics.median(alone[3:] or alone),
                "gradient_nbytes": 4 * n_params,
                **checked,
            },
        )
        del model, opt  # DDP's reducer must go before its process group does
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run(worker: Callable[..., None], world_size: int = 2, **kwargs: Any) -> list[dict[str, Any]]:
    """Start ``world_size`` processes of ``worker`` with ``torch.multiprocessing.spawn``; their results by rank.

    Each worker is called as ``worker(rank, world_size, init_method, out_dir, **kwargs)`` and
    writes ``out_dir/rank{rank}.json``. The rendezvous file and results live in a fresh temporary
    directory, removed afterwards.
    """
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="coursekit-ddp-") as tmp:
        init_method = Path(tmp, "rendezvous").as_uri()
        args = (world_size, init_method, tmp, *_ordered(worker, kwargs))  # spawn passes positional arguments only
        mp.spawn(worker, args=args, nprocs=world_size, join=True)
        return [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in range(world_size)]


def _ordered(fn: Callable[..., Any], kwargs: dict[str, Any]) -> list[Any]:
    """``kwargs`` as positional arguments after (rank, world_size, init_method, out_dir), defaults filled in."""
    import inspect

    params = list(inspect.signature(fn).parameters.values())[4:]
    unknown = set(kwargs) - {p.name for p in params}
    if unknown:
        raise TypeError(f"{fn.__name__}: unknown arguments {sorted(unknown)}")
    last = max((i for i, p in enumerate(params) if p.name in kwargs), default=-1)
    return [kwargs.get(p.name, p.default) for p in params[: last + 1]]


def big_batch_gradient(batch: int = 64) -> Any:
    """One process's gradient of the whole ``fake_batch(batch)``: what the averaged slices must equal."""
    images, labels = fake_batch(batch)
    return flat_gradient(make_model(), images, labels)


def compare_gradients(results: list[dict[str, Any]], batch: int = 64) -> dict[str, float]:
    """``max_abs_diff`` between the ranks' averaged gradients and the big-batch one, ``max_abs_grad``
    (the largest entry, for scale) and ``ranks_agree`` (1.0 when every rank holds the same)."""
    import torch

    grads = [torch.tensor(r["grad"]) for r in results]
    big = big_batch_gradient(batch)
    return {
        "max_abs_diff": max(float((g - big).abs().max()) for g in grads),
        "max_abs_grad": float(big.abs().max()),
        "ranks_agree": float(all(torch.equal(g, grads[0]) for g in grads)),
    }


def gradient_matches(world_size: int = 2, batch: int = 64) -> dict[str, float]:
    """Run :func:`gradient_worker` in ``world_size`` processes and :func:`compare_gradients`."""
    return compare_gradients(run(gradient_worker, world_size=world_size, batch=batch), batch)


def main(argv: list[str] | None = None) -> int:
    """Entry point under torchrun: ``torchrun --nproc_per_node=N -m coursekit.edf.data_parallel [--steps S]``."""
    parser = argparse.ArgumentParser(description="DistributedDataParallel MLP training on Fashion-MNIST (gloo)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100, help="global minibatch size, split over the ranks")
    args = parser.parse_args(argv)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    with tempfile.TemporaryDirectory(prefix="coursekit-ddp-") as tmp:
        train_worker(rank, world_size, "env://", tmp, steps=args.steps, global_batch=args.batch)
        result = json.loads(Path(tmp, f"rank{rank}.json").read_text())
    if rank == 0:
        print(
            f"{world_size} processes, {result['local_batch']} examples each per step: "
            f"{1e3 * result['step_s']:.2f} ms/step, loss {result['first_loss']:.3f} -> {result['last_loss']:.3f}, "
            f"test accuracy {result['test_accuracy']:.3f}, all_reduce of the gradient "
            f"({result['gradient_nbytes'] / 1e3:.0f} kB) {1e3 * result['allreduce_s']:.3f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
