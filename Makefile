# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint format venv messages clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

messages: $(STAMP)
	@cd casework && ../$(PY) ../manage.py compilemessages --verbosity 0
	@cd dsar && ../$(PY) ../manage.py compilemessages --verbosity 0
	@cd exporters && ../$(PY) ../manage.py compilemessages --verbosity 0

run: $(STAMP) messages
	$(PY) -m config.devserver

test: $(STAMP) messages
	$(VENV)/bin/ruff check .
	bash scripts/ensure-chromium
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP) messages
	$(PY) -m benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var/ .ruff_cache .hypothesis
