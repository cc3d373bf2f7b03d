# The two set-up commands of the README. Each creates .venv and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean system-packages

# What the tests drive for real, as COMMAND=DEBIAN_PACKAGE: installed when missing (root or sudo),
# otherwise the run stops with one line naming the install command.
SYSTEM_PACKAGES := /usr/bin/chromium=chromium npm=npm /usr/lib/postgresql/*/bin/initdb=postgresql

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first and pinned exactly: any other spec pulls gigabytes of CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/breakfix demo
	# The benchmark's headline: the ASR-NSR trade-off across six zoo models (bench-demo.html beside it).
	$(BIN)/breakfix bench demo --headline

system-packages:
	@bash scripts/system-packages.sh $(SYSTEM_PACKAGES)

# Two test workers by default (override: make test PYTEST_WORKERS=1); a test file stays on one worker
# (--dist loadfile), so a file's module fixtures and test order hold as in a serial run.
PYTEST_WORKERS ?= 2

test: $(STAMP) system-packages
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) breakfix.db report.html bench-demo.db bench-demo.html

.PHONY: bench
bench: $(STAMP)
	$(BIN)/python benchmarks/engine_throughput.py
