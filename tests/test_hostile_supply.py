"""Supply chain: every model a recipe names by URL comes with its sha256 (or an explicit `skip`),
and every copy is checked when it is loaded, cache hits included; and an install with the pip that
Python ships gets every package the code needs.

Models are tiny fastText classifiers trained here and served over HTTP from 127.0.0.1 by a server
in a thread; "hostile" is a second model with the same labels that a tampered cache or a changed
remote file would hand over instead.
"""

import ensurepip
import inspect
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from thresher.cli import main as cli
from thresher.contracts.errors import UsageError
from thresher.contracts.files import SKIP, ChecksumError, cached_path, fetch, file_sha256, is_sha256
from thresher.contracts.recipe import RecipeError, pinned_options
from thresher.filters.classifier import FastTextClassifierFilter
from thresher.filters.fasttext_model import load_fasttext, train_supervised
from thresher.filters.langid import LID176_SHA256, LanguageFilter, lid176_path
from thresher.filters.registry import STAGE_KINDS, build_stage, builtin_recipes, load_recipe, parse_recipe, stage_class
from thresher.filters.toxicity import FastTextToxicityFilter

from conftest import serve_folder

TEXTS = ("fine clear prose", "click here buy now")


def _train(good: str, bad: str):
    return train_supervised([("good", good), ("bad", bad)] * 20, dim=8, bucket=1000, thread=1, verbose=0, seed=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, served folder, requests per path): `tiny.bin` and, at `hostile.bin`, a model with
    the same labels that scores the other way round."""
    root = tmp_path_factory.mktemp("served")
    _train(*TEXTS).save_model(str(root / "tiny.bin"))
    _train(*reversed(TEXTS)).save_model(str(root / "hostile.bin"))
    with serve_folder(root) as (url, requests):
        yield url, root, requests


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A fresh model cache, and no model kept in memory from another test."""
    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "cache"))
    load_fasttext.cache_clear()
    yield tmp_path / "cache"
    load_fasttext.cache_clear()


def _recipe(**stage) -> dict:
    return {"name": "t", "stages": [{"name": "extract", "kind": "extract"}, {"name": "judge", **stage}]}


# One stage per kind that loads a model, with the option that names it.
MODEL_STAGES = {
    "fasttext_classifier": {"kind": "fasttext_classifier", "label": "good", "threshold": 0.5},
    "fasttext_domain": {"kind": "fasttext_domain", "label": "good", "threshold": 0.5},
    "fasttext_toxicity": {"kind": "fasttext_toxicity", "label": "__label__bad", "threshold": 0.5},
    "fasttext_langid": {"kind": "fasttext_langid", "languages": ["good"], "threshold": 0.5},
}
MODEL_OPTION = {"fasttext_toxicity": "model_path", "fasttext_langid": "model_path"}


def _stage(kind: str, location: str, **extra) -> dict:
    return {**MODEL_STAGES[kind], MODEL_OPTION.get(kind, "model"): location, **extra}


def test_every_stage_option_that_names_a_model_is_pinned_by_a_sha256_option():
    """The policy covers every kind: an option called `model...` is a PinnedFile, and the stage takes
    the checksum option it points to."""
    loaders = set()
    for kind in STAGE_KINDS:
        cls = stage_class(kind)
        if cls is None:
            continue
        parameters = inspect.signature(cls).parameters
        named = {p for p in parameters if "model" in p}
        assert named == set(pinned_options(cls)), kind
        assert all(checksum in parameters for checksum in pinned_options(cls).values()), kind
        loaders |= {kind} if named else set()
    assert loaders == set(MODEL_STAGES)


@pytest.mark.parametrize("kind", sorted(MODEL_STAGES))
@pytest.mark.parametrize("url", ["https://models.example/m.bin", "gs://bucket/m.bin"])
def test_a_recipe_naming_a_model_url_without_sha256_is_refused_at_load(kind, url, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(_recipe(**_stage(kind, url))))
    with pytest.raises(RecipeError) as error:
        load_recipe(str(path))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: stage 'judge' ({kind}): {MODEL_OPTION.get(kind, 'model')} '{url}'")
    assert "add `sha256: <its sha256, 64 hex digits>` to the stage, or `sha256: skip`" in message


@pytest.mark.parametrize("value", ["abc", "0" * 63, "g" * 64, "SKIP", "", 123])
def test_a_sha256_that_is_neither_64_hex_digits_nor_skip_is_refused_at_load(value):
    with pytest.raises(RecipeError, match="stage 'judge'.*sha256"):
        parse_recipe(_recipe(**_stage("fasttext_classifier", "https://models.example/m.bin", sha256=value)))


