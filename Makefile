# Two entry points for people: `make run` and `make test`. Everything else is plumbing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SYSDEPS := tinyproxy chromium postgresql

.PHONY: run test lint types unit sysdeps venv venv-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# refreshed whenever pyproject.toml changes
$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.stamp-run

venv: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test

run: venv
	$(BIN)/llmrelay serve

sysdeps:
	@missing=""; for p in $(SYSDEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: venv-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

types: venv-test
	$(BIN)/mypy src

unit: venv-test sysdeps
	$(BIN)/pytest

test: venv-test sysdeps lint types unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
