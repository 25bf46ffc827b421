"""EDF's epoch time against PyTorch eager's on the same float32 MLP, on the CPU (issue 12's target).

The lecture's 784-128-10 sigmoid MLP, softmax and log-loss, plain SGD, batches of 100, one epoch
over the shipped Fashion-MNIST training subset (10,000 images). The two are timed in alternating
rounds, so a change in the machine's speed affects both alike; the verdict is the median of the
rounds' time ratios (EDF / torch). Target: <= 1.0 like for like, that is with EDF's images an
``Input(requires_grad=False)`` (torch computes no gradient for its data either); EDF as the lecture
wrote it, which also computes the images' gradient (one matrix product more per step), is timed in
the same rounds and printed beside it (issue 27). Both use the thread counts they start with
(printed), or ``--threads N`` each (numpy's OpenBLAS and torch; notebook 03 uses 1 on machines with
at most 4 cores, where two pools of threads fight over the cores). Exits 1 when the target is missed.

Run: python benchmarks/edf_vs_torch.py [--rounds 15] [--batch 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from coursekit.datasets import load_fashion_mnist
from coursekit.edf import framework as edf
from coursekit.edf import minibatch
from coursekit.machine import cpu_paths, threads
from coursekit.perf.timing import iqr

TARGET = 1.0
SIZES = [784, 128, 10]


def edf_trainer(images: np.ndarray, labels: np.ndarray, batch: int, eta: float, input_grad: bool = True):
    """One epoch of EDF minibatch SGD over ``images`` (N, 784) float32; returns the function.

    ``input_grad=False``: the images need no gradient (as torch's data). Each trainer owns its graph."""
    model = minibatch.edf_mlp(SIZES, input_grad=input_grad)
    graph = (edf.inputs[:], edf.parameters[:], edf.components[:])

    def epoch() -> None:
        edf.inputs[:], edf.parameters[:], edf.components[:] = graph
        for k in range(0, len(images), batch):
            model.x.set(images[k : k + batch])
            model.y.set(labels[k : k + batch])
            edf.Forward()
            edf.Backward(model.loss)
            edf.SGD(eta)

    return epoch


def torch_trainer(images: np.ndarray, labels: np.ndarray, batch: int, eta: float):
    """The same model and epoch in PyTorch eager (float32, SGD); returns the function."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.Sigmoid(), torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=eta)
    xs, ys = torch.from_numpy(images), torch.from_numpy(labels)

    def epoch() -> None:
        for k in range(0, len(xs), batch):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xs[k : k + batch]), ys[k : k + batch])
            loss.backward()
            opt.step()

    return epoch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="alternating timed epochs of each")
    parser.add_argument("--batch", type=int, default=100, help="minibatch size B")
    parser.add_argument("--threads", type=int, default=0, help="threads for numpy's BLAS and torch (0: as started)")
    args = parser.parse_args()
    if args.threads:
        threads.set_threads(args.threads)
    images, labels = load_fashion_mnist("train", source="shipped")
    images = images.reshape(len(images), -1)
    lecture, like = "EDF (data gradient, as the lecture)", "EDF (data without gradient)"
    runs = {
        lecture: edf_trainer(images, labels, args.batch, 0.1),
        like: edf_trainer(images, labels, args.batch, 0.1, input_grad=False),
        "torch eager": torch_trainer(images, labels, args.batch, 0.1),
    }
    for epoch in runs.values():
        epoch()  # warm-up: first-touch allocations, BLAS thread start-up
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, epoch in runs.items():
            start = time.perf_counter()
            epoch()
            seconds[name].append(time.perf_counter() - start)
    times = {name: np.array(t) for name, t in seconds.items()}
    ratios = {name: float(np.median(times[name] / times["torch eager"])) for name in (lecture, like)}
    print(
        f"{len(images):,} images per epoch, B={args.batch}, float32 784-128-10 sigmoid MLP; "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, numpy {np.__version__} "
        f"with {threads.blas_threads()} BLAS threads"
    )
    print(cpu_paths.paths_line())  # which SIMD path each library took (make bench-frameworks AVX2=1 forces AVX2)
    for name, t in times.items():
        print(f"  {name:<36} epoch {np.median(t) * 1e3:7.1f} ms (IQR {iqr(t) * 1e3:.1f} ms)")
    print(f"  {lecture} / torch: {ratios[lecture]:.2f} (one matrix product more per step than torch; no target)")
    print(f"  {like} / torch: {ratios[like]:.2f} (median of {args.rounds} rounds' ratios; target <= {TARGET})")
    ok = ratios[like] <= TARGET
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
