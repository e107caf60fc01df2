# One-command set-up: `make demo` and `make test` work alone on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOGREG := $(VENV)/bin/logreg
# Re-install when the project's declared dependencies change.
STAMP := $(VENV)/.installed
DATA := examples/breast_cancer/breast_cancer.csv

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: 2.13.0 is the CPU build on this machine's disk; any other spec pulls a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[train,dev]'
	touch $(STAMP)

demo: install
	$(LOGREG) train $(DATA) --label diagnosis --out artifacts/breast_cancer

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PY) bench/train.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
