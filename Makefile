# Two entry points for people: `make run` and `make test`. Everything else is plumbing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SYSDEPS := tinyproxy chromium postgresql

.PHONY: run test lint types unit soak sysdeps venv venv-test local-llm wheelhouse bench clean vendor axe

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

# The local model (SmolLM2-135M via llama-cpp-python) that `make run` serves and the e2e
# tests use. llama-cpp-python is compiled once (~5 min) into a cache outside the repo that
# survives fresh clones and `make clean` (XDG_CACHE_HOME or ~/.cache, then llmrelay/wheels);
# versions are pinned in the script.
LOCAL_LLM_PORT ?= 8081
# `make run PORT=5602`: another port for llmrelay. Taken from the command line only (a shell
# variable PORT is often meant for something else); without it LLMRELAY_PORT, the settings
# file or 5601 apply. The data dir is LLMRELAY_HOME (default ./.llmrelay).
RUN_PORT = $(if $(filter command line,$(origin PORT)),--port $(PORT))
$(VENV)/.stamp-local-llm: scripts/local_llm_setup.py | $(BIN)/python
	$(BIN)/python scripts/local_llm_setup.py
	touch $@

local-llm: $(VENV)/.stamp-local-llm

run: venv local-llm
	$(BIN)/llmrelay serve $(RUN_PORT) --with-local-llm --local-llm-port $(LOCAL_LLM_PORT)

# Wheels of all that `pip install .` and `make run` install: the base dependencies from
# pyproject.toml, its build backend (with `editables`, which it asks for on `pip install
# -e`), the local model's runtime and the model. The install tests (tests/install,
# tests/e2e/test_make_run.py) install from here with PIP_NO_INDEX=1, so they prove a plain
# install works without reaching the network.
WHEELHOUSE := $(VENV)/wheelhouse
$(VENV)/.stamp-wheelhouse: pyproject.toml Makefile scripts/local_llm_setup.py | $(BIN)/python
	$(BIN)/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
	  print("\n".join([*p["build-system"]["requires"], "editables", *p["project"]["dependencies"]]))' \
	  > $(VENV)/wheelhouse.txt
	$(BIN)/pip wheel -q -w $(WHEELHOUSE) -r $(VENV)/wheelhouse.txt
	$(BIN)/python scripts/local_llm_setup.py --wheels $(WHEELHOUSE)
	touch $@

wheelhouse: $(VENV)/.stamp-wheelhouse

sysdeps:
	@missing=""; for p in $(SYSDEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Browser libraries from the npm registry. Chart.js and its zoom plugin (the dashboard's
# charts) are committed under src/llmrelay/web/static/vendor/ with their licences, so
# `pip install .` and a fresh clone's `make run` ship them without Node; `make vendor`
# refreshes them at the pinned versions.
# axe-core (accessibility checks in tests/ui) is a test tool: `make test` installs it here.
CHARTJS_VERSION := 4.5.1
KURKLE_COLOR_VERSION := 0.3.4
CHARTJS_ZOOM_VERSION := 2.2.0
AXE_VERSION := 4.10.3
NPM_DIR := $(VENV)/npm
VENDOR_DIR := src/llmrelay/web/static/vendor
AXE_JS := $(NPM_DIR)/node_modules/axe-core/axe.min.js

vendor:
	npm install --no-audit --no-fund --ignore-scripts --prefix $(NPM_DIR) \
	  chart.js@$(CHARTJS_VERSION) @kurkle/color@$(KURKLE_COLOR_VERSION) \
	  chartjs-plugin-zoom@$(CHARTJS_ZOOM_VERSION)
	mkdir -p $(VENDOR_DIR)
	sed '/^\/\/# sourceMappingURL=/d' $(NPM_DIR)/node_modules/chart.js/dist/chart.umd.min.js \
	  > $(VENDOR_DIR)/chart.umd.min.js
	cp $(NPM_DIR)/node_modules/chart.js/LICENSE.md $(VENDOR_DIR)/chart.js.LICENSE.md
	cp $(NPM_DIR)/node_modules/@kurkle/color/LICENSE.md $(VENDOR_DIR)/kurkle-color.LICENSE.md
	cp $(NPM_DIR)/node_modules/chartjs-plugin-zoom/dist/chartjs-plugin-zoom.min.js $(VENDOR_DIR)/
	cp $(NPM_DIR)/node_modules/chartjs-plugin-zoom/LICENSE.md $(VENDOR_DIR)/chartjs-plugin-zoom.LICENSE.md

$(AXE_JS): Makefile | $(BIN)/python
	npm install --no-audit --no-fund --ignore-scripts --prefix $(NPM_DIR) axe-core@$(AXE_VERSION)
	touch $@

axe: $(AXE_JS)

lint: venv-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

types: venv-test
	$(BIN)/mypy src

unit: venv-test sysdeps local-llm wheelhouse axe
	$(BIN)/pytest

test: venv-test sysdeps local-llm lint types unit

# The long reliability runs (not part of `make test`): property-based examples, fault storms
# and the kill -9 burst multiplied by SOAK (tests/helpers/soak.py; docs/reliability.md).
SOAK ?= 20
SOAK_TESTS := tests/reliability tests/domain/test_properties.py tests/transport/test_sse.py \
  tests/providers/test_common.py tests/execution/test_usage.py tests/execution/test_tokens.py \
  tests/store/test_events.py tests/store/test_event_writer.py
soak: venv-test sysdeps local-llm
	LLMRELAY_SOAK=$(SOAK) $(BIN)/pytest --timeout=0 $(SOAK_TESTS)

# Benchmarks (not part of `make test`): ~15 min; QUICK=1 for a short run. Results go to
# bench/results/<timestamp>.json and docs/performance.md. LiteLLM gets its own venv.
# BASELINE=<git ref> (e.g. origin/main) also runs that commit's llmrelay beside this one and
# reports current/baseline ratios against the 5% rule (bench/compare.py).
BENCH_LITELLM := bench/.venv-litellm
BASELINE ?=

$(VENV)/.stamp-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[bench]'
	touch $@ $(VENV)/.stamp-run

$(BENCH_LITELLM)/bin/litellm:
	$(PYTHON) -m venv $(BENCH_LITELLM)
	$(BENCH_LITELLM)/bin/pip install -q 'litellm[proxy]'

bench: $(VENV)/.stamp-bench $(BENCH_LITELLM)/bin/litellm
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python -m bench.run $(if $(QUICK),--quick) $(if $(BASELINE),--baseline $(BASELINE))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
