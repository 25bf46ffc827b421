"""Notebook 05's models, each small enough to read: LeNet (:mod:`.lenet`) and what surrounds a
CUDA kernel for its first layer (:mod:`.conv1`: the launch, the trained model around it, cuDNN's
time), the character LSTM and naive Bayes for word languages (:mod:`.langid`), the date seq2seq
with attention (:mod:`.seq2seq`), their shared training step (:mod:`.training`), the
sequence-shapes figure (:mod:`.taxonomy`) and training throughput on CPU or GPU
(:mod:`.throughput`). The exercises' checkers are the instructor's (coursekit.grading.hidden)."""

from coursekit.apps import conv1, langid, lenet, seq2seq, taxonomy, throughput

__all__ = ["conv1", "langid", "lenet", "seq2seq", "taxonomy", "throughput"]
