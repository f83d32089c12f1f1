# Two commands set up a fresh machine: `make train` (the whole pipeline on the built-in data set) and `make test`
# (the fast tiers: tests/unit, tests/contract); `make test-all` runs every tier, tests/e2e too (what CI runs,
# after `make lint`).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test test-all lint clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

train: $(STAMP)
	$(PY) train.py $(ARGS)

test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 tests/unit tests/contract $(ARGS)  # two workers, one thread each

test-all: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q $(ARGS)  # one thread: results bit-equal whatever else runs

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) runs