def test_a_recipe_with_a_local_model_or_a_url_with_sha256_or_skip_loads_and_downloads_nothing(server):
    base, root, requests = server
    before = dict(requests)
    for kind in MODEL_STAGES:
        parse_recipe(_recipe(**_stage(kind, str(root / "tiny.bin"))))
        parse_recipe(_recipe(**_stage(kind, f"{base}/tiny.bin", sha256=SKIP)))
        parse_recipe(_recipe(**_stage(kind, f"{base}/tiny.bin", sha256="A" * 64)))  # either case
    assert requests == before  # loading a recipe fetches nothing


def test_a_built_in_recipe_pins_every_remote_model_it_names():
    """`skip` is for a user trying a model out; what ships is pinned (none names a URL today)."""
    for name in builtin_recipes():
        for stage in load_recipe(name).stages:
            cls = stage_class(stage.kind)
            for option, checksum in pinned_options(cls).items() if cls else ():
                if "://" in str(stage.options.get(option, "")):
                    assert is_sha256(stage.options.get(checksum, "")), (name, stage.name)


def test_a_pinned_url_is_downloaded_once_and_scores_as_the_local_file(server, cache):
    base, root, requests = server
    sha = file_sha256(root / "tiny.bin")
    recipe = parse_recipe(_recipe(**_stage("fasttext_classifier", f"{base}/tiny.bin?pinned", sha256=sha)))
    remote, local = build_stage(recipe.stages[1]), FastTextClassifierFilter(root / "tiny.bin", "good", 0.5)
    for text in TEXTS:
        assert remote.score({"text": text}) == local.score({"text": text})
    assert fetch(f"{base}/tiny.bin?pinned", sha) == cached_path(f"{base}/tiny.bin?pinned", sha)
    assert requests["/tiny.bin?pinned"] == 1


def test_a_stage_built_from_code_refuses_a_url_without_sha256_before_any_request(server):
    base, _, requests = server
    for build in (
        lambda url: FastTextClassifierFilter(url, label="good", threshold=0.5),
        lambda url: FastTextToxicityFilter(url, label="__label__bad", threshold=0.5),
        lambda url: LanguageFilter(model_path=url),
    ):
        with pytest.raises(UsageError, match="needs its sha256"):
            build(f"{base}/tiny.bin?code")
    assert "/tiny.bin?code" not in requests


def test_a_cached_model_changed_after_its_download_is_refused_not_loaded(server, cache):
    base, root, requests = server
    url, sha = f"{base}/tiny.bin?tampered", file_sha256(root / "tiny.bin")
    cached = fetch(url, sha)
    shutil.copyfile(root / "hostile.bin", cached)  # what a writable cache directory allows
    with pytest.raises(ChecksumError, match=r"changed after it was downloaded; delete it to download it again"):
        FastTextClassifierFilter(url, label="good", threshold=0.5, sha256=sha)
    assert requests["/tiny.bin?tampered"] == 1  # refused, not silently downloaded again
    cached.unlink()
    assert FastTextClassifierFilter(url, label="good", threshold=0.5, sha256=sha).score({"text": TEXTS[0]})
    assert requests["/tiny.bin?tampered"] == 2


def test_a_remote_file_that_no_longer_matches_its_pin_is_refused_and_not_cached(server, cache):
    base, root, _ = server
    with pytest.raises(ChecksumError, match="sha256 of .*hostile.bin is"):
        FastTextToxicityFilter(f"{base}/hostile.bin", "__label__bad", 0.5, sha256=file_sha256(root / "tiny.bin"))
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_skip_trusts_the_first_download_warns_with_its_sha256_and_checks_the_cached_copy_after(server, cache, caplog):
    base, root, requests = server
    url, sha = f"{base}/tiny.bin?skip", file_sha256(root / "tiny.bin")
    recipe = parse_recipe(_recipe(**_stage("fasttext_classifier", url, sha256=SKIP)))
    with caplog.at_level(logging.WARNING, logger="thresher.contracts.files"):
        build_stage(recipe.stages[1])
    assert any(sha in r.getMessage() and "without a checksum" in r.getMessage() for r in caplog.records)
    assert fetch(url, SKIP) == cached_path(url, sha)  # kept under its sha256, as a pinned copy is
    assert requests["/tiny.bin?skip"] == 1
    shutil.copyfile(root / "hostile.bin", cached_path(url, sha))
    load_fasttext.cache_clear()
    with pytest.raises(ChecksumError, match="changed after it was downloaded"):
        build_stage(recipe.stages[1])


def test_skip_keeps_the_first_download_when_the_remote_file_changes(server, cache, tmp_path):
    base, root, requests = server
    served = root / "changing.bin"
    shutil.copyfile(root / "tiny.bin", served)
    first = fetch(f"{base}/changing.bin", SKIP)
    shutil.copyfile(root / "hostile.bin", served)
    try:
        assert fetch(f"{base}/changing.bin", SKIP) == first
        assert file_sha256(first) == file_sha256(root / "tiny.bin")
        assert requests["/changing.bin"] == 1
    finally:
        served.unlink()


