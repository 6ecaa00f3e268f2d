"""Common Crawl: a crawl's files, from its paths listings, and a domain's records, by its index.

    thresher curate --crawl CC-MAIN-2024-22 --segments 1 --output runs/cc [--wet] [--recipe ...]
    thresher cc fetch --crawl CC-MAIN-2024-22 --url '*.sec.gov' --output runs/sec [--limit N] [Beam options]
    thresher curate --input 'runs/sec/warc/*.warc.gz' --output runs/sec-curated

Reading whole files (`curate --crawl`): `crawl-data/<crawl>/warc.paths.gz` (or `wet.paths.gz`)
names every file of the crawl, grouped in segments (`crawl-data/<crawl>/segments/<segment>/warc/
<file>`, ~100 segments of ~900 files of ~1 GB); the first N files, or the files of the first N
segments, become curate's inputs, read over https (pipelines/remote.py) or s3:// (Beam's S3
filesystem: the `s3` extra) by byte ranges, like any input: each worker streams its own ranges,
so the requests in flight are the worker count.

Fetching a domain (`cc fetch`): Common Crawl's CDX server (pywb) answers
`<index>/<crawl>-index?url=*.sec.gov&output=json` with one JSON line per capture (url, status,
filename, offset, length: the record's gzip member in its WARC file), in pages:
`&showNumPages=true` gives their number, `&page=i` each one. The launcher reads the pages in order
(one in memory at a time), keeps the captures with status 200 (redirects, errors and revisits
carry no page; `--all-statuses` keeps them all) up to `--limit`, and cuts them, in index order,
into files of `--records-per-file`. Then a Beam pipeline fetches each file's records with HTTP
range requests and writes, per file:

  warc/part-00003.warc.gz      a warcinfo record (isPartOf: the crawl), then each record's gzip
                               member as fetched, byte for byte: `thresher curate` reads the folder
                               unchanged, and its document ids are the records' WARC-Record-IDs,
                               the ids reading the crawl's own files gives
  errors/part-00003.jsonl      the records that could not be fetched, with their reason:
                               range_fetch_failed (after the retries of remote.py), length_mismatch
                               (the server sent other than the index's length), not_a_warc_record
                               (the bytes are not one gzip member holding a WARC record)
  _work/ranges/part-00003.done.json   the file's counts, written last: a rerun skips the files
                               that have one, and reads the index only if it had not finished. A
                               file with a range_fetch_failed that a later try may fix (retries
                               run out, a connection or storage failure; not a 404) gets none:
                               the run ends with exit 1 and no stats.json (its counts in
                               _work/ranges/unfinished.json), and the same command again fetches
                               those files again
  stats.json                   the counts, written last: in = fetched + errored; index_pages:
                               the CDX pages read, and those answering 404 (not_found)
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
import urllib.parse
import uuid
import zlib
from collections import Counter

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.runners.runner import PipelineState
from warcio.warcwriter import WARCWriter

from thresher import __version__
from thresher.contracts.errors import UsageError
from thresher.contracts.files import is_http
from thresher.contracts.layout import STATS_FILE, WORK
from thresher.pipelines.options import pipeline_options
from thresher.pipelines.remote import HttpClient, HttpFileError
from thresher.pipelines.runs import RANGES, TMP, WarcFolder, make_folder, read_json

CC_BASE = "https://data.commoncrawl.org/"  # Common Crawl's https endpoint (CloudFront over s3://commoncrawl/)
INDEX_BASE = "https://index.commoncrawl.org/"  # Common Crawl's CDX server, one `<crawl>-index` per crawl
# Crawls since 2013 are named CC-MAIN-<year>-<ISO week>, and only those have a CDX index.
CRAWL_NAME = re.compile(r"CC-MAIN-\d{4}-\d{2}")
# ~25 MB per file at Common Crawl's mean of ~25 KB per compressed response record: a few seconds
# of one worker's range requests at a time, and files curate splits into a few ranges each.
RECORDS_PER_FILE = 1000
# A record's first inflated bytes that hold its WARC header (WARC headers are well under 64 KiB).
HEAD_BYTES = 1 << 16
NAMESPACE = "thresher.cc_fetch"
INDEX_FILE = f"{WORK}/index.json"
# A run's counts while some files hold ranges that failed after retries (no stats.json yet: a rerun
# fetches those files again).
UNFINISHED_FILE = f"{RANGES}/unfinished.json"


# -- the crawl's files


def check_crawl(crawl: str) -> str:
    if not CRAWL_NAME.fullmatch(crawl):
        raise UsageError(
            f"--crawl {crawl!r} is not a crawl name like CC-MAIN-2024-22 (CC-MAIN-<year>-<week>, "
            "as https://index.commoncrawl.org/collinfo.json lists them)"
        )
    return crawl


def _crawl_name(value: str) -> str:
    """check_crawl for argparse, which shows an ArgumentTypeError's message (a ValueError's it hides)."""
    try:
        return check_crawl(value)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _folder_url(base: str) -> str:
    return base if base.endswith("/") else base + "/"


def segment_of(path: str) -> str:
    """The segment a crawl file belongs to: the path component after `segments/` (the path itself
    where there is none)."""
    parts = path.split("/")
    return parts[parts.index("segments") + 1] if "segments" in parts[:-1] else path


def select_files(paths, segments: int | None = None, max_files: int | None = None) -> list[str]:
    """The first `max_files` paths of a listing, or those of its first `segments` segments (in
    the order they first appear), or all of them."""
    chosen: list[str] = []
    kept_segments: set[str] = set()
    for path in paths:
        if max_files is not None and len(chosen) >= max_files:
            break
        if segments is not None:
            segment = segment_of(path)
            if segment not in kept_segments:
                if len(kept_segments) >= segments:
                    continue
                kept_segments.add(segment)
        chosen.append(path)
    return chosen


def crawl_files(
    crawl: str, base: str = CC_BASE, wet: bool = False, segments: int | None = None, max_files: int | None = None
) -> list[str]:
    """The URLs (or s3:// paths) of a crawl's WARC (or WET) files, as its paths listing orders them."""
    base = _folder_url(base)
    listing = f"{base}crawl-data/{check_crawl(crawl)}/{'wet' if wet else 'warc'}.paths.gz"
    try:
        raw = FileSystems.open(listing, compression_type=CompressionTypes.UNCOMPRESSED)
    except Exception as e:  # noqa: BLE001 - each filesystem says "not there" its own way
        raise UsageError(f"cannot read the file listing of {crawl} at {listing}: {e}") from None
    with raw, gzip.GzipFile(fileobj=raw) as lines:
        paths = (line.decode("utf-8").strip() for line in lines)
        chosen = select_files((p for p in paths if p), segments, max_files)
    if not chosen:
        raise UsageError(f"{listing} lists no files")
    return [base + path for path in chosen]


def add_crawl_arguments(p: argparse.ArgumentParser) -> None:
    """curate's Common Crawl options: they name inputs, added to --input's."""
    group = p.add_argument_group("Common Crawl input (instead of, or beside, --input)")
    group.add_argument(
        "--crawl",
        type=_crawl_name,
        help="read this crawl's files (CC-MAIN-YYYY-WW), as its warc.paths.gz lists them, by byte ranges: "
        "each worker streams its own ranges, so the requests in flight are the worker count "
        "(--workers, or Dataflow's workers); 503 SlowDown and other transient errors are retried with "
        "jittered backoff. A crawl is ~90,000 files of ~1 GB: choose a few with --segments or --max-files",
    )
    choose = group.add_mutually_exclusive_group()
    choose.add_argument("--segments", type=_positive, help="only the files of the crawl's first N segments")
    choose.add_argument("--max-files", type=_positive, help="only the crawl's first N files")
    group.add_argument("--wet", action="store_true", help="the crawl's WET files (extracted text), not its WARC files")
    group.add_argument(
        "--cc-base",
        default=CC_BASE,
        help="where the crawl's files are (default: %(default)s; s3://commoncrawl/ with the s3 extra and AWS credentials)",
    )


def crawl_inputs(args) -> list[str]:
    """--input's paths, and the crawl's files that --crawl names."""
    inputs = list(args.input or [])
    if args.crawl:
        inputs += crawl_files(args.crawl, args.cc_base, args.wet, args.segments, args.max_files)
    elif args.segments or args.max_files or args.wet:
        raise UsageError("--segments, --max-files and --wet choose files of a --crawl: give one")
    if not inputs:
        raise UsageError("give --input or --crawl")
    return inputs


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {n}")
    return n


# -- the CDX index


def index_endpoint(index_base: str, crawl: str) -> str:
    return f"{_folder_url(index_base)}{check_crawl(crawl)}-index"


def index_captures(endpoint: str, url: str, client: HttpClient, page_counts: Counter | None = None):
    """Every capture the CDX server at `endpoint` lists for the URL pattern `url`, page by page,
    in index order (one page in memory at a time). `page_counts` counts the pages `read` and those
    answering 404 (`not_found`: pywb's "No Captures found"; what they held, if anything, is unknown)."""
    page_counts = Counter() if page_counts is None else page_counts
    query = urllib.parse.urlencode({"url": url, "output": "json"})
    try:
        _, _, body = client.request(f"{endpoint}?{query}&showNumPages=true")
        pages = int(json.loads(body)["pages"])
    except HttpFileError as e:
        if e.status == 404:
            raise UsageError(f"no CDX index at {endpoint}: {e}") from None
        raise
    for page in range(pages):
        try:
            _, _, body = client.request(f"{endpoint}?{query}&page={page}")
        except HttpFileError as e:
            if e.status == 404:  # pywb's "No Captures found"
                page_counts["not_found"] += 1
                continue
            raise
        page_counts["read"] += 1
        for line in body.splitlines():
            if line.strip():
                yield json.loads(line)


def write_index(
    folder: WarcFolder, captures, all_statuses: bool, limit: int | None, per_file: int, pages: Counter | None = None
) -> dict:
    """The captures to fetch, in files of `per_file` under _work/ranges/ (`part-00003.index.jsonl`),
    and what was kept and skipped (written to _work/index.json, last); `pages`: index_captures's
    count of the index pages, complete once `captures` is consumed."""
    files, listed, selected, skipped, batch = 0, 0, 0, Counter(), []

    def flush():
        nonlocal files, batch
        folder.write(f"{RANGES}/{part_name(files)}.index.jsonl", "".join(json.dumps(c) + "\n" for c in batch).encode())
        files, batch = files + 1, []

    for capture in captures:
        if limit is not None and selected >= limit:
            break  # no more index pages are read
        listed += 1
        if not all_statuses and capture.get("status") != "200":
            skipped[f"status_{capture.get('status')}"] += 1
            continue
        selected += 1
        batch.append({k: capture.get(k) for k in ("url", "timestamp", "status", "filename", "offset", "length")})
        if len(batch) == per_file:
            flush()
    if batch:
        flush()
    summary = {"files": files, "index_captures": listed, "skipped": dict(skipped), "index_pages": dict(pages or {})}
    folder.write(INDEX_FILE, json.dumps(summary).encode())
    return summary


def part_name(i: int) -> str:
    return f"part-{i:05d}"


# -- fetching


def check_member(data: bytes) -> str | None:
    """Why `data` is not one gzip member holding a WARC record; None when it is. Inflating goes on
    to the member's end (to prove it ends where the index says), keeping only its first bytes."""
    inflate = zlib.decompressobj(wbits=31)
    try:
        head = inflate.decompress(data, HEAD_BYTES)
        while inflate.unconsumed_tail and not inflate.eof:
            inflate.decompress(inflate.unconsumed_tail, 1 << 20)
    except zlib.error as e:
        return f"not gzip: {e}"
    if not head.startswith(b"WARC/"):
        return "the member does not start with a WARC header"
    if not inflate.eof:
        return "the gzip member is cut short"
    if inflate.unused_data:
        return f"{len(inflate.unused_data)} bytes after the gzip member"
    return None


def warcinfo_member(crawl: str, filename: str, query: str) -> bytes:
    """A fetched file's first record: which crawl its records are part of (readers.py takes a
    record's crawl from it), and how they were chosen."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    info = {
        "software": f"thresher/{__version__} cc fetch",
        "isPartOf": crawl,
        "description": f"records of {crawl} chosen by its CDX index ({query}), fetched by range request",
        "format": "WARC File Format 1.0",
    }
    writer.write_record(writer.create_warcinfo_record(filename, info))
    return out.getvalue()


class FetchFile(beam.DoFn):
    """One output file: its captures fetched by range, written as one WARC file, its errors and
    its completion marker (module docstring)."""

    def __init__(self, output: str, cc_base: str, crawl: str, query: str):
        self.output = output
        self.cc_base = _folder_url(cc_base)
        self.crawl = crawl
        self.query = query

    def setup(self):
        self.folder = WarcFolder(self.output)
        self.client = HttpClient()
        self.fetched = Metrics.counter(NAMESPACE, "fetched")

    def process(self, i: int):
        name = part_name(i)
        done = self.folder.path(RANGES, f"{name}.done.json")
        if FileSystems.exists(done):  # fetched before a crash: not again
            yield read_json(done)
            return
        with FileSystems.open(
            self.folder.path(RANGES, f"{name}.index.jsonl"), compression_type=CompressionTypes.UNCOMPRESSED
        ) as fh:
            captures = [json.loads(line) for line in fh.read().decode("utf-8").splitlines()]
        tmp = self.folder.path(TMP, f"{uuid.uuid4().hex}-{name}.warc.gz")
        errors, reasons, fetched, size, unfinished = [], Counter(), 0, 0, 0
        make_folder(self.folder.path(TMP))
        with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as out:
            out.write(warcinfo_member(self.crawl, f"{name}.warc.gz", self.query))
            for capture in captures:
                data, reason, detail, transient = self._fetch(capture)
                if reason is None:
                    out.write(data)
                    fetched += 1
                    size += len(data)
                    self.fetched.inc()
                else:
                    reasons[reason] += 1
                    unfinished += transient
                    Metrics.counter(NAMESPACE, f"errored.{reason}").inc()
                    errors.append(json.dumps({**capture, "reason": reason, "detail": detail[:500]}))
        warc, errors_file = self.folder.path("warc", f"{name}.warc.gz"), self.folder.path("errors", f"{name}.jsonl")
        if fetched:
            make_folder(self.folder.path("warc"))
            FileSystems.rename([tmp], [warc])
        else:
            FileSystems.delete([tmp])
        if errors:
            self.folder.write(f"errors/{name}.jsonl", "".join(e + "\n" for e in errors).encode())
        # what an earlier, unfinished attempt at this file left and this one does not replace
        stale = ([] if fetched else [warc]) + ([] if errors else [errors_file])
        FileSystems.delete([path for path in stale if FileSystems.exists(path)])
        summary = {"file": name, "in": len(captures), "fetched": fetched, "errored": dict(reasons), "bytes": size}
        if unfinished:  # no marker: a rerun fetches this file again (its errors/ lines count for this run only)
            summary["unfinished"] = unfinished
        else:
            self.folder.write(f"{RANGES}/{name}.done.json", json.dumps(summary).encode())  # the marker, last
        yield summary

    def _fetch(self, capture: dict) -> tuple[bytes | None, str | None, str, bool]:
        """(the record's bytes, or None with the reason and detail; whether a later run may
        succeed: a range_fetch_failed after retries, a connection or storage failure, unlike a
        status such as 404 that answers for good)."""
        try:
            offset, length = int(capture["offset"]), int(capture["length"])
            url = self.cc_base + capture["filename"]
        except (KeyError, TypeError, ValueError) as e:
            return None, "not_a_warc_record", f"the index gives no file, offset and length: {e}", False
        try:
            if is_http(url):
                data = self.client.get_range(url, offset, offset + length)
            else:  # s3:// and other Beam filesystems: a seek and a read are a range request there
                with FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                    fh.seek(offset)
                    data = fh.read(length)
        except Exception as e:  # noqa: BLE001 - every filesystem fails its own way; the record is counted
            transient = not (isinstance(e, HttpFileError) and e.status is not None)
            return None, "range_fetch_failed", f"{type(e).__name__}: {e}", transient
        if len(data) != length:
            return None, "length_mismatch", f"{len(data)} bytes at {offset} of {url}, the index says {length}", False
        problem = check_member(data)
        if problem:
            return None, "not_a_warc_record", f"{problem} (bytes {offset}-{offset + length - 1} of {url})", False
        return data, None, "", False


def write_stats(summaries: list[dict], folder: WarcFolder, identity: dict, index: dict) -> dict:
    errored: Counter = Counter()
    for s in summaries:
        errored.update(s["errored"])
    stats = {
        "command": "cc fetch",
        "thresher_version": __version__,
        "crawl": identity["crawl"],
        "query": identity["url"],
        "index": identity["index"],
        "cc_base": identity["cc_base"],
        "index_captures": index["index_captures"],
        "skipped": index["skipped"],
        "index_pages": index.get("index_pages", {}),  # read, and not_found (404: its captures unknown)
        "in": sum(s["in"] for s in summaries),
        "fetched": sum(s["fetched"] for s in summaries),
        "errored": dict(sorted(errored.items())),
        "bytes": sum(s["bytes"] for s in summaries),
        "files": sorted(f"warc/{s['file']}.warc.gz" for s in summaries if s["fetched"]),
    }
    if stats["in"] != stats["fetched"] + sum(errored.values()):  # every capture ends somewhere
        raise AssertionError(f"cc fetch accounting: in {stats['in']} != fetched + errored in {stats}")
    unfinished = sorted(s["file"] for s in summaries if s.get("unfinished"))
    if unfinished:  # this run's counts, but no stats.json: the run is not complete until those files are
        stats["unfinished_files"] = unfinished
        folder.write(UNFINISHED_FILE, json.dumps(stats, indent=1).encode())
        return stats
    if FileSystems.exists(folder.path(UNFINISHED_FILE)):  # an earlier run's
        FileSystems.delete([folder.path(UNFINISHED_FILE)])
    folder.write(STATS_FILE, json.dumps(stats, indent=1).encode())
    return stats


def fetch(
    crawl: str,
    url: str,
    output: str,
    limit: int | None = None,
    all_statuses: bool = False,
    records_per_file: int = RECORDS_PER_FILE,
    index_base: str = INDEX_BASE,
    cc_base: str = CC_BASE,
    beam_args: list[str] | None = None,
    overwrite: bool = False,
) -> dict | None:
    """A domain's records out of a crawl by its index, into `output` (module docstring); the
    stats.json written (None for a pipeline that did not finish; with `unfinished_files`, no
    stats.json yet: files whose ranges failed after retries, to fetch again by a rerun)."""
    endpoint = index_endpoint(index_base, crawl)
    folder = WarcFolder(output)
    identity = {
        "pipeline": "cc fetch",
        "crawl": crawl,
        "url": url,
        "limit": limit,
        "all_statuses": all_statuses,
        "records_per_file": records_per_file,
        "index": endpoint,
        "cc_base": _folder_url(cc_base),
        "files": [],
    }
    state = folder.prepare(identity, overwrite)
    if state == "complete":
        print(f"{output} already holds this fetch, complete; nothing to do", file=sys.stderr)
        return read_json(folder.path(STATS_FILE))
    if state == "resume" and FileSystems.exists(folder.path(INDEX_FILE)):
        index = read_json(folder.path(INDEX_FILE))
    else:
        pages: Counter = Counter()
        captures = index_captures(endpoint, url, HttpClient(), pages)
        index = write_index(folder, captures, all_statuses, limit, records_per_file, pages)
    query = f"{endpoint}?url={url}"
    p = beam.Pipeline(options=pipeline_options(beam_args))
    _ = (
        p
        | "Files" >> beam.Create(list(range(index["files"])))
        | "Spread" >> beam.Reshuffle()
        | "Fetch" >> beam.ParDo(FetchFile(output, cc_base, crawl, query))
        | "All" >> beam.combiners.ToList()
        | "Stats" >> beam.Map(write_stats, folder, identity, index)
    )
    result = p.run()
    if result.wait_until_finish() != PipelineState.DONE:
        return None
    if FileSystems.exists(folder.path(UNFINISHED_FILE)):  # the work files stay: a rerun fetches what failed
        return read_json(folder.path(UNFINISHED_FILE))
    folder.finish()
    return read_json(folder.path(STATS_FILE))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crawl", required=True, type=_crawl_name, help="the crawl, CC-MAIN-YYYY-WW")
    p.add_argument(
        "--url",
        required=True,
        help="the CDX index's URL pattern: '*.sec.gov' (the domain and its subdomains), 'sec.gov/news/*' (a prefix), "
        "or one URL",
    )
    p.add_argument("--output", required=True, help="the output folder: warc/, errors/, stats.json")
    p.add_argument("--limit", type=_positive, default=None, help="fetch at most N records (the first N in index order)")
    p.add_argument(
        "--all-statuses",
        action="store_true",
        help="fetch every capture the index lists; by default only those with HTTP status 200 (redirects, errors "
        "and revisits hold no page) are fetched, and the others counted as skipped",
    )
    p.add_argument(
        "--records-per-file",
        type=_positive,
        default=RECORDS_PER_FILE,
        help="records per output WARC file, in index order (default: %(default)s, ~25 MB): the unit of work and of resume",
    )
    p.add_argument("--index-base", default=INDEX_BASE, help="the CDX server (default: %(default)s)")
    p.add_argument(
        "--cc-base",
        default=CC_BASE,
        help="where the crawl's WARC files are (default: %(default)s); records are fetched by HTTP range requests, "
        "one at a time per worker (--workers: the requests in flight), retried with jittered backoff on 503 SlowDown",
    )
    p.add_argument("--overwrite", action="store_true", help="replace what the output folder holds")


def run(args, beam_args: list[str]) -> int:
    """`thresher cc fetch`."""
    stats = fetch(
        args.crawl,
        args.url,
        args.output,
        args.limit,
        args.all_statuses,
        args.records_per_file,
        args.index_base,
        args.cc_base,
        beam_args,
        args.overwrite,
    )
    if stats is None:
        print("cc fetch: the pipeline did not finish; the same command resumes it", file=sys.stderr)
        return 1
    errors = ", ".join(f"{reason} {n}" for reason, n in stats["errored"].items()) or "none"
    skipped = ", ".join(f"{reason} {n}" for reason, n in stats["skipped"].items()) or "none"
    print(
        f"{stats['index_captures']:,} captures in the index for {stats['query']} (skipped: {skipped}); "
        f"fetched {stats['fetched']:,} of {stats['in']:,} records ({stats['bytes'] / 1e6:,.1f} MB), errors: {errors}"
    )
    output = args.output.rstrip("/")
    print(f"WARC: {output}/warc/  errors: {output}/errors/  stats: {output}/{STATS_FILE}")
    not_found = stats.get("index_pages", {}).get("not_found")  # absent from a stats.json of an earlier version
    if not_found:
        print(f"index pages answering 404 (their captures unknown): {not_found}")
    unfinished = stats.get("unfinished_files")
    if unfinished:
        print(
            f"cc fetch: {len(unfinished)} files hold ranges that failed after retries ({', '.join(unfinished[:5])}): "
            "not complete; the same command again fetches those files again",
            file=sys.stderr,
        )
        return 1
    print(f"curate them: thresher curate --input '{output}/warc/*.warc.gz' --output <run folder>")
    return 0
