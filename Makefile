# make setup  - install system packages (Debian) and the Python package with its dependencies
# make demo   - set up, then run the offline demo (simulated survey) end to end with its report
# make test   - run the test suite
# make lint   - ruff check, ruff format --check, snakefmt --check, snakemake --lint
PYTHON ?= python3
CORES ?= 2
DEMO_CONFIG ?= config/demo.yaml

.PHONY: setup demo test lint bench

setup:
	bash tools/install-system-packages.sh
	$(PYTHON) -m pip install -e ".[test]" -c tools/constraints.txt

demo: setup
	snakemake --cores $(CORES) --configfile $(DEMO_CONFIG)
	snakemake --cores 1 --configfile $(DEMO_CONFIG) --report results/demo/report.html

test:
	$(PYTHON) -m pytest -q

STYLE_PATHS = rassflow workflow/scripts tests benchmarks tools
WORKFLOW_FILES = workflow/Snakefile workflow/rules

lint:
	ruff check $(STYLE_PATHS)
	ruff format --check $(STYLE_PATHS)
	snakefmt --check $(WORKFLOW_FILES)
	@out=$$(snakemake --lint --configfile $(DEMO_CONFIG) 2>&1); status=$$?; \
	if [ $$status -ne 0 ] || echo "$$out" | grep -q "Lints for"; then \
		echo "$$out"; echo "snakemake --lint found problems"; exit 1; fi; echo "snakemake --lint: clean"
