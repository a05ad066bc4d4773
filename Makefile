# The two commands of the README's quick start, and the benchmarks. Each sets everything up itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench install chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs the package (not editable: tests run against what a user installs) with its test extras.
install: $(BIN)/python
	$(BIN)/python -m pip install --quiet '.[test]'

demo: install
	$(BIN)/crmsync demo

# The report's browser test renders it in Debian's headless Chromium (and the DejaVu font the page names first):
# installed here when missing, as root; idempotent.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }

test: install chromium
	$(BIN)/pytest -n 2 -m "not slow" tests

bench: install
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/pytest -m slow tests
