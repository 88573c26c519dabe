# Two commands for everything:  make book   and   make test
# Both create the virtual environment $(VENV) on first use and reinstall when
# pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
JOBS ?= 2
# The CPU build of PyTorch, pinned; override for another platform, e.g.
#   make test TORCH="torch==2.13.0 --index-url <your CPU wheel index>"
TORCH ?= torch==2.13.0

PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: book pdf test browser-test check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

## book: execute every chapter and write the HTML book to _build/html (warnings are errors)
book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

## pdf: the whole book as one PDF, _build/latex/latent-notes.pdf (executes every chapter).
# Needs TeX (Debian: texlive-xetex texlive-latex-extra texlive-fonts-recommended
# texlive-plain-generic latexmk fonts-freefont-otf xindy); not part of CI.
pdf: $(STAMP)
	$(VENV)/bin/jupyter-book build . --builder pdflatex

## test: unit tests and every chapter (nbval), in one pytest run
# (conftest.py gives each parallel worker, and the kernels it starts, one thread.)
test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadfile --durations=10

## browser-test: open the built pages in headless Chromium (needs `make book` first)
browser-test: $(STAMP)
	REQUIRE_BUILT_BOOK=1 $(PY) -m pytest tests/test_rendered_book.py -p no:xdist

## check: what CI runs
check: test book browser-test

## bench: speed comparisons against reference libraries (by hand; see benchmarks/README.md)
bench: $(STAMP)
	$(PY) benchmarks/em_vs_sklearn.py
	$(PY) benchmarks/pixelcnn_sampling.py

clean:
	rm -rf _build .pytest_cache .hypothesis
