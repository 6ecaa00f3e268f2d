"""`thresher scrape`: lists of URLs -> WARC files that `thresher curate` reads unchanged, fetched
politely (robots.txt, a rate per host, backoff) and safely (an address guard): pipelines/fetch.py.

    thresher scrape --input urls.txt --output scraped --user-agent 'thresher (+mailto:you@example.org)'
    thresher curate --input 'scraped/warc/*.warc.gz' --output runs/r1

Inputs: text files (one URL a line; blank lines and lines starting with # skipped), JSONL or
Parquet with a `url` column; each optionally .gz; local or any Beam FileSystems path.

    URL lists | Read: (shard, url)          shard = sha1(site) mod N; site = the host's registered
                                             domain (www.example.org and example.org: one site)
              | GroupByKey                   a site lives in exactly one shard
              | FetchShard                   one worker fetches one shard (fetch.ShardFetcher):
                                             each host paced, so the rate holds with any number of workers
              | Combine | WriteStats         stats.json, last

The output folder:
  warc/shard-00007-of-00016.warc.gz   WARC/1.1 (warcio): warcinfo, then per fetched URL a request,
                                      a response (WARC-Target-URI, WARC-Date, WARC-IP-Address,
                                      WARC-Payload-Digest; the body as received, Content-Encoding
                                      untouched) and a metadata record (fetch time, the listed URL
                                      when redirects led elsewhere)
  errors/shard-00007-of-00016.jsonl   one line per URL that ended without a response record:
                                      url, reason, detail, attempts
  stats.json                          every URL counted: in = fetched + Σ errored by reason
  _work/run.json                      what the run is (inputs, their sizes, the shard count)
  _work/done/shard-....json           a shard's counts, written after its files: its completion
                                      marker. A relaunch skips the shards that have one.
  _work/tmp/                          files being written, renamed into place when complete

Only 2xx responses are stored (curate reads nothing else); a redirect is followed within the
site, a final 3xx, 4xx or 5xx ends as `http_<status>` (`http_<status>_exhausted` for 429 and 5xx
after the retries). A shard with no URLs writes nothing. A shard holds its URLs in memory while it
fetches (about 200 bytes each): --shards sets how many there are.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import ipaddress
import json
import os
import sys
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.runners.runner import PipelineState
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from thresher import __version__
from thresher.contracts.errors import UsageError
from thresher.contracts.funnel import Funnel, check_accounting, format_funnel, stats_document
from thresher.contracts.layout import STATS_FILE, WORK
from thresher.pipelines import fetch
from thresher.pipelines.options import pipeline_options
from thresher.pipelines.runs import WarcFolder, make_folder, match_inputs, read_json, write_atomic

NAMESPACE = "thresher.scrape"
STAGE = "fetch"
DONE = f"{WORK}/done"
TMP = f"{WORK}/tmp"
# Shards: at least MIN_SHARDS (work for 16 local workers, or a small Dataflow pool), and one per
# SHARD_INPUT_BYTES of URL list (~10,000 URLs): a shard's URLs are held in memory while it is fetched.
MIN_SHARDS = 16
SHARD_INPUT_BYTES = 1 << 20
MAX_SHARDS = 99999  # the file names' five digits


# -- reading URL lists


def list_format(path: str) -> str:
    name = path.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return "text"


def read_list(index: int, path: str):
    """(position, url, problem) for every entry of a URL list; `problem` (invalid_url's detail)
    is None for a URL that can be fetched. Positions keep the list's order within a host."""
    fmt = list_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            row = 0
            for batch in pq.ParquetFile(fh).iter_batches(columns=["url"], batch_size=8192):
                for value in batch.column(0).to_pylist():
                    yield (index, row), *_entry(value)
                    row += 1
        return
    with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as fh:
        for line_no, raw in enumerate(io.TextIOWrapper(fh, encoding="utf-8", errors="replace")):
            line = raw.strip()
            if fmt == "text":
                if line and not line.startswith("#"):
                    yield (index, line_no), *_entry(line)
            elif line:
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    yield (index, line_no), line[:200], f"line {line_no + 1} is not JSON: {e}"
                    continue
                value = obj.get("url") if isinstance(obj, dict) else None
                if isinstance(value, str):
                    yield (index, line_no), *_entry(value)
                else:
                    yield (index, line_no), line[:200], f"line {line_no + 1} has no `url` string"


def _entry(value) -> tuple[str, str | None]:
    if not isinstance(value, str) or not value.strip():
        return str(value)[:200], "no url"
    url = value.strip()
    try:
        url.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate (JSON's "\ud800"): no request line can carry it
        return url.encode("utf-8", "backslashreplace").decode("utf-8")[:200], f"not UTF-8 encodable: {e.reason}"
    return url, fetch.check_url(url)


def _userinfo(url: str) -> str:
    """The `user:password@` of a URL, or ""."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return ""
    return netloc.rpartition("@")[0] + "@" if "@" in netloc else ""


def without_userinfo(url: str) -> str:
    """`url` without its userinfo: a URL list may carry credentials (http://user:secret@host/),
    which the fetch never sends (no Authorization header) and which must not be stored in the
    WARC files or the error lines that others read."""
    userinfo = _userinfo(url)
    return url.replace(userinfo, "", 1) if userinfo else url


_EXTRACT = None


def site_of(host: str) -> str:
    """The unit of sharding: the registered domain (tldextract's bundled Public Suffix List, no
    network), or the host itself for an address or a name without a public suffix."""
    global _EXTRACT
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if _EXTRACT is None:
        import tldextract  # imports requests: only when scraping

        _EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    return _EXTRACT(host).top_domain_under_public_suffix or host


def shard_of(key: str, shards: int) -> int:
    """Stable across processes and runs (not Python's salted hash())."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8", "surrogatepass")).digest()[:8], "big") % shards


def keyed(entry, shards: int):
    position, url, problem = entry
    key = url if problem else site_of(fetch.Origin.of(url).host)
    return shard_of(key, shards), (position, url, problem)


def shard_name(shard: int, shards: int) -> str:
    return f"shard-{shard:05d}-of-{shards:05d}"


# -- one shard


class ShardOutput:
    """A shard's WARC and error files, written under tmp names, renamed into place by `commit`."""

    def __init__(self, output: str, name: str, options: fetch.FetchOptions):
        self.output = output
        self.name = name
        self.paths = {
            "warc": FileSystems.join(output, "warc", f"{name}.warc.gz"),
            "errors": FileSystems.join(output, "errors", f"{name}.jsonl"),
        }
        self.tmp = {
            k: FileSystems.join(output, TMP, f"{uuid.uuid4().hex}-{os.path.basename(p)}") for k, p in self.paths.items()
        }
        self.warc_fh = FileSystems.create(self.tmp["warc"], compression_type=CompressionTypes.UNCOMPRESSED)
        self.errors_fh = FileSystems.create(self.tmp["errors"], compression_type=CompressionTypes.UNCOMPRESSED)
        self.writer = WARCWriter(self.warc_fh, gzip=True, warc_version="1.1")
        info = {
            "software": f"thresher/{__version__} (warcio)",
            "format": "WARC File Format 1.1",
            "http-header-user-agent": options.user_agent,
            "robots": "obeyed (RFC 9309, protego)",
            "isPartOf": name,
        }
        self.warcinfo_id = self._write(self.writer.create_warcinfo_record(f"{name}.warc.gz", info))
        self.funnel = Funnel()

    def _write(self, record) -> str:
        self.writer.write_record(record)
        return record.rec_headers.get_header("WARC-Record-ID")

    def response(self, task: fetch.Task, exchange: fetch.Exchange) -> None:
        target = without_userinfo(exchange.url)
        date = datetime_to_iso_date(datetime.now(timezone.utc).replace(tzinfo=None), use_micros=True)
        common = {"WARC-Date": date, "WARC-IP-Address": exchange.ip, "WARC-Warcinfo-ID": self.warcinfo_id}
        request = StatusAndHeaders(exchange.request_line, exchange.request_headers, protocol="")
        request_id = self._write(
            self.writer.create_warc_record(
                target, "request", payload=io.BytesIO(b""), length=0, http_headers=request, warc_headers_dict=common
            )
        )
        # The body was de-chunked on the way in: a Transfer-Encoding left in the stored headers would
        # make a reader de-chunk it again. Common Crawl renames it the same way.
        headers = [("X-Crawler-" + k if k.lower() == "transfer-encoding" else k, v) for k, v in exchange.headers]
        response = StatusAndHeaders(
            f"{exchange.status} {exchange.reason}".strip(), headers, protocol=exchange.http_version
        )
        response_id = self._write(
            self.writer.create_warc_record(
                target,
                "response",
                payload=io.BytesIO(exchange.body),
                length=len(exchange.body),
                http_headers=response,
                warc_headers_dict={**common, "WARC-Concurrent-To": request_id},
            )
        )
        meta = f"fetchTimeMs: {round(exchange.seconds * 1000)}\r\n"
        if task.url != exchange.url:
            meta += f"listedURI: {without_userinfo(task.url)}\r\nredirects: {task.hops}\r\n"
        self._write(
            self.writer.create_warc_record(
                target,
                "metadata",
                payload=io.BytesIO(meta.encode()),
                length=len(meta.encode()),
                warc_content_type="application/warc-fields",
                warc_headers_dict={
                    "WARC-Date": date,
                    "WARC-Refers-To": response_id,
                    "WARC-Warcinfo-ID": self.warcinfo_id,
                },
            )
        )
        self.funnel.add_stage(0, "kept", None, len(exchange.body), (0, 0))

    def error(self, task: fetch.Task, reason: str, detail: str) -> None:
        for url in (task.url, task.current):
            userinfo = _userinfo(url)
            if userinfo:
                detail = detail.replace(userinfo, "")
        line = {"url": without_userinfo(task.url), "reason": reason, "detail": detail, "attempts": task.attempts}
        if task.current != task.url.split("#", 1)[0]:
            line["last_url"] = without_userinfo(task.current)
        # ASCII: whatever a URL list held (a lone surrogate) is written as a JSON escape, never as bytes UTF-8 refuses
        self.errors_fh.write((json.dumps(line, ensure_ascii=True) + "\n").encode())
        self.funnel.add_stage(0, "errored", reason, 0, (0, 0))

    def commit(self) -> None:
        self.warc_fh.close()
        self.errors_fh.close()
        for kind, path in self.paths.items():
            make_folder(FileSystems.join(self.output, kind))
            FileSystems.rename([self.tmp[kind]], [path])


class FetchShard(beam.DoFn):
    """(shard, entries) -> the shard's marker (its funnel cells and request count): fetched now,
    or read back from the marker a finished earlier attempt left."""

    def __init__(self, output: str, shards: int, options: fetch.FetchOptions):
        self.output = output
        self.shards = shards
        self.options = options

    def setup(self) -> None:
        self.requests = Metrics.counter(NAMESPACE, "requests")
        self.counters: dict = {}

    def _count(self, name: str, n: int = 1) -> None:
        counter = self.counters.get(name)
        if counter is None:
            counter = self.counters[name] = Metrics.counter(NAMESPACE, name)
        counter.inc(n)

    def process(self, element):
        shard, entries = element
        name = shard_name(shard, self.shards)
        marker = FileSystems.join(self.output, DONE, f"{name}.json")
        if FileSystems.exists(marker):
            yield read_json(marker)
            return
        started = time.monotonic()
        out = ShardOutput(self.output, name, self.options)

        def on_response(task, exchange):
            out.response(task, exchange)
            self._count(f"{STAGE}.kept")

        def on_error(task, reason, detail):
            out.error(task, reason, detail)
            self._count(f"{STAGE}.errored.{reason}")

        fetcher = fetch.ShardFetcher(self.options, on_response, on_error, site_of)
        urls = []
        for _, url, problem in sorted(entries):
            if problem:
                on_error(fetch.Task(url, url), "invalid_url", problem)
            else:
                urls.append(url)
        fetcher.run(urls)
        out.commit()
        self.requests.inc(fetcher.requests)
        done = {
            "shard": name,
            "cells": out.funnel.to_cells(),
            "requests": fetcher.requests,
            "seconds": round(time.monotonic() - started, 3),
        }
        write_atomic(marker, json.dumps(done).encode(), FileSystems.join(self.output, TMP))
        yield done


class MergeShards(beam.CombineFn):
    def create_accumulator(self):
        return (Funnel(), 0, 0)

    def add_input(self, acc, done):
        return (acc[0].merge(Funnel.from_cells(done["cells"])), acc[1] + done["requests"], acc[2] + 1)

    def merge_accumulators(self, accs):
        funnel, requests, shards = Funnel(), 0, 0
        for f, r, s in accs:
            funnel.merge(f)
            requests += r
            shards += s
        return funnel, requests, shards

    def extract_output(self, acc):
        return acc


def write_stats(merged, output: str, header: dict) -> None:
    funnel, requests, shards_written = merged
    stats = stats_document(funnel, [STAGE], header)
    stats["requests"] = requests  # robots.txt, redirects and retries included
    stats["shards_with_urls"] = shards_written
    write_atomic(
        FileSystems.join(output, STATS_FILE), json.dumps(stats, indent=1).encode(), FileSystems.join(output, TMP)
    )


# -- the launcher


def default_shards(total_bytes: int) -> int:
    return min(MAX_SHARDS, max(MIN_SHARDS, -(-total_bytes // SHARD_INPUT_BYTES)))


def check_lists(files: list[tuple[str, int]]) -> None:
    """A Parquet list without a `url` column is a mistake: one line, before any work."""
    import pyarrow.parquet as pq

    for path, _ in files:
        if list_format(path) == "parquet" and not path.lower().endswith(".gz"):
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                names = pq.ParquetFile(fh).schema_arrow.names
            if "url" not in names:
                raise UsageError(f"--input {path!r} has no `url` column (columns: {', '.join(names[:10])})")
        elif list_format(path) == "parquet":
            raise UsageError(f"--input {path!r}: Parquet is compressed inside; read it without .gz")


def options_from(args) -> fetch.FetchOptions:
    for name in ("connect_timeout", "read_timeout", "total_timeout"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be above 0, not {getattr(args, name)}")
    if args.rate < 0:
        raise UsageError(f"--rate must be 0 (no limit) or above, not {args.rate}")
    for name in ("max_bytes", "max_redirects", "retries", "max_retry_wait", "max_crawl_delay"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be 0 or above, not {getattr(args, name)}")
    networks = []
    for cidr in args.allow_network or []:
        try:
            networks.append(str(ipaddress.ip_network(cidr, strict=False)))
        except ValueError as e:
            raise UsageError(f"--allow-network {cidr!r}: {e}") from None
    return fetch.FetchOptions(
        user_agent=args.user_agent,
        rate=args.rate,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        total_timeout=args.total_timeout,
        max_bytes=args.max_bytes,
        max_redirects=args.max_redirects,
        retries=args.retries,
        backoff_cap=args.max_retry_wait,
        max_crawl_delay=args.max_crawl_delay,
        content_types=tuple(t.strip().lower() for t in args.content_types.split(",") if t.strip()),
        allow_loopback=args.allow_loopback,
        allow_networks=tuple(networks),
        ca_certs=args.ca_certs,
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The fetch options of `thresher scrape` (--input, --output, --workers: the command tree's)."""
    p.add_argument(
        "--user-agent",
        default=fetch.DEFAULT_USER_AGENT,
        help="User-Agent sent with every request; name a contact, e.g. 'thresher (+mailto:you@example.org)' "
        "(default: %(default)s, a placeholder). robots.txt groups are matched by the token 'thresher'",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=fetch.DEFAULT_RATE,
        help="requests per second per host, at most; robots.txt Crawl-delay slows it further; 0: no limit, for "
        "servers of your own (default: %(default)s, W3C's crawler guide: at least 1 s between requests)",
    )
    p.add_argument(
        "--connect-timeout", type=float, default=fetch.CONNECT_TIMEOUT, help="seconds (default: %(default)s)"
    )
    p.add_argument(
        "--read-timeout",
        type=float,
        default=fetch.READ_TIMEOUT,
        help="seconds without data from the server (default: %(default)s)",
    )
    p.add_argument(
        "--total-timeout",
        type=float,
        default=fetch.TOTAL_TIMEOUT,
        help="seconds for a whole response (default: %(default)s, Scrapy's DOWNLOAD_TIMEOUT)",
    )
    p.add_argument(
        "--max-bytes",
        type=int,
        default=fetch.MAX_BYTES,
        help="largest response body stored, on the wire; larger ones are cut off and counted too_large "
        "(default: %(default)s, 10 MiB)",
    )
    p.add_argument(
        "--max-redirects",
        type=int,
        default=fetch.MAX_REDIRECTS,
        help="redirects followed (default: %(default)s, RFC 9309's five)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=fetch.RETRIES,
        help="retries after a 429, a 5xx or a connection error, with jittered exponential backoff (default: %(default)s)",
    )
    p.add_argument(
        "--max-retry-wait",
        type=float,
        default=fetch.BACKOFF_CAP,
        help="longest wait before a retry; a Retry-After that asks for more ends the URL (default: %(default)s s)",
    )
    p.add_argument(
        "--max-crawl-delay",
        type=float,
        default=fetch.MAX_CRAWL_DELAY,
        help="a site whose robots.txt asks for a longer Crawl-delay is not fetched (default: %(default)s s)",
    )
    p.add_argument(
        "--content-types",
        default=",".join(fetch.CONTENT_TYPES),
        help="comma-separated media types stored; others are counted content_type (default: %(default)s, what curate reads)",
    )
    p.add_argument(
        "--allow-loopback",
        action="store_true",
        help="let the address guard connect to loopback addresses (127.0.0.0/8, ::1): a server on this machine",
    )
    p.add_argument(
        "--allow-network",
        action="append",
        metavar="CIDR",
        help="let the address guard connect into this network (repeatable), e.g. 10.1.2.0/24 for an internal "
        "site; cloud metadata addresses stay refused",
    )
    p.add_argument(
        "--ca-certs",
        metavar="PEM",
        help="verify https certificates against this CA bundle instead of the system's (an internal site's CA)",
    )
    p.add_argument(
        "--shards",
        type=int,
        default=None,
        help=f"URL shards: the unit of work and of resume (default: one per MiB of input, at least {MIN_SHARDS})",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the scrape the output folder holds")


def run(args, beam_args: list[str] | None = None) -> int:
    """`thresher scrape`: fetch the listed URLs into args.output; 0 when every URL is accounted for."""
    options = options_from(args)
    if options.user_agent == fetch.DEFAULT_USER_AGENT:
        print(
            "WARNING: the default User-Agent names no contact of yours: pass "
            "--user-agent 'thresher (+mailto:you@example.org)'",
            file=sys.stderr,
        )
    files = match_inputs(args.input)
    check_lists(files)
    shards = args.shards or default_shards(sum(size for _, size in files))
    if not 1 <= shards <= MAX_SHARDS:
        raise UsageError(f"--shards must be 1 to {MAX_SHARDS}, not {shards}")
    output = args.output.rstrip("/") or args.output
    identity = {
        "pipeline": "scrape",
        "thresher_version": __version__,
        "inputs": list(args.input),
        "files": files,
        "shards": shards,
    }
    if WarcFolder(output).prepare(identity, args.overwrite) == "complete":
        print(f"{output} already holds this scrape, complete; nothing to do", file=sys.stderr)
    else:
        header = {
            "pipeline": "scrape",
            "thresher_version": __version__,
            "inputs": list(args.input),
            "shards": shards,
            "fetch": {k: list(v) if isinstance(v, tuple) else v for k, v in options.__dict__.items()},
        }
        p = beam.Pipeline(options=pipeline_options(beam_args))
        (
            p
            | "Lists" >> beam.Create([(i, path) for i, (path, _) in enumerate(files)])
            | "Read" >> beam.FlatMapTuple(read_list)
            | "Key" >> beam.Map(keyed, shards)
            | "ByShard" >> beam.GroupByKey()
            | "Fetch" >> beam.ParDo(FetchShard(output, shards, options))
            | "Merge" >> beam.CombineGlobally(MergeShards())
            | "Stats" >> beam.Map(write_stats, output, header)
        )
        state = p.run().wait_until_finish()
        if state != PipelineState.DONE:
            return 1
        tmp = FileSystems.join(output, TMP)
        if FileSystems.exists(tmp):
            FileSystems.delete([tmp])
    stats = read_json(FileSystems.join(output, STATS_FILE))
    print(format_funnel(stats))
    problems = check_accounting(stats)
    for problem in problems:
        print(f"ACCOUNTING ERROR: {problem}", file=sys.stderr)
    print(f"\nWARC: {FileSystems.join(output, 'warc')}/*.warc.gz  errors: {FileSystems.join(output, 'errors')}/*.jsonl")
    print(f"next: thresher curate --input '{FileSystems.join(output, 'warc')}/*.warc.gz' --output RUN")
    return 1 if problems else 0
