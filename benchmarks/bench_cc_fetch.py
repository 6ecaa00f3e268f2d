"""Range-fetch throughput: `thresher cc fetch` against a local server, records/s and MB/s.

    python benchmarks/bench_cc_fetch.py [--copies 400] [--workers 1 2] [--repeats 3]

Input: the real Common Crawl WARC sample of ../shared/data (resiliparse-CC-MAIN-2020-34-sample.warc.gz,
16 responses) concatenated `--copies` times into one file (gzip members concatenate: a valid
.warc.gz whose records repeat), served by a threaded http.server on 127.0.0.1 with Range support,
beside a CDX API (one page per 1,000 captures) that lists every response record of it. Measured:

- `client`: HttpClient.get_range over the index's records, one at a time in this process: the cost
  of a request (no network: the server and the client share the machine's cores);
- `HttpRangeFile`: the file read whole, sequentially, as curate reads an https:// input's range
  (the readahead grows from 64 KiB to 8 MiB per request);
- `cc fetch --workers N`: the whole verb (index query, Beam pipeline, range requests, checks,
  WARC files written), wall clock from the command to its stats.json, start-up included.

Medians of `--repeats` runs. With no network latency this measures thresher's overhead per record;
against data.commoncrawl.org, a request's round trip (tens of ms) dominates, and throughput grows
with --workers (each worker has one request in flight).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from thresher.cli import main as cli
from thresher.pipelines.remote import HttpClient, HttpRangeFile

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "commoncrawl-records"
CRAWL = "CC-MAIN-2020-34"
FILE = f"crawl-data/{CRAWL}/segments/0/warc/bench.warc.gz"
PAGE = 1000


def build(copies: int) -> tuple[bytes, list[dict]]:
    one = (DATA / "resiliparse-CC-MAIN-2020-34-sample.warc.gz").read_bytes()
    data = one * copies
    captures = []
    with open(DATA / "resiliparse-CC-MAIN-2020-34-sample.warc.gz", "rb") as fh:
        it = ArchiveIterator(fh)
        records = []
        for rec in it:
            kind, url = rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI")
            it.read_to_end(rec)
            if kind == "response":
                records.append((url, it.get_record_offset(), it.get_record_length()))
    for k in range(copies):
        for url, offset, length in records:
            captures.append(
                {
                    "url": f"{url}#{k}",
                    "status": "200",
                    "filename": FILE,
                    "offset": str(k * len(one) + offset),
                    "length": str(length),
                }
            )
    return data, captures


def serve(data: bytes, captures: list[dict]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes: with Nagle's algorithm on, the body waits for
        # the client's delayed ACK of the headers (40 ms on Linux), which real servers do not make
        # their clients wait.
        disable_nagle_algorithm = True

        def do_GET(self):
            parsed = urllib.parse.urlsplit(self.path)
            if parsed.path == f"/{CRAWL}-index":
                query = dict(urllib.parse.parse_qsl(parsed.query))
                if "showNumPages" in query:
                    return self._send(200, json.dumps({"pages": -(-len(captures) // PAGE)}).encode())
                page = captures[int(query["page"]) * PAGE :][:PAGE]
                return self._send(200, "".join(json.dumps(c) + "\n" for c in page).encode())
            first, _, last = self.headers["Range"].removeprefix("bytes=").partition("-")
            first, last = int(first), min(int(last), len(data) - 1)
            self._send(206, data[first : last + 1], {"Content-Range": f"bytes {first}-{last}/{len(data)}"})

        def _send(self, status, body, headers=None):
            self.send_response(status)
            for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--copies", type=int, default=400, help="copies of the 16-response sample (default: 400: 6,400 records, 48 MB)"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data, captures = build(args.copies)
    httpd, base = serve(data, captures)
    total = sum(int(c["length"]) for c in captures)
    print(f"{len(captures):,} records, {total / 1e6:.1f} MB, from a {len(data) / 1e6:.1f} MB file on {base}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    rows = []
    client = HttpClient()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for c in captures:
            offset = int(c["offset"])
            client.get_range(base + c["filename"], offset, offset + int(c["length"]))
        times.append(time.perf_counter() - start)
    rows.append(("client, 1 request at a time", statistics.median(times)))
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fh = HttpRangeFile(base + FILE, len(data), client)
        while fh.read(1 << 20):
            pass
        times.append(time.perf_counter() - start)
    whole = (f"HttpRangeFile, the whole file in 1 MiB reads ({fh.requests} requests)", statistics.median(times))
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            times = []
            for _ in range(args.repeats):
                argv = ["cc", "fetch", "--crawl", CRAWL, "--url", "*", "--output", f"{tmp}/out", "--overwrite"]
                argv += [
                    "--index-base",
                    base,
                    "--cc-base",
                    base,
                    "--workers",
                    str(workers),
                    "--records-per-file",
                    "100",
                ]
                start = time.perf_counter()
                assert cli(argv) == 0
                times.append(time.perf_counter() - start)
                stats = json.loads(Path(f"{tmp}/out/stats.json").read_text())
                assert stats["fetched"] == len(captures), stats
            rows.append((f"thresher cc fetch --workers {workers}", statistics.median(times)))
    httpd.shutdown()
    print("\n| what | median s | records/s | MB/s |\n|---|---:|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {len(captures) / seconds:,.0f} | {total / 1e6 / seconds:.1f} |")
    print(f"| {whole[0]} | {whole[1]:.2f} | | {len(data) / 1e6 / whole[1]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
