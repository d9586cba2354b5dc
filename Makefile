# mlmkit — quick start: `make demo` and `make test` on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-demo
DB ?= data/demo.duckdb

.PHONY: install demo test lint typecheck pytest bench soak docs clean deploy-test

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo needs only the chart and report extras (no JupyterLab, Playwright, mypy, mkdocs);
# a venv that already has the dev set satisfies it without installing anything.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[demo]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/mlmkit demo --db $(DB) --out reports/demo_report.html

lint: $(STAMP)
	$(BIN)/ruff check mlmkit tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy mlmkit

pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 mlmkit tests

test: lint typecheck pytest

soak: $(STAMP)
	rm -f reports/soak.duckdb reports/soak.duckdb.wal
	mkdir -p reports
	$(BIN)/mlmkit simulate --db reports/soak.duckdb --days 30

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

# The Ansible role applied to a booted Debian under systemd-nspawn (root; ~5 min, debootstrap
# cached in ~/.cache/mlmkit-deploy): not part of `make test`.
deploy-test: $(STAMP)
	PY=$(abspath $(BIN)/python) deploy/test/real_systemd.sh

clean:
	rm -rf $(VENV) site reports .pytest_cache .mypy_cache .ruff_cache
