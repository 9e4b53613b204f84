# offload: one command sets up, one runs the demo, one runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export AWS_EC2_METADATA_DISABLED := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup chromium test test-unit fuzz chaos load lint synth layers demo local bench bench-video bench-api deploy lock clean

setup: $(STAMP) node_modules/.installed chromium

# The console's browser tests drive Debian's Chromium (Playwright never downloads a browser here).
chromium:
	@command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium) \
	  || { echo "make setup: install Debian's chromium (apt-get install chromium) for the console's browser tests" >&2; exit 1; }

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip==25.3
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: setup
	$(BIN)/pytest

test-unit: setup
	$(BIN)/pytest tests/unit

# The fuzzers with many random examples (`make test` runs a few fixed ones): worker messages, catalogs, media probes.
fuzz: setup
	HYPOTHESIS_PROFILE=chaos $(BIN)/pytest --timeout 3600 tests/unit/test_fuzz_catalog.py tests/integration/test_fuzz_worker.py tests/integration/test_fuzz_media.py

# Fault scenarios on the local cloud (duplicates, workers killed, timeouts, throttling, send errors, Redis restarted,
# provider 429/5xx/slow/never, jobs past SQS's 15-minute delay), one table, then the fuzzers with many examples:
# about 40 minutes (`bench/chaos.py --quick` skips the 16-minute long-delay scenario).
chaos: setup
	$(BIN)/python bench/chaos.py
	$(MAKE) fuzz

# 10,000 mixed jobs through the local cloud: every record terminal, nothing lost, >= 50 jobs/s (a few minutes).
load: setup
	$(BIN)/python bench/load.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: setup
	$(BIN)/python -m offload.local.demo

local: setup
	$(BIN)/offload local up

layers: setup
	$(BIN)/python -m offload.cdk.layers

synth: setup
	$(BIN)/python app.py

deploy: setup
	npx cdk deploy --require-approval broadening

bench: setup
	$(BIN)/python bench/job_overhead.py

# The video pipeline against one ffmpeg command: CPU, parallel wall time, VMAF, cost (docs/cost.md).
# A 60 s 1080p run takes several minutes on 2 CPUs; `$(BIN)/python bench/video.py --quick` is a smoke run.
bench-video: setup
	$(BIN)/python bench/video.py

# The HTTP API on the local cloud: 50 concurrent clients, p50/p99 against the in-process calls (docs/api.md).
bench-api: setup
	$(BIN)/python bench/api.py

lock: setup
	$(BIN)/pip freeze --exclude-editable | grep -viE '^(pip|setuptools|wheel)==' \
	  | sed '1i # Every transitive dependency, pinned (pip install -c constraints.txt). Regenerate with `make lock`.' > constraints.txt

clean:
	rm -rf $(VENV) node_modules cdk.out layers/runtime/build layers/app/build .offload demo-output .pytest_cache .mypy_cache .ruff_cache
