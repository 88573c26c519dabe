"""Collect every book chapter (a Jupytext MyST notebook) as an nbval test file.

``pytest`` then runs the unit tests in ``tests/`` and each chapter's code cells,
in order, in one kernel whose working directory is the chapter's folder. A cell
that raises fails its test (``--nbval-lax``: outputs are not compared). A cell
tagged ``skip-execution`` (the tag the book build honours) is skipped here too.

Only Markdown files whose front matter declares a ``kernelspec`` are chapters;
plain pages such as the API reference are left alone.
"""

from __future__ import annotations

import os

# One thread policy for the tests, the chapters and the book build
# (latent_notes.runtime): without it, multi-threaded BLAS, OpenMP and PyTorch
# pools oversubscribe the cores and a 30-second suite takes a quarter of an
# hour. Parallel workers (pytest-xdist) share the CPU quota between them; the
# chapter kernels they start inherit the limit through the environment (a
# chapter's own limit_threads() never raises it).
from latent_notes.runtime import cpu_quota, limit_threads  # noqa: E402

_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
if os.environ.get("PYTEST_XDIST_WORKER") and _workers > 0:
    limit_threads(max(1, cpu_quota() // _workers))
else:
    limit_threads()

import jupytext  # noqa: E402
import nbval.plugin as nbval_plugin  # noqa: E402
from nbval.plugin import IPyNbFile  # noqa: E402

pytest_plugins = ["pytester"]

SKIP_TAGS = {"skip-execution": "nbval-skip"}


def _is_chapter(path):
    if path.suffix != ".md":
        return False
    with open(path, encoding="utf-8") as fh:
        head = fh.read(4096)
    if not head.startswith("---"):
        return False
    front = head.split("---", 2)[1] if head.count("---") >= 2 else ""
    return "kernelspec:" in front and "jupytext:" in front


class _ChapterReader:
    """Stands in for the ``nbformat`` module inside nbval while it collects:
    ``read`` returns the chapter already parsed by jupytext."""

    def __init__(self, notebook, module):
        self._notebook, self._module = notebook, module

    def read(self, *args, **kwargs):
        return self._notebook

    def __getattr__(self, name):
        return getattr(self._module, name)


class ChapterFile(IPyNbFile):
    """An nbval collector that reads a Jupytext Markdown chapter."""

    def collect(self):
        nb = jupytext.read(str(self.path))
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            mapped = [SKIP_TAGS[t] for t in tags if t in SKIP_TAGS]
            if mapped:
                cell.metadata["tags"] = list(tags) + mapped
        real = nbval_plugin.nbformat
        nbval_plugin.nbformat = _ChapterReader(nb, real)
        try:
            return list(super().collect())
        finally:
            nbval_plugin.nbformat = real


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and _is_chapter(file_path):
        return ChapterFile.from_parent(parent, path=file_path)
    return None


def pytest_ignore_collect(collection_path, config):
    # Built pages and executed copies are not sources.
    return "_build" in collection_path.parts or None


# Property tests explore new examples locally but are reproducible in CI.
try:
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    if os.environ.get("CI"):
        _hypothesis_settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is a test extra
    pass
