"""EDF, notebook 03's small autodiff framework (:mod:`.framework`), with the slide's bug kept
for study (:mod:`.slide_bug`), numerical gradient checks (:mod:`.gradcheck`), minibatch-size and
thread-count experiments (:mod:`.minibatch`), streaming SGD (:mod:`.streaming`) and data-parallel
training in worker processes (:mod:`.data_parallel`)."""
