"""Crawl-scale runs: ids that depend on the record alone, offsets that seek, ranges that cover every
record once, resume after kill -9, refused stale output, clear errors, progress on a terminal."""

import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator as WarcioIterator

from thresher.contracts.schema import document_id
from thresher.pipelines.readers import RangeReader, plan_ranges
from thresher.pipelines.runs import load_stats

from conftest import need_data

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "name": "tiny",
    "stages": [
        {"name": "extract", "kind": "extract", "method": "resiliparse"},
        {"name": "exact_dedup", "kind": "exact_dedup"},
    ],
}


def _warcs() -> list[Path]:
    return sorted(need_data("web-warc-samples").glob("*.warc.gz")) + sorted(
        need_data("commoncrawl-records").glob("*.warc.gz")
    )


def _records(path: Path, range_bytes: int) -> list:
    size = path.stat().st_size
    out = []
    with open(path, "rb") as fh:
        for start, end in plan_ranges(str(path), size, range_bytes):
            out += list(RangeReader(str(path), fh, start, end))
    return out


def _warcio_documents(path: Path) -> int:
    """Response and resource records, counted independently of thresher's reader (warcio)."""
    with open(path, "rb") as fh:
        return sum(r.rec_type in ("response", "resource", "conversion") for r in WarcioIterator(fh))


def _big_warc(tmp_path: Path) -> Path:
    """The shared WARCs' members, concatenated into one file: a file with many ranges."""
    path = tmp_path / "joined.warc.gz"
    path.write_bytes(b"".join(p.read_bytes() for p in _warcs()))
    return path


def test_ranges_read_every_record_exactly_once(tmp_path):
    path = _big_warc(tmp_path)
    whole = _records(path, 1 << 40)
    for range_bytes in (4096, 50_000, 300_000):
        split = _records(path, range_bytes)
        assert [(r.id, r.source_offset, r.error) for r in split] == [(r.id, r.source_offset, r.error) for r in whole]
    # every document-bearing record is in the funnel: warcio's own count, minus wget's metadata
    # resources that are not pages (thresher counts those as non-document records)
    assert len(whole) >= 0.9 * _warcio_documents(path) > 100


def test_every_record_reads_back_from_its_compressed_offset(tmp_path):
    for path in _warcs():
        data = path.read_bytes()
        for rec in _records(path, 50_000):
            member = data[rec.source_offset : rec.source_offset + rec.source_length]
            (warc,) = list(WarcioIterator(io.BytesIO(member)))  # one gzip member, one record
            record_id = warc.rec_headers.get_header("WARC-Record-ID")
            assert record_id == rec.record_id
            assert rec.id == document_id(record_id, None, None, None, "")
            assert (warc.rec_headers.get_header("WARC-Target-URI") or "").strip("<>") == (rec.url or "")


def _member_starts(data: bytes) -> list[int]:
    starts, pos = [], 0
    while pos < len(data):
        inflate = zlib.decompressobj(wbits=31)
        inflate.decompress(data[pos:])
        starts.append(pos)
        pos = len(data) - len(inflate.unused_data)
    return starts


