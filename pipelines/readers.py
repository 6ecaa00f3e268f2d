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

import io
import json
import zlib
from collections.abc import Iterator
from typing import IO

from fastwarc.warc import ArchiveIterator, WarcRecordType

from thresher.contracts.recipe import MAX_RECORD_BYTES

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
        "payload": None,  # HTML bytes (WARC)
        "charset": None,
        "text": None,  # text as given (WET, JSONL, Parquet)
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
    if isinstance(exc, zlib.error):
        return "corrupt_gzip"
    return "corrupt_record"


def read_records(path: str, raw: IO[bytes], max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[dict]:
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
    stream: IO[bytes] = GzipMembers(raw) if head == b"\x1f\x8b" else raw
    if fmt in ("warc", "wet"):
        yield from _read_warc(path, fmt, stream, max_record_bytes)
    elif fmt == "jsonl":
        # Buffered: line iteration over a raw stream would read one byte at a time.
        yield from _read_jsonl(path, io.BufferedReader(stream) if stream is not raw else raw, max_record_bytes)
    else:
        yield from _read_parquet(path, stream, max_record_bytes)


class GzipMembers(io.RawIOBase):
    """Decompresses concatenated gzip members (Common Crawl's one member per record).

    Unlike `gzip.GzipFile`, which raises from a read and throws away what that read had already
    decompressed, this returns every byte it could decompress before raising: records before a
    truncation or a corrupt member are still read, and only the broken tail becomes an error.
    Seekable forward only, which is all FastWARC asks for.
    """

    CHUNK = 1 << 16

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._inflate = zlib.decompressobj(wbits=31)
        self._in_member = False
        self._buf = b""
        self._pos = 0
        self._error: BaseException | None = None
        self._done = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self._pos + offset if whence == io.SEEK_CUR else None
        if target is None or target < self._pos:
            raise io.UnsupportedOperation("GzipMembers seeks forward only")
        while self._pos < target and self.read(min(target - self._pos, self.CHUNK)):
            pass
        return self._pos

    def _fill(self) -> None:
        while not self._buf and not self._done:
            if self._error is not None:
                error, self._error = self._error, None
                self._done = True
                raise error
            data = self._raw.read(self.CHUNK)
            if not data:
                if self._in_member:
                    self._error = EOFError("compressed file ended before the end-of-stream marker was reached")
                else:
                    self._done = True
                continue
            out = []
            try:
                while data:
                    self._in_member = True
                    out.append(self._inflate.decompress(data))
                    if not self._inflate.eof:
                        break
                    # End of a member: the rest, if any, starts the next one.
                    data = self._inflate.unused_data
                    self._inflate = zlib.decompressobj(wbits=31)
                    self._in_member = False
            except zlib.error as exc:
                self._error = exc
            self._buf = b"".join(out)

    def readinto(self, buf) -> int:
        self._fill()
        n = min(len(buf), len(self._buf))
        buf[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self._pos += n
        return n


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
                path,
                fmt,
                line_no,
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
                    path,
                    fmt,
                    row,
                    url=cols.get("url", [None] * batch.num_rows)[i],
                    crawl=cols.get("crawl", [None] * batch.num_rows)[i],
                    fetch_date=cols.get("date", [None] * batch.num_rows)[i],
                    text=text,
                    payload_bytes=len(text.encode("utf-8")),
                )
            row += 1
