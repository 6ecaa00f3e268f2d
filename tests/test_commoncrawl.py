"""Common Crawl access and remote inputs, offline: a threaded server on 127.0.0.1 plays
data.commoncrawl.org (a paths listing, the real Common Crawl WARC files of ../shared/data with
Range support, 503 SlowDown on first attempts, a connection reset) and index.commoncrawl.org (a
paginated CDX API built here from those files); .zst and .gz JSONL against the plain file."""

from __future__ import annotations

import gzip
import io
import json
import math
import random
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.archiveiterator import ArchiveIterator

from thresher.contracts.errors import UsageError
from thresher.contracts.files import match_files
from thresher.pipelines.commoncrawl import crawl_files, select_files
from thresher.pipelines.readers import RangeReader
from thresher.pipelines.remote import RETRY_AFTER_CAP_S, HttpClient, HttpFileError, HttpRangeFile
from thresher.pipelines.runs import match_inputs

from conftest import need_data, run_cli

CRAWL = "CC-MAIN-2020-34"  # the crawl of the resiliparse sample
CC = ("commoncrawl-records",)
SEGMENT_A = "crawl-data/CC-MAIN-2020-34/segments/1597439735792.85/warc"
SEGMENT_B = "crawl-data/CC-MAIN-2020-34/segments/1597439735800.10/warc"
PAGE_SIZE = 3  # captures per CDX page: several pages for a query of a few records
RECIPE = "name: cheap\nstages:\n  - {name: extract, kind: extract, method: resiliparse}\n"


def _warc_records(data: bytes) -> list[tuple[str, int, int, object]]:
    """(type, offset, length, record) of every record of a .warc.gz file's bytes, with its
    headers and raw content (HTTP headers and payload) read."""
    out = []
    it = ArchiveIterator(io.BytesIO(data))
    for rec in it:
        headers = list(rec.rec_headers.headers)
        content = rec.raw_stream.read()
        out.append((rec.rec_type, it.get_record_offset(), None, (headers, content, rec)))
        it.read_to_end(rec)
        out[-1] = (rec.rec_type, it.get_record_offset(), it.get_record_length(), (headers, content, rec))
    return out


