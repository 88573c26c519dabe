# Two commands for everything:  make book   and   make test   (make help lists the rest)
# Both create the virtual environment $(VENV) on first use and reinstall when
# pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
JOBS ?= 2
# PyTorch, pinned. On Linux without an NVIDIA driver the CPU-only wheel is taken
# from PyTorch's CPU index (a CUDA build is several GB); where that index cannot
# be reached, pip's configured index is used instead. Override for another build:
#   make test TORCH="torch==2.13.0" TORCH_INDEX=
TORCH ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help book pdf test test-gpu browser-test check bench weights clean

## help: list the targets
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed 's/^## /  make /'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if [ -n "$(TORCH_INDEX)" ] && [ "$$(uname -s)" = Linux ] && ! command -v nvidia-smi >/dev/null 2>&1; then \
	  echo "$(PY) -m pip install $(TORCH) --index-url $(TORCH_INDEX)  (CPU-only build)"; \
	  $(PY) -m pip install --quiet --timeout 10 --retries 1 $(TORCH) --index-url $(TORCH_INDEX) \
	    || { echo "the CPU index cannot be reached: installing $(TORCH) from the default index"; \
	         $(PY) -m pip install --quiet $(TORCH); }; \
	else \
	  echo "$(PY) -m pip install $(TORCH)"; $(PY) -m pip install --quiet $(TORCH); \
	fi
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

## book: execute every chapter and write the HTML book to _build/html (about 4 minutes on 2 cores)
# --all: Sphinx would otherwise re-read (and so re-execute) only the chapters whose
# source changed, and a change in latent_notes/ would leave old numbers in the book.
book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --all -W -n --keep-going
	@echo "The book: _build/html/index.html (chapters in _build/html/book/*.html)"

## pdf: the whole book as one PDF, _build/latex/latent-notes.pdf (needs TeX, see README)
# Debian: texlive-xetex texlive-latex-extra texlive-fonts-recommended
# texlive-plain-generic latexmk fonts-freefont-otf xindy; not part of CI.
pdf: $(STAMP)
	$(VENV)/bin/jupyter-book build . --all --builder pdflatex

## test: unit tests and every chapter (nbval), in one pytest run
# (conftest.py shares the CPU quota between the parallel workers; see latent_notes.runtime.)
test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadfile --durations=10

## test-gpu: only the device tests marked gpu (they need a CUDA GPU and skip without one)
test-gpu: $(STAMP)
	$(PY) -m pytest -m gpu -p no:xdist tests

## browser-test: open the built pages in headless Chromium (needs `make book` first)
browser-test: $(STAMP)
	REQUIRE_BUILT_BOOK=1 $(PY) -m pytest tests/test_rendered_book.py -p no:xdist

## check: what CI runs (test, book, browser-test)
check: test book browser-test

## weights: retrain the checkpoints that ship in latent_notes/weights (about 30 minutes on 2 cores with one thread)
# WEIGHTS_ARGS="--device cuda" trains on a GPU; then commit latent_notes/weights (the test
# tests/test_checkpoints.py fails while the model code and the shipped weights disagree).
WEIGHTS_ARGS ?=
weights: $(STAMP)
	$(PY) -m latent_notes.scaling train $(WEIGHTS_ARGS)

## bench: every benchmark of benchmarks/README.md, by hand (over an hour on 2 cores)
# The EM sweep is the longest (n up to 1e7; scikit-learn's 30-iteration fits at 1e7 took over
# 14 minutes each on a busy 2-core machine); a quick look: make bench EM_BENCH_ARGS="--sizes 1000 10000 --no-extras"
EM_BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) benchmarks/em_vs_sklearn.py $(EM_BENCH_ARGS)
	$(PY) benchmarks/gmlc_solvers.py
	$(PY) benchmarks/pixelcnn_sampling.py
	$(PY) benchmarks/chapter_runtime.py

## clean: remove the built book and test caches
clean:
	rm -rf _build .pytest_cache .hypothesis
