# One-command set-up: `make train` and `make test` create .venv, install torch and the
# dependencies, build the extension, then run. Nothing else needs to be installed first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: install train test test-slow bench clean-build

$(VENV)/.installed: pyproject.toml setup.py $(wildcard csrc/*.* csrc/cpu/*.* csrc/cuda/*.*)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)" numpy setuptools wheel ninja
	$(PY) -m pip install -q --no-build-isolation -e ".[test]"
	$(PY) -c "import v2vcore; assert v2vcore.has_cpu_kernels(); print('v2vcore kernels: cpu', 'cuda' if v2vcore.has_cuda_kernels() else '(no cuda)')"
	touch $@

install: $(VENV)/.installed

train: install
	$(PY) -m v2v.train $(ARGS)

test: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: install
	$(PY) -m pytest benchmarks --benchmark-only $(PYTEST_ARGS)

clean-build:
	rm -rf build v2vcore/_C*.so $(VENV)/.installed
