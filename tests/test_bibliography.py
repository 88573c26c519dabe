"""The bibliography's labels use the same author-year form as the in-text citations."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pybtex = pytest.importorskip("pybtex")


def _labels():
    from pybtex.database import parse_file

    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        from authoryear_bib import AuthorYearLabelStyle
    finally:
        sys.path.pop(0)
    entries = parse_file(str(ROOT / "references.bib")).entries
    return dict(zip(entries, AuthorYearLabelStyle().format_labels(entries.values())))


def test_labels_are_author_year_and_unique():
    labels = _labels()
    assert labels["dempster1977"] == "Dempster et al., 1977"
    assert labels["kingma2019"] == "Kingma and Welling, 2019"
    assert labels["minka2000"] == "Minka, 2000"
    assert len(set(labels.values())) == len(labels), labels


def test_same_authors_and_year_get_letters_that_the_bib_file_spells_out():
    labels = _labels()
    assert labels["vandenoord2016"] == "van den Oord et al., 2016a"
    assert labels["vandenoord2016conditional"] == "van den Oord et al., 2016b"
