# Two commands do all the set-up on a fresh machine:
#   make demo   open napari on a sample photo with the Fuzzy People panel
#   make test   run the whole test suite headless (Xvfb)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra, redone whenever pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	touch $@

demo: $(VENV)/.installed-napari
	$(BIN)/python -m napari_fuzzy_people._napari.demo

test: $(VENV)/.installed-testing
	bash scripts/install-system-deps.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-testing
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.installed-testing
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-testing
	$(BIN)/python benchmarks/bench_scramble.py

screenshots: $(VENV)/.installed-testing
	bash scripts/install-system-deps.sh
	$(BIN)/python scripts/make_figures.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis .ruff_cache
