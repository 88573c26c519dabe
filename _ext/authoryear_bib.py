"""Bibliography labels in the same author-year form as the in-text citations.

sphinxcontrib-bibtex writes in-text citations as "Dempster et al., 1977"
(``bibtex_reference_style: author_year``) but labels the bibliography with
the formatting style's label style, "DLR77" for the default ``alpha``. This
extension registers a pybtex label style that produces the in-text form and a
formatting style ``authoryear`` (plain formatting, sorted by author and year)
that uses it; ``bibtex_default_style: authoryear`` selects it.
"""

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person):
    return " ".join(person.prelast_names + person.last_names)


class AuthorYearLabelStyle(BaseLabelStyle):
    """"Surname, year", "Surname and Other, year" or "Surname et al., year"."""

    def format_labels(self, sorted_entries):
        labels = list(self._labels(sorted_entries))
        # Two works with the same authors and year would share a label: give
        # them a letter (the bibliography should spell "2016a" in its year
        # field so that in-text citations agree).
        for label in set(labels):
            where = [i for i, other in enumerate(labels) if other == label]
            if len(where) > 1:
                for letter, i in zip("abcdefghijklmnopqrstuvwxyz", where):
                    labels[i] = label + letter
        return iter(labels)

    def _labels(self, sorted_entries):
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [_surname(p).replace("{", "").replace("}", "") for p in people]
            if not names:
                who = entry.fields.get("key", entry.key)
            elif len(names) == 1:
                who = names[0]
            elif len(names) == 2:
                who = f"{names[0]} and {names[1]}"
            else:
                who = f"{names[0]} et al."
            yield f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearStyle(PlainStyle):
    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabelStyle)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
