# The two commands a newcomer needs: `make demo` and `make test` (see README.md).
VENV    ?= .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
CORES   ?= 2
export PATH := $(abspath $(BIN)):$(PATH)
SHELL   := /bin/bash

.PHONY: demo test venv full dry-run lint bench clean-demo

# The venv is rebuilt only when the lock, the constraints or the package metadata change.
$(VENV)/.installed: requirements.lock constraints.txt pyproject.toml
	@echo "Installing archlab's pinned packages into $(VENV): about 2.2 GB, 5-10 minutes, only when the lock changes."
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock -c constraints.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.installed

## demo: set up, run the whole demo DAG offline on CPU, build the report and open it
demo: venv
	@echo "Running the demo workflow on $(CORES) cores: about 10-15 minutes the first time, seconds when nothing changed."
	@set -o pipefail; snakemake --cores $(CORES) --configfile config/demo.yaml --quiet host 2>&1 \
		| $(PY) -m archlab.terminal progress
	@$(PY) -m archlab.terminal summary --profile demo
	@if [ -z "$$CI" ] && command -v xdg-open >/dev/null 2>&1 && [ -n "$$DISPLAY" ]; then xdg-open report/demo/report.html; fi

## test: the test suite (unit tests + a tiny end-to-end run of the pipeline)
test: venv
	$(PY) -m pytest -q

## full: the faithful profile (downloads data and weights; GPU recommended)
full: venv
	snakemake --cores $(CORES)

dry-run: venv
	snakemake -n --quiet rules && snakemake -n --quiet rules --configfile config/demo.yaml

lint: venv
	snakemake --lint && snakemake --lint --configfile config/demo.yaml

## bench: benchmarks that print speed ratios (not part of make test)
bench: venv
	$(PY) -m bench

clean-demo:
	rm -rf results/demo report/demo logs/demo metrics/demo plots/demo
