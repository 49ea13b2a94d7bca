# The README's set-up commands. torch is pinned here: an unpinned torch makes pip fetch the CUDA build.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-serve install-dev install-hintauc browser serve demo test clean
.SECONDARY:  # keep the stamp files

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)" -e ".[train,data]"

# Each extra is installed once and again only when pyproject.toml changes (a stamp file in the venv): the install
# is editable, so code changes need no reinstall, and restarting `make serve` starts the server at once.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)" -e ".[$*]"
	@touch $@

install-serve: $(VENV)/.installed-serve

install-dev: browser $(VENV)/.installed-dev

# `autopainter evaluate --protocol hintauc` (Hint-AUC). hintauc goes in without its own requirements: it asks for
# opencv-python, whose cv2 module would overwrite our opencv-python-headless (the same module; the headless build
# serves every call hintauc makes), and for fil_finder and astropy<6 (numpy<2), which only its non-deterministic
# path_method="filfinder" uses. The [hintauc] extra holds what the protocol does use. Not part of install-dev or CI.
HINTAUC := hintauc==0.3.3
install-hintauc: $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)" -e ".[hintauc]"
	$(BIN)/pip install -q --no-deps "$(HINTAUC)"
	$(BIN)/python -c "import cv2, hintauc; print('hintauc', hintauc.__version__, 'with cv2', cv2.__version__)"

# The browser test drives Debian's chromium through Playwright (its own browser download needs internet).
# As root it is installed when missing; otherwise install it yourself (apt-get install chromium).
CHROMIUM ?= $(or $(AUTOPAINTER_CHROMIUM),/usr/bin/chromium)
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (apt-get) for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; \
	  else echo "note: $(CHROMIUM) is missing, so the browser test will fail: apt-get install chromium (or set AUTOPAINTER_CHROMIUM)"; fi; \
	fi

# The web app at http://$(HOST):$(PORT)/ with the bundled model (MODEL=DIR for another model folder).
serve: $(VENV)/.installed-serve
	@echo "starting Auto-Painter at http://$(HOST):$(PORT)/ (Ctrl+C stops it)"
	$(BIN)/autopainter serve --host $(HOST) --port $(PORT) $(if $(MODEL),--model $(MODEL))

# The training pipeline in seconds: train the tiny preset on the example pairs, export it, and color the
# example sketches into demo/out/ (it shows the pipeline, not quality: the bundled model is the quality one).
demo: install
	rm -rf demo && mkdir -p demo
	$(BIN)/autopainter train --config tiny --data examples/pairs --set train.runs_dir=demo/runs --set train.epochs=40 --set data.image_size=64 --set data.load_size=72 -q
	$(BIN)/autopainter export $$(ls -d demo/runs/*-tiny | tail -n 1) -o demo/model
	$(BIN)/autopainter colorize examples/sketches -o demo/out --model demo/model
	@echo "colored sketches: demo/out/"

test: browser $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -m ""

clean:
	rm -rf demo runs .pytest_cache
