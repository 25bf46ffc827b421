# coursekit: `make lab` opens the course, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.coursekit-installed
CONSTRAINTS := requirements/constraints.txt
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 900
PIP_QUIET ?= -q
# JupyterLab refuses to run as root unless told to (containers and CI run as root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup lab test test-unit test-notebooks sync notebooks info bench release clean

setup: $(STAMP)  ## create .venv with coursekit and its test tools

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip
	$(BIN)/python -m pip install $(PIP_QUIET) -c $(CONSTRAINTS) -e '.[dev,opencl]'
	@touch $@
	@echo "coursekit is set up in $(VENV)"

lab: setup  ## open the course in JupyterLab at notebook 01
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/01_gpu_basics.ipynb

test: setup  ## unit tests + every notebook under nbval, in quick mode
	COURSEKIT_QUICK=1 $(BIN)/python -m pytest tests coursekit --doctest-modules $(NOTEBOOKS) $(NBVAL) -rs

test-unit: setup
	COURSEKIT_QUICK=1 $(BIN)/python -m pytest tests coursekit --doctest-modules -rs

test-notebooks: setup
	COURSEKIT_QUICK=1 $(BIN)/python -m pytest $(NOTEBOOKS) $(NBVAL)

sync: setup  ## bring each notebook and its py:percent twin in step
	$(BIN)/jupytext --sync notebooks/*.ipynb

notebooks: sync  ## re-execute every notebook in quick mode (its outputs are nbval's reference)
	for nb in $(NOTEBOOKS); do \
	  COURSEKIT_QUICK=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=900 "$$nb" || exit 1; \
	done
	$(BIN)/jupytext --sync notebooks/*.ipynb

info: setup
	$(BIN)/coursekit info

release: setup  ## build the student version of every notebook into release/
	$(BIN)/coursekit release --out release

bench: setup  ## measure this machine's roofline and kernels into bench-results/
	$(BIN)/coursekit bench --out bench-results

clean:
	rm -rf $(VENV) .pytest_cache
