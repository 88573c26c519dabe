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
    for entry in pip_entries:
        name, spec = _split_requirement(entry)
        declared[name] = spec
    assert declared == wanted
    # Binder installs the package itself in postBuild, once the repository is copied.
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert re.search(r"pip install .*-e \.$", post_build.read_text(), flags=re.M)


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
    assert config["launch_buttons"]["binderhub_url"]
    # Colab cannot open Markdown notebooks: no Colab button, a link to the .ipynb instead
    assert not config["launch_buttons"].get("colab_url")
    assert config["sphinx"]["local_extensions"] == {"runtime_note": "_ext/", "authoryear_bib": "_ext/",
                                                   "figure_links": "_ext/"}
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


# ------------------------------------------------------- the reader's experience
CHAPTER_ORDER = ["em", "gmlc", "elbo", "reparameterization", "vqvae", "pixelcnn", "microbiota"]


def _chapters():
    import jupytext

    paths = sorted(p for p in (ROOT / "book").glob("*.md") if "kernelspec:" in p.read_text()[:600])
    return {p.stem: (p, jupytext.read(p)) for p in paths}


def _environment_distributions():
    """Distribution names environment.yml installs (conda and pip), normalised."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        for entry in dep["pip"] if isinstance(dep, dict) else [dep]:
            name, _ = _split_requirement(entry)
            names.add(CONDA_TO_PYPI.get(name, name))
    return names


def _top_level_imports(source):
    import ast

    # IPython magics are not Python: blank them before parsing.
    code = re.sub(r"^(\s*)[%!].*$", r"\1pass", source, flags=re.M)
    modules = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def _assert_chapter_imports_covered(declared, where):
    import importlib.metadata

    # installed with what is declared (ipykernel brings IPython)
    provided_by = {"ipython": "ipykernel"}
    owners = importlib.metadata.packages_distributions()
    for name, (path, nb) in _chapters().items():
        for module in _top_level_imports("\n".join(c.source for c in nb.cells if c.cell_type == "code")):
            if module in sys.stdlib_module_names:
                continue
            dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
            if module == "latent_notes":
                dists = {"latent-notes"}
            assert dists, f"{name}: cannot tell which distribution provides {module!r}"
            dists = {provided_by.get(d, d) for d in dists}
            assert dists & declared, f"{name} imports {module!r} ({dists}), not in {where}"


def test_every_chapter_import_is_installed_by_environment_yml():
    """What Binder installs is enough to run every chapter top to bottom."""
    _assert_chapter_imports_covered(_environment_distributions() | {"latent-notes"}, "environment.yml")


def test_chapters_extra_covers_every_chapter_import():
    """What the Colab install cell installs (`latent-notes[chapters]`) runs every chapter."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_split_requirement(r)[0]
                for r in project["dependencies"] + project["optional-dependencies"]["chapters"]}
    # a Jupyter kernel (Colab's, or any) has IPython already
    _assert_chapter_imports_covered(declared | {"latent-notes", "ipykernel"}, "latent-notes[chapters]")


