# The two commands of the README's quick start, and the benchmarks. Each sets everything up itself, once:
# the package is reinstalled only when what it is built from changed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

# What the installed package is made of: its metadata and dependencies (pyproject.toml, setup.py when there
# is one) and every file of the packages and of the data shipped with them. The stamp is named after a
# hash of their names and contents, so the second `make test` starts testing at once, and an edit (or a
# checkout that changes a file) reinstalls, whatever the files' dates say.
PACKAGE_FILES := $(wildcard pyproject.toml setup.py MANIFEST.in) \
	$(shell find sync connectors config -type f ! -path '*/__pycache__/*' ! -name '*.py[co]' ! -name '*.so' | LC_ALL=C sort)
PACKAGE_KEY   := $(shell $(PYTHON) -c "import hashlib, sys; h = hashlib.sha256(); \
	[h.update(p.encode() + b'\0' + open(p, 'rb').read()) for p in sys.argv[1:]]; print(h.hexdigest()[:16])" \
	$(PACKAGE_FILES))
STAMP := $(VENV)/.installed-$(PACKAGE_KEY)

.PHONY: demo test bench install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs the package (not editable: tests run against what a user installs) with its test extras.
$(STAMP): $(BIN)/python
	rm -f $(VENV)/.installed-*
	$(BIN)/python -m pip install --quiet '.[test]'
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/crmsync demo

test: install
	$(BIN)/pytest -n 2 -m "not slow" tests

bench: install
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/pytest -m slow tests
