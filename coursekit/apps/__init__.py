"""Notebook 05's models, each small enough to read: LeNet (:mod:`.lenet`), the character LSTM and
naive Bayes for word languages (:mod:`.langid`), the date seq2seq with attention
(:mod:`.seq2seq`), their shared training step (:mod:`.training`), the sequence-shapes figure
(:mod:`.taxonomy`), training throughput on CPU or GPU (:mod:`.throughput`) and the exercise
checkers (:mod:`.checks`)."""

from coursekit.apps import langid, lenet, seq2seq, taxonomy, throughput

__all__ = ["langid", "lenet", "seq2seq", "taxonomy", "throughput"]
