# The README's two commands: `make demo` and `make test`. Both create .venv if
# missing and install the project (with its test extras) into it first.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo-out

.PHONY: test demo lint bench clean install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

# Full suite with compiled kernels, then the jitted bodies again as plain
# Python (NUMBA_DISABLE_JIT=1) on a smaller hypothesis profile so the pass
# stays fast.
test: $(STAMP) lint
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(BIN)/python -m pytest
	NUMBA_DISABLE_JIT=1 HYPOTHESIS_PROFILE=nojit $(BIN)/python -m pytest -m "not jit" -q

demo: $(STAMP)
	$(BIN)/basketguard demo --out $(DEMO_DIR)

# The benchmark suite (docs/benchmarks.md): every workload beside DuckDB, Polars and
# the other peers; the default profile also regenerates README's performance section.
# BENCH_PROFILE=smoke for a quick run.
BENCH_PROFILE ?= default
BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench,postgresql]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/basketguard bench --profile $(BENCH_PROFILE) $(if $(filter default,$(BENCH_PROFILE)),--readme)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
