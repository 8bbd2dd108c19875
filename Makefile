# The course's commands. `make lab` opens the course, `make test` runs every test,
# `make book` renders the executed notebooks to HTML in build/book/.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
KERNEL := learning-the-data-distribution
STAMP  := $(VENV)/.installed

.PHONY: lab test book setup strip lint benchmark clean test-oldest mutants test-notebooks

setup: $(STAMP)

# One venv, reused: reinstalled only when the requirements change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) \
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

book: $(STAMP)
	$(BIN)/python scripts/build_book.py

benchmark: $(STAMP)
	$(BIN)/python benchmarks/estimators.py

# Strip outputs and set the course kernel before committing notebooks.
strip: $(STAMP)
	$(BIN)/python scripts/clean_notebooks.py notebooks/*.ipynb

lint: $(STAMP)
	$(BIN)/python -m ruff check helpers tests scripts benchmarks notebooks

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
