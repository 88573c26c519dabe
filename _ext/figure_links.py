"""Every figure links to its full-size image, so that a reader can open it with a tap.

On a phone a figure is shrunk to the width of the column, often to a third of its size,
where its labels cannot be read. The HTML builder wraps each image that sits in a figure
or in a notebook cell's output in ``<a class="full-size-link" href="_images/...">``,
pointing at the very file the ``<img>`` shows (at its own resolution). It is done at build
time, so it works without JavaScript.

Sphinx already links images that were given a size (``:width:``, ``:scale:``) to their
original when ``html_scaled_image_link`` is on; those are left to it. So are images
already inside a link (``:target:``) and images with the class ``no-scaled-link``.
"""

import posixpath
from urllib.parse import quote

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

LINK_CLASS = "full-size-link"


class full_size_link(nodes.General, nodes.Inline, nodes.Element):
    """A link around one image, to the image file itself; its URL is known only when written."""


def _in_figure_or_output(node):
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.figure):
            return True
        if isinstance(parent, nodes.container) and (
                "cell_output" in parent.get("classes", []) or parent.get("nb_element") == "cell_code_output"):
            return True
        parent = parent.parent
    return False


class LinkFiguresToFullSize(SphinxPostTransform):
    default_priority = 800
    formats = ("html",)

    def run(self, **kwargs):
        scaled_links = self.config.html_scaled_image_link and getattr(
            self.app.builder, "html_scaled_image_link", False)
        for image in list(self.document.findall(nodes.image)):
            if isinstance(image.parent, (nodes.reference, full_size_link)):
                continue
            if "no-scaled-link" in image["classes"]:
                continue
            if scaled_links and any(key in image for key in ("scale", "width", "height")):
                continue  # Sphinx links it (post_process_images)
            if "://" in image["uri"] or image["uri"].startswith("data:"):
                continue
            if not _in_figure_or_output(image):
                continue
            link = full_size_link()
            image.replace_self(link)
            link.append(image)


def visit_full_size_link(self, node):
    # the same URL as the <img> gets (HTML5Translator.visit_image): by then the builder has
    # chosen the image file and copied it to _images/
    uri = node.children[0]["uri"]
    if uri in self.builder.images:
        uri = posixpath.join(self.builder.imgpath, quote(self.builder.images[uri]))
    self.body.append(self.starttag(node, "a", "", href=uri, CLASS=LINK_CLASS,
                                   title="Open the full-size image"))


def depart_full_size_link(self, node):
    self.body.append("</a>")


def _skip(self, node):
    pass


def setup(app):
    app.add_node(full_size_link, html=(visit_full_size_link, depart_full_size_link),
                 latex=(_skip, _skip), text=(_skip, _skip), man=(_skip, _skip),
                 texinfo=(_skip, _skip))
    app.add_post_transform(LinkFiguresToFullSize)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
