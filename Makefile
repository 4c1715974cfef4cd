# Every target sets up what it needs, so a fresh clone runs `make run` or `make test` directly.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/pm/v1/*.proto)
GEN := pm/v1/.generated
# The browser board (web/): npm packages from its lockfile, code generated from proto/,
# bundled into web/dist; rebuilt when its sources, lockfile or the protos change.
WEB := web/dist/app.js
WEB_SRC := $(shell find web/src web/static -type f -not -path 'web/src/gen/*' 2>/dev/null)
TEST_ARGS ?=

.PHONY: setup proto web run run-cluster test fuzz lint typecheck check bench bench-quick soak clean

setup: $(STAMP) $(GEN) $(WEB)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Generated code is not committed: it is rebuilt from proto/ whenever a .proto changes.
$(GEN): $(STAMP) $(PROTOS)
	rm -rf pm
	mkdir -p pm/v1
	$(PY) -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. $(PROTOS)
	touch pm/__init__.py pm/v1/__init__.py pm/py.typed
	touch $(GEN)

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

$(WEB): $(STAMP) web/node_modules/.package-lock.json web/build.sh web/tsconfig.json $(WEB_SRC) $(PROTOS)
	sh web/build.sh

web: $(WEB)

proto: $(STAMP)
	rm -f $(GEN)
	$(MAKE) $(GEN)

run: setup
	$(PY) -m server --dev

# Two servers on one data directory joined by a local redis-server (scripts/cluster.py).
run-cluster: setup
	$(PY) -m scripts.cluster

test: setup
	$(PY) -m pytest -q $(TEST_ARGS)

# The model-based random run at 10,000 steps and the handler fuzz at 100,000 cases
# (tests/test_model_random.py, tests/test_handler_fuzz.py); each prints its tally.
fuzz: setup
	PM_FUZZ=1 PM_FUZZ_SUMMARY=1 $(PY) -m pytest -q -s --timeout=0 tests/test_model_random.py tests/test_handler_fuzz.py

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy

check: lint typecheck test

# The benchmark's Node load generator; installed from its lockfile when missing or stale.
BENCH_NODE := scripts/bench/node_modules/.package-lock.json

$(BENCH_NODE): scripts/bench/package-lock.json
	cd scripts/bench && npm ci --no-audit --no-fund --loglevel=error

# pm-server against the bare stack (scripts/bench/); prints a table, writes bench/latest.json.
bench: setup $(BENCH_NODE)
	$(PY) -m scripts.bench
	$(PY) -m scripts.bench_cycle_check

# The same figures with fewer, shorter repetitions (under 10 minutes on 2 cores).
bench-quick: setup $(BENCH_NODE)
	$(PY) -m scripts.bench --quick

# 500 simulated clients for 10 minutes on a fresh server (scripts/soak/); exit 1 on a leak.
soak: setup
	$(PY) -m scripts.soak --clients 500 --seconds 600

clean:
	rm -rf $(VENV) pm .pytest_cache .mypy_cache .ruff_cache
