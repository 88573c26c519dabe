"""Sphinx extension: a line under the title of every executed chapter.

It says how long the chapter ran in this build (myst-nb's own record, the same
number its ``nb-exec-table`` directive shows on the status page) and on how many
CPU cores, so that readers on Binder (1-2 cores) know what to expect; and it
links to the chapter as a notebook on Google Colab.

Colab opens ``.ipynb`` files only, and the chapters are Markdown notebooks, so
the book workflow (``.github/workflows/book.yml``) converts them with jupytext
and publishes them on the repository's ``notebooks`` branch; the link points
there. The repository comes from ``_config.yml`` (``repository.url``).
"""

from __future__ import annotations

import os
import posixpath

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

from myst_nb.sphinx_ import NbMetadataCollector

NOTEBOOK_BRANCH = "notebooks"


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def colab_url(repository_url, docname):
    """Where Colab opens the notebook version of ``docname`` (e.g. ``book/em``)."""
    repo = repository_url.rstrip("/").removeprefix("https://github.com/")
    return (f"https://colab.research.google.com/github/{repo}/blob/"
            f"{NOTEBOOK_BRANCH}/{posixpath.normpath(docname)}.ipynb")


class ChapterNote(SphinxPostTransform):
    """Insert the note after the first title of a document that was executed."""

    default_priority = 8

    def run(self, **kwargs):
        data = NbMetadataCollector.get_doc_data(self.env).get(self.env.docname, {})
        exec_data = data.get("exec_data")
        if not exec_data or exec_data.get("runtime") is None:
            return
        section = next(iter(self.document.findall(nodes.section)), None)
        if section is None or not section.children:
            return
        cores = _cores()
        if exec_data.get("succeeded"):
            text = (f"Runs in about {exec_data['runtime']:.0f} s on {cores} CPU "
                    f"core{'s' if cores > 1 else ''} (measured when this page was built).")
        else:
            text = "This chapter failed to run when the page was built."
        note = nodes.paragraph(classes=["runtime-note"])
        note += nodes.Text(text)
        repository = (self.config.html_theme_options or {}).get("repository_url")
        if repository:
            note += nodes.Text(" ")
            note += nodes.reference("", "Open it in Colab",
                                    refuri=colab_url(repository, self.env.docname),
                                    classes=["colab-link"])
            note += nodes.Text(".")
        section.insert(1, note)  # right after the title


def setup(app):
    app.add_post_transform(ChapterNote)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
