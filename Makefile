# The two commands of the README's quick start, and the benchmarks. Each sets everything up itself, once:
# the package is reinstalled only when what it is built from changed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

# What the installed package is made of: its metadata and dependencies (pyproject.toml) and every file of
# the packages and of the data shipped with them. The stamp is named after a hash of their names and
# contents, so the second `make test` starts testing at once, and an edit (or a checkout that changes a
# file) reinstalls, whatever the files' dates say.
PACKAGE_FILES := pyproject.toml \
	$(shell find sync connectors config -type f ! -path '*/__pycache__/*' ! -name '*.py[co]' | LC_ALL=C sort)
PACKAGE_KEY   := $(shell $(PYTHON) -c "import hashlib, sys; h = hashlib.sha256(); \
	[h.update(p.encode() + b'\0' + open(p, 'rb').read()) for p in sys.argv[1:]]; print(h.hexdigest()[:16])" \
	$(PACKAGE_FILES))
STAMP := $(VENV)/.installed-$(PACKAGE_KEY)

.PHONY: demo test bench install chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs the package (not editable: tests run against what a user installs) with its test extras.
# setuptools builds in ./build and never empties it: a module deleted from the sources (or left there by
# another branch) would still be copied into the wheel, so the build starts from nothing.
$(STAMP): $(BIN)/python
	rm -f $(VENV)/.installed-*
	rm -rf build
	$(BIN)/python -m pip install --quiet '.[test]'
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/crmsync demo

# The report's browser test renders it in Debian's headless Chromium (and the DejaVu font the page names first):
# installed here when missing, as root; idempotent.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }

test: install chromium
	$(BIN)/pytest -n 2 -m "not slow" tests

# The soak tests run even when a benchmark failed; the target fails if either did.
bench: install
	status=0; $(BIN)/python benchmarks/run_all.py || status=$$?; $(BIN)/pytest -m slow tests && exit $$status
