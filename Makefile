# newswatch: every target creates .venv and installs the project into it when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-stamp
SAMPLES ?= $(abspath ../shared/dw-samples)

.PHONY: demo run web test bench lint format clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(INSTALLED)

demo: $(INSTALLED)  ## the offline DW sample site: crawl, match, digest into a Maildir; then how to serve the web app
	$(BIN)/newswatch demo

run: $(INSTALLED)  ## the real service against dw.com (creates newswatch.toml when missing)
	test -f newswatch.toml || $(BIN)/newswatch init newswatch.toml
	$(BIN)/newswatch --config newswatch.toml run

web: $(INSTALLED)  ## the web app alone on newswatch.toml's database and [web] listen
	$(BIN)/newswatch --config $${NEWSWATCH_CONFIG:-newswatch.toml} web

test: $(INSTALLED)  ## the test suite (real parts on loopback; Debian chromium installed when missing)
	NEWSWATCH_DW_SAMPLES=$${NEWSWATCH_DW_SAMPLES:-$(SAMPLES)} $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(INSTALLED)  ## benchmarks: a table and JSON lines each
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: $(INSTALLED)  ## ruff (lint and format) and mypy (strict on store/, alerts/ and web/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) demo-output test-artifacts .pytest_cache
