# coursekit: `make lab` opens the course, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two install levels in one .venv: what a student needs (make lab), and the instructor's and
# developer's tools on top (nbgrader, pytest, nbval, playwright, repo2docker, ruff).
STUDENT_STAMP := $(VENV)/.coursekit-student
DEV_STAMP := $(VENV)/.coursekit-dev
CONSTRAINTS := requirements/constraints.txt
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 900
PIP_QUIET ?= -q
# notebooks/*.py: the notebooks' jupytext twins, linted as pre-commit lints them; `ruff format` leaves them
# alone (pyproject.toml: [tool.ruff.format] exclude), so their layout stays the notebook's.
LINTED := coursekit tests benchmarks conftest.py $(sort $(wildcard notebooks/*.py))
# torch's OpenMP workers sleep when idle instead of spinning on the cores numpy's BLAS needs next
# (coursekit/machine/threads.py: 8.0 -> 0.5 ms for a torch + numpy matmul pair on 2 cores). Read once, when
# torch loads, so it is set here for every notebook run, and in the kernel spec by `coursekit jupyter-kernel`.
export OMP_WAIT_POLICY ?= PASSIVE
# JupyterLab refuses to run as root unless told to (containers and CI run as root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup setup-student lab test test-fast test-rest test-unit test-notebooks test-edition test-portable bench-frameworks lint fmt typecheck sync \
        notebooks notebook info bench gpu-lane memory release student student-check clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

setup-student: $(STUDENT_STAMP)  ## .venv with coursekit and what the notebooks need, nothing more

setup: $(DEV_STAMP)  ## .venv with coursekit, its test tools, nbgrader and the linter

$(STUDENT_STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip
	$(BIN)/python -m pip install $(PIP_QUIET) -c $(CONSTRAINTS) -e '.[opencl,triton]'
	$(BIN)/coursekit jupyter-kernel
	@touch $@
	@echo "coursekit (student set) is set up in $(VENV)"

$(DEV_STAMP): $(STUDENT_STAMP)
	$(BIN)/python -m pip install $(PIP_QUIET) -c $(CONSTRAINTS) -e '.[dev,opencl,triton]'
	@touch $@
	@echo "coursekit (developer set) is set up in $(VENV)"

lab: setup-student  ## open the course in JupyterLab at notebook 01
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/01_gpu_basics.ipynb

# Quick mode and passive OpenMP waiting are also set by conftest.py, so a bare `pytest` does the same.
FAST := -m "not ui and not slow and not notebook and not edition"
REST := -m "(ui or slow or notebook) and not edition"
RUN_FAST := COURSEKIT_QUICK=1 $(BIN)/python -m pytest tests coursekit --doctest-modules $(FAST)
RUN_REST := COURSEKIT_QUICK=1 $(BIN)/python -m pytest tests $(REST) $(NOTEBOOKS) $(NBVAL) -rs

test: setup  ## lint (ruff, mypy), the fast lane, then the slow tests, the browser test and every notebook under nbval
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(RUN_FAST) -q --durations=10
	$(RUN_REST) --durations=20

test-fast: setup  ## unit tests only (about 4 min on 2 cores): no notebooks, no browser, nothing marked slow
	$(RUN_FAST) -q

test-rest: setup  ## slow tests, the browser test, every notebook under nbval (make test's second half)
	$(RUN_REST)

test-edition: setup  ## the student edition installed in a fresh venv, every blank notebook run there (~4.5 min)
	COURSEKIT_QUICK=1 $(BIN)/python -m pytest tests -m edition -rs

# A student's least machine: AVX2 only (AVX-512 paths switched off), one CPU, no OpenCL driver.
test-portable: setup  ## every notebook under nbval as an AVX2-only, one-CPU machine without OpenCL runs it
	COURSEKIT_QUICK=1 COURSEKIT_NO_OPENCL=1 $(BIN)/python -m coursekit.machine.cpu_paths --avx2 --one-cpu -- \
	  $(BIN)/python -m pytest $(NOTEBOOKS) $(NBVAL) -q -p no:cacheprovider

# The frameworks' speed targets (issue 27) on this CPU; AVX2=1 runs them on the AVX2 code paths, as an
# AVX2-only CPU would (each prints the path every library took; both run even if the first misses).
FORCE_AVX2 := $(if $(AVX2),$(BIN)/python -m coursekit.machine.cpu_paths --avx2 --,)
bench-frameworks: setup  ## graph compiler vs numpy and torch.compile, EDF vs torch eager (AVX2=1: forced AVX2 paths)
	-$(FORCE_AVX2) $(BIN)/python benchmarks/graph_compiler.py
	$(FORCE_AVX2) $(BIN)/python benchmarks/edf_vs_torch.py --threads 1

test-unit: setup  ## unit tests (with the slow ones and the browser test)
	COURSEKIT_QUICK=1 $(BIN)/python -m pytest tests coursekit --doctest-modules -rs

test-notebooks: setup  ## every notebook under nbval, in quick mode
	COURSEKIT_QUICK=1 $(BIN)/python -m pytest $(NOTEBOOKS) $(NBVAL)

lint: setup  ## ruff (lint and formatting check) and mypy (type check of coursekit)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

fmt: setup  ## ruff: format and apply safe lint fixes (a fixed notebook twin is synced to its notebook)
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/jupytext --sync notebooks/*.ipynb

# Also run by `lint` and `test`; what it checks (coursekit) and how: pyproject.toml [tool.mypy].
typecheck: setup  ## mypy alone: static type check of coursekit
	$(BIN)/mypy

sync: setup  ## bring each notebook and its py:percent twin in step
	$(BIN)/jupytext --sync notebooks/*.ipynb

# Stored outputs are every reader's reference: refuse to store them on a busy machine (FORCE=1 overrides).
LOAD_CHECK := $(BIN)/python -c "import sys; from coursekit.machine import load; sys.exit(load.main(sys.argv[1:]))" $(if $(FORCE),,--check)
# Between notebooks, wait (up to 5 minutes) for the load the previous one left to fall.
LOAD_WAIT := $(LOAD_CHECK) $(if $(FORCE),,--wait 300)

notebook: setup  ## re-execute one notebook in quick mode and sync its twin: make notebook NB=03 (refuses on a busy machine; FORCE=1)
	@test -n "$(NB)" || { echo "usage: make notebook NB=03"; exit 2; }
	@$(LOAD_CHECK)
	@nb=$$(ls notebooks/$(NB)*.ipynb 2>/dev/null | head -1); \
	  test -n "$$nb" || { echo "no notebook matches notebooks/$(NB)*.ipynb"; exit 2; }; \
	  $(BIN)/jupytext --sync "$$nb" && \
	  COURSEKIT_QUICK=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=900 "$$nb" && \
	  $(BIN)/jupytext --sync "$$nb"

notebooks: sync  ## re-execute every notebook in quick mode (its outputs are nbval's reference; waits up to 5 min for quiet before each, then refuses on a busy machine; FORCE=1)
	for nb in $(NOTEBOOKS); do \
	  $(LOAD_WAIT) || exit 1; \
	  COURSEKIT_QUICK=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=900 "$$nb" || exit 1; \
	done
	$(BIN)/jupytext --sync notebooks/*.ipynb

info: setup-student  ## what hardware and backends coursekit sees here
	$(BIN)/coursekit info

release: setup  ## build the student version of every notebook into release/
	$(BIN)/coursekit release --out release

student: setup  ## write the student edition (released notebooks, coursekit, data, binder) into student-edition/
	$(BIN)/coursekit publish --out student-edition

student-check: setup  ## make student, then install the edition in a fresh venv and run its own test there
	$(BIN)/coursekit publish --out student-edition --check --venv build/student-venv

bench: setup-student  ## measure this machine's roofline and kernels into bench-results/
	$(BIN)/coursekit bench --out bench-results

memory: setup-student  ## each notebook's kernel peak memory in default mode, as Binder runs it (target <= 1.2 GB)
	$(BIN)/python benchmarks/notebook_memory.py

gpu-lane: setup  ## on a CUDA machine: every GPU path, the reference file and the notebooks at full size
	$(BIN)/python benchmarks/gpu_lane.py --notebooks --out gpu-lane

clean:  ## remove everything the Makefile creates
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache release student-edition bench-results build gpu-lane
