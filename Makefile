# One set of commands for the README, developers and CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup system-deps demo test check lint types bench model schema clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: system-deps $(STAMP)

system-deps:
	./scripts/system-deps.sh

demo: setup
	$(BIN)/streetsense demo

test: setup
	$(BIN)/python -m pytest -q

check: setup lint types

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types:
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m benchmarks.run_all

model: setup
	$(BIN)/pip install -q -e '.[model]'
	$(BIN)/python -m models.fight.build

schema: $(STAMP)
	$(BIN)/python -m events.schema

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
