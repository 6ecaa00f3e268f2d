"""`thresher curate` end to end on real WARC files: accounting, outputs, determinism, Dataflow."""

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from thresher.contracts.funnel import check_accounting
from thresher.contracts.schema import scores_dict
from thresher.filters.registry import load_recipe
from thresher.pipelines.curate import run
from thresher.pipelines.readers import RangeReader

from conftest import need_data


def real_inputs() -> list[str]:
    cc = need_data("commoncrawl-records")
    web = need_data("web-warc-samples")
    return [
        str(cc / "*.warc.gz"),
        str(cc / "whirlwind" / "*.warc*.gz"),
        str(web / "*.warc.gz"),
        str(cc / "ccnet-jsonl" / "*.jsonl"),
    ]


def expected_counts(patterns: list[str]) -> Counter:
    """What the reader alone says is in the inputs: documents and read errors per reason."""
    counts = Counter()
    for pattern in patterns:
        for path in sorted(Path("/").glob(pattern.lstrip("/"))):
            with open(path, "rb") as fh:
                for rec in RangeReader(str(path), fh):
                    counts["docs"] += 1
                    if rec.error:
                        counts[f"read:{rec.error}"] += 1
    return counts


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("curate") / "run"
    inputs = real_inputs()
    stats = run(inputs, str(out), "fineweb")
    return inputs, out, stats


@pytest.mark.slow
def test_every_record_is_accounted_for_at_every_stage(real_run):
    inputs, out, stats = real_run
    assert check_accounting(stats) == []
    assert stats["accounting_ok"] is True
    names = [s["name"] for s in stats["stages"]]
    assert names == ["read"] + load_recipe("fineweb").stage_names
    expected = expected_counts(inputs)
    read = stats["stages"][0]
    assert read["in"]["docs"] == expected["docs"] > 100
    for reason, part in read["errored"].items():
        assert part["docs"] == expected[f"read:{reason}"]


@pytest.mark.slow
def test_outputs_match_the_funnel(real_run):
    _, out, stats = real_run
    curated = pq.read_table(out / "curated")
    assert curated.num_rows == stats["retained"]["docs"] > 0
    assert len(set(curated.column("id").to_pylist())) == curated.num_rows
    # Every kept document carries the scores of every filter stage and its language.
    scores = curated.column("scores").to_pylist()[0]
    stages_with_scores = {k.split(".")[0] for k in scores_dict(scores)}
    assert {"language", "gopher_repetition", "gopher_quality", "fineweb_quality"} <= stages_with_scores
    assert set(curated.column("lang").to_pylist()) == {"en"}
    # Every errored record is written with its reason; dropped ones are sampled per reason.
    errors = [json.loads(line) for f in (out / "errors").glob("*.jsonl") for line in f.read_text().splitlines()]
    total_errored = sum(p["docs"] for s in stats["stages"] for p in s["errored"].values())
    assert len(errors) == total_errored
    for s in stats["stages"]:
        for reason, part in s["dropped"].items():
            sample = (out / "exclusions" / f"{s['name']}__{reason}.jsonl").read_text().splitlines()
            assert len(sample) == min(part["docs"], 100)
            assert all(json.loads(line)["text"] is not None or s["name"] == "url_filter" for line in sample)
    assert 0 < stats["retained"]["share"]["docs"] < 1


@pytest.mark.slow
def test_kept_ids_do_not_depend_on_the_number_of_workers(tmp_path):
    inputs = real_inputs()
    one = run(inputs, str(tmp_path / "one"), "fineweb", ["--direct_num_workers=1"])
    two = run(
        inputs, str(tmp_path / "two"), "fineweb", ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    )
    ids_one = sorted(pq.read_table(tmp_path / "one" / "curated").column("id").to_pylist())
    ids_two = sorted(pq.read_table(tmp_path / "two" / "curated").column("id").to_pylist())
    assert ids_one == ids_two and len(ids_one) > 0
    assert one["stages"] == two["stages"]


def _corrupt_inputs(folder: Path) -> None:
    """Good pages beside every kind of bad record the issue names."""
    from thresher.demo.data import demo_articles, paragraphs
    from thresher.pipelines.warc_writer import WarcFileWriter

    def page(article):
        body = "".join(f"<p>{p}</p>" for p in paragraphs(article["text"]))
        return f"<html><head><title>{article['title']}</title></head><body><article><h1>{article['title']}</h1>{body}</article></body></html>".encode()

    articles = demo_articles()[:3]
    warc = WarcFileWriter("mixed.warc.gz", {"isPartOf": "TEST-CRAWL"})
    for i, article in enumerate(articles):
        warc.fetch(f"https://example.com/a{i}", "192.0.2.1", page(article))
    warc.fetch(
        "https://example.com/logo.png",
        "192.0.2.1",
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        content_type="image/png",
    )
    warc.fetch("https://example.com/nul", "192.0.2.1", b"<html>\x00\x01\x02 binary</html>")
    warc.fetch(
        "https://example.com/bad-utf8",
        "192.0.2.1",
        b"<html><body>" + b"\xff\xfe\xc3\x28\xa0\xa1" * 50 + b"</body></html>",
    )
    warc.fetch(
        "https://example.com/huge",
        "192.0.2.1",
        b"<html><body>" + b"<p>all work and no play.</p>" * 1_800_000 + b"</body></html>",
    )
    data = warc.data()
    (folder / "mixed.warc.gz").write_bytes(data)
    (folder / "truncated.warc.gz").write_bytes(data[: len(data) // 2])
    (folder / "empty.warc.gz").write_bytes(b"")
    good = json.dumps({"url": "https://example.org/j", "text": articles[0]["text"]})
    (folder / "docs.jsonl").write_bytes(good.encode() + b"\n{not json\n" + b'{"text": "\xff\xfe"}\n')


@pytest.mark.slow
def test_corrupt_inputs_are_counted_with_their_reasons_and_never_stop_the_run(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _corrupt_inputs(inputs)
    assert (inputs / "mixed.warc.gz").stat().st_size < 2_000_000  # the 50 MB page gzips to almost nothing
    stats = run([str(inputs / "*")], str(tmp_path / "run"), "fineweb")
    assert check_accounting(stats) == []
    errored = {f"{s['name']}:{r}": p["docs"] for s in stats["stages"] for r, p in s["errored"].items()}
    assert errored["read:truncated_gzip"] == 1
    assert errored["read:empty_file"] == 1
    assert errored["read:not_html"] >= 1  # image/png
    assert errored["read:too_large"] >= 1  # the 50 MB page, in both the full and the truncated copy
    assert errored["read:malformed_json"] == 1
    assert errored["read:invalid_utf8"] == 1
    assert errored["extract:binary_body"] >= 1
    dropped = {f"{s['name']}:{r}": p["docs"] for s in stats["stages"] for r, p in s["dropped"].items()}
    assert dropped["extract:invalid_bytes"] >= 1  # no charset decodes it: 77% U+FFFD as declared
    # The good pages of every file were still processed, the truncated copy's first half included.
    language_in = next(s for s in stats["stages"] if s["name"] == "language")["in"]["docs"]
    assert language_in >= 3 + 1 + 1
    errors = [
        json.loads(line) for f in (tmp_path / "run" / "errors").glob("*.jsonl") for line in f.read_text().splitlines()
    ]
    assert {e["reason"] for e in errors} >= {
        "truncated_gzip",
        "empty_file",
        "too_large",
        "malformed_json",
        "binary_body",
    }
