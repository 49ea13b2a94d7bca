# The README's set-up commands. torch is pinned here: an unpinned torch makes pip fetch the CUDA build.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev demo test clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)" -e ".[train,data]"

install-dev: $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)" -e ".[dev]"

# The main job (until the bundled model and web app land): train the tiny preset on the example pairs,
# export it, and color the example sketches into demo/out/.
demo: install
	rm -rf demo && mkdir -p demo
	$(BIN)/autopainter train --config tiny --data examples/pairs --set train.runs_dir=demo/runs --set train.epochs=40 --set data.image_size=64 --set data.load_size=72 -q
	$(BIN)/autopainter export $$(ls -d demo/runs/*-tiny | tail -n 1) -o demo/model
	$(BIN)/autopainter colorize examples/sketches -o demo/out --model demo/model
	@echo "colored sketches: demo/out/"

test: install-dev
	$(BIN)/python -m pytest -q

clean:
	rm -rf demo runs .pytest_cache
