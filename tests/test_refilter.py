"""`thresher refilter`: stricter thresholds on stored scores give what a fresh curate gives, and
nothing is scored again."""

import json

import pyarrow.parquet as pq
import pytest
import yaml

from thresher.cli import main as cli
from thresher.contracts.funnel import check_accounting
from thresher.contracts.schema import SCHEMA_VERSION, to_row
from thresher.demo.data import demo_articles, demo_foreign, plain_text
from thresher.filters import langid
from thresher.filters.base import Decision, DocumentFilter
from thresher.filters.c4 import C4QualityFilter
from thresher.filters.gopher import GopherQualityFilter
from thresher.filters.langid import LanguageFilter
from thresher.filters.registry import parse_recipe
from thresher.pipelines import curate
from thresher.pipelines.refilter import Redecider, skipped_stages
from thresher.pipelines.runs import load_stats


def _recipe(name: str, language_threshold: float, min_doc_words: int) -> dict:
    return {
        "name": name,
        "stages": [
            {"name": "extract", "kind": "extract", "method": "resiliparse"},
            {"name": "language", "kind": "fasttext_langid", "languages": ["en"], "threshold": language_threshold},
            {"name": "gopher_quality", "kind": "gopher_quality", "min_doc_words": min_doc_words},
            {"name": "exact_dedup", "kind": "exact_dedup"},
        ],
    }


FAST = _recipe("fast", 0.65, 50)  # datatrove's defaults (FineWeb)
STRICT = _recipe("strict", 0.9, 300)


def _text(article) -> str:
    return plain_text(article["title"], article["text"])


def _head(text: str, words: int) -> str:
    """The first lines of `text` that hold about `words` words: a shorter, still well-formed page."""
    kept, n = [], 0
    for line in text.split("\n"):
        if n >= words:
            break
        kept.append(line)
        n += len(line.split())
    return "\n".join(kept)


def _mixed(english: str, foreign: str, share: float) -> str:
    """English lines, then foreign ones: fastText still says English, with less confidence."""
    e, f = english.split("\n"), foreign.split("\n")
    return "\n".join(e[: int(len(e) * share)] + f[: max(1, int(len(f) * (1 - share)))])


def _docs() -> list[dict]:
    articles, foreign = demo_articles(), demo_foreign()
    full = [_text(a) for a in articles[:6]]  # 400-500 words, English score > 0.94: both recipes keep them
    short = [_head(_text(a), 200) for a in articles[6:9]]  # > 50 and < 300 words
    mixed = [_mixed(_text(articles[0]), _text(foreign[0]), 0.5), _mixed(_text(articles[3]), _text(foreign[3]), 0.6)]
    texts = full + short + mixed + [_text(foreign[1]), full[0], short[0], "too short to keep"]
    return [{"url": f"https://example.com/{i}", "text": t} for i, t in enumerate(texts)]


# Every way a refilter could recompute what it must only read; each records its call, then fails.
TEXT_DEPENDENT = [
    (DocumentFilter, "__call__"),
    (LanguageFilter, "score"),
    (LanguageFilter, "identify"),
    (GopherQualityFilter, "score"),
    (langid, "load_fasttext"),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("refilter")
    (tmp / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in _docs()))
    (tmp / "strict.yaml").write_text(yaml.safe_dump(STRICT))
    curate.run([str(tmp / "docs.jsonl")], str(tmp / "loose"), parse_recipe(FAST))
    curate.run([str(tmp / "docs.jsonl")], str(tmp / "fresh"), parse_recipe(STRICT))
    calls = []

    def recorder(name):
        def fail(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"refilter called {name}")

        return fail

    with pytest.MonkeyPatch.context() as mp:
        for owner, method in TEXT_DEPENDENT:
            mp.setattr(owner, method, recorder(f"{owner.__name__}.{method}"))
        rc = cli(
            [
                "refilter",
                "--input",
                str(tmp / "loose" / "curated" / "*.parquet"),
                "--output",
                str(tmp / "strict"),
                "--recipe",
                str(tmp / "strict.yaml"),
            ]
        )
    return {
        "dir": tmp,
        "rc": rc,
        "calls": calls,
        "loose": load_stats(str(tmp / "loose")),
        "fresh": load_stats(str(tmp / "fresh")),
        "refiltered": load_stats(str(tmp / "strict")),
    }


def _ids(run_dir) -> set[str]:
    return set(pq.read_table(run_dir / "curated", columns=["id"]).column("id").to_pylist())


def test_refilter_keeps_exactly_what_a_fresh_curate_with_the_stricter_recipe_keeps(runs):
    loose, fresh, refiltered = (_ids(runs["dir"] / name) for name in ("loose", "fresh", "strict"))
    assert refiltered == fresh
    assert len(refiltered) == 6 and len(loose) == 6 + 3 + 2  # the stricter thresholds removed something


def test_refilter_drops_with_the_stage_and_reason_of_each_threshold(runs):
    stages = {s["name"]: s for s in runs["refiltered"]["stages"]}
    assert {r: p["docs"] for r, p in stages["language"]["dropped"].items()} == {"below_threshold": 2}
    assert {r: p["docs"] for r, p in stages["gopher_quality"]["dropped"].items()} == {"gopher_short_doc": 3}
    samples = runs["dir"] / "strict" / "exclusions" / "gopher_quality__gopher_short_doc.jsonl"
    assert len(samples.read_text().splitlines()) == 3


