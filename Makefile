# The two commands of the README: `make up` and `make test`.
.PHONY: up test test-unit docs screenshots bench replay clean help helm-schema

PYTHON ?= python3
BIN := .venv/bin
# Arguments for `npuhub up`, e.g. make up ARGS="--port 9000 --config my-site.yaml"
ARGS ?=

help:
	@echo "make up      install (first time) and run the embedded stack at http://127.0.0.1:8000"
	@echo "make test    install (first time) and run the whole test suite (2 workers; TEST_WORKERS=N)"
	@echo "make docs    build the documentation into docs/_build/html"
	@echo "make bench   run the benchmarks (results: benchmarks/README.md)"
	@echo "make replay  replay the workloads through the admission core (table and plots: benchmarks/README.md)"
	@echo "make screenshots  retake the documentation's screenshots (browser test)"
	@echo "make helm-schema  regenerate the chart's values.schema.json and the docs' values reference"

# The JupyterLab extension is built and installed by bootstrap.sh too: rebuild when it changes.
LAB_EXT := extensions/npuhub-lab
LAB_EXT_SOURCES := $(LAB_EXT)/package.json $(LAB_EXT)/yarn.lock $(LAB_EXT)/pyproject.toml \
	$(shell find $(LAB_EXT)/src $(LAB_EXT)/style $(LAB_EXT)/schema $(LAB_EXT)/npuhub_lab \
	  -type f -not -path '*/labextension/*' -not -name '_version.py' -not -path '*/__pycache__/*' 2>/dev/null)

.venv/.installed: pyproject.toml scripts/bootstrap.sh hub_config/proxy/package-lock.json $(LAB_EXT_SOURCES)
	PYTHON=$(PYTHON) scripts/bootstrap.sh

up: .venv/.installed
	$(BIN)/npuhub up $(ARGS)

# The suite runs in parallel workers (pytest-xdist): its tests mostly wait on real processes (hubs, servers,
# Chromium, PostgreSQL), so two workers share a 2-core machine well (CI: 21 min serial). Each worker takes whole
# files (module fixtures start once), in tests/conftest.py's order: the slowest tiers first.
# TEST_WORKERS=0 runs it in one process, e.g. to debug with --pdb.
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

test: .venv/.installed
	scripts/install-test-deps.sh
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-unit: .venv/.installed
	$(BIN)/python -m pytest $(XDIST) tests/unit $(PYTEST_ARGS)

bench: .venv/.installed
	$(BIN)/python benchmarks/placement.py
	$(BIN)/python benchmarks/admission.py
	$(BIN)/python benchmarks/status_reads.py
	$(BIN)/python benchmarks/dask_cluster.py
	$(BIN)/python benchmarks/workshop_burst.py
	$(MAKE) replay

# The workload replayer (benchmarks/replay): a few minutes; its plots need the `bench` extra (matplotlib).
replay: .venv/.installed
	$(BIN)/python -c "import matplotlib" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.replay

docs: .venv/.installed
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# Retake docs/_static/screenshots/*.png with the browser test (needs Chromium and a Chinese font;
# REQUIRE_ALL so that a missing part fails instead of skipping and leaving old screenshots).
screenshots: .venv/.installed
	NPUHUB_UPDATE_SCREENSHOTS=1 NPUHUB_REQUIRE_ALL=1 $(BIN)/python -m pytest tests/browser

# helm/npuhub/values.schema.yaml is the source of values.schema.json and docs/reference/helm-values.md
# (tests/helm/test_schema.py fails when they are stale). Needs only PyYAML.
helm-schema:
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) scripts/helm_schema.py

clean:
	rm -rf .venv docs/_build .pytest_cache .hypothesis
