"""Sphinx extension: a line under the title of every executed chapter.

It says how long the chapter ran in this build (myst-nb's own record, the same
number its ``nb-exec-table`` directive shows on the status page) and on how many
CPU cores, so that readers on Binder (1-2 cores) know what to expect; and it
links to the chapter as a notebook on Google Colab.

Colab opens ``.ipynb`` files only, and the chapters are Markdown notebooks, so
the book workflow (``.github/workflows/book.yml``) converts them with jupytext
and publishes them on the repository's ``notebooks`` branch; the link points
there. The repository comes from ``_config.yml`` (``repository.url``).

It also provides the ``chapter-runtimes`` directive of the execution-status
page: one row per executed chapter, in the order of the table of contents,
with its run time next to the budget and its result in words.
"""

from __future__ import annotations

import os
import posixpath

import datetime

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

from myst_nb.sphinx_ import NbMetadataCollector

NOTEBOOK_BRANCH = "notebooks"
# Each chapter must run in at most this many seconds on 2 CPU cores (DESIGN.md).
BUDGET_S = 60


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
            runtime = exec_data["runtime"]
            where = f"on {cores} CPU core{'s' if cores > 1 else ''}"
            if runtime <= BUDGET_S:
                text = (f"Runs in about {runtime:.0f} s {where} (measured when this page "
                        f"was built; the budget is {BUDGET_S} s).")
            else:
                text = (f"Runs in about {runtime:.0f} s {where} (measured when this page "
                        f"was built): over the {BUDGET_S} s budget.")
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


class chapter_runtimes(nodes.General, nodes.Element):
    """Placeholder for the status table, filled once every chapter has run."""


class ChapterRuntimes(SphinxDirective):
    """``chapter-runtimes``: the execution record of every chapter, as a table."""

    def run(self):
        return [chapter_runtimes()]


def _toc_order(env):
    """Document names in the order of the table of contents (depth first)."""
    order, stack = [], [env.config.root_doc]
    while stack:
        doc = stack.pop(0)
        if doc in order:
            continue
        order.append(doc)
        stack = list(env.toctree_includes.get(doc, [])) + stack
    return order


def runtime_rows(env):
    """``(docname, title, executed, runtime, succeeded)`` for every executed document."""
    data = NbMetadataCollector.get_doc_data(env)
    rows = []
    for doc in _toc_order(env) + sorted(set(data) - set(_toc_order(env))):
        exec_data = (data.get(doc) or {}).get("exec_data")
        if not exec_data or exec_data.get("runtime") is None:
            continue
        title = env.titles[doc].astext() if doc in env.titles else doc
        executed = datetime.datetime.fromtimestamp(exec_data["mtime"], datetime.timezone.utc)
        rows.append((doc, title, executed, exec_data["runtime"], bool(exec_data.get("succeeded"))))
    return rows


class ChapterRuntimesTable(SphinxPostTransform):
    """Replace the placeholder with a table: chapter, date, run time vs budget, result."""

    default_priority = 8

    def run(self, **kwargs):
        for placeholder in list(self.document.findall(chapter_runtimes)):
            placeholder.replace_self(self._table())

    def _table(self):
        headers = ["Chapter", "Executed (UTC)", "Run time (s)",
                   f"Within the {BUDGET_S} s budget", "Result"]
        table = nodes.table(classes=["chapter-runtimes"])
        group = nodes.tgroup(cols=len(headers))
        table += group
        group += [nodes.colspec(colwidth=1) for _ in headers]
        head, body = nodes.thead(), nodes.tbody()
        group += [head, body]
        head += self._row([nodes.Text(h) for h in headers])
        for doc, title, executed, runtime, succeeded in runtime_rows(self.env):
            link = nodes.reference("", title, internal=True,
                                   refuri=self.app.builder.get_relative_uri(self.env.docname, doc))
            within = "yes" if runtime <= BUDGET_S else f"no: {runtime - BUDGET_S:.0f} s over"
            result = "ran without error" if succeeded else "failed"
            body += self._row([link, nodes.Text(executed.strftime("%Y-%m-%d %H:%M")),
                               nodes.Text(f"{runtime:.1f}"), nodes.Text(within),
                               nodes.Text(result)])
        return table

    @staticmethod
    def _row(contents):
        row = nodes.row()
        for content in contents:
            entry = nodes.entry()
            paragraph = nodes.paragraph()
            paragraph += content
            entry += paragraph
            row += entry
        return row


def setup(app):
    app.add_node(chapter_runtimes)
    app.add_directive("chapter-runtimes", ChapterRuntimes)
    app.add_post_transform(ChapterRuntimesTable)
    app.add_post_transform(ChapterNote)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
