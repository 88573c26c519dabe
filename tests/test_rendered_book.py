"""The built book, checked the way a reader sees it: pages opened in headless Chromium.

For every page of the table of contents: the math is rendered by MathJax (no raw
``$$`` left, no MathJax error), every image exists and decodes, no cell shows an
error or a warning, and every internal link points to an existing page and
anchor. A screenshot of each page goes to ``_build/screenshots/``.

The test needs a built book (``make book``) and Chromium. Without them it is
skipped, unless ``REQUIRE_BUILT_BOOK=1`` (set by ``.ci/run`` after the build),
in which case their absence is a failure.
"""

import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
REQUIRED = os.environ.get("REQUIRE_BUILT_BOOK") == "1"


def _toc_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _require(condition, reason):
    if not condition:
        if REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)


class _Page(HTMLParser):
    """Collect what the checks need from a rendered DOM."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.images = set(), [], []
        self.math = self.math_errors = 0
        self.text, self._skip = [], 0
        self.bad_outputs = []
        self._classes = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        self._classes.append((tag, classes))
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        if tag == "mjx-container":
            self.math += 1
        if tag == "mjx-merror":
            self.math_errors += 1
        if tag in ("script", "style", "mjx-container", "mjx-assistive-mml", "pre", "code"):
            self._skip += 1
        if "output" in classes and ({"stderr", "traceback", "error"} & set(classes)):
            self.bad_outputs.append(" ".join(classes))

    def handle_endtag(self, tag):
        for i in range(len(self._classes) - 1, -1, -1):
            if self._classes[i][0] == tag:
                del self._classes[i]
                break
        if tag in ("script", "style", "mjx-container", "mjx-assistive-mml", "pre", "code"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data):
        in_output = any("output" in c or "cell_output" in c for _, c in self._classes)
        if in_output and re.search(r"\b\w*(Warning|Error)\b:", data):
            self.bad_outputs.append(data.strip()[:200])
        if not self._skip:
            self.text.append(data)


def _render(chromium, page):
    """The DOM after scripts ran (MathJax typesets asynchronously), and a screenshot."""
    url = (HTML / f"{page}.html").as_uri()
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--virtual-time-budget=20000"]
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(flags + [f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=180, check=True).stdout
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{page.replace('/', '_')}.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(flags + [f"--user-data-dir={profile}", "--window-size=1280,2400",
                                f"--screenshot={shot}", url],
                       capture_output=True, timeout=180, check=True)
    parser = _Page()
    parser.feed(dom)
    return parser, shot


_cache = {}


def _parsed(page):
    if page not in _cache:
        _require(HTML.joinpath("index.html").exists(), "no built book in _build/html (run `make book`)")
        chromium = _chromium()
        _require(chromium is not None, "Chromium is not installed (apt-get install chromium)")
        _cache[page] = _render(chromium, page)
    return _cache[page]


def _has_math(page):
    source = (ROOT / f"{page}.md").read_text()
    return bool(re.search(r"\$[^$\n]+\$|\$\$", source))


@pytest.mark.parametrize("page", _toc_pages())
def test_page_renders_for_a_reader(page):
    parsed, shot = _parsed(page)
    text = "".join(parsed.text)
    assert len(text) > 200, f"{page}: the page is (almost) empty"
    if _has_math(page):
        assert parsed.math > 0, f"{page}: no MathJax output, the math did not render"
    assert parsed.math_errors == 0, f"{page}: {parsed.math_errors} MathJax errors"
    assert "$$" not in text, f"{page}: raw $$ left in the text"
    assert not parsed.bad_outputs, f"{page}: error or warning output: {parsed.bad_outputs[:3]}"
    assert shot.stat().st_size > 10_000, f"{page}: the screenshot is blank"
    if "kernelspec:" in (ROOT / f"{page}.md").read_text()[:600]:
        # an executed chapter says how long it ran and links to its notebook on Colab
        assert "Runs in about" in text, f"{page}: no runtime line"
        assert any(link.startswith("https://colab.research.google.com/github/")
                   and link.endswith(f"/{page}.ipynb") for link in parsed.links), \
            f"{page}: no Colab link"


def _local_files(page, urls):
    """``(url, fragment, path)`` for each URL of ``page`` that points inside the site."""
    base = (HTML / f"{page}.html").parent
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme or url.startswith(("mailto:", "javascript:")):
            continue
        path = (base / unquote(parts.path)).resolve() if parts.path else (HTML / f"{page}.html").resolve()
        yield url, parts.fragment, path / "index.html" if path.is_dir() else path


@pytest.mark.parametrize("page", _toc_pages())
def test_page_images_load(page):
    from PIL import Image

    parsed, _ = _parsed(page)
    remote = [src for src in parsed.images if urlsplit(src).scheme in ("http", "https")]
    assert not remote, f"{page}: images from the network: {remote}"
    for src, _, path in _local_files(page, [s for s in parsed.images if not s.startswith("data:")]):
        assert path.is_file(), f"{page}: missing image {src}"
        if path.suffix.lower() != ".svg":
            with Image.open(path) as image:
                image.verify()


@pytest.mark.parametrize("page", _toc_pages())
def test_page_internal_links_resolve(page):
    parsed, _ = _parsed(page)
    for href, fragment, target in _local_files(page, parsed.links):
        assert target.is_file(), f"{page}: broken link {href}"
        if fragment and target.suffix == ".html":
            ids = parsed.ids if target == (HTML / f"{page}.html").resolve() else \
                set(re.findall(r'\sid="([^"]+)"', target.read_text(errors="replace")))
            assert fragment in ids, f"{page}: link {href} points to a missing anchor"
