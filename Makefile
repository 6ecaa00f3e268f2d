# The two commands of the README: `make demo` and `make test` (lint, then the tests). Both install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first and pinned: 2.13.0 is a CPU build on these machines' disk; a loose
# requirement would pull a multi-GB CUDA build.
TORCH_VERSION ?= 2.13.0

.PHONY: install check-install demo report lint format test test-fast clean

# The pip that $(PYTHON) ships, not upgraded: what a user's `python -m venv` gets. An upgrade here
# once hid a package the code needs that only a newer pip installed (lxml_html_clean).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e '.[dev]'

# An install from nothing into a throwaway environment, as a user does it, then every module
# imported: a package the code needs but pyproject.toml does not declare fails here, not at run
# time. ~2 min with a package mirror (tests/test_hostile_supply.py does a lighter one, torch left out).
CHECK_VENV ?= /tmp/thresher-check-install
IMPORT_ALL := import importlib, pkgutil, trafilatura, thresher.cli; [importlib.import_module(m.name) \
	for p in ("contracts", "filters", "pipelines", "tokenizer", "trainer", "demo") \
	for m in pkgutil.iter_modules(importlib.import_module("thresher." + p).__path__, f"thresher.{p}.")]
check-install:
	rm -rf $(CHECK_VENV)
	$(PYTHON) -m venv $(CHECK_VENV)
	$(CHECK_VENV)/bin/pip --version
	$(CHECK_VENV)/bin/pip install --quiet torch==$(TORCH_VERSION)
	$(CHECK_VENV)/bin/pip install --quiet -e '.[dev]'
	cd $(CHECK_VENV) && bin/python -c '$(IMPORT_ALL)'
	rm -rf $(CHECK_VENV)

demo: install
	$(BIN)/thresher demo --output demo-out

# The demo run's report (demo-out/report.html; the demo first, if it has not run) and the README's
# screenshot of it, docs/report.png, by headless Chromium (Debian's `chromium`, which .ci/run installs).
CHROMIUM ?= chromium
report: install
	test -f demo-out/curated-run/stats.json || $(BIN)/thresher demo --output demo-out
	$(BIN)/thresher report demo-out/curated-run --tokenizer demo-out/tokenizer -o demo-out/report.html
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
		--hide-scrollbars --window-size=1200,1400 --screenshot=$(CURDIR)/docs/report.png \
		file://$(CURDIR)/demo-out/report.html 2>/dev/null

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
