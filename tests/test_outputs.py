"""Outputs other tools read: curated Parquet through Hugging Face `datasets`, DuckDB and Polars
(values equal to pyarrow's), token shards through `datasets.Dataset.from_file` (tokens equal to
the trainer's reader), and the run's data card (every number its stats.json's)."""

import json
import os
import re

# Nothing here may reach the network: `datasets` reads local files only.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from thresher.contracts.schema import DOCUMENT_SCHEMA, SCORES_TYPE, scores_dict  # noqa: E402
from thresher.demo.data import build_demo_inputs  # noqa: E402
from thresher.pipelines import curate, shard  # noqa: E402
from thresher.pipelines.datacard import data_card, run_sources, size_category, write_card  # noqa: E402
from thresher.pipelines.runs import load_stats  # noqa: E402
from thresher.tokenizer.train import train_tokenizer  # noqa: E402
from thresher.trainer.data import TokenShards  # noqa: E402

from conftest import run_cli  # noqa: E402

datasets = pytest.importorskip("datasets")
duckdb = pytest.importorskip("duckdb")
pl = pytest.importorskip("polars")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """The demo crawl curated with the fineweb recipe (every stage fires), then sharded."""
    root = tmp_path_factory.mktemp("outputs")
    build_demo_inputs(root / "input")
    run_dir = root / "run"
    stats = curate.run([str(root / "input" / "*")], str(run_dir), "fineweb", [])
    curated = str(run_dir / "curated" / "*.parquet")
    train_tokenizer([curated], root / "tok", vocab_size=512)
    shard.run(curated, str(root / "tok"), str(root / "shards"), [], sequence_length=64, val_fraction=0.1)
    return {"dir": run_dir, "stats": stats, "glob": curated, "shards": root / "shards", "cache": root / "hf"}


def _by_id(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["id"], r["source_offset"]))


@pytest.fixture(scope="module")
def expected(run) -> list[dict]:
    table = pq.read_table(run["dir"] / "curated")
    assert table.num_rows == run["stats"]["retained"]["docs"] > 0
    assert table.schema.field("scores").type == SCORES_TYPE
    return _by_id(table.to_pylist())


# --- curated Parquet --------------------------------------------------------------------------


def test_curated_parquet_loads_with_datasets(run, expected):
    ds = datasets.load_dataset("parquet", data_files=run["glob"], split="train", cache_dir=str(run["cache"]))
    assert list(ds.features) == DOCUMENT_SCHEMA.names
    assert _by_id(ds.to_list()) == expected


def test_a_run_folder_loads_with_datasets_through_its_card(run, expected):
    """The card's `configs` point `load_dataset(RUN)` at curated/ (not at exclusions/ or errors/)."""
    write_card(str(run["dir"]))
    ds = datasets.load_dataset(str(run["dir"]), split="train", cache_dir=str(run["cache"]))
    assert _by_id(ds.to_list()) == expected


def test_curated_parquet_loads_with_duckdb(run, expected):
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{run['glob']}')")
    assert _by_id([dict(zip(relation.columns, row)) for row in relation.fetchall()]) == expected
    # One score by name, as a user queries it.
    key = "gopher_quality.stop_words"
    rows = duckdb.sql(
        f"SELECT id, source_offset, map_from_entries(scores)['{key}'] FROM read_parquet('{run['glob']}')"
    ).fetchall()
    want = {(r["id"], r["source_offset"]): scores_dict(r["scores"])[key] for r in expected}
    assert {(i, o): v for i, o, v in rows} == want


def test_curated_parquet_loads_with_polars(run, expected):
    df = pl.read_parquet(run["glob"])
    assert _by_id(df.to_dicts()) == expected
    # The long form (id, key, value), then one column per score: what an analysis wants.
    wide = df.select("id", "source_offset", "scores").explode("scores").unnest("scores")
    wide = wide.pivot(on="key", index=["id", "source_offset"], values="value")
    for row in wide.to_dicts():
        stored = scores_dict(next(r for r in expected if r["id"] == row["id"])["scores"])
        assert {k: v for k, v in row.items() if k in stored} == stored


def test_schema_3_scores_still_read_as_a_dict(tmp_path):
    """Runs written before version 4 stored a map; readers (refilter) take both through scores_dict."""
    scores = {"language.score": 0.9, "gopher_quality.stop_words": 7.0}
    old = pa.table({"scores": pa.array([sorted(scores.items())], pa.map_(pa.string(), pa.float64()))})
    pq.write_table(old, tmp_path / "v3.parquet")
    (stored,) = pq.read_table(tmp_path / "v3.parquet").column("scores").to_pylist()
    assert scores_dict(stored) == scores
    assert scores_dict(None) == {} == scores_dict([])


