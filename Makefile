# WaveMSA — two commands do everything on a fresh machine:
#   make demo   set up, build the built-in data, train + evaluate a small WaveFormer on the CPU
#   make test   set up and run the test suite
# `make install` does only the set-up (core stack + OpenMMLab stack with a compiled, cached mmcv).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

CORE_STAMP := $(VENV)/.core-installed
MM_STAMP   := $(VENV)/.mm-installed

.PHONY: install install-core install-mm test test-fast demo demo-det demo-seg data lint complexity benchmark clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(CORE_STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $@

$(MM_STAMP): requirements-mm.txt tools/install_openmmlab.sh $(CORE_STAMP)
	bash tools/install_openmmlab.sh $(PY)
	touch $@

install-core: $(CORE_STAMP)
install-mm: $(MM_STAMP)
install: install-core install-mm

test: install
	$(PY) -m pytest -q tests

test-fast: install-core
	$(PY) -m pytest -q -m "not slow" tests

lint: install-core
	$(BIN)/ruff check .

complexity: install-core
	$(PY) tools/complexity.py

clean:
	rm -rf output work_dirs .pytest_cache
