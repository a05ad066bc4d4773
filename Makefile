# The two commands of the README's quick start, and the benchmarks. Each sets everything up itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs the package (not editable: tests run against what a user installs) with its test extras.
install: $(BIN)/python
	$(BIN)/python -m pip install --quiet '.[test]'

demo: install
	$(BIN)/crmsync demo

test: install
	$(BIN)/pytest -n 2 -m "not slow" tests

bench: install
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/pytest -m slow tests
