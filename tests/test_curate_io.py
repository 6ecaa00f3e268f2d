"""Input formats, live counters and the `thresher stats` command, on small inputs made here."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.metrics.metric import MetricsFilter

from thresher.cli import main as cli
from thresher.demo.data import demo_articles, demo_foreign, plain_text
from thresher.filters.registry import parse_recipe
from thresher.pipelines.curate import NAMESPACE, curation, run
from thresher.pipelines.runs import load_stats

FAST_RECIPE = parse_recipe(
    {
        "name": "fast",
        "stages": [
            {"name": "extract", "kind": "extract", "method": "resiliparse"},
            {"name": "language", "kind": "fasttext_langid", "languages": ["en"], "threshold": 0.65},
            {"name": "gopher_quality", "kind": "gopher_quality"},
            {"name": "exact_dedup", "kind": "exact_dedup"},
        ],
    }
)


def _docs():
    english = [plain_text(a["title"], a["text"]) for a in demo_articles()[:6]]
    foreign = [plain_text(a["title"], a["text"]) for a in demo_foreign()[:2]]
    texts = english + foreign + [english[0], "too short to keep"]
    return [{"url": f"https://example.com/{i}", "text": t} for i, t in enumerate(texts)]


def test_parquet_and_jsonl_inputs_carry_their_text_through(tmp_path):
    docs = _docs()
    pq.write_table(pa.Table.from_pylist(docs), tmp_path / "docs.parquet")
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    stats = run([str(tmp_path / "docs.*")], str(tmp_path / "run"), FAST_RECIPE)
    stages = {s["name"]: s for s in stats["stages"]}
    assert stages["read"]["in"]["docs"] == 2 * len(docs)
    assert stages["language"]["dropped"]["not_kept_language"]["docs"] == 4
    assert stages["gopher_quality"]["dropped"]["gopher_short_doc"]["docs"] == 2
    # 6 distinct English articles, each in both files and one repeated: 14 copies, 6 survivors.
    assert stages["exact_dedup"]["dropped"]["duplicate"]["docs"] == 14 - 6
    kept = pq.read_table(tmp_path / "run" / "curated")
    assert kept.num_rows == 6
    assert set(kept.column("source_format").to_pylist()) <= {"parquet", "jsonl"}
    assert set(kept.column("dedup_cluster_size").to_pylist()) <= {2, 4}


def test_counters_match_stats_json(tmp_path):
    docs = _docs()
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs) + "{broken\n")
    out = tmp_path / "run"
    run = curation([str(tmp_path / "docs.jsonl")], str(out), FAST_RECIPE)
    run.run()
    counters = {
        r.key.metric.name: r.committed
        for r in run.result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    }
    stats = load_stats(str(out))
    for stage in stats["stages"]:
        assert counters[f"{stage['name']}.in"] == stage["in"]["docs"]
        for status in ("dropped", "errored"):
            for reason, part in stage[status].items():
                assert counters[f"{stage['name']}.{status}.{reason}"] == part["docs"]
    assert counters["read.errored.malformed_json"] == 1


def test_stats_command_prints_the_funnel(tmp_path, capsys):
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in _docs()))
    run([str(tmp_path / "docs.jsonl")], str(tmp_path / "run"), FAST_RECIPE)
    capsys.readouterr()
    assert cli(["stats", str(tmp_path / "run")]) == 0
    table = capsys.readouterr().out
    for label in (
        "read (in)",
        "language (in)",
        "dropped language:not_kept_language",
        "dropped exact_dedup:duplicate",
        "retained",
    ):
        assert label in table
