# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each bootstraps .venv (with uv from PyPI), installs what it needs, then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/uv
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: demo test lint format install install-dev bench clean browser

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(VENV)/.installed: pyproject.toml | $(BIN)/uv
	$(UV) pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/uv
	$(UV) pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## demo: build a demo workspace from the simulator and serve it (ARGS=--no-serve for scripts)
demo: install
	$(BIN)/spendlab demo --force $(ARGS)

## browser: Debian's chromium for the browser tests (Playwright cannot download one here)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium from Debian for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

## test: lint, architecture contracts, then the whole suite (PostgreSQL clusters and the
## dashboard server are started by the tests themselves)
test: install-dev lint browser
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install-dev
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/attribution.py
	$(BIN)/python bench/rules.py
	$(BIN)/python bench/mmm.py
	$(BIN)/python bench/optimizer.py
	$(BIN)/python bench/allocator.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis demo-workspace test-results test-output
