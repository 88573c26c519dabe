"""The project's wiring: chapters collected by pytest, config, and Binder's environment."""

import re
import sys
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names of packages whose PyPI name differs.
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch"}


def _split_requirement(req):
    match = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", req)
    name, spec = match.group(1), match.group(2).replace(" ", "")
    return name.lower().replace("_", "-"), spec


def test_environment_yml_agrees_with_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    wanted = dict(_split_requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["book"])

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    declared, pip_entries = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_entries = dep["pip"]
            continue
        name, spec = _split_requirement(dep)
        if name in ("python", "pip"):
            continue
        declared[CONDA_TO_PYPI.get(name, name)] = spec
    installs_itself = False
    for entry in pip_entries:
        if entry.strip() in ("-e .", "."):
            installs_itself = True
            continue
        name, spec = _split_requirement(entry)
        declared[name] = spec
    assert installs_itself, "environment.yml must install the package itself (pip: -e .)"
    assert declared == wanted


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for f in files:
        assert (ROOT / f"{f}.md").exists(), f
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in (ROOT / "book").rglob("*.md")}
    assert on_disk == set(files)


def test_chapters_are_jupytext_notebooks_that_import_from_the_package():
    import jupytext

    chapters = [p for p in (ROOT / "book").glob("*.md") if "kernelspec:" in p.read_text()[:600]]
    assert {p.stem for p in chapters} >= {"intro", "em"}
    for path in chapters:
        nb = jupytext.read(path)
        assert nb.metadata["kernelspec"]["name"] == "python3"
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "latent_notes" in code, f"{path.name} should use the tested package"
        assert not re.search(r"^class \w+", code, flags=re.M), f"{path.name} defines a class"


def test_book_config_fails_on_errors_and_renders_math_offline():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "force"
    assert config["execute"]["raise_on_error"] is True
    assert config["only_build_toc_files"] is True
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
    assert {"dollarmath", "amsmath", "colon_fence"} <= set(config["parse"]["myst_enable_extensions"])
    assert config["launch_buttons"]["binderhub_url"] and config["launch_buttons"]["colab_url"]
    assert config["bibtex_bibfiles"] == ["references.bib"]


CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{{code-cell}} ipython3
import os
x = 2
```

```{{code-cell}} ipython3
:tags: [skip-execution]

raise RuntimeError("a skip-execution cell must not run")
```

A check cell:

```{{code-cell}} ipython3
assert os.path.basename(os.getcwd()) == "book"
assert x + 1 == {expected}, "the formula and the code disagree"
```
"""


@pytest.fixture
def book_project(pytester):
    pytester.makeconftest((ROOT / "conftest.py").read_text())
    book = pytester.mkdir("book")
    (book / "page.md").write_text("# A plain page\n\nNo kernel here.\n")
    return book


def _run(pytester):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env", "book")


def test_collector_runs_a_chapter_and_honours_skip_execution(pytester, book_project):
    (book_project / "good.md").write_text(CHAPTER.format(expected=3))
    result = _run(pytester)
    result.assert_outcomes(passed=2, skipped=1)


def test_collector_fails_when_a_check_cell_fails(pytester, book_project):
    (book_project / "bad.md").write_text(CHAPTER.format(expected=4))
    result = _run(pytester)
    result.assert_outcomes(passed=1, skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*the formula and the code disagree*"])
    assert result.ret != 0