def test_first_cell_installs_the_package_when_missing():
    """On Colab (no environment.yml) the first cell installs the package from the repository."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"]
    for name, (path, nb) in _chapters().items():
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert "hide-input" in first.metadata.get("tags", []), name
        assert "import latent_notes" in first.source and "except ImportError" in first.source, name
        assert f"git+{repo}" in first.source and "%pip install" in first.source, name
        assert "latent-notes[chapters]" in first.source, name
        # one thread policy for every chapter, applied before any computation
        assert "limit_threads()" in first.source, name
        # one house style for every figure, with its readability check
        assert "use_book_style()" in first.source, name



def test_every_chapter_has_exercises_with_hidden_solutions():
    for name in CHAPTER_ORDER:
        text = (ROOT / "book" / f"{name}.md").read_text()
        labels = re.findall(r"````\{exercise-start\}\n:label: ([\w-]+)", text)
        assert len(labels) >= 2, f"{name}: at least two exercises"
        solutions = re.findall(r"````\{solution-start\} ([\w-]+)\n:class: dropdown\n(.*?)````\{solution-end\}",
                               text, flags=re.S)
        assert {label for label, _ in solutions} == set(labels), f"{name}: every exercise has a hidden solution"
        assert "*(Change the code and observe.)*" in text, f"{name}: one exercise changes code"
        assert any("{code-cell}" in body and "assert" in body for _, body in solutions), \
            f"{name}: one solution runs code with a check"


def test_figures_are_captioned_named_and_referenced():
    for name, (path, nb) in _chapters().items():
        text = path.read_text()
        for cell in nb.cells:
            if cell.cell_type != "code" or not re.search(r"plt\.(subplots|figure)\(", cell.source):
                continue
            figure = cell.metadata.get("mystnb", {}).get("figure", {})
            assert figure.get("caption") and figure.get("name"), f"{name}: uncaptioned figure\n{cell.source[:200]}"
            assert f"{{numref}}`{figure['name']}`" in text, f"{name}: {figure['name']} is never referenced"


def test_chapters_link_to_the_one_before():
    for previous, chapter in zip(CHAPTER_ORDER, CHAPTER_ORDER[1:]):
        text = (ROOT / "book" / f"{chapter}.md").read_text()
        assert f"{{ref}}`{previous}`" in text, f"{chapter} should refer back to {previous}"


def test_errata_page_covers_every_listed_slip_with_a_check():
    errata = (ROOT / "book" / "errata.md").read_text()
    listed = re.findall(r"^\| (\d+) \|", (ROOT.parent / "shared" / "report" / "ERRATA.md").read_text(),
                        flags=re.M) if (ROOT.parent / "shared" / "report" / "ERRATA.md").exists() \
        else [str(i) for i in range(1, 17)]
    sections = dict(re.findall(r"^## (\d+)\. .*?\n(.*?)(?=^## |\Z)", errata, flags=re.M | re.S))
    for number in listed:
        assert number in sections, f"errata item {number} is missing"
        assert "**Checked by**" in sections[number], f"errata item {number} names no check"
        assert re.search(r"\{ref\}|tests/test_", sections[number]), f"errata item {number} links no check"


def _workflow(name):
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job.get("steps", [])]
    return workflow, triggers, runs


def test_pages_workflow_builds_with_the_readme_command_and_deploys():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme
    workflow, triggers, runs = _workflow("book.yml")
    assert "push" in triggers
    assert any(r.strip() == "make book" for r in runs)
    uses = [step.get("uses", "") for job in workflow["jobs"].values() for step in job.get("steps", [])]
    assert any(u.startswith("actions/upload-pages-artifact") for u in uses)
    assert any(u.startswith("actions/deploy-pages") for u in uses)
    assert workflow["permissions"]["pages"] == "write"
    cached = [step["with"]["path"] for job in workflow["jobs"].values() for step in job["steps"]
              if step.get("uses", "").startswith("actions/cache")]
    assert "~/.cache/pip" in cached and "_build/.jupyter_cache" in cached
    # the chapters as .ipynb on the branch the Colab links point to
    sys.path.insert(0, str(ROOT / "_ext"))
    from runtime_note import NOTEBOOK_BRANCH, colab_url

    publish = next(r for r in runs if "jupytext" in r)
    assert f"git push" in publish and NOTEBOOK_BRANCH in publish
    assert colab_url("https://github.com/o/r", "book/em") == \
        f"https://colab.research.google.com/github/o/r/blob/{NOTEBOOK_BRANCH}/book/em.ipynb"


def test_pull_request_workflow_runs_the_ci_script():
    _, triggers, runs = _workflow("tests.yml")
    assert "pull_request" in triggers
    assert any("bash .ci/run" in r for r in runs)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make book" in ci and "browser-test" in ci
