# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
# Both are idempotent: the venv is (re)installed only when a dependency file changed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-output

.PHONY: demo test test-fast bench clean-venv

$(STAMP): pyproject.toml requirements/lock.txt requirements/nodeps.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements/lock.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements/nodeps.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: $(STAMP)
	@VIDEO="$$($(VENV)/bin/sportlens sample-video)" && \
	  $(VENV)/bin/sportlens analyze "$$VIDEO" --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/bench_analyze.py

clean-venv:
	rm -rf $(VENV)
