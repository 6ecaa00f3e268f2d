"""The wheel that the Dockerfile installs (`pip install .`) carries every stage and its data files.

Docker has no engine on the CI machines, so the image cannot be built there; this checks the
same install step: a non-editable build of the package, as Dataflow workers get it.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
