"""The built book, checked the way a reader sees it: pages opened in headless Chromium.

For every page of the table of contents: the math is rendered by MathJax (no raw
``$$`` left, no MathJax error), every image exists and decodes, no cell shows an
error or a warning, and every internal link points to an existing page and
anchor. A screenshot of each page goes to ``_build/screenshots/``.

The layout is measured at 1280 px (a laptop) and 390 px (a phone): nothing is
wider than the screen except inside its own horizontal scroll box, every
display equation fits or scrolls in its box (with a faded edge that shows there
is more), every figure links to its full-size image and has alternative text,
and captions have a readable contrast. Headless ``--dump-dom`` has no layout of
its own to report, so the page is loaded in an iframe of the wanted width (a
browser window cannot be narrower than 500 px) together with a script that
measures it once MathJax and the images are done, and posts the result to the
outer page, whose DOM is dumped.

The test needs a built book (``make book``) and Chromium. Without them it is
skipped, unless ``REQUIRE_BUILT_BOOK=1`` (set by ``.ci/run`` after the build),
in which case their absence is a failure.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
from html import unescape
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


def _browser():
    """Chromium, once a built book and the browser are there (else skip, or fail under CI)."""
    _require(HTML.joinpath("index.html").exists(), "no built book in _build/html (run `make book`)")
    chromium = _chromium()
    _require(chromium is not None, "Chromium is not installed (apt-get install chromium)")
    return chromium


_cache = {}


def _parsed(page):
    if page not in _cache:
        _cache[page] = _render(_browser(), page)
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


# --- layout: the page measured in a browser at a laptop's and a phone's width -----------------

WIDTHS = (1280, 390)

# Runs inside the page (loaded in an iframe as wide as the screen being tested).
_PROBE = r"""
(function () {
  "use strict";
  var SCROLLS = ["auto", "scroll"];

  function describe(el) {
    var s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    var cls = (el.getAttribute("class") || "").trim().split(/\s+/).filter(Boolean);
    if (cls.length) s += "." + cls.slice(0, 3).join(".");
    var text = (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 60);
    return text ? s + ' "' + text + '"' : s;
  }
  function rendered(el) {
    if (!el.getClientRects().length) return false;
    var st = getComputedStyle(el);
    return st.visibility !== "hidden" && st.visibility !== "collapse";
  }
  // visually hidden on purpose (screen-reader text such as MathJax's assistive MathML)
  function hiddenByClip(el) {
    for (var a = el; a && a !== document.body; a = a.parentElement) {
      var st = getComputedStyle(a);
      if ((st.clip && st.clip !== "auto") || (st.clipPath && st.clipPath !== "none")) return true;
    }
    return false;
  }
  function scrollAncestor(el) {
    for (var a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (SCROLLS.indexOf(getComputedStyle(a).overflowX) >= 0) return a;
    }
    return null;
  }
  function inside(r, box) { return r.left >= box.left - 1 && r.right <= box.right + 1; }

  function overflowing(W) {
    var out = [], bad = [];
    function reported(el) {
      for (var i = 0; i < bad.length; i++) if (bad[i].contains(el)) return true;
      return false;
    }
    var all = document.body.querySelectorAll("*");
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (!rendered(el)) continue;
      var r = el.getBoundingClientRect();
      if ((r.width === 0 && r.height === 0) || r.right <= W + 1) continue;
      if (scrollAncestor(el) || reported(el) || hiddenByClip(el)) continue;
      bad.push(el);
      out.push({element: describe(el), right: Math.round(r.right), width: Math.round(r.width)});
    }
    // text that runs out of its element (a long word, an unbreakable name)
    var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    var range = document.createRange();
    for (var t = walker.nextNode(); t; t = walker.nextNode()) {
      var host = t.parentElement;
      if (!host || !t.textContent.trim() || !rendered(host) || reported(host)) continue;
      range.selectNodeContents(t);
      var tr = range.getBoundingClientRect();
      if (tr.width === 0 || tr.right <= W + 1) continue;
      if (SCROLLS.indexOf(getComputedStyle(host).overflowX) >= 0 || scrollAncestor(host)) continue;
      if (hiddenByClip(host)) continue;
      bad.push(host);
      out.push({element: "text in " + describe(host), right: Math.round(tr.right),
                width: Math.round(tr.width)});
    }
    return out;
  }

  // A display equation fits (nothing clips it), or scrolls in a box of its own that is itself
  // on screen, with a faded edge (mask-image) that shows the reader there is more.
  function equation(eq, index, W) {
    var own = eq.closest("div.math") || eq.parentElement;
    var math = eq.querySelector("mjx-math") || eq;
    var c = math.getBoundingClientRect();
    var view = {left: 0, right: W};
    var scroller = null, clipper = null, outer = [];
    for (var a = math.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      var st = getComputedStyle(a);
      if (st.overflowX === "visible") continue;
      if (!scroller && SCROLLS.indexOf(st.overflowX) >= 0 && (a === own || own.contains(a)) &&
          a.scrollWidth > a.clientWidth + 1) {
        scroller = a;
        continue;
      }
      if (scroller) outer.push(a);
      else if (!clipper && !inside(c, a.getBoundingClientRect())) clipper = a;
    }
    var label = eq.closest("div.math");
    var eqno = label && label.querySelector(".eqno") ? label.querySelector(".eqno").textContent : "";
    var res = {equation: (label && label.id) || "equation " + (index + 1),
               number: eqno.replace("#", "").trim(), width: Math.round(c.width)};
    if (clipper) {
      res.ok = false; res.how = "cut off by " + describe(clipper).split(" ")[0];
    } else if (!scroller) {
      res.ok = inside(c, view); res.how = res.ok ? "fits" : "runs off the screen";
    } else {
      var sr = scroller.getBoundingClientRect();
      var onScreen = inside(sr, view) && outer.every(function (o) {
        return inside(sr, o.getBoundingClientRect()); });
      var st2 = getComputedStyle(scroller);
      var mask = st2.maskImage || st2.webkitMaskImage || "none";
      var where = describe(scroller).split(" ")[0];
      if (!onScreen) { res.ok = false; res.how = "its scroll box " + where + " is cut off"; }
      else if (mask === "none") {
        res.ok = false; res.how = "scrolls in " + where + " but looks cut off (no faded edge)";
      } else { res.ok = true; res.how = "scrolls in " + where; }
    }
    if (scroller && scroller.scrollHeight > scroller.clientHeight + 1) {
      res.ok = false; res.how += "; cut vertically (" + scroller.scrollHeight + " > " +
        scroller.clientHeight + " px)";
    }
    return res;
  }

  function rgba(text) {
    var v = (text.match(/[\d.]+/g) || []).map(Number);
    return {r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1};
  }
  function background(el) {
    for (var a = el; a; a = a.parentElement) {
      var bg = getComputedStyle(a).backgroundColor;
      if (rgba(bg).a > 0) return bg;
    }
    return "rgb(255, 255, 255)";
  }
  function luminance(c) {
    function ch(x) { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }
    return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
  }
  function contrast(fg, bg) {
    var f = rgba(fg), b = rgba(bg);
    var mixed = {r: f.r * f.a + b.r * (1 - f.a), g: f.g * f.a + b.g * (1 - f.a),
                 b: f.b * f.a + b.b * (1 - f.a)};
    var l1 = luminance(mixed), l2 = luminance(b);
    return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  }
  function captions() {
    var out = [];
    var caps = document.querySelectorAll("article figcaption, article table > caption");
    for (var m = 0; m < caps.length; m++) {
      var els = [caps[m]].concat(Array.prototype.slice.call(caps[m].querySelectorAll("*")));
      for (var n = 0; n < els.length; n++) {
        var el = els[n];
        var text = Array.prototype.some.call(el.childNodes, function (x) {
          return x.nodeType === 3 && x.textContent.trim(); });
        if (!text || !rendered(el) || el.closest("mjx-container, a.headerlink")) continue;
        var st = getComputedStyle(el), bg = background(el);
        out.push({element: describe(el), ratio: Math.round(contrast(st.color, bg) * 100) / 100,
                  color: st.color, background: bg, weight: parseInt(st.fontWeight, 10)});
      }
    }
    return out;
  }

  function measure() {
    var W = document.documentElement.clientWidth;
    var eqs = document.querySelectorAll('mjx-container[display="true"]');
    var result = {
      width: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
      overflowing: overflowing(W),
      equations: Array.prototype.map.call(eqs, function (eq, i) { return equation(eq, i, W); }),
      figures: Array.prototype.map.call(
        document.querySelectorAll("article figure img, article .cell_output img"), function (img) {
          var link = img.closest("a[href]");
          return {src: img.getAttribute("src"), alt: img.getAttribute("alt"),
                  link: link ? link.getAttribute("href") : null};
        }),
      captions: {light: captions()}
    };
    document.documentElement.dataset.theme = "dark";
    document.documentElement.dataset.mode = "dark";
    result.captions.dark = captions();
    return result;
  }

  function imagesLoaded() {
    return Promise.all(Array.prototype.map.call(document.images, function (img) {
      return img.complete ? null : new Promise(function (done) {
        img.addEventListener("load", done); img.addEventListener("error", done);
      });
    }));
  }
  function report(value) { window.parent.postMessage({layoutResult: JSON.stringify(value)}, "*"); }

  window.addEventListener("load", function () {
    var math = window.MathJax && MathJax.startup && MathJax.startup.promise
      ? MathJax.startup.promise : Promise.resolve();
    Promise.all([math, imagesLoaded(), document.fonts ? document.fonts.ready : null])
      .then(function () { return new Promise(function (done) { setTimeout(done, 500); }); })
      .then(function () { report(measure()); })
      .catch(function (err) { report({error: String(err)}); });
  });
})();
"""

_FRAME = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><style>body {{ margin: 0 }} iframe {{ border: 0; display: block }}</style></head>
<body><iframe src="{src}" width="{width}" height="{height}"></iframe><pre id="layout-result"></pre>
<script>
window.addEventListener("message", function (event) {{
  if (event.data && event.data.layoutResult)
    document.getElementById("layout-result").textContent = event.data.layoutResult;
}});
</script></body></html>
"""


