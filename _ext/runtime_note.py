"""Sphinx extension: a "runs in N s" line under the title of every executed chapter.

The time is myst-nb's own record of the chapter's execution in this build (the
same number its ``nb-exec-table`` directive shows on the status page), with the
number of CPU cores of the machine that built the book. Readers on Binder (1-2
cores) then know what to expect before they press "run all".
"""

from __future__ import annotations

import os

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

from myst_nb.sphinx_ import NbMetadataCollector


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class RuntimeNote(SphinxPostTransform):
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
        note = nodes.paragraph(text=text, classes=["runtime-note"])
        section.insert(1, note)  # right after the title


def setup(app):
    app.add_post_transform(RuntimeNote)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
