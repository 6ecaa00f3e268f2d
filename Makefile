# The two commands of the README: `make demo` and `make test` (lint, then the tests). Both install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first and pinned: 2.13.0 is a CPU build on these machines' disk; a loose
# requirement would pull a multi-GB CUDA build.
TORCH_VERSION ?= 2.13.0

.PHONY: install demo lint format test test-fast clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e '.[dev]'

demo: install
	$(BIN)/thresher demo --output demo-out

# ruff (format check and lint, rules in pyproject.toml) and a type check of the contracts package
lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy contracts

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) demo-out .pytest_cache
