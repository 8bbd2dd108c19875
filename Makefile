# The course's commands. `make lab` opens the course, `make test` runs every test,
# `make book` renders the executed notebooks to HTML in build/book/, `make slides` each lesson as
# reveal.js slides in build/slides/ (both offline), `make test-browser` runs every notebook in
# JupyterLab in a headless Chromium.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
KERNEL := learning-the-data-distribution
STAMP  := $(VENV)/.installed

.PHONY: lab test test-browser test-notebooks test-oldest book slides setup strip lint benchmark bench mutants clean

setup: $(STAMP)

# One venv, reused: reinstalled only when the requirements (or this file) change. The Jupyter kernel
# is installed into the venv (--sys-prefix), not per user: two clones on one machine each run their
# own kernel, and deleting one clone cannot leave the other with a kernel that points at nothing.
$(STAMP): requirements.txt pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) \
	    --display-name "Python (Learning the data distribution)"
	@touch $(STAMP)

lab: $(STAMP)
	cd notebooks && ../$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 \
	    $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# Unit tests of helpers + every notebook executed by nbval in fast mode, two at a time.
test: $(STAMP)
	COURSE_FAST=1 COURSE_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest tests notebooks \
	    --nbval-lax --nbval-current-env --nbval-cell-timeout=300 \
	    -n 2 --dist loadfile -p no:cacheprovider -q

# JupyterLab in a real (headless) Chromium: every notebook opened and run from the Run menu in fast
# mode, then checked as a student sees it; the book and slides opened with the network blocked.
# Screenshots and per-notebook timings: build/screenshots/. Skips with one line without Chromium.
CHROMIUM := $(shell command -v chromium || command -v chromium-browser || command -v google-chrome)
CHROMEDRIVER := $(shell command -v chromedriver)

test-browser: $(STAMP)
ifeq ($(and $(CHROMIUM),$(CHROMEDRIVER)),)
	@echo "test-browser: skipped, no Chromium/chromedriver found (Debian/Ubuntu: sudo apt-get install chromium chromium-driver)"
else
	COURSE_FAST=1 COURSE_THREADS=1 $(BIN)/python -m pytest browser_tests -p no:cacheprovider -q
endif

book: $(STAMP)
	$(BIN)/python scripts/build_book.py

slides: $(STAMP)
	$(BIN)/python scripts/build_slides.py

benchmark: $(STAMP)
	$(BIN)/python benchmarks/estimators.py

# Every table: estimators vs scikit-learn/SciPy, notebook times (fast and full), lesson 13's
# comparison, every shipped deep model from its checkpoint (benchmarks/models.py); each file in benchmarks/results/ starts with the machine, cores, versions and date.
bench: $(STAMP)
	$(BIN)/python benchmarks/estimators.py --out benchmarks/results/estimators.md
	$(BIN)/python benchmarks/notebooks.py --out benchmarks/results/notebooks.md \
	    --tables benchmarks/results/model_comparison.md
	$(BIN)/python benchmarks/models.py --out benchmarks/results/models.md

# Strip outputs and set the course kernel before committing notebooks.
strip: $(STAMP)
	$(BIN)/python scripts/clean_notebooks.py notebooks/*.ipynb

lint: $(STAMP)
	$(BIN)/python -m ruff check helpers tests scripts benchmarks notebooks browser_tests

# Every notebook executed twice in one offline kernel (deterministic checked numbers, Run All twice);
# `make test` does this for a cheap subset only (tests/test_notebooks_run.py says which and why).
test-notebooks: $(STAMP)
	COURSE_TWICE=all COURSE_FAST=1 COURSE_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest \
	    tests/test_notebooks_run.py -m notebooks -n 2 -p no:cacheprovider -q

# The unit tests against the LOWEST versions requirements.txt admits for the core libraries
# (a separate venv in build/oldest-venv; pip downloads, minutes). Not part of `make test`.
OLDEST     := build/oldest-venv
OLDEST_PKG := numpy|scipy|scikit-learn|matplotlib|torch|torchvision
test-oldest:
	@mkdir -p build
	grep -E '^($(OLDEST_PKG))>=' requirements.txt | sed 's/>=/==/' > build/oldest-constraints.txt
	@cat build/oldest-constraints.txt
	@test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet -c build/oldest-constraints.txt -r requirements.txt
	$(OLDEST)/bin/python -m pip list 2>/dev/null | grep -iE '^($(OLDEST_PKG)) '
	COURSE_FAST=1 COURSE_THREADS=1 MPLBACKEND=Agg PYTHONPATH=$(CURDIR) $(OLDEST)/bin/python -m pytest tests \
	    -m "not notebooks" -p no:cacheprovider -q

# Mutation testing of the checks, the metrics and the estimators with the unit tests as the
# oracle (mutmut; slow: run it alone, e.g. under the shared training lock). Not part of `make test`.
mutants: $(STAMP)
	$(BIN)/python scripts/mutants.py

clean:
	rm -rf build .pytest_cache mutants
