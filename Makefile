# facealign: two commands on a fresh clone.
#   make run    set up .venv, run the whole pipeline (dvc repro) on the embedded default
#   make test   set up .venv, run the test suite
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export MPLBACKEND := Agg

.PHONY: setup run test test-slow lint bench clean-results exp

setup: $(STAMP)

$(STAMP): pyproject.toml
	@echo ">> setting up $(VENV) (first time takes a few minutes)"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	@$(VENV)/bin/python -m pip install -q -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither" || true
	@$(VENV)/bin/python -c "import facealign, commands, torch, pytorch_lightning, ray, mlflow, dvc, numba, importlinter" \
		|| { echo "installation of $(VENV) failed"; exit 1; }
	@touch $(STAMP)

run: setup
	@$(VENV)/bin/facealign pipeline

test: setup
	@$(VENV)/bin/lint-imports --no-cache
	@$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests

test-slow: setup
	@$(VENV)/bin/python -m pytest -q -m slow tests

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/lint-imports --no-cache

bench: setup
	@for b in bench/*.py; do echo ">> $$b"; $(VENV)/bin/python $$b; done

# `dvc exp show` with the columns that tell experiments apart: the preset and each model's NME mean
# (synthetic test set, then real faces); `make exp ARGS=--only-changed` etc.; more views in docs/dvc.md
exp: setup
	@$(VENV)/bin/dvc exp show --no-pager --drop '.*' --keep '^(Experiment|Created|State|preset)$$|.*nme_mean$$' $(ARGS)