def test_a_corrupt_member_costs_that_member_only_whatever_the_ranges(tmp_path):
    path = _big_warc(tmp_path)
    data = bytearray(path.read_bytes())
    starts = _member_starts(bytes(data))
    documents = {r.source_offset for r in _records(path, 1 << 40)}
    k = next(k for k in range(len(starts) // 2, len(starts)) if starts[k] in documents)  # a page's member
    for i in range(starts[k] + 20, starts[k] + 60):  # inside the deflate stream: the member does not inflate
        data[i] ^= 0xFF
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(bytes(data))
    whole = _records(bad, 1 << 40)
    errors = [r for r in whole if r.error == "corrupt_gzip"]
    assert (
        len(errors) == 1
        and errors[0].source_offset == starts[k]
        and errors[0].source_length == starts[k + 1] - starts[k]
    )
    assert len(whole) == len(_records(path, 1 << 40))  # the damaged member's record became its error
    # ranges that end just before, at and just after the damaged member, and many others
    sizes = [starts[k] - 1, starts[k], starts[k] + 1, starts[k - 1] + 1] + list(range(3000, 400_000, 39_119))
    for range_bytes in sizes:
        split = _records(bad, range_bytes)
        assert [(r.id, r.source_offset, r.error) for r in split] == [(r.id, r.source_offset, r.error) for r in whole]


def test_a_plain_warc_reads_on_after_a_broken_record(tmp_path):
    data = _big_warc(tmp_path).read_bytes()
    plain = b"".join(
        zlib.decompress(data[a:b], 31) for a, b in zip(_member_starts(data), [*_member_starts(data)[1:], len(data)])
    )
    i = plain.find(b"WARC/1.", len(plain) // 2)
    (tmp_path / "ok.warc").write_bytes(plain)
    (tmp_path / "broken.warc").write_bytes(plain[:i] + b"WARX/9.9\r\ngarbage\r\n\r\n" + plain[i + 8 :])
    ok, broken = _records(tmp_path / "ok.warc", 1 << 40), _records(tmp_path / "broken.warc", 1 << 40)
    assert [r.error for r in broken].count("corrupt_record") == 1
    assert {r.id for r in ok} - {r.id for r in broken} <= {r.id for r in ok if r.source_offset >= i - 100_000}
    assert len(broken) >= len(ok) - 1  # one record lost at most, and counted


def test_jsonl_fields_of_other_types_and_lone_surrogates(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "abc \\ud800"}\n{"text": "fine", "url": 123, "date": 20240101}\n')
    first, second = _records(path, 1 << 40)
    assert first.error == "invalid_utf8"
    assert (second.error, second.url, second.fetch_date) == (None, "123", "20240101")


def test_a_file_whose_bytes_are_not_what_its_name_says_is_read_once(tmp_path):
    lines = b"".join(json.dumps({"text": f"document {i}"}).encode() + b"\n" for i in range(2000))
    path = tmp_path / "docs.jsonl"  # gzipped, named as a plain JSONL file: no line boundaries to split at
    path.write_bytes(gzip.compress(lines))
    assert len(_records(path, 4096)) == 2000


def test_ids_depend_on_the_record_not_on_the_path(tmp_path):
    src = need_data("commoncrawl-records", "resiliparse-CC-MAIN-2020-34-sample.warc.gz")
    for folder in ("a", "b/c"):
        (tmp_path / folder).mkdir(parents=True)
        shutil.copy(src, tmp_path / folder / "copy.warc.gz")
    one = sorted(r.id for r in _records(tmp_path / "a" / "copy.warc.gz", 1 << 40))
    two = sorted(r.id for r in _records(tmp_path / "b" / "c" / "copy.warc.gz", 10_000))
    assert one == two and len(set(one)) == len(one) > 10


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run over a file of many ranges, for resume to be compared with."""
    tmp = tmp_path_factory.mktemp("reference")
    path = _big_warc(tmp)
    recipe = tmp / "tiny.yaml"
    recipe.write_text(json.dumps(TINY))
    out = tmp / "run"
    assert run_cli(path, out, recipe) == 0
    return path, recipe, out


def curate(*argv) -> subprocess.CompletedProcess:
    """`thresher curate ARGV...` in a process of its own, its output captured."""
    return subprocess.run([sys.executable, "-m", "thresher", "curate", *map(str, argv)], capture_output=True, text=True)


def run_cli(path, out, recipe, *extra, **popen):
    argv = ["--input", path, "--output", out, "--recipe", recipe, "--range-bytes", 65536, *extra]
    if popen:
        command = [sys.executable, "-m", "thresher", "curate", *map(str, argv)]
        return subprocess.Popen(command, start_new_session=True, **popen)
    return curate(*argv).returncode


def _files(run: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(run)): p.read_bytes()
        for p in sorted(run.rglob("*"))
        if p.is_file() and "_work" not in p.parts
    }


@pytest.mark.slow
def test_a_run_killed_midway_resumes_to_the_same_outputs(reference, tmp_path):
    path, recipe, ref = reference
    out = tmp_path / "run"
    proc = run_cli(path, out, recipe, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((out / "_work" / "ranges").glob("*.done.json")) and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((out / "_work" / "ranges").glob("*.done.json")))
    assert 0 < done and not (out / "stats.json").exists()
    assert run_cli(path, out, recipe) == 0
    assert _files(out) == _files(ref)
    assert json.loads((out / "stats.json").read_text())["accounting_ok"]


def test_an_output_holding_another_run_is_refused_unless_overwrite(reference, tmp_path):
    path, recipe, ref = reference
    other = tmp_path / "other.yaml"
    other.write_text(json.dumps({**TINY, "name": "other"}))
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    proc = curate("--input", path, "--output", out, "--recipe", other)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("thresher curate: error: --output")
    assert "another run" in proc.stderr and "--overwrite" in proc.stderr
    assert run_cli(path, out, other, "--overwrite") == 0
    assert load_stats(str(out))["recipe"]["name"] == "other"


def test_the_same_command_on_a_complete_run_does_nothing(reference):
    path, recipe, ref = reference
    before = _files(ref)
    assert run_cli(path, ref, recipe) == 0
    assert _files(ref) == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--input", "/nowhere/*.warc.gz"], "--input '/nowhere/*.warc.gz' matches no files"),
        (["--output", "{file}/run"], "cannot write to --output"),
        (["--recipe", "{bad_recipe}"], "min_doc_words: Input should be a valid integer (got '50')"),
        (["--recipie", "c4"], "unknown option --recipie (neither this command's nor a Beam PipelineOption)"),
    ],
)
def test_user_errors_stop_before_any_work_with_one_line(tmp_path, argv, message):
    (tmp_path / "file").write_text("x")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        json.dumps(
            {
                "stages": [
                    {"name": "extract", "kind": "extract"},
                    {"name": "q", "kind": "gopher_quality", "min_doc_words": "50"},
                ]
            }
        )
    )
    src = need_data("web-warc-samples", "warcio-example.warc.gz")
    args = {"--input": str(src), "--output": str(tmp_path / "out"), "--recipe": "fineweb"}
    args.update(dict(zip(argv[::2], argv[1::2])))
    cmd = [a.format(file=tmp_path / "file", bad_recipe=bad) for kv in args.items() for a in kv]
    proc = curate(*cmd)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_progress_shows_on_a_terminal(tmp_path):
    import pty

    src = need_data("web-warc-samples", "ukwa-wikipedia-sopa-blackout-homepage.warc.gz")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(json.dumps(TINY))
    pid, fd = pty.fork()
    if pid == 0:  # the child: thresher curate with a terminal (120 columns) on stderr
        import fcntl
        import struct
        import termios

        fcntl.ioctl(2, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        os.execv(
            sys.executable,
            [
                sys.executable,
                "-m",
                "thresher",
                "curate",
                "--input",
                str(src),
                "--output",
                str(tmp_path / "run"),
                "--recipe",
                str(recipe),
                "--range-bytes",
                "65536",
            ],
        )
    output = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    text = output.decode("utf-8", "replace")
    assert "100%" in text and "records" in text and "rec/s" in text and "B/s" in text, text[-2000:]


def test_a_single_file_is_read_by_every_worker(tmp_path):
    path = _big_warc(tmp_path)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(json.dumps(TINY))
    out = tmp_path / "run"
    assert run_cli(path, out, recipe, "--workers", "2", "--keep-work") == 0
    pids = {json.loads(p.read_text())["worker"] for p in (out / "_work" / "ranges").glob("*.done.json")}
    assert len(pids) == 2


@pytest.mark.slow
def test_remote_paths_from_crawl_to_training(testfs, tmp_path, monkeypatch):
    """curate reads and writes a remote filesystem, tokenizer training and shard read from it, and
    the trainer copies the shards into its cache, checked against the manifest."""
    from thresher.cli import main as cli

    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "cache"))
    (testfs / "crawl").mkdir()
    for path in _warcs():
        shutil.copy(path, testfs / "crawl" / path.name)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(json.dumps(TINY))
    assert (
        cli(
            [
                "curate",
                "--input",
                "testfs://crawl/*.warc.gz",
                "--output",
                "testfs://runs/r1",
                "--recipe",
                str(recipe),
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert (testfs / "runs" / "r1" / "stats.json").is_file() and not (
        testfs / "runs" / "r1" / "_work" / "ranges"
    ).exists()
    curated = "testfs://runs/r1/curated/*.parquet"
    assert (
        cli(["tokenizer", "train", "--input", curated, "--output", str(tmp_path / "tok"), "--vocab-size", "300"]) == 0
    )
    assert (
        cli(
            [
                "shard",
                "--input",
                curated,
                "--tokenizer",
                str(tmp_path / "tok"),
                "--output",
                "testfs://shards",
                "--sequence-length",
                "32",
                "--val-fraction",
                "0.2",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    manifest = json.loads((testfs / "shards" / "manifest.json").read_text())
    assert (
        cli(
            [
                "pretrain",
                "--input",
                "testfs://shards",
                "--output",
                str(tmp_path / "model"),
                "--model",
                "tiny",
                "--steps",
                "2",
                "--warmup",
                "1",
                "--batch-size",
                "2",
                "--grad-accum",
                "1",
                "--device",
                "cpu",
                "--eval-steps",
                "1",
                "--eval-interval",
                "2",
            ]
        )
        == 0
    )
    (cached,) = (tmp_path / "cache" / "shards").iterdir()
    assert json.loads((cached / "manifest.json").read_text()) == manifest
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            assert (cached / shard["path"]).read_bytes() == (testfs / "shards" / shard["path"]).read_bytes()


DATAFLOW_DRY_RUN = [
    "--runner=DataflowRunner",
    "--project=thresher-test",
    "--region=us-central1",
    "--temp_location=gs://thresher-test/tmp",
    "--dry_run=true",
]


@pytest.mark.parametrize("verb", ["curate", "refilter", "shard"])
def test_every_pipeline_translates_for_dataflow_offline(verb, tmp_path, monkeypatch):
    pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient", reason="needs apache-beam[gcp]")
    pytest.importorskip("google.cloud.storage", reason="needs apache-beam[gcp]")
    import apache_beam as beam

    from thresher.cli import main as cli
    from thresher.tokenizer.train import train_tokenizer

    jobs = []
    real_run = beam.Pipeline.run
    monkeypatch.setattr(beam.Pipeline, "run", lambda self, *a, **k: jobs.append(real_run(self, *a, **k)) or jobs[-1])
    argv = {
        "curate": ["--input", "gs://thresher-test/crawl/*.warc.gz", "--output", "gs://thresher-test/run"],
        "refilter": [
            "--input",
            "gs://thresher-test/run/curated/*.parquet",
            "--output",
            "gs://thresher-test/strict",
            "--recipe",
            "fineweb",
        ],
        "shard": [
            "--input",
            "gs://thresher-test/run/curated/*.parquet",
            "--output",
            "gs://thresher-test/shards",
            "--tokenizer",
            str(tmp_path / "tok"),
        ],
    }[verb]
    if verb == "shard":  # read at launch, for the manifest: a local one here (workers need a gs:// one)
        train_tokenizer([str(_write_texts(tmp_path))], tmp_path / "tok", vocab_size=300)
    assert cli([verb, *argv, *DATAFLOW_DRY_RUN]) == 0
    names = {t.unique_name for t in jobs[0].job.proto_pipeline.components.transforms.values()}
    expected = {
        "curate": ["Process", "ExactDedup", "WriteCurated", "WriteStats"],
        "refilter": ["Process", "WriteCurated", "WriteStats"],
        "shard": ["Tokenize", "Pack", "WriteShards", "WriteManifest"],
    }[verb]
    for step in expected:
        assert any(n == step or n.endswith("/" + step) for n in names), step


def _write_texts(tmp_path: Path) -> Path:
    from conftest import write_curated

    texts = [f"document {i}: " + "the quick brown fox jumps over the lazy dog " * (i + 1) for i in range(50)]
    return write_curated(tmp_path / "docs.parquet", [str(i) for i in range(50)], texts)


def test_overwrite_replaces_a_run_and_nothing_else(reference, tmp_path):
    path, recipe, _ = reference
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("not a run")
    inner = tmp_path / "holds-input"
    inner.mkdir()
    shutil.copy(path, inner / "input.warc.gz")
    for out, src, message in [
        (mine, path, "not a thresher run's (notes.txt)"),
        (inner, inner / "input.warc.gz", "lies inside --output"),
    ]:
        proc = curate("--input", src, "--output", out, "--recipe", recipe, "--overwrite")
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert (mine / "notes.txt").read_text() == "not a run" and (inner / "input.warc.gz").is_file()
