"""Near-duplicate removal on Beam (pipelines/near_dedup.py): connected components equal a union-find's
on any graph, and `thresher curate` with `minhash_dedup` keeps what the in-memory algorithm keeps,
whatever the number of workers, on reruns, per crawl or globally."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from thresher.contracts.funnel import check_accounting
from thresher.filters.dedup import LineDedup, MinHashDedup, dedup_key
from thresher.filters.minhash import NO_SHINGLES, duplicates
from thresher.pipelines.near_dedup import ConnectedComponents, partition_keys, shared_buckets
from thresher.pipelines.readers import RangeReader

from conftest import need_data


def _components(edges) -> dict:
    parent: dict = {}

    def root(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: root(x) for x in parent}


def _graphs():
    rng = random.Random(7)
    chain = list(range(200))
    rng.shuffle(chain)  # a path whose ids are in no order: the slowest case for the rounds
    path = [(chain[i], chain[i + 1]) for i in range(len(chain) - 1)]
    stars = [(c * 100, c * 100 + k) for c in range(5) for k in range(1, 30)]
    random_graph = [(rng.randrange(300), rng.randrange(300)) for _ in range(250)]
    nodes = [(f"id-{i:03d}", i % 7, f"range-{i % 3}") for i in range(60)]  # pipeline nodes are tuples
    tuples = [(nodes[i], nodes[(i * 17 + 5) % 60]) for i in range(40)]
    return {"path": path, "stars": stars, "random": random_graph, "tuples": tuples}


@pytest.mark.parametrize("graph", ["path", "stars", "random", "tuples"])
@pytest.mark.parametrize("rounds", [0, 1, 4])
def test_components_equal_a_union_find_whatever_the_rounds(graph, rounds):
    """0 rounds: the union-find does it all; 4: the rounds settle most edges of a 200-node path."""
    edges = [(min(a, b), max(a, b)) for a, b in _graphs()[graph] if a != b]
    expected = sorted(_components(edges).items())
    with beam.Pipeline() as p:
        roots = p | beam.Create(sorted(set(edges))) | ConnectedComponents(rounds)
        assert_that(roots, equal_to(expected))


def test_band_keys_are_partitioned_whole_and_buckets_found_across_ranges():
    """Every key but NO_SHINGLES lands once, in partition key % P, with its row; a key two ranges
    share is one bucket of both rows, whichever partition it fell in."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, size=(50, 14), dtype=np.uint64)
    b = rng.integers(0, 2**63, size=(30, 14), dtype=np.uint64)
    b[7, 3] = a[12, 3]  # shared by row 12 of range a and row 7 of range b
    a[5] = NO_SHINGLES
    parts = list(partition_keys("a", a, 4)) + list(partition_keys("b", b, 4))
    seen = []
    for partition, (key, keys, rows) in parts:
        keys, rows = np.frombuffer(keys, dtype=np.uint64), np.frombuffer(rows, dtype=np.uint32)
        assert (keys % np.uint64(4) == partition).all()
        seen += [(key, int(r), int(k)) for k, r in zip(keys, rows)]
    expected = [
        (name, r, int(k)) for name, m in (("a", a), ("b", b)) for r in range(len(m)) for k in m[r] if k != NO_SHINGLES
    ]
    assert sorted(seen) == sorted(expected)
    keys = np.array([k for _, _, k in seen], dtype=np.uint64)
    refs = np.array([(name == "b", r) for name, r, _ in seen], dtype=np.uint32)
    assert [bucket.tolist() for bucket in shared_buckets(keys, refs)] == [[[0, 12], [1, 7]]]


