"""The checkers that graded test cells call between ``### BEGIN HIDDEN TESTS`` and
``### END HIDDEN TESTS``: they hold reference answers, so they run at grading time and stay out
of the student edition. One module per notebook's room: :mod:`.basics` (notebook 01),
:mod:`.kernels`, :mod:`.kernels_predict`, :mod:`.occupancy` and :mod:`.blocks` (02; the last for
Triton), :mod:`.edf` (03), :mod:`.graph` and :mod:`.stability` (04), :mod:`.apps` and :mod:`.conv` (05)."""
