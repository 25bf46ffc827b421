# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Applications: CNNs and RNNs on CPU and GPU
#
# The previous notebooks measured the pieces; this one puts them together in real networks.
#
# **You will learn**
# - the shapes of sequence problems: one-to-many, many-to-one, many-to-many, encoder-decoder;
# - how the lecture's LeNet is built, and how many images per second this machine pushes through it;
# - *(coming next)* training LeNet on Fashion-MNIST (CPU vs GPU epoch time, accuracy, confusion
#   matrix), a character-level LSTM that tells languages apart, and an encoder-decoder seq2seq model.
#
# **Outline**
# 1. LeNet, as the lecture defines it
# 2. Inference throughput vs batch size, on CPU (and GPU when present)
#
# **Time**: under a minute (quick mode: about 20 seconds).

# %% tags=["nbval-ignore-output"]
import matplotlib.pyplot as plt
import torch
from torch import nn

import coursekit as ck
from coursekit import compare, device, reference, timing

info = ck.setup()
print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")

# %% [markdown]
# ## 1. LeNet
# The Julia lecture's LeNet for 28 x 28 grey images: a 5 x 5 convolution with 20 filters, tanh,
# 2 x 2 max-pooling; a 5 x 5 convolution with 50 filters, tanh, max-pooling; a fully connected
# layer of 500 tanh units; and 10 outputs, one per class (softmax is applied by the loss).

# %%
def lenet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 20, kernel_size=5), nn.Tanh(), nn.MaxPool2d(2),   # 28 -> 24 -> 12
        nn.Conv2d(20, 50, kernel_size=5), nn.Tanh(), nn.MaxPool2d(2),  # 12 -> 8 -> 4
        nn.Flatten(),
        nn.Linear(50 * 4 * 4, 500), nn.Tanh(),
        nn.Linear(500, 10),
    )


model = lenet().eval()
n_params = sum(p.numel() for p in model.parameters())
print(f"LeNet: {n_params:,} parameters")
assert n_params == 431_080
assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)

# %% [markdown]
# ## 2. Inference throughput vs batch size
# Feeding images one at a time leaves most of the hardware idle between small operations; a batch
# turns each layer into a few large matrix products. We time the forward pass (no gradients) for
# growing batches and report images per second.

# %% tags=["nbval-ignore-output"]
batch_sizes = ck.size(small=[1, 16, 128], default=[1, 4, 16, 64, 256, 1024], gpu=[1, 16, 256, 4096, 16384])


def throughput(model, dev: str) -> list[float]:
    """Images per second for each batch size. The sizes are timed in interleaved rounds (B=1, B=16,
    ..., B=1, ...), so that another program slowing the machine down slows every size alike."""
    model = model.to(dev)
    batches = {f"B={b} on {dev}": torch.randn(b, 1, 28, 28, device=dev) for b in batch_sizes}
    with torch.no_grad():
        runs = compare.interleaved({label: (lambda x=x: model(x)) for label, x in batches.items()},
                                  device=dev, check=False, min_time=0.2)
    return [b / m.median for b, m in zip(batch_sizes, runs)]


curves = {"CPU": (batch_sizes, throughput(model, "cpu"))}
if info.gpu:  # ck.setup()'s answer: COURSEKIT_FORCE_CPU=1 hides a GPU here too
    curves[f"GPU ({device.gpus()[0].name})"] = (batch_sizes, throughput(model, "cuda"))
else:
    rec = reference.gpu_result("minibatch")  # recorded on a real GPU, if one has been
    lenet_ref = rec.value.get("lenet_inference") if rec else None
    if lenet_ref:
        curves[rec.label] = ([r["batch"] for r in lenet_ref], [r["images_per_s"] for r in lenet_ref])
        print(f"No GPU here: the GPU curve is {rec.label}.")
    else:
        print("No GPU here and no recorded GPU throughput yet: CPU only.")

cpu_rates = curves["CPU"][1]
best = max(range(len(batch_sizes)), key=lambda i: cpu_rates[i])
gain = cpu_rates[best] / cpu_rates[0]
for b, rate in zip(batch_sizes, cpu_rates):
    print(f"CPU, B={b:>5}: {rate:>10,.0f} images/s ({rate / cpu_rates[0]:.1f}x B=1)")

fig, ax = plt.subplots()
for name, (sizes, rates) in curves.items():
    ax.plot(sizes, rates, "o-", label=name)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("batch size (images)")
ax.set_ylabel("throughput (images per second)")
ax.set_title(f"LeNet inference: batches of {batch_sizes[best]} give {gain:.1f}x the images/s of B=1 on the CPU")
ax.legend()
plt.show()

# %%
assert gain > 1.5, f"batching should raise the CPU's throughput well above B=1's, got {gain:.2f}x"

# %% [markdown]
# One image at a time, each layer is a small computation and fixed per-call costs dominate; with
# a larger batch the convolutions and matrix products are big enough to keep every core's vector
# units busy. How much that buys depends on the CPU and its math library (about 2.5x to 4.5x on
# the machines this course was tested on, less when other programs share the cores); past some
# batch size the activations no longer fit in the caches and throughput levels off or drops, so
# the best batch is found rather than assumed. A GPU, with far more parallel units to fill, keeps
# gaining up to much larger batches.

# %% [markdown]
# ### Exercise 5.1 — the size of a convolution's output (2 points)
# A convolution with a `kernel x kernel` filter, moved `stride` pixels at a time over an image of
# `size x size` pixels padded with `padding` zeros on each side, produces an output of
# `(size + 2 * padding - kernel) // stride + 1` pixels per side. Max-pooling follows the same rule.
# Write `conv_output_size` and check it against LeNet: 28 -> 24 -> 12 -> 8 -> 4.

# %% nbgrader={"grade": false, "grade_id": "nb05_conv_size", "locked": false, "schema_version": 3, "solution": true}
def conv_output_size(size, kernel, stride=1, padding=0):
    """Output side length (pixels) of a convolution or pooling layer."""
    ### BEGIN SOLUTION
    return (size + 2 * padding - kernel) // stride + 1
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb05_conv_size_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from coursekit.checks import check_equal

check_equal(conv_output_size(28, 5), 24, what="conv 5x5 on 28x28")
check_equal(conv_output_size(24, 2, stride=2), 12, what="max-pool 2x2 on 24x24")
check_equal(conv_output_size(12, 5), 8, what="conv 5x5 on 12x12")
check_equal(conv_output_size(8, 2, stride=2), 4, what="max-pool 2x2 on 8x8")
print("conv_output_size reproduces LeNet's 28 -> 24 -> 12 -> 8 -> 4")
### BEGIN HIDDEN TESTS
for size, kernel, stride, padding in [(32, 3, 1, 1), (32, 3, 2, 1), (224, 7, 2, 3), (7, 7, 1, 0), (10, 3, 3, 0)]:
    layer = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding)
    expected = layer(torch.zeros(1, 1, size, size)).shape[-1]
    check_equal(conv_output_size(size, kernel, stride, padding), expected,
                what=f"conv_output_size({size}, {kernel}, stride={stride}, padding={padding})")
### END HIDDEN TESTS


# %% [markdown]
# ## Summary
# - LeNet has 431,080 parameters (checked above).
# - Batching multiplies inference throughput on this CPU (asserted: the best batch gives > 1.5x the
#   images per second of B=1; the measured factor is printed above).
#
# This is the last notebook. To go further: rerun the course on a machine with a CUDA GPU, where the
# same cells measure the GPU.
