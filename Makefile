# make setup  - install system packages (Debian) and the Python package with its dependencies
# make demo   - set up, then run the offline demo (simulated survey) end to end with its report
# make test   - run the test suite
# make lint   - ruff and snakemake --lint
PYTHON ?= python3
CORES ?= 2
DEMO_CONFIG ?= config/demo.yaml

.PHONY: setup demo test lint bench

setup:
	bash tools/install-system-packages.sh
	$(PYTHON) -m pip install -e ".[test]"

demo: setup
	snakemake --cores $(CORES) --configfile $(DEMO_CONFIG)
	snakemake --cores 1 --configfile $(DEMO_CONFIG) --report results/demo/report.html

test:
	$(PYTHON) -m pytest -q

lint:
	ruff check rassflow scripts tests
	snakemake --lint --configfile $(DEMO_CONFIG)
