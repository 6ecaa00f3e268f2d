"""Input formats -> raw records, one dict per input document, errors included.

WARC (.warc, .warc.gz: `response` and `resource` records), WET (`conversion` records), JSONL
(.jsonl, .jsonl.gz, .json.gz: one JSON object with `text` per line) and Parquet (`text` column).

Every document-bearing record yields exactly one dict. A record that cannot be read yields a dict
with `error` set (`truncated_gzip`, `not_html`, ...) instead of raising, so that a bad record never
stops a run and never vanishes. WARC `request`, `metadata`, `warcinfo` and `revisit` records carry
no document; they are counted per file in a `non_document_records` entry instead.

Readers take an open binary file object, so the same code reads local files and any Beam
FileSystems path (gs://, s3://).
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import IO, Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType

from thresher.filters.extract import MAX_HTML_BYTES

HTML_TYPES = ("text/html", "application/xhtml+xml")
DOCUMENT_RECORD_TYPES = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.conversion


def detect_format(path: str) -> str:
    name = path.lower()
    for suffix in (".gz", ".zst"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".wet") or name.endswith(".warc.wet"):
        return "wet"
    if name.endswith(".warc") or name.endswith(".arc"):
        return "warc"
    if name.endswith(".jsonl") or name.endswith(".json") or name.endswith(".ndjson"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    raise ValueError(f"cannot tell the format of {path!r} from its name (.warc[.gz], .wet[.gz], .jsonl[.gz], .parquet)")


def _record(path: str, fmt: str, offset: int, **fields) -> dict:
    rec = {
        "source_file": path,
        "source_offset": offset,
        "source_format": fmt,
        "url": None,
        "crawl": None,
        "fetch_date": None,
        "payload": None,      # HTML bytes (WARC)
        "charset": None,
        "text": None,         # text as given (WET, JSONL, Parquet)
        "payload_bytes": 0,
        "error": None,
    }
    rec.update(fields)
    return rec


def _error(path: str, fmt: str, offset: int, reason: str, **fields) -> dict:
    return _record(path, fmt, offset, error=reason, **fields)


def _stream_error_reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated_gzip"
    if isinstance(exc, (gzip.BadGzipFile, zlib.error)):
        return "corrupt_gzip"
    return "corrupt_record"


def read_records(path: str, raw: IO[bytes], max_record_bytes: int = MAX_HTML_BYTES) -> Iterator[dict]:
    """Yield one dict per input document of `path` (opened as `raw`, undecompressed bytes)."""
    try:
        fmt = detect_format(path)
    except ValueError:
        yield _error(path, "unknown", 0, "unknown_format")
        return
    head = raw.read(2)
    if not head:
        yield _error(path, fmt, 0, "empty_file")
        return
    # FastWARC needs a seekable stream; Beam's file objects (local, gs://, s3://) are.
    raw.seek(0)
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if head == b"\x1f\x8b" else raw
    if fmt in ("warc", "wet"):
        yield from _read_warc(path, fmt, stream, max_record_bytes)
    elif fmt == "jsonl":
        yield from _read_jsonl(path, stream, max_record_bytes)
    else:
        yield from _read_parquet(path, stream, max_record_bytes)


def _warcinfo_crawl(payload: bytes) -> str | None:
    # Common Crawl's warcinfo names the crawl: "isPartOf: CC-MAIN-2020-34".
    for line in payload.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "ispartof":
            return value.strip() or None
    return None


def _read_warc(path: str, fmt: str, stream: IO[bytes], max_bytes: int) -> Iterator[dict]:
    crawl = None
    skipped = 0
    offset = 0
    seen_any = False
    try:
        # auto_decode='all' undoes HTTP Content-Encoding (gzip, br) and chunked transfer coding.
        for rec in ArchiveIterator(stream, parse_http=True, stream_detect=False, auto_decode="all"):
            seen_any = True
            offset = rec.stream_pos
            rtype = rec.record_type
            if rtype == WarcRecordType.warcinfo:
                crawl = _warcinfo_crawl(rec.reader.read()) or crawl
                skipped += 1
                continue
            if not (rtype & DOCUMENT_RECORD_TYPES):
                skipped += 1
                continue
            headers = rec.headers
            # wget writes the target URI in angle brackets.
            url = (headers.get("WARC-Target-URI") or "").strip().strip("<>") or None
            fields = {"url": url, "crawl": crawl, "fetch_date": headers.get("WARC-Date")}
            length = rec.content_length
            if length > max_bytes:
                yield _error(path, fmt, offset, "too_large", payload_bytes=length, **fields)
                continue
            if rtype == WarcRecordType.conversion:
                body = rec.reader.read()
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    yield _error(path, fmt, offset, "invalid_utf8", payload_bytes=len(body), **fields)
                    continue
                yield _record(path, fmt, offset, text=text, payload_bytes=len(body), **fields)
                continue
            if rec.is_http:
                status = rec.http_headers.status_code
                if not 200 <= status < 300:
                    yield _error(path, fmt, offset, "http_status_not_ok", payload_bytes=length, **fields)
                    continue
                ctype = (rec.http_content_type or "").lower()
                charset = rec.http_charset
            else:
                ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
                charset = None
                if rtype == WarcRecordType.resource and ctype not in HTML_TYPES:
                    # Crawler logs and metadata (wget's `metadata://` resources), not pages.
                    skipped += 1
                    continue
            body = rec.reader.read()
            if ctype and ctype not in HTML_TYPES:
                yield _error(path, fmt, offset, "not_html", payload_bytes=len(body), **fields)
                continue
            if len(body) > max_bytes:  # Content-Encoding can inflate past the declared length
                yield _error(path, fmt, offset, "too_large", payload_bytes=len(body), **fields)
                continue
            yield _record(path, fmt, offset, payload=body, charset=charset, payload_bytes=len(body), **fields)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - FastWARC's Rust panics derive from BaseException
        yield _error(path, fmt, offset, _stream_error_reason(exc), crawl=crawl)
        seen_any = True
    if not seen_any and skipped == 0:
        yield _error(path, fmt, 0, "no_warc_records")
    if skipped:
        yield {"non_document_records": skipped, "source_file": path}


def _read_jsonl(path: str, stream: IO[bytes], max_bytes: int) -> Iterator[dict]:
    fmt = "jsonl"
    line_no = -1
    try:
        for line_no, line in enumerate(stream):
            if not line.strip():
                continue
            if len(line) > max_bytes:
                yield _error(path, fmt, line_no, "too_large", payload_bytes=len(line))
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                yield _error(path, fmt, line_no, "invalid_utf8", payload_bytes=len(line))
                continue
            except json.JSONDecodeError:
                yield _error(path, fmt, line_no, "malformed_json", payload_bytes=len(line))
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                yield _error(path, fmt, line_no, "missing_text", payload_bytes=len(line))
                continue
            yield _record(
                path, fmt, line_no,
                url=obj.get("url"),
                crawl=obj.get("crawl") or obj.get("cc_segment"),
                fetch_date=obj.get("date") or obj.get("fetch_date"),
                text=obj["text"],
                payload_bytes=len(line),
            )
    except (OSError, EOFError, zlib.error) as exc:
        yield _error(path, fmt, line_no + 1, _stream_error_reason(exc))


def _read_parquet(path: str, stream: IO[bytes], max_bytes: int) -> Iterator[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fmt = "parquet"
    try:
        pf = pq.ParquetFile(pa.BufferReader(stream.read()))
    except (OSError, EOFError, pa.ArrowException) as exc:
        yield _error(path, fmt, 0, "corrupt_parquet" if not isinstance(exc, EOFError) else "truncated_gzip")
        return
    names = set(pf.schema_arrow.names)
    if "text" not in names:
        yield _error(path, fmt, 0, "missing_text_column")
        return
    columns = [c for c in ("text", "url", "crawl", "date") if c in names]
    row = 0
    for batch in pf.iter_batches(columns=columns):
        cols = batch.to_pydict()
        for i in range(batch.num_rows):
            text = cols["text"][i]
            if not isinstance(text, str):
                yield _error(path, fmt, row, "missing_text")
            elif len(text) > max_bytes:
                yield _error(path, fmt, row, "too_large", payload_bytes=len(text))
            else:
                yield _record(
                    path, fmt, row,
                    url=cols.get("url", [None] * batch.num_rows)[i],
                    crawl=cols.get("crawl", [None] * batch.num_rows)[i],
                    fetch_date=cols.get("date", [None] * batch.num_rows)[i],
                    text=text,
                    payload_bytes=len(text.encode("utf-8")),
                )
            row += 1