def test_dropped_document_samples_keep_their_scores(run):
    """Every exclusion sample's scores are `<stage>.<signal>` -> number, dedup drops included."""
    for path in sorted((run["dir"] / "exclusions").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            scores = json.loads(line)["scores"]
            assert scores and all("." in k and isinstance(v, float) for k, v in scores.items()), (path.name, scores)


# --- token shards -----------------------------------------------------------------------------


def test_shards_load_with_datasets_from_file(run):
    before = pa.total_allocated_bytes()
    train = TokenShards(run["shards"], "train")
    # The streaming format (version 2) still maps zero-copy: nothing read into Arrow's memory pool.
    assert train.manifest["format_version"] == 2 and pa.total_allocated_bytes() == before
    assert not train._views[0].flags.owndata
    start = 0
    for entry in train.manifest["splits"]["train"]["shards"]:
        ds = datasets.Dataset.from_file(str(run["shards"] / entry["path"]))
        assert ds.data.table.schema.field("tokens").type == pa.list_(pa.uint16(), 65)
        tokens = ds.with_format("numpy")[:]["tokens"]
        assert tokens.shape == (entry["rows"], 65)
        assert (tokens == train.rows(range(start, start + entry["rows"]))).all()
        start += entry["rows"]
    assert start == len(train) > 0


# --- the data card ----------------------------------------------------------------------------


def _number(cell: str) -> float:
    return float(cell.replace(",", "").rstrip("%"))


def test_every_number_of_the_card_funnel_is_stats_json(run):
    stats = load_stats(str(run["dir"]))
    card = data_card(stats, run_sources(str(run["dir"])))
    rows = [line for line in card.split("## Funnel")[1].split("##")[0].splitlines() if line.startswith("| ")][1:]
    expected = []
    for s in stats["stages"]:
        expected.append(s["in"])
        expected += [part for status in ("dropped", "errored") for part in s[status].values()]
    expected.append(stats["retained"])
    assert len(rows) == len(expected)
    for line, part in zip(rows, expected):
        cells = [c.strip() for c in line.strip("|").split("|")][1:]
        for i, metric in enumerate(("docs", "bytes", "chars", "words")):
            assert _number(cells[2 * i]) == part[metric], line
            assert _number(cells[2 * i + 1]) == pytest.approx(100 * part["share"][metric], abs=0.05), line
    # The summary sentence: kept and input totals, as stats.json has them.
    n, pct = r"([\d,]+)", r"\(([\d.]+)%\)"
    pattern = rf"{n} documents kept of {n} input records {pct}: {n} characters of {n} {pct}, {n} words of {n} {pct}, {n} input bytes of {n} {pct}\."
    found = [_number(x) for x in re.search(pattern, card).groups()]
    kept, total = stats["retained"], stats["input"]
    want = []
    for metric in ("docs", "chars", "words", "bytes"):
        want += [kept[metric], total[metric], 100 * kept["share"][metric]]
    assert found == pytest.approx(want, abs=0.05)


def test_card_front_matter_stages_and_sources(run):
    stats = load_stats(str(run["dir"]))
    sources = run_sources(str(run["dir"]))
    card = data_card(stats, sources)
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["license"] == "other" and front["language"] == ["en"]
    assert front["size_categories"] == [size_category(stats["retained"]["docs"])] == ["n<1K"]
    # Every stage, each option the recipe sets with its value, and the drops of each stage.
    for stage in stats["recipe"]["stages"]:
        section = card.split(f"`{stage['name']}` ({stage['kind']})")[1].split("\n### ")[0]
        for key, value in stage.items():
            if key not in ("name", "kind"):
                assert f"| `{key}` | {json.dumps(value)} | recipe |" in section
    assert "| `min_doc_words` | 50 | default | code: Gopher A.1.1" in card  # a default, with its source
    assert sum(sources["kept_by_file"].values()) == stats["retained"]["docs"]
    assert sum(sources["kept_by_crawl"].values()) == stats["retained"]["docs"]
    assert "only e-mail addresses and IP addresses were masked" in card  # the fineweb recipe leaves phones


def test_card_is_deterministic_and_written_by_the_cli(run):
    stats, sources = load_stats(str(run["dir"])), run_sources(str(run["dir"]))
    assert data_card(stats, sources) == data_card(json.loads(json.dumps(stats)), sources)
    assert run_cli("card", [run["dir"]]) == 0
    assert (run["dir"] / "README.md").read_text() == data_card(stats, sources)