def test_a_local_model_is_checked_against_a_given_sha256(server):
    _, root, _ = server
    model, sha = root / "tiny.bin", file_sha256(root / "tiny.bin")
    for accepted in (None, SKIP, sha, sha.upper()):
        FastTextClassifierFilter(model, label="good", threshold=0.5, sha256=accepted)
    with pytest.raises(ChecksumError, match=f"expected {'0' * 64}"):
        FastTextToxicityFilter(model, label="__label__bad", threshold=0.5, sha256="0" * 64)


def test_the_bundled_lid176_is_pinned_in_code_and_checked_when_loaded(server, monkeypatch):
    _, root, _ = server
    assert file_sha256(lid176_path()) == LID176_SHA256
    assert LanguageFilter().identify("The quick brown fox jumps over the lazy dog.")[0] == "en"
    monkeypatch.setattr("thresher.filters.langid.lid176_path", lambda: str(root / "hostile.bin"))
    with pytest.raises(ChecksumError, match=LID176_SHA256):
        LanguageFilter()  # a package that shipped another file under the same name


def test_a_toxicity_stage_with_a_bad_checksum_stops_at_build_and_refilter_loads_nothing(server, monkeypatch):
    _, root, _ = server
    options = {"model_path": str(root / "tiny.bin"), "label": "__label__bad", "threshold": 0.5, "sha256": "0" * 64}
    with pytest.raises(ChecksumError):
        FastTextToxicityFilter(**options)  # at start-up, not as an error on every document
    monkeypatch.setattr("thresher.filters.toxicity.load_fasttext", lambda *a, **k: pytest.fail("model loaded"))
    assert FastTextToxicityFilter.for_decide(**options).decide({"probability": 0.7}).reason == "toxic"


def test_classifier_eval_with_a_model_url_reports_the_missing_or_wrong_sha256_in_one_line(server, tmp_path, capsys):
    base, _, requests = server
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "fine clear prose", "label": 1}\n')
    url = f"{base}/tiny.bin?eval"
    assert cli(["classifier", "eval", "--model", url, "--input", str(data)]) == 2
    assert "/tiny.bin?eval" not in requests
    assert cli(["classifier", "eval", "--model", url, "--input", str(data), "--sha256", "0" * 64]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "needs its sha256" in err[0] and f"expected {'0' * 64}" in err[1]


# --- install: the pip a user's Python ships ------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
# Every module but the trainer's (torch: see below) and `python -m thresher`.
IMPORT_ALL = """
import importlib, pkgutil
for name in ("thresher", "thresher.demo", "thresher.contracts", "thresher.filters", "thresher.pipelines", "thresher.tokenizer"):
    for m in pkgutil.iter_modules(importlib.import_module(name).__path__, name + "."):
        if m.name != "thresher.__main__":
            importlib.import_module(m.name)
from thresher.filters.extract import Extractor
page = "<html><body><article>" + "<p>Herons wait in the shallows below the old mill for the fish.</p>" * 9 + "</article></body></html>"
assert "Herons wait" in Extractor("trafilatura")(page), "trafilatura"
assert "Herons wait" in Extractor("cascade")(page), "cascade"
"""


@pytest.mark.slow
def test_an_install_with_the_pip_python_ships_imports_every_module_and_extracts(tmp_path):
    """A fresh virtual environment with this Python's bundled pip, not upgraded (Python 3.11.7's is
    23.2.1, which drops the `lxml[html_clean]` extra that justext asks for), from the package index
    pip is configured with. torch is left out (a multi-GB download, and only the trainer needs it):
    the other dependencies are installed together, then thresher itself with --no-deps; ~40 s."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    version = subprocess.run([*pip, "--version"], check=True, capture_output=True, text=True).stdout
    assert version.startswith(f"pip {ensurepip.version()} "), version
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11's tomllib")
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    without_torch = [d for d in dependencies if re.match(r"[A-Za-z0-9._-]+", d).group() != "torch"]
    assert len(without_torch) == len(dependencies) - 1
    subprocess.run([*pip, "install", "--quiet", *without_torch], check=True)
    # from a copy: pip builds a local folder in place, and would leave build/ in the checkout
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns(".venv", "build", "dist", ".git", "*.egg-info", "__pycache__", ".*_cache", "runs")
    shutil.copytree(ROOT, src, ignore=ignore)
    subprocess.run([*pip, "install", "--quiet", "--no-deps", str(src)], check=True)
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", IMPORT_ALL], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