def _planted_corpus(tmp_path: Path) -> Path:
    """FOMC statements (real, formulaic: many near-duplicates of each other), plus planted near copies
    of some, in two crawls that share 40 statements; JSONL, one file per crawl."""
    statements = sorted(need_data("fomc-statements", "statements").iterdir())
    rng = random.Random(3)
    out = tmp_path / "in"
    out.mkdir()
    for crawl, first in (("CC-MAIN-2024-10", 0), ("CC-MAIN-2024-18", 40)):
        lines = []
        for i, path in enumerate(statements[first : first + 80], start=first):
            text = path.read_text(encoding="utf-8", errors="replace")
            lines.append({"text": text, "url": f"https://fed.example/{crawl}/{i}", "crawl": crawl})
            if i % 10 == 0:  # a near copy: a few words changed, a boilerplate line added
                words = text.split()
                for j in rng.sample(range(len(words)), k=max(1, len(words) // 60)):
                    words[j] = words[j].upper() + "x"
                lines.append(
                    {
                        "text": " ".join(words) + "\nShare this page.",
                        "url": f"https://m.fed.example/{i}",
                        "crawl": crawl,
                    }
                )
        (out / f"{crawl}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return out


RECIPE = {
    "name": "near",
    "exclusion_samples": 10_000,
    "stages": [
        {"name": "extract", "kind": "extract"},
        {"name": "exact", "kind": "exact_dedup"},
        {"name": "minhash", "kind": "minhash_dedup"},
    ],
}


def _curate(inputs: Path, out: Path, recipe: dict, *extra) -> dict:
    path = out.parent / f"{out.name}.yaml"
    path.write_text(json.dumps(recipe))
    argv = ["curate", "--input", f"{inputs}/*.jsonl", "--output", out, "--recipe", path, "--range-bytes", 65536, *extra]
    done = subprocess.run([sys.executable, "-m", "thresher", *map(str, argv)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "stats.json").read_text())


def _kept(out: Path) -> dict[str, int]:
    rows = [r for f in sorted((out / "curated").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return {r["id"]: r["minhash_cluster_size"] for r in rows}


def _texts(out: Path) -> list[str]:
    return [t for f in sorted((out / "curated").glob("*.parquet")) for t in pq.read_table(f).column("text").to_pylist()]


def _reference(inputs: Path, scope: str, exact: bool) -> set[str]:
    """The kept ids by the in-memory algorithm (filters/minhash.py `duplicates`), after exact dedup
    (the smallest id of each normalised text) when `exact`."""
    records = []
    for path in sorted(inputs.glob("*.jsonl")):
        with open(path, "rb") as fh:
            records += list(RangeReader(str(path), fh))
    if exact:
        first = {}
        for r in sorted(records, key=lambda r: r.id):
            first.setdefault(dedup_key(r.text), r)
        records = list(first.values())
    keys = MinHashDedup(scope=scope).band_keys([r.text for r in records], [r.crawl for r in records])
    ids = [r.id for r in records]
    return set(ids) - set(duplicates(ids, keys))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("near")
    inputs = _planted_corpus(tmp)
    one = _curate(inputs, tmp / "one", RECIPE, "--workers", 1)
    return {"inputs": inputs, "tmp": tmp, "one": one}


def test_the_pipeline_keeps_what_the_in_memory_algorithm_keeps(corpus):
    kept = _kept(corpus["tmp"] / "one")
    assert set(kept) == _reference(corpus["inputs"], "crawl", exact=True)
    stats = corpus["one"]
    assert check_accounting(stats) == []
    minhash = next(s for s in stats["stages"] if s["name"] == "minhash")
    dropped = minhash["dropped"]["duplicate"]["docs"]
    assert dropped >= 16  # at least every planted near copy
    assert minhash["in"]["docs"] - dropped == len(kept)
    # every kept document's cluster counts itself and the documents that name it as their survivor
    samples = [json.loads(line) for line in (corpus["tmp"] / "one" / "exclusions" / "minhash__duplicate.jsonl").open()]
    assert len(samples) == dropped
    named = {}
    for s in samples:
        named[s["duplicate_of"]] = named.get(s["duplicate_of"], 0) + 1
    assert all(kept[survivor] == 1 + n for survivor, n in named.items())
    assert all(size == 1 for doc_id, size in kept.items() if doc_id not in named)


def test_two_workers_and_a_rerun_keep_the_same_documents(corpus):
    two = corpus["tmp"] / "two"
    _curate(corpus["inputs"], two, RECIPE, "--workers", 2)
    assert _kept(two) == _kept(corpus["tmp"] / "one")
    rerun = corpus["tmp"] / "rerun"
    _curate(corpus["inputs"], rerun, RECIPE, "--workers", 2)
    assert _kept(rerun) == _kept(two)


def test_each_crawl_is_deduplicated_on_its_own_unless_global(corpus):
    kept = {}
    for scope in ("crawl", "global"):
        stages = [RECIPE["stages"][0], {"name": "minhash", "kind": "minhash_dedup", "scope": scope}]
        _curate(corpus["inputs"], corpus["tmp"] / scope, {**RECIPE, "stages": stages}, "--workers", 2)
        kept[scope] = _kept(corpus["tmp"] / scope)
        assert set(kept[scope]) == _reference(corpus["inputs"], scope, exact=False)
    # the crawls share 40 statements: per crawl both copies of many stay, globally never
    texts = {scope: _texts(corpus["tmp"] / scope) for scope in kept}
    assert len(texts["crawl"]) - len(set(texts["crawl"])) >= 20
    assert len(texts["global"]) == len(set(texts["global"]))


def test_thresher_dedup_on_curated_parquet_keeps_what_curate_with_the_stages_keeps(corpus):
    """Curate without dedup, then `thresher dedup` with the recipe: the same documents, cluster
    sizes and funnel counts as curate running the dedup stages itself; the extract stage, per
    document, is listed as not run."""
    plain = corpus["tmp"] / "plain"
    _curate(corpus["inputs"], plain, {**RECIPE, "stages": RECIPE["stages"][:1]}, "--workers", 1)
    recipe = corpus["tmp"] / "dedup-recipe.yaml"
    recipe.write_text(json.dumps(RECIPE))
    out = corpus["tmp"] / "dedup"
    argv = ["dedup", "--input", f"{plain}/curated/*.parquet", "--output", out, "--recipe", recipe, "--workers", 2]
    done = subprocess.run([sys.executable, "-m", "thresher", *map(str, argv)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _kept(out) == _kept(corpus["tmp"] / "one")
    stats = json.loads((out / "stats.json").read_text())
    assert check_accounting(stats) == []
    by_name = {s["name"]: s for s in stats["stages"]}
    for name in ("exact", "minhash"):
        want = next(s for s in corpus["one"]["stages"] if s["name"] == name)
        assert by_name[name]["dropped"]["duplicate"]["docs"] == want["dropped"]["duplicate"]["docs"] > 0
    assert [s["name"] for s in stats["skipped_stages"]] == ["extract"]


# -- line dedup (TFDS C4's dedupe_lines)

NEWS = [
    "The river rose three feet overnight after the storm passed through the valley.",
    "Farmers moved their cattle to higher ground before the water reached the fields.",
    "The council has promised a full review of the flood defences next spring.",
    "Residents said the warning sirens were hard to hear in the outlying villages.",
    "Volunteers filled sandbags at the fire station until late in the evening.",
    "Schools in the lower town will stay closed until the roads are cleared.",
]
BOILERPLATE = "Subscribe to our newsletter for the latest news and offers from our team."


def _line_corpus(folder: Path) -> Path:
    """Pages sharing news lines and boilerplate in different mixes, some repeating a line within
    themselves, one made only of lines found elsewhere."""
    rng = random.Random(5)
    folder.mkdir()
    lines = []
    for i in range(40):
        own = [f"Report {chr(97 + i % 26)}{chr(97 + i // 26)}: the weather service warned the region again today."]
        body = own + rng.sample(NEWS, k=rng.randint(2, 6)) + [BOILERPLATE] * rng.randint(0, 2)
        if i % 7 == 0:
            body.append(body[1])  # a line twice in one page
        lines.append({"text": "\n".join(body), "url": f"https://news.example/{i}"})
    lines.append({"text": "\n".join(NEWS[:3]), "url": "https://news.example/only-shared-lines"})
    (folder / "pages.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


LINE_RECIPE = {
    "name": "lines",
    "exclusion_samples": 1000,
    "stages": [{"name": "extract", "kind": "extract"}, {"name": "lines", "kind": "line_dedup"}],
}


def _line_reference(inputs: Path) -> dict[str, str | None]:
    """{id: kept text, or None when dropped}: each line's owner is the smallest id holding it."""
    with open(inputs / "pages.jsonl", "rb") as fh:
        records = list(RangeReader(str(inputs / "pages.jsonl"), fh))
    owner = {}
    for r in sorted(records, key=lambda r: r.id):
        for key in LineDedup.line_hashes(r.text):
            owner.setdefault(key, r.id)
    stage = LineDedup()
    out = {}
    for r in records:
        remove = {key for key in LineDedup.line_hashes(r.text) if owner[key] != r.id}
        text, reason = stage.apply(r.text, remove)
        out[r.id] = None if reason else text
    return out


def test_line_dedup_keeps_each_line_once_in_the_smallest_id_and_drops_what_is_left_too_short(tmp_path):
    inputs = _line_corpus(tmp_path / "in")
    expected = _line_reference(inputs)
    for workers in (1, 2):
        out = tmp_path / f"run{workers}"
        stats = _curate(inputs, out, LINE_RECIPE, "--workers", workers)
        assert check_accounting(stats) == []
        rows = [r for f in sorted((out / "curated").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
        assert {r["id"]: r["text"] for r in rows} == {i: t for i, t in expected.items() if t is not None}
        stage = next(s for s in stats["stages"] if s["name"] == "lines")
        dropped = sum(part["docs"] for part in stage["dropped"].values())
        assert dropped == sum(t is None for t in expected.values()) and dropped > 0
        assert stage["dropped"]["empty"]["docs"] == 1  # the page of shared lines only
        assert stage["kept"]["chars"] == sum(len(r["text"]) for r in rows)  # the funnel counts what is left
    # every line of the kept texts appears once in the whole output
    all_lines = [line.strip().lower() for r in rows for line in r["text"].split("\n")]
    assert len(all_lines) == len(set(all_lines))
