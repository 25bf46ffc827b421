"""The instructor's tools, which the student edition does not ship: build the student version
and grade a submission (:mod:`.assignments`), the nbgrader course (:mod:`.nbgrader_course`), the
student edition and its checks (:mod:`.publish`, :mod:`.edition_check`, :mod:`.edition_venv`),
and the hidden tests' checkers (:mod:`.hidden`)."""