def test_refilter_funnel_starts_from_the_stored_documents_and_adds_up(runs):
    stats = runs["refiltered"]
    assert runs["rc"] == 0
    assert stats["pipeline"] == "refilter"
    assert [s["name"] for s in stats["stages"]] == ["read", "language", "gopher_quality"]
    assert stats["stages"][0]["in"]["docs"] == runs["loose"]["retained"]["docs"]
    assert stats["retained"]["docs"] == runs["fresh"]["retained"]["docs"]
    assert check_accounting(stats) == [] and stats["accounting_ok"]


def test_refilter_computes_no_score_and_loads_no_model(runs):
    assert runs["calls"] == []
    assert not any(s["errored"] for s in runs["refiltered"]["stages"])


def test_stages_with_nothing_to_decide_are_listed_as_skipped(runs):
    skipped = {s["name"]: s["reason"] for s in runs["refiltered"]["skipped_stages"]}
    assert skipped == {"extract": "no_decision", "exact_dedup": "no_decision"}


def test_kept_rows_are_written_unchanged(runs):
    before = {r["id"]: r for r in pq.read_table(runs["dir"] / "loose" / "curated").to_pylist()}
    after = pq.read_table(runs["dir"] / "strict" / "curated")
    assert after.schema.metadata[b"thresher.schema_version"] == str(SCHEMA_VERSION).encode()
    for row in after.to_pylist():
        assert row == before[row["id"]]


# Redecider on single rows: no Beam.


def _row(text: str, scores: dict) -> dict:
    return to_row({"id": "doc-1", "url": "https://example.com/", "text": text, "scores": scores})


RIVER = (
    "The river rose quickly after the storm passed over the valley.\n"
    "Farmers moved their animals to higher ground before the water arrived.\n"
    "By morning the old bridge was under water and the road was closed.\n"
    "Volunteers filled sandbags near the school all through the next day."
)


def test_c4_is_redecided_from_its_stored_sentence_count(monkeypatch):
    c4_scores = C4QualityFilter().score({"text": RIVER})  # 4 sentences: TFDS's minimum of 3 keeps it
    monkeypatch.setattr(C4QualityFilter, "score", lambda self, doc: pytest.fail("C4 scored the text again"))
    row = _row(RIVER, {f"c4.{k}": v for k, v in c4_scores.items()})
    recipe = parse_recipe(
        {
            "stages": [
                {"name": "extract", "kind": "extract"},
                {"name": "c4", "kind": "c4_quality", "min_num_sentences": 5},
            ]
        }
    )
    outcome, _ = Redecider(recipe).process(row)
    assert (outcome.status, outcome.label) == ("dropped", "c4:too_few_sentences")


def test_a_stage_the_input_run_did_not_have_is_passed_and_reported():
    recipe = parse_recipe(
        {
            "stages": [
                {"name": "extract", "kind": "extract"},
                {"name": "language", "kind": "fasttext_langid"},
                {"name": "toxicity", "kind": "bad_words"},
            ]
        }
    )
    outcome, unchecked = Redecider(recipe).process(_row(RIVER, {"language.score": 0.97, "language.kept_language": 1.0}))
    assert outcome.status == "kept" and unchecked == ["toxicity"]
    toxicity = skipped_stages(recipe, {"toxicity": 7})[-1]
    assert (toxicity["name"], toxicity["reason"], toxicity["docs"]) == ("toxicity", "no_stored_scores", 7)


def test_a_stored_stage_without_a_signal_decide_needs_is_an_error():
    recipe = parse_recipe(
        {"stages": [{"name": "extract", "kind": "extract"}, {"name": "language", "kind": "fasttext_langid"}]}
    )
    outcome, _ = Redecider(recipe).process(_row(RIVER, {"language.score": 0.97}))
    assert (outcome.status, outcome.label) == ("errored", "language:missing_score")
    assert outcome.doc["error_detail"] == "no stored score language.kept_language"


def test_fields_that_decide_sets_are_applied_to_kept_documents(monkeypatch):
    monkeypatch.setattr(LanguageFilter, "decide", lambda self, scores: Decision(True, fields={"domain": "news"}))
    recipe = parse_recipe(
        {"stages": [{"name": "extract", "kind": "extract"}, {"name": "language", "kind": "fasttext_langid"}]}
    )
    outcome, _ = Redecider(recipe).process(_row(RIVER, {"language.score": 0.97, "language.kept_language": 1.0}))
    assert outcome.doc["domain"] == "news"


def test_a_decide_only_language_filter_loads_no_model_and_decides_as_the_full_one(monkeypatch):
    full = LanguageFilter(threshold=0.9)
    monkeypatch.setattr("thresher.filters.langid.load_fasttext", lambda *a, **k: pytest.fail("model loaded"))
    light = LanguageFilter.for_decide(threshold=0.9)
    for scores in (
        {"score": 0.95, "kept_language": 1.0},
        {"score": 0.8, "kept_language": 1.0},
        {"score": 0.99, "kept_language": 0.0},
    ):
        assert light.decide(scores) == full.decide(scores)