class CommonCrawlServer:
    """The files, listings and index of a tiny crawl, over HTTP on 127.0.0.1 (module docstring)."""

    def __init__(self):
        resiliparse = need_data(*CC, "resiliparse-CC-MAIN-2020-34-sample.warc.gz")
        whirlwind = need_data(*CC, "whirlwind", "whirlwind.warc.gz")
        wet = need_data(*CC, "whirlwind", "whirlwind.warc.wet.gz")
        self.files = {
            f"{SEGMENT_A}/{resiliparse.name}": resiliparse,
            f"{SEGMENT_A}/{whirlwind.name}": whirlwind,
            # the same bytes under a second segment: listings are about names
            f"{SEGMENT_B}/copy-{whirlwind.name}": whirlwind,
            f"{SEGMENT_A.replace('/warc', '/wet')}/{wet.name}": wet,
        }
        warc_paths = [p for p in self.files if "/warc/" in p]
        self.listings = {
            f"crawl-data/{CRAWL}/warc.paths.gz": gzip.compress("".join(p + "\n" for p in warc_paths).encode()),
            f"crawl-data/{CRAWL}/wet.paths.gz": gzip.compress(
                "".join(p + "\n" for p in self.files if "/wet/" in p).encode()
            ),
        }
        self.captures = self._index(warc_paths[:2])
        self.slow_down = {f"/{warc_paths[0]}": None, f"/{warc_paths[1]}": "0"}  # first GET: 503 (Retry-After)
        self.reset_once = {"page=1"}  # the first request for CDX page 1 is cut off
        self.log: list[tuple[str, str, str | None, int]] = []  # method, path, Range, status
        self.lock = threading.Lock()

    def _index(self, paths: list[str]) -> list[dict]:
        captures = []
        for path in paths:
            for rtype, offset, length, (headers, _, rec) in _warc_records(self.files[path].read_bytes()):
                if rtype == "response":
                    fields = dict(headers)
                    captures.append(
                        {
                            "url": fields["WARC-Target-URI"],
                            "timestamp": "".join(c for c in fields["WARC-Date"] if c.isdigit()),
                            "status": str(rec.http_headers.get_statuscode()),
                            "mime": rec.http_headers.get_header("Content-Type"),
                            "filename": path,
                            "offset": str(offset),
                            "length": str(length),
                        }
                    )
        # Captures a real index holds too: a redirect (skipped by default), and broken entries
        # (a wrong offset, a missing file, a length past the file's end) for the error reasons.
        first = captures[0]
        captures += [
            {**first, "url": "http://redirect.example.org/", "status": "301"},
            {**first, "url": "http://bad-offset.example.org/", "offset": str(int(first["offset"]) + 1)},
            {**first, "url": "http://gone.example.org/", "filename": f"{SEGMENT_A}/missing.warc.gz"},
            {
                **first,
                "url": "http://short.example.org/",
                "offset": str(self.files[first["filename"]].stat().st_size - 10),
            },
        ]
        return sorted(captures, key=lambda c: c["url"])

    @staticmethod
    def matches(pattern: str, url: str) -> bool:
        """The CDX server's URL patterns: `*.domain` (and its subdomains), `prefix*`, or one URL."""
        if pattern.startswith("*."):
            host = urllib.parse.urlsplit(url).hostname or ""
            return host == pattern[2:] or host.endswith(pattern[1:])
        return url.startswith(pattern[:-1]) if pattern.endswith("*") else url == pattern

    def respond(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        path = parsed.path.lstrip("/")
        sent_range = handler.headers.get("Range")
        with self.lock:
            if path == f"{CRAWL}-index" and parsed.query.split("&")[-1] in self.reset_once:
                self.reset_once.discard(parsed.query.split("&")[-1])
                self.log.append((handler.command, handler.path, sent_range, 0))
                handler.close_connection = True
                handler.connection.close()  # no response at all: a connection reset
                return
            slow = handler.path in self.slow_down and not head
            retry_after = self.slow_down.pop(handler.path, None) if slow else None
        if path == "always-slow":
            slow, retry_after = True, None
        if slow:
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return self._send(handler, 503, b"<Error><Code>SlowDown</Code></Error>", headers, head)
        if path == f"{CRAWL}-index":
            query = dict(urllib.parse.parse_qsl(parsed.query))
            found = [c for c in self.captures if self.matches(query["url"], c["url"])]
            pages = math.ceil(len(found) / PAGE_SIZE)
            if "showNumPages" in query:
                body = json.dumps({"pages": pages, "pageSize": PAGE_SIZE, "blocks": pages}).encode()
                return self._send(handler, 200, body, {}, head)
            page = found[int(query.get("page", 0)) * PAGE_SIZE :][:PAGE_SIZE]
            if not page:
                return self._send(handler, 404, b"No Captures found", {}, head)
            return self._send(handler, 200, "".join(json.dumps(c) + "\n" for c in page).encode(), {}, head)
        if path in self.listings:
            data = self.listings[path]
        elif path in self.files:
            data = self.files[path].read_bytes()
        else:
            return self._send(handler, 404, b"NoSuchKey", {}, head)
        if sent_range is None or parsed.query == "no-ranges":  # a server that ignores Range
            return self._send(handler, 200, data, {"Accept-Ranges": "bytes"}, head)
        first, _, last = sent_range.removeprefix("bytes=").partition("-")
        first, last = int(first), min(int(last), len(data) - 1)
        if first >= len(data):
            return self._send(handler, 416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
        content_range = {"Content-Range": f"bytes {first}-{last}/{len(data)}"}
        return self._send(handler, 206, data[first : last + 1], content_range, head)

    def _send(self, handler, status: int, body: bytes, headers: dict, head: bool) -> None:
        with self.lock:
            self.log.append((handler.command, handler.path, handler.headers.get("Range"), status))
        handler.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            handler.send_header(key, value)
        handler.end_headers()
        if not head:
            handler.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    cc = CommonCrawlServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as CloudFront: connections are reused
        disable_nagle_algorithm = True  # else each body waits for the client's delayed ACK (40 ms)

        def do_GET(self):
            cc.respond(self, head=False)

        def do_HEAD(self):
            cc.respond(self, head=True)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    cc.base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield cc
    httpd.shutdown()


def _curated(run: Path) -> list[tuple[str, str, str | None]]:
    table = pq.read_table(run / "curated", columns=["id", "text", "crawl"])
    return sorted(zip(*(table.column(c).to_pylist() for c in ("id", "text", "crawl"))))


# -- listings


def test_segments_and_max_files_choose_the_listed_files(server):
    a, b = SEGMENT_A, SEGMENT_B
    listed = [p.removeprefix(server.base) for p in crawl_files(CRAWL, server.base)]
    assert listed == [p for p in server.files if "/warc/" in p]
    assert [p.removeprefix(server.base) for p in crawl_files(CRAWL, server.base, segments=1)] == listed[:2]
    assert crawl_files(CRAWL, server.base, max_files=1) == [server.base + listed[0]]
    assert len(crawl_files(CRAWL, server.base, segments=2)) == 3
    assert crawl_files(CRAWL, server.base, wet=True) == [server.base + p for p in server.files if "/wet/" in p]
    # segments in the order they first appear, whichever order the files come in
    assert select_files([f"{a}/1", f"{b}/2", f"{a}/3"], segments=1) == [f"{a}/1", f"{a}/3"]
    with pytest.raises(UsageError, match="CC-MAIN-<year>-<week>"):
        crawl_files("CC-MAIN-24", server.base)
    with pytest.raises(UsageError, match="file listing"):
        crawl_files("CC-MAIN-2099-01", server.base)


def test_a_glob_over_https_is_refused_in_one_line(server, tmp_path, capsys):
    url = f"{server.base}{SEGMENT_A}/*.warc.gz"
    assert run_cli("curate", ["--input", url, "--output", tmp_path / "run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cannot be globs" in err
    with pytest.raises(UsageError, match="cannot be globs"):
        match_files(url)


def test_a_bad_crawl_name_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        run_cli("cc fetch", ["--crawl", "CC-2024", "--url", "*.sec.gov", "--output", tmp_path / "out"])
    assert stop.value.code == 2
    assert "CC-MAIN-<year>-<week>" in capsys.readouterr().err


# -- range reads and retries


def test_range_file_reads_what_the_file_holds_in_few_requests(server):
    path = f"{SEGMENT_A}/resiliparse-CC-MAIN-2020-34-sample.warc.gz"
    data = server.files[path].read_bytes()
    client = HttpClient()
    size = client.stat(server.base + path)[0]
    assert size == len(data)
    # https:// beside local paths: each matched by its own filesystem, a missing URL refused
    local = str(server.files[f"{SEGMENT_A}/whirlwind.warc.gz"])
    assert match_inputs([local, server.base + path]) == sorted([(local, 18857), (server.base + path, size)])
    with pytest.raises(UsageError, match="matches no files"):
        match_inputs([server.base + "crawl-data/nothing.warc.gz"])
    fh = HttpRangeFile(server.base + path, size, client)
    rng = random.Random(0)
    for _ in range(50):
        start, n = rng.randrange(len(data)), rng.randrange(1, 5000)
        fh.seek(start)
        assert fh.read(n) == data[start : start + n]
    sequential = HttpRangeFile(server.base + path, size, client)
    assert b"".join(iter(lambda: sequential.read(1024), b"")) == data
    assert sequential.requests <= 2  # 64 KiB, then 128 KiB: the readahead grows while reading on
    lines = HttpRangeFile(server.base + path, size, client)
    assert list(iter(lines.readline, b"")) == io.BytesIO(data).readlines()


def test_retries_honour_retry_after_then_fail_naming_the_url(server):
    path = f"{SEGMENT_B}/copy-whirlwind.warc.gz"
    waits: list[float] = []
    server.slow_down["/" + path] = "2"
    assert HttpClient(sleep=waits.append).get_range(server.base + path, 0, 10) == server.files[path].read_bytes()[:10]
    assert waits == [2.0]  # the server's Retry-After, not the backoff
    client = HttpClient(attempts=3, backoff_base_s=0.01, sleep=waits.append)
    with pytest.raises(HttpFileError, match=r"always-slow: HTTP 503 after 3 attempts"):
        client.get_range(server.base + "always-slow", 0, 10)
    assert len(waits) == 3 and all(0 <= w < 0.01 * 2**i for i, w in enumerate(waits[1:]))  # full jitter
    with pytest.raises(HttpFileError, match=r"missing.warc.gz: HTTP 404") as err:
        client.get_range(server.base + f"{SEGMENT_A}/missing.warc.gz", 0, 10)
    assert err.value.status == 404 and len(waits) == 3  # not retried
    with pytest.raises(HttpFileError, match="ignores Range"):  # never downloaded whole for a range
        client.get_range(server.base + path + "?no-ranges", 5, 10)


@pytest.mark.parametrize(
    "value, waited",
    [
        ("\u00b2", "backoff"),  # a digit to str.isdigit only
        ("Wed, 21 Oct 99999 07:28:00 GMT", "backoff"),  # a year no datetime holds
        ("9" * 5000, RETRY_AFTER_CAP_S),  # cut to the cap
    ],
)
def test_a_hostile_retry_after_is_a_backoff_or_the_cap(server, value, waited):
    path = f"{SEGMENT_B}/copy-whirlwind.warc.gz"
    server.slow_down["/" + path] = value
    waits: list[float] = []
    client = HttpClient(backoff_base_s=0.01, sleep=waits.append)
    assert client.get_range(server.base + path, 0, 10) == server.files[path].read_bytes()[:10]
    assert len(waits) == 1 and (waits[0] < 0.01 if waited == "backoff" else waits[0] == waited)


# -- reading a crawl over https, and a domain by its index


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "cheap.yaml"
    path.write_text(RECIPE)
    return path


@pytest.fixture(scope="module")
def local_run(server, recipe, tmp_path_factory) -> Path:
    """The crawl's first segment curated from the local files."""
    out = tmp_path_factory.mktemp("local") / "run"
    inputs = [str(server.files[p]) for p in list(server.files)[:2]]
    assert run_cli("curate", ["--input", *inputs, "--output", out, "--recipe", recipe, "--workers", 1]) == 0
    return out


def test_curate_over_https_keeps_what_curate_over_the_local_files_keeps(server, recipe, local_run, tmp_path):
    out = tmp_path / "run"
    argv = ["--crawl", CRAWL, "--segments", 1, "--cc-base", server.base, "--output", out, "--recipe", recipe]
    # two worker processes: the workers, not only the launcher, read http(s); 64 KiB ranges: the
    # 133 KiB file is read in three ranges, each by range requests
    assert run_cli("curate", [*argv, "--workers", 2, "--range-bytes", 65536]) == 0
    kept = _curated(out)
    assert kept == _curated(local_run) and len(kept) >= 10
    gets = [(path, rng, status) for method, path, rng, status in server.log if method == "GET" and "/warc/" in path]
    assert all(rng is not None for _, rng, _ in gets)  # no file is downloaded whole
    resiliparse = f"/{SEGMENT_A}/resiliparse-CC-MAIN-2020-34-sample.warc.gz"
    assert [status for path, _, status in gets if path == resiliparse][:2] == [503, 206]  # SlowDown, retried


def test_cc_fetch_by_index_gives_the_original_records(server, recipe, local_run, tmp_path, capsys):
    out = tmp_path / "fetched"
    argv = ["--crawl", CRAWL, "--url", "*.com", "--output", out, "--index-base", server.base, "--cc-base", server.base]
    assert run_cli("cc fetch", [*argv, "--records-per-file", 3, "--workers", 1]) == 0
    stats = json.loads((out / "stats.json").read_text())
    index_pages = [
        (path, status)
        for _, path, _, status in server.log
        if "-index?" in path and "*.com" in urllib.parse.unquote(path)
    ]
    assert [status for path, status in index_pages if path.endswith("page=1")] == [0, 200]  # a reset, retried
    expected = [c for c in server.captures if server.matches("*.com", c["url"]) and c["status"] == "200"]
    assert stats["in"] == stats["fetched"] == len(expected) >= 6 and stats["errored"] == {}
    assert stats["files"] == [f"warc/part-{i:05d}.warc.gz" for i in range(math.ceil(len(expected) / 3))]
    # every record equal, headers and bytes, to the one read at its offset in the original file
    originals = {}
    for path in {c["filename"] for c in expected}:
        for rtype, _, _, (headers, content, _) in _warc_records(server.files[path].read_bytes()):
            if rtype == "response":
                originals[dict(headers)["WARC-Target-URI"]] = (headers, content)
    fetched = []
    for name in stats["files"]:
        records = _warc_records((out / name).read_bytes())
        assert records[0][0] == "warcinfo" and f"isPartOf: {CRAWL}".encode() in records[0][3][1]
        fetched += [(dict(h)["WARC-Target-URI"], (h, c)) for _, _, _, (h, c, _) in records[1:]]
    assert [url for url, _ in fetched] == [c["url"] for c in expected]  # in index order
    assert all(record == originals[url] for url, record in fetched)
    # curate reads the folder unchanged: the same documents, ids, texts and crawl as from the originals
    curated = tmp_path / "curated"
    assert (
        run_cli("curate", ["--input", out / "warc/*.warc.gz", "--output", curated, "--recipe", recipe, "--workers", 1])
        == 0
    )
    local = pq.read_table(local_run / "curated", columns=["id", "text", "crawl", "url"]).to_pylist()
    assert _curated(curated) == sorted(
        (d["id"], d["text"], d["crawl"]) for d in local if server.matches("*.com", d["url"])
    )
    # a rerun finds the fetch complete and fetches nothing
    before = len(server.log)
    assert run_cli("cc fetch", [*argv, "--records-per-file", 3, "--workers", 1]) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert len(server.log) == before


def test_cc_fetch_counts_skipped_captures_and_errors_with_their_reason(server, tmp_path):
    out = tmp_path / "fetched"
    argv = ["--crawl", CRAWL, "--url", "*.example.org", "--output", out]
    assert run_cli("cc fetch", [*argv, "--index-base", server.base, "--cc-base", server.base, "--workers", 1]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["skipped"] == {"status_301": 1}
    assert stats["errored"] == {"length_mismatch": 1, "not_a_warc_record": 1, "range_fetch_failed": 1}
    assert stats["in"] == stats["fetched"] + 3 and stats["fetched"] == 0 and stats["files"] == []
    errors = [json.loads(line) for f in sorted((out / "errors").glob("*.jsonl")) for line in f.read_text().splitlines()]
    reasons = {e["url"]: e["reason"] for e in errors}
    assert reasons == {
        "http://bad-offset.example.org/": "not_a_warc_record",
        "http://gone.example.org/": "range_fetch_failed",
        "http://short.example.org/": "length_mismatch",
    }
    assert all(e["detail"] for e in errors)


# -- compressed JSONL


@pytest.mark.parametrize("suffix, compress", [(".zst", zstandard.ZstdCompressor().compress), (".gz", gzip.compress)])
def test_compressed_jsonl_gives_the_documents_of_the_plain_file(tmp_path, suffix, compress):
    plain = need_data(*CC, "ccnet-jsonl", "cc_en_head-0091.jsonl")
    packed = tmp_path / (plain.name + suffix)
    packed.write_bytes(compress(plain.read_bytes()))
    assert match_inputs([str(packed)]) == [(str(packed), packed.stat().st_size)]

    def documents(path: Path):
        with open(path, "rb") as fh:
            return [(r.id, r.url, r.text, r.error) for r in RangeReader(str(path), fh)]

    expected = documents(plain)
    assert documents(packed) == expected and len(expected) == 10 and not any(e for *_, e in expected)


def test_zstd_corruption_is_an_error_record_and_zstd_warc_is_refused(tmp_path):
    broken = tmp_path / "broken.jsonl.zst"
    broken.write_bytes(b"not zstd at all" * 10)
    with open(broken, "rb") as fh:
        assert [r.error for r in RangeReader(str(broken), fh)] == ["corrupt_zstd"]
    warc = tmp_path / "crawl.warc.zst"
    warc.write_bytes(zstandard.ZstdCompressor().compress(b"WARC/1.0\r\n"))
    with pytest.raises(UsageError, match="reads JSONL only"):
        match_inputs([str(warc)])


# -- cc fetch: what a rerun fetches again, what the index did not give


def test_a_file_whose_ranges_failed_after_retries_is_fetched_again_by_the_rerun(server, tmp_path):
    from thresher.pipelines.commoncrawl import UNFINISHED_FILE, FetchFile, write_index, write_stats
    from thresher.pipelines.runs import WarcFolder

    out = tmp_path / "fetched"
    folder = WarcFolder(str(out))
    whirlwind = next(c for c in server.captures if c["status"] == "200" and "whirlwind" in c["filename"])
    capture = {**whirlwind, "filename": f"{SEGMENT_B}/copy-{whirlwind['filename'].rsplit('/', 1)[1]}"}
    index = write_index(folder, [capture], False, None, 10)
    identity = {"crawl": CRAWL, "url": "*.com", "index": server.base, "cc_base": server.base}
    fetch_file = FetchFile(str(out), server.base, CRAWL, "test")
    fetch_file.setup()
    fetch_file.client = HttpClient(attempts=1)  # one 503 is retries run out

    server.slow_down["/" + capture["filename"]] = None  # its first GET: 503
    (first,) = fetch_file.process(0)
    assert first["errored"] == {"range_fetch_failed": 1} and first["unfinished"] == 1
    assert not (out / "_work/ranges/part-00000.done.json").exists()  # no marker: the rerun fetches it
    stats = write_stats([first], folder, identity, index)
    assert stats["unfinished_files"] == ["part-00000"] and stats["errored"] == {"range_fetch_failed": 1}
    assert (out / UNFINISHED_FILE).exists() and not (out / "stats.json").exists()
    assert (out / "errors/part-00000.jsonl").exists()

    (second,) = fetch_file.process(0)  # the rerun
    assert second == {"file": "part-00000", "in": 1, "fetched": 1, "errored": {}, "bytes": int(capture["length"])}
    assert (out / "_work/ranges/part-00000.done.json").exists() and (out / "warc/part-00000.warc.gz").exists()
    assert not (out / "errors/part-00000.jsonl").exists()  # the first attempt's error line is gone with its cause
    stats = write_stats([second], folder, identity, index)
    assert stats["errored"] == {} and (out / "stats.json").exists() and not (out / UNFINISHED_FILE).exists()


def test_index_pages_answering_404_are_counted():
    from thresher.pipelines.commoncrawl import index_captures

    class Index(BaseHTTPRequestHandler):
        def do_GET(self):
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            if "showNumPages" in query:
                body, status = b'{"pages": 3}', 200
            elif query["page"] == "1":
                body, status = b"No Captures found", 404
            else:
                body, status = json.dumps({"url": f"http://a.example/{query['page']}"}).encode() + b"\n", 200
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        pages: Counter = Counter()
        endpoint = f"http://127.0.0.1:{httpd.server_port}/{CRAWL}-index"
        urls = [c["url"] for c in index_captures(endpoint, "*.example", HttpClient(attempts=1), pages)]
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert urls == ["http://a.example/0", "http://a.example/2"]
    assert pages == {"read": 2, "not_found": 1}
