"""The layers import one way: contracts <- filters <- pipelines <- CLI; tokenizer and trainer beside
pipelines (docs/architecture.md). Read from the source with `ast`, so a lazy import inside a
function counts as much as one at the top."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder -> the project packages its modules may import
ALLOWED = {
    "contracts": set(),
    "filters": {"contracts"},
    "tokenizer": {"contracts"},
    "trainer": {"contracts", "tokenizer"},
    "pipelines": {"contracts", "filters", "tokenizer"},
    "thresher": {"contracts", "filters", "tokenizer", "trainer", "pipelines", "thresher"},
}
# third-party packages a layer must never import (DESIGN.md: filters never import Beam or torch)
FORBIDDEN = {
    "contracts": {"apache_beam", "torch"},
    "filters": {"apache_beam", "torch"},
    "tokenizer": {"apache_beam", "torch"},
    "trainer": {"apache_beam"},
}
# ... except here: remote paths (gs://, s3://) are read through Beam's FileSystems, imported inside
# the function that opens one, so that only a user who names a remote path needs apache-beam[gcp].
REMOTE_FILES = "contracts/files.py"
LAYER_OF = {f"thresher.{folder}": folder for folder in ALLOWED if folder != "thresher"}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def layer(module: str) -> str | None:
    """The project layer a module name belongs to (`thresher` alone is the package's version)."""
    if module in ("thresher", "thresher.__version__") or not module.startswith("thresher."):
        return None
    parts = module.split(".")
    return LAYER_OF.get(".".join(parts[:2]), "thresher")


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(folder):
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in imports(path):
            target = layer(module)
            if target is not None and target != folder and target not in ALLOWED[folder]:
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
            if module.split(".")[0] in FORBIDDEN.get(folder, ()) and str(path.relative_to(ROOT)) != REMOTE_FILES:
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not bad, "\n".join(bad)


def test_the_check_sees_an_upward_import(tmp_path):
    path = tmp_path / "x.py"
    path.write_text("def f():\n    from thresher.pipelines.curate import run\n")
    assert layer(next(m for m in imports(path) if m.endswith("curate"))) == "pipelines"
    assert "pipelines" not in ALLOWED["filters"]
