# make setup  - install system packages (Debian) and the Python package with its dependencies;
#               quick when both are already there, so every target below starts with it
# make demo   - set up, then run the offline demo (simulated survey) end to end with its report
# make test   - set up, then run the test suite (PYTEST_ARGS="tests/report -x" for a part)
# make lint   - set up, then ruff check, ruff format --check, snakefmt --check, snakemake --lint
# Either `make demo` or `make test` works first on a fresh Debian/Ubuntu machine.
PYTHON ?= python3
CORES ?= 2
DEMO_CONFIG ?= config/demo.yaml
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench

# Exit status 0 when rassflow and every pin of tools/constraints.txt are installed for $(PYTHON)
# at the pinned version; then the pip install (minutes: Sherpa builds from source) is skipped.
# A changed pin, a new dependency (tests/test_packaging.py checks that pyproject.toml's are all
# pinned) or another interpreter or virtual environment makes it fail, and pip runs.
INSTALLED = $(PYTHON) -c 'import importlib.metadata as md; \
	pins = [line.split("\#")[0].strip().partition("==") for line in open("tools/constraints.txt")]; \
	md.version("rassflow"); \
	assert all(md.version(name) == version for name, _, version in pins if name)' 2>/dev/null

setup:
	bash tools/install-system-packages.sh
	@$(INSTALLED) && echo "Python packages: installed at the pinned versions" || \
		$(PYTHON) -m pip install -e ".[test]" -c tools/constraints.txt

demo: setup
	$(PYTHON) -m snakemake --cores $(CORES) --configfile $(DEMO_CONFIG)
	$(PYTHON) -m snakemake --cores 1 --configfile $(DEMO_CONFIG) --report results/demo/report.html

test: setup
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

STYLE_PATHS = rassflow workflow/scripts tests benchmarks tools
WORKFLOW_FILES = workflow/Snakefile workflow/rules

lint: setup
	$(PYTHON) -m ruff check $(STYLE_PATHS)
	$(PYTHON) -m ruff format --check $(STYLE_PATHS)
	$(PYTHON) -m snakefmt --check $(WORKFLOW_FILES)
	@out=$$($(PYTHON) -m snakemake --lint --configfile $(DEMO_CONFIG) 2>&1); status=$$?; \
	if [ $$status -ne 0 ] || echo "$$out" | grep -q "Lints for"; then \
		echo "$$out"; echo "snakemake --lint found problems"; exit 1; fi; echo "snakemake --lint: clean"
