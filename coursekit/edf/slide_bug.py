"""The lecture's slip in VDot's weight gradient, as a runnable component.

The slide gives VDot's backward pass (y = x W, indices renamed to the lecture's: x[b, j], W[j, i]) as

    x.grad[b, j] += y.grad[b, i] W[j, i]      (right)
    W.grad[j, i] += x[b, j] y.grad[b, j]      (wrong: the last index should be i)

Taken literally, the wrong line gives every column i of ``W.grad`` the same vector
``sum_b x[b, j] y.grad[b, j]``, and it only runs when ``W`` is square (``y.grad[b, j]`` needs an
output index j for every input index j). :class:`VDotSlideBug` does exactly that, so a gradient
check can catch it; :class:`coursekit.edf.framework.VDot` is the fix, ``W.grad[j, i] += x[b, j] y.grad[b, i]``.
"""

from __future__ import annotations

from coursekit.edf.framework import VDot


class VDotSlideBug(VDot):
    """VDot with the slide's weight gradient ``W.grad[j, i] += sum_b x[b, j] y.grad[b, j]``. W: (J, J) only."""

    def backward(self) -> None:
        n_in, n_out = self.W.value.shape
        if n_in != n_out:
            raise ValueError(
                f"VDotSlideBug: the slide's W.grad[j, i] += x[b, j] y.grad[b, j] reads y.grad at an "
                f"input index j, so it only runs for a square W; this W is {n_in}x{n_out}"
            )
        self.x.grad += self.grad @ self.W.value.T
        per_row = (self.x.value * self.grad).sum(axis=0)  # sum_b x[b, j] y.grad[b, j]: shape (J,)
        self.W.grad += per_row[:, None]  # the same value for every column i
