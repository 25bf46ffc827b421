"""Measuring speed honestly: the timer (:mod:`.timing`), interleaved comparisons
(:mod:`.compare`), the roofline model and its measured ceilings (:mod:`.roofline`,
:mod:`.ceilings`), GPU figures recorded or published elsewhere (:mod:`.reference`), CPU-vs-GPU
crossovers (:mod:`.crossover`), the memory-hierarchy sweep (:mod:`.memsweep`), MIMD threads
(:mod:`.mimd`), the asynchronous launch queue (:mod:`.asyncqueue`) and ``coursekit bench``
(:mod:`.bench`)."""
