# The two commands a newcomer needs: `make demo` and `make test` (see README.md).
VENV    ?= .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
CORES   ?= 2
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test venv full dry-run lint bench clean-demo

# The venv is rebuilt only when the lock, the constraints or the package metadata change.
$(VENV)/.installed: requirements.lock constraints.txt pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock -c constraints.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.installed

## demo: set up, run the whole demo DAG offline on CPU, build the report and open it
demo: venv
	snakemake --cores $(CORES) --configfile config/demo.yaml
	@echo "Report files (report.pdf only where pdflatex is installed):"
	@for f in report/demo/report.html report/demo/report.pdf report/demo/report.md report/demo/report.tex; do \
		if [ -f "$$f" ]; then echo "  $$f"; fi; done
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
	rm -rf results/demo report/demo logs/demo