def _chromium_flags(chromium, budget_ms):
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", f"--virtual-time-budget={budget_ms}"]


def _dump_dom(flags, frame, width, height):
    """The DOM of ``frame`` once its scripts ran, in a window ``width`` x ``height``."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(flags + [f"--user-data-dir={profile}", f"--window-size={max(width, 500)},{height}",
                                       "--dump-dom", frame.as_uri()],
                              capture_output=True, text=True, timeout=180, check=True).stdout


def _screenshot(flags, frame, shot, width, height):
    """A screenshot of ``frame`` cropped to ``width`` (a window cannot be narrower than 500 px)."""
    from PIL import Image

    shot.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(flags + [f"--user-data-dir={profile}", f"--window-size={max(width, 500)},{height}",
                                f"--screenshot={shot}", frame.as_uri()],
                       capture_output=True, timeout=180, check=True)
    with Image.open(shot) as image:
        image.crop((0, 0, width, image.height)).save(shot)


def _probe_result(dom, who):
    """The JSON the injected script posted to the frame (``who`` names the page in errors)."""
    match = re.search(r'<pre id="layout-result">(.*?)</pre>', dom, re.S)
    assert match and match.group(1).strip(), f"{who}: the probe reported nothing"
    result = json.loads(unescape(match.group(1)))
    assert not (isinstance(result, dict) and "error" in result), f"{who}: the probe failed: {result}"
    return result


def _layout(chromium, page, width):
    """What ``_PROBE`` measured on ``page`` in a viewport ``width`` px wide (and a screenshot)."""
    source = HTML / f"{page}.html"
    # next to the page, so that its relative URLs (styles, scripts, images) resolve
    probe = source.with_name(f"_layout-probe-{width}-{source.stem}.html")
    frame = source.with_name(f"_layout-frame-{width}-{source.stem}.html")
    text = source.read_text()
    assert "</body>" in text, f"{page}: no </body> in the built page"
    flags = _chromium_flags(chromium, 30000)
    try:
        probe.write_text(text.replace("</body>", f"<script>{_PROBE}</script></body>", 1))
        frame.write_text(_FRAME.format(src=probe.name, width=width, height=900))
        dom = _dump_dom(flags, frame, width, 900)
        if width < 1280:
            # a screenshot at this width (the 1280 px one is taken by _render)
            frame.write_text(_FRAME.format(src=source.name, width=width, height=2400))
            _screenshot(flags, frame, SHOTS / f"{page.replace('/', '_')}-{width}.png", width, 2400)
    finally:
        probe.unlink(missing_ok=True)
        frame.unlink(missing_ok=True)
    return _probe_result(dom, f"{page} at {width} px")


_layout_cache = {}


def _measured(page, width):
    if (page, width) not in _layout_cache:
        _layout_cache[page, width] = _layout(_browser(), page, width)
    return _layout_cache[page, width]


def _listing(items, keys):
    return "\n".join("  " + ", ".join(f"{k}={item[k]}" for k in keys) for item in items[:15]) + \
        (f"\n  ... and {len(items) - 15} more" if len(items) > 15 else "")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", _toc_pages())
def test_page_fits_the_screen(page, width):
    """Nothing wider than the screen except in a scroll box; display equations fit or scroll."""
    layout = _measured(page, width)
    assert layout["width"] == width, f"{page}: the viewport is {layout['width']} px, not {width}"
    problems = []
    if layout["overflowing"]:
        problems.append(f"elements past the right edge ({width} px) outside any scroll box:\n"
                        + _listing(layout["overflowing"], ("element", "right", "width")))
    if layout["scrollWidth"] > width:
        problems.append(f"the page scrolls sideways: {layout['scrollWidth']} px wide")
    bad = [e for e in layout["equations"] if not e["ok"]]
    if bad:
        problems.append("display equations neither fit nor scroll in their own box:\n"
                        + _listing(bad, ("equation", "number", "width", "how")))
    assert not problems, f"{page} at {width} px:\n" + "\n".join(problems)


def _is_image_file(page, href):
    return any(path.is_file() and path.suffix.lower() in (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")
               for _, _, path in _local_files(page, [href]))


@pytest.mark.parametrize("page", _toc_pages())
def test_figures_open_full_size(page):
    """On a phone a figure is shrunk to the column: tapping it opens the image itself."""
    figures = _measured(page, 390)["figures"]
    unlinked = [f["src"] for f in figures if not f["link"] or not _is_image_file(page, f["link"])]
    assert not unlinked, f"{page}: figures without a link to their full-size image: {unlinked}"


@pytest.mark.parametrize("page", _toc_pages())
def test_figures_have_alt_text(page):
    """Alternative text says what a figure shows (Sphinx's default, the file name, does not)."""
    figures = _measured(page, 390)["figures"]
    missing = [f["src"] for f in figures
               if not (f["alt"] or "").strip()
               or re.search(r"\.(png|svg|jpe?g|gif|webp)$", f["alt"].strip(), re.I)
               or f["alt"].strip() == f["src"]]
    assert not missing, f"{page}: figures without alternative text (or with a file name as alt): {missing}"


@pytest.mark.parametrize("page", _toc_pages())
def test_captions_are_readable(page):
    """Caption text: contrast >= 4.5:1 with its background (WCAG AA), not a light font weight."""
    captions = _measured(page, 390)["captions"]
    for mode, found in captions.items():
        low = [c for c in found if c["ratio"] < 4.5 or c["weight"] < 400]
        assert not low, f"{page} ({mode} mode): captions hard to read:\n" + \
            _listing(low, ("element", "ratio", "color", "background", "weight"))


def test_api_page_is_clean():
    """No autodoc "Alias for field number N" filler; the docstrings' math is typeset."""
    parsed, _ = _parsed("book/api")
    text = "".join(parsed.text)
    assert "Alias for field number" not in text, "API page: NamedTuple fields without a docstring"
    assert parsed.math > 0 and parsed.math_errors == 0, "API page: no typeset math"


# --- interactive figures: the data the chapter computed, drawn and driven in the browser -------

#: Pages with an interactive figure (latent_notes.interactive): every chapter has at least one.
INTERACTIVE_PAGES = ["book/intro", "book/em", "book/gmlc", "book/elbo", "book/reparameterization",
                     "book/vqvae", "book/pixelcnn", "book/microbiota"]

#: A chapter's HTML plus the images and data it alone uses (issue 16).
PAGE_BUDGET_BYTES = 3_000_000

# Runs inside the page: for each interactive figure, what is shown at first, after a tap on a
# cell or a move of the slider, and after a key press (grid) or the "previous" button (slider,
# whose arrow keys are the browser's own range input).
_INTERACT = r"""
(function () {
  "use strict";
  function shown(root) {
    var counts = {};
    root.querySelectorAll("g.ln-layer").forEach(function (g) {
      counts[g.getAttribute("data-layer")] = g.childElementCount;
    });
    var value = root.querySelector(".ln-value");
    return {state: root.getAttribute("data-state"), counts: counts,
            readout: (root.querySelector(".ln-readout") || {}).textContent,
            value: value ? value.textContent : null,
            selected: root.querySelectorAll(".ln-cell.ln-selected").length,
            svgs: root.querySelectorAll("svg.ln-svg").length,
            staticLeft: root.querySelectorAll("img.ln-static").length,
            minTextPx: smallestText(root),
            width: Math.round(root.getBoundingClientRect().width)};
  }
  // the smallest text of the SVG panels in CSS px (a panel is scaled to its box)
  function smallestText(root) {
    var least = Infinity;
    root.querySelectorAll("svg.ln-svg").forEach(function (node) {
      var scale = node.getBoundingClientRect().width / node.viewBox.baseVal.width;
      node.querySelectorAll("text").forEach(function (t) {
        if (t.textContent.trim()) least = Math.min(least, parseFloat(getComputedStyle(t).fontSize) * scale);
      });
    });
    return least === Infinity ? null : Math.round(least * 10) / 10;
  }
  // the state to switch to: of the states whose checked count differs from the first
  // state's, the one with the largest count (the most telling tap); else the far end
  function target(spec) {
    var c = spec.control, initial = c.initial, best = null, most = -1;
    (spec.checks || []).forEach(function (k) {
      if (k.state === initial) return;
      var atStart = (spec.checks || []).filter(function (j) {
        return j.state === initial && j.layer === k.layer; })[0];
      if (atStart && atStart.count !== k.count && k.count > most) { most = k.count; best = k.state; }
    });
    if (best !== null) return best;
    return initial === c.n - 1 ? 0 : c.n - 1;
  }
  function run(mode) {
    var out = [];
    document.querySelectorAll("div.ln-interactive").forEach(function (root, index) {
      var spec = JSON.parse(root.querySelector("script.ln-data").textContent);
      var rec = {index: index, spec: spec, error: root.getAttribute("data-error"), ready: root.classList.contains("ln-ready")};
      if (!rec.ready) { out.push(rec); return; }
      rec.before = shown(root);
      var goal = target(spec);
      rec.target = goal;
      if (mode === "before") { if (index === 0) root.scrollIntoView(); out.push(rec); return; }
      if (spec.control.type === "slider") {
        var range = root.querySelector("input.ln-range");
        range.value = goal;
        range.dispatchEvent(new Event("input", {bubbles: true}));
      } else {
        root.querySelector('.ln-cell[data-index="' + goal + '"]')
          .dispatchEvent(new MouseEvent("click", {bubbles: true}));
      }
      rec.after = shown(root);
      if (mode === "after") { if (index === 0) root.scrollIntoView(); out.push(rec); return; }
      var focusable = spec.control.type === "slider" ? root.querySelector("button.ln-step")
                                                     : root.querySelector("svg.ln-focusable");
      focusable.focus();
      rec.focused = document.activeElement === focusable;
      var st = getComputedStyle(focusable);
      rec.focusOutline = st.outlineStyle !== "none" && parseFloat(st.outlineWidth) >= 2;
      if (spec.control.type === "slider") focusable.click();
      else focusable.dispatchEvent(new KeyboardEvent("keydown", {key: "ArrowLeft", bubbles: true}));
      rec.key = shown(root);
      out.push(rec);
    });
    return out;
  }
  window.addEventListener("load", function () {
    setTimeout(function () {
      var mode = window.LN_TEST_MODE || "probe", result;
      try { result = run(mode); } catch (err) { result = {error: String(err)}; }
      window.parent.postMessage({layoutResult: JSON.stringify(result)}, "*");
    }, 300);
  });
})();
"""


def _interact(chromium, page, width=1280, mode="probe", shot=None):
    """Run ``_INTERACT`` on ``page`` at ``width``; with ``shot``, also take a screenshot of it."""
    source = HTML / f"{page}.html"
    probe = source.with_name(f"_interact-{mode}-{width}-{source.stem}.html")
    frame = source.with_name(f"_interact-frame-{mode}-{width}-{source.stem}.html")
    script = f"<script>window.LN_TEST_MODE = {json.dumps(mode)};</script><script>{_INTERACT}</script>"
    flags = _chromium_flags(chromium, 15000)
    try:
        probe.write_text(source.read_text().replace("</body>", script + "</body>", 1))
        frame.write_text(_FRAME.format(src=probe.name, width=width, height=1100))
        dom = _dump_dom(flags, frame, width, 1100)
        if shot is not None:
            _screenshot(flags, frame, shot, width, 1100)
    finally:
        probe.unlink(missing_ok=True)
        frame.unlink(missing_ok=True)
    return _probe_result(dom, page)


def _expected_marks(layer, state):
    """How many SVG elements the page's script draws for ``layer`` in ``state``."""
    lay = dict(layer, **(layer.get("states") or [{}] * (state + 1))[state])
    per = {"points": lambda: len(lay["x"]), "ellipses": lambda: 2 * len(lay["cx"]),
           "cells": lambda: len(lay["on"]), "bars": lambda: 2 * len(lay["values"])}
    return per.get(lay["type"], lambda: 1)()


def _check_shown(page, spec, shown, state, when):
    where = f"{page}, {when}"
    control = spec["control"]
    assert shown["state"] == str(state), f"{where}: shows state {shown['state']}, expected {state}"
    assert shown["value"] == control["values"][state], f"{where}: the control says {shown['value']!r}"
    if spec["readout"]:
        assert shown["readout"] == spec["readout"][state], f"{where}: readout {shown['readout']!r}"
    if control["type"] == "grid":
        assert shown["selected"] == 1, f"{where}: {shown['selected']} cells marked as selected"
    for p, pan in enumerate(spec["panels"]):
        for i, layer in enumerate(pan["layers"]):
            name = layer.get("name") or f"{layer['type']}-{p}-{i}"
            assert shown["counts"].get(name) == _expected_marks(layer, state), \
                f"{where}: layer {name} draws {shown['counts'].get(name)} marks, the data has " \
                f"{_expected_marks(layer, state)}"
    for check in spec["checks"]:
        if check["state"] == state:
            assert shown["counts"].get(check["layer"]) == check["count"], \
                f"{where}: layer {check['layer']} shows {shown['counts'].get(check['layer'])} marks; " \
                f"the chapter computed {check['count']}"


def _interactive_result(page):
    key = (page, "interact")
    if key not in _layout_cache:
        _layout_cache[key] = _interact(_browser(), page)
    return _layout_cache[key]


@pytest.mark.parametrize("page", INTERACTIVE_PAGES)
def test_interactive_figures_respond(page):
    """Each interactive figure draws its data, and a tap (or the slider) and a key change it."""
    results = _interactive_result(page)
    assert results, f"{page}: no interactive figure on the page"
    for rec in results:
        spec, where = rec["spec"], f"{page} figure {rec['index'] + 1}"
        assert rec["ready"] and not rec["error"], f"{where}: the script did not draw it: {rec['error']}"
        before, after, key = rec["before"], rec["after"], rec["key"]
        assert before["staticLeft"] == 0 and before["svgs"] == len(spec["panels"]), \
            f"{where}: the static PNG was not replaced by {len(spec['panels'])} SVG panels"
        _check_shown(page, spec, before, spec["control"]["initial"], "at first")
        goal = rec["target"]
        assert goal != spec["control"]["initial"]
        _check_shown(page, spec, after, goal, "after the interaction")
        changed = [name for name in before["counts"] if before["counts"][name] != after["counts"][name]]
        assert after["readout"] != before["readout"] or changed, f"{where}: nothing changed"
        control = spec["control"]
        if control["type"] == "grid":
            r, c = divmod(goal, control["cols"])
            expected = r * control["cols"] + max(c - 1, 0)
        else:
            expected = max(goal - 1, 0)
        assert rec["focused"] and rec["focusOutline"], f"{where}: the control shows no focus outline"
        _check_shown(page, spec, key, expected, "after a key press" if control["type"] == "grid"
                     else "after the 'previous' button")


@pytest.mark.parametrize("page", INTERACTIVE_PAGES)
def test_interactive_screenshots(page):
    """Screenshots of the first interactive figure before and after the interaction, at both
    widths (look at them: _build/screenshots/interactive/)."""
    chromium = _browser()
    for width in WIDTHS:
        states = []
        for mode in ("before", "after"):
            shot = SHOTS / "interactive" / f"{page.replace('/', '_')}-{width}-{mode}.png"
            result = _interact(chromium, page, width, mode, shot)
            assert shot.stat().st_size > 10_000, f"{page}: blank screenshot {shot}"
            states.append(result[0][mode]["state"])
            assert result[0][mode]["width"] <= width, f"{page} at {width} px: the figure is wider than the screen"
            for rec in result:
                small = rec[mode]["minTextPx"]
                assert small is None or small >= 11, \
                    f"{page} at {width} px: figure {rec['index'] + 1} has text of {small} CSS px (< 11)"
        assert states[0] != states[1], f"{page} at {width} px: the interaction did not change the figure"


def _page_weight(page):
    source = HTML / f"{page}.html"
    parser = _Page()
    parser.feed(source.read_text())
    files = {path for _, _, path in _local_files(page, [s for s in parser.images if not s.startswith("data:")])
             if path.is_file()}
    return source.stat().st_size + sum(path.stat().st_size for path in files)


@pytest.mark.parametrize("page", INTERACTIVE_PAGES)
def test_page_weight_within_budget(page):
    """The chapter's HTML (with the interactive figures' data inside) plus its own images."""
    _require(HTML.joinpath("index.html").exists(), "no built book in _build/html (run `make book`)")
    weight = _page_weight(page)
    print(f"{page}: {weight / 1e6:.2f} MB")
    assert weight <= PAGE_BUDGET_BYTES, f"{page}: {weight / 1e6:.2f} MB, over the {PAGE_BUDGET_BYTES / 1e6:.0f} MB budget"
