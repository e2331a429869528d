# The README's two commands: `make up` (run the mesh) and `make test`.
# Each creates .venv and installs the project with its dev extras when needed.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: up test test-all protos docs bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/switchboard up

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Long forms too (soak, long outages).
test-all: $(STAMP)
	$(PY) -m pytest -m '' $(PYTEST_ARGS)

# Regenerate the committed gRPC stubs after editing protos/.
protos: $(STAMP)
	$(PY) scripts/gen_protos.py

# Refresh the README's settings table from the settings classes.
docs: $(STAMP)
	$(PY) scripts/settings_doc.py --write

# Benchmarks (~20 min; BENCH_ARGS=--quick for a ~2-minute smoke run): writes BENCHMARKS.md
# and bench/plots/*.png. Needs PostgreSQL and Redis on localhost for the learning/briefs/cache
# sections (or SWITCHBOARD_BENCH_DATABASE_URL / SWITCHBOARD_BENCH_REDIS_URL).
BENCH_STAMP := $(VENV)/.bench-stamp
BENCH_ARGS ?=

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
