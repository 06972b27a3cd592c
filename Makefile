# foleycache: `make demo` runs the main job twice on a shared clip (a miss, then a hit);
# `make test` runs the whole suite. Both install what they need first (`make setup`).

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CLIPS ?= ../shared/media/clips
DEMO_CLIP ?= $(CLIPS)/sam2_01_dog.mp4
DEMO_PROMPT ?= a dog's paws padding and scratching on a wooden floor
APT_PACKAGES := ffmpeg redis-server fonts-dejavu-core
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-packages build demo test lint unit integration bench bench-report stack-down clean

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=""; \
	for bin in ffmpeg ffprobe redis-server; do command -v $$bin >/dev/null || missing=1; done; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing=1; \
	if [ -n "$$missing" ]; then \
	  echo "installing $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(APT_PACKAGES); \
	fi

# torch is installed first, pinned, so pip takes the local CPU wheel and never pulls CUDA.
$(VENV)/.installed: pyproject.toml
	[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[fingerprint,server,export,local,dev]'
	touch $@

# Every deployable artefact, offline (no Docker): sam build of the zip functions and
# layers, the container images' Python environments, sizes against Lambda's limits.
build: setup
	$(PY) infra/build/artefacts.py

demo: setup
	@$(VENV)/bin/foleycache stack down >/dev/null
	@echo "== first run (expect a miss: the model runs) =="
	@$(VENV)/bin/foleycache run "$(DEMO_CLIP)" --prompt "$(DEMO_PROMPT)" --out out
	@echo "== second run, same clip and prompt (expect a hit: no model call) =="
	@$(VENV)/bin/foleycache run "$(DEMO_CLIP)" --prompt "$(DEMO_PROMPT)" --out out
	@$(VENV)/bin/foleycache stack down >/dev/null

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers functions infra/inference infra/build bench

test: lint build
	$(VENV)/bin/pytest -q -p no:cacheprovider

unit: setup
	$(VENV)/bin/pytest -q tests/unit

# Every benchmark (bench/run_all.py lists them and their sizes), the cost model, then
# bench/REPORT.md; `make bench-report` rebuilds the report from bench/results alone.
bench: setup
	$(PY) bench/run_all.py

bench-report: setup
	$(PY) bench/report.py

stack-down:
	-$(VENV)/bin/foleycache stack down

clean: stack-down
	rm -rf out .foleycache bench/results/*.png
