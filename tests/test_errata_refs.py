"""Every reference on the errata page resolves.

``book/errata.md`` names, for each slip of the report, the check that would fail if the
wrong version were used: unit tests (by function name and file) and chapter cells (by
``{ref}`` label). A renamed or moved test silently turns such a reference into a dead
one, so this file parses the page and checks that

- every test reference is a Markdown link to its file's source on GitHub (the
  repository's ``Homepage`` in ``pyproject.toml`` plus ``/blob/main/<path>``);
- every cited file exists, and every cited test is defined in the file it is cited with;
- every ``{ref}``, ``{numref}`` and ``{eq}`` target is defined in some ``book/*.md``
  (on the notation page too), and every ``{func}``/``{class}`` target can be imported.

A test name is paired with the file it is cited with: the link's own target when it is
a link, otherwise (plain backticks, the page's old style) the nearest file mentioned in
the same entry.
"""

import importlib
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
ERRATA = ROOT / "book" / "errata.md"

TEST_NAME = r"test_\w+"
TEST_FILE = r"tests/[\w/]+\.py"


def _source_url():
    homepage = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Homepage"]
    return homepage.rstrip("/") + "/blob/main/"


def _entries(text):
    """``{number: body}`` of the page's numbered sections."""
    return dict(re.findall(r"^## (\d+)\. .*?\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))


def _links(body):
    """``(label, target, start, end)`` of every Markdown link ``[label](target)``."""
    return [(m.group(1), m.group(2), m.start(), m.end())
            for m in re.finditer(r"\[([^\]]+)\]\(([^)\s]+)\)", body)]


def citations(text):
    """``(entry, test name, cited file)`` for every test the page cites."""
    base = _source_url()
    found = []
    for number, body in _entries(text).items():
        linked_spans = []
        for label, target, start, end in _links(body):
            name = re.fullmatch(rf"`({TEST_NAME})`", label)
            if name and target.startswith(base):
                found.append((number, name.group(1), target[len(base):].split("#")[0]))
                linked_spans.append((start, end))
        # Old style: a name in backticks, outside a link, paired with the nearest file.
        files = [(m.start(), m.group(1)) for m in re.finditer(rf"`({TEST_FILE})`", body)]
        files += [(start, target[len(base):]) for label, target, start, _ in _links(body)
                  if target.startswith(base) and re.fullmatch(TEST_FILE, target[len(base):])]
        for m in re.finditer(rf"`({TEST_NAME})`", body):
            if any(start <= m.start() < end for start, end in linked_spans):
                continue
            nearest = min(files, key=lambda f: abs(f[0] - m.start()))[1] if files else None
            found.append((number, m.group(1), nearest))
    return found


def defined_tests(path):
    """Names of the test functions defined in ``path`` (parametrised ones included)."""
    return set(re.findall(r"^\s*(?:async\s+)?def\s+(test_\w+)\s*\(", path.read_text(), flags=re.M))


def labels():
    """Every target a ``{ref}``, ``{numref}`` or ``{eq}`` role can point to in the book."""
    found = set()
    for page in (ROOT / "book").glob("*.md"):
        text = page.read_text()
        found |= set(re.findall(r"^\(([\w-]+)\)=\s*$", text, flags=re.M))            # (label)=
        found |= set(re.findall(r"^\s*\$\$\s*\(([\w-]+)\)\s*$", text, flags=re.M))  # $$ (label)
        found |= set(re.findall(r"^\s*:?(?:label|name):\s*([\w-]+)\s*$", text, flags=re.M))
    return found


def _role_targets(text, role):
    """Targets of ``{role}`text``` and ``{role}`text <target>```."""
    targets = []
    for content in re.findall(rf"\{{{role}\}}`([^`]+)`", text):
        explicit = re.search(r"<([^>]+)>\s*$", content)
        targets.append((explicit.group(1) if explicit else content).strip())
    return targets


def test_the_page_cites_tests():
    assert len(citations(ERRATA.read_text())) >= 16


def test_every_cited_test_exists_in_the_file_it_is_cited_with():
    broken = []
    for number, name, cited in citations(ERRATA.read_text()):
        if cited is None:
            broken.append(f"errata {number}: `{name}` is cited without a file")
        elif not (ROOT / cited).is_file():
            broken.append(f"errata {number}: `{name}` is cited in {cited}, which does not exist")
        elif name not in defined_tests(ROOT / cited):
            elsewhere = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "tests").glob("test_*.py"))
                         if name in defined_tests(p)]
            hint = f" (it is in {', '.join(elsewhere)})" if elsewhere else " (defined nowhere)"
            broken.append(f"errata {number}: `{name}` is not in {cited}{hint}")
    assert not broken, "broken test references on the errata page:\n" + "\n".join(broken)


def test_every_test_reference_is_a_link_to_its_source():
    """Test names and test files in backticks appear only as link labels."""
    base = _source_url()
    unlinked = []
    for number, body in _entries(ERRATA.read_text()).items():
        spans = [(start, end) for _, _, start, end in _links(body)]
        for m in re.finditer(rf"`({TEST_NAME}|{TEST_FILE})`", body):
            if not any(start <= m.start() < end for start, end in spans):
                unlinked.append(f"errata {number}: `{m.group(1)}`")
        for label, target, _, _ in _links(body):
            if re.search(rf"`(?:{TEST_NAME}|{TEST_FILE})`", label):
                path = target[len(base):] if target.startswith(base) else None
                if path is None or not re.fullmatch(TEST_FILE, path):
                    unlinked.append(f"errata {number}: {label} links to {target}, not to "
                                    f"{base}tests/...")
    assert not unlinked, "test references that are not links to their source:\n" + "\n".join(unlinked)


def test_every_linked_file_exists():
    base = _source_url()
    missing = [target for _, target, _, _ in _links(ERRATA.read_text())
               if target.startswith(base) and not (ROOT / target[len(base):].split("#")[0]).exists()]
    assert not missing, missing


@pytest.mark.parametrize("page", ["errata", "notation"])
@pytest.mark.parametrize("role", ["ref", "numref", "eq"])
def test_every_role_target_exists_in_the_book(page, role):
    """Also on the notation page, which points into every chapter."""
    known = labels()
    text = (ROOT / "book" / f"{page}.md").read_text()
    missing = [t for t in _role_targets(text, role) if t not in known]
    assert not missing, f"{page}: {{{role}}} targets defined in no book/*.md: {missing}"


def test_every_api_reference_imports():
    text = ERRATA.read_text()
    for target in _role_targets(text, "func") + _role_targets(text, "class"):
        module, _, attribute = target.lstrip("~").rpartition(".")
        assert hasattr(importlib.import_module(module), attribute), target


def test_the_parser_finds_a_broken_reference(tmp_path):
    """The checks above can fail: a name paired with the wrong file is reported."""
    base = _source_url()
    page = ("## 1. A slip\n\n- **Checked by** `test_one` in `tests/test_a.py`, and "
            f"[`test_two`]({base}tests/test_b.py); in `tests/test_c.py` by `test_three`.\n")
    assert sorted(citations(page)) == [("1", "test_one", "tests/test_a.py"),
                                       ("1", "test_three", "tests/test_c.py"),
                                       ("1", "test_two", "tests/test_b.py")]
    planted = tmp_path / "test_a.py"
    planted.write_text("import pytest\n\n\n@pytest.mark.parametrize('x', [1])\n"
                       "def test_one(x):\n    pass\n\n\ndef helper_test_two():\n    pass\n")
    assert defined_tests(planted) == {"test_one"}
