"""Input files -> raw records (`RawRecord`, contracts/schema.py), read by byte ranges.

Formats: WARC (.warc, .warc.gz: `response` and `resource` records), WET (`conversion` records),
JSONL (.jsonl, .jsonl.gz, .jsonl.zst, .json.gz, .json.zst: one JSON object with `text` per line)
and Parquet (`text` column). Every document-bearing record yields exactly one `RawRecord`; a
record that cannot be read yields one with `error` set (`truncated_gzip`, `not_html`, ...)
instead of raising, so that a bad record never stops a run and never vanishes. WARC `request`, `metadata`, `warcinfo` and
`revisit` records carry no document; `RangeReader.non_document_records` counts them.

Reading by ranges. A file is split into byte ranges [start, end) (`plan_ranges`) that workers read
on their own, so no worker holds a whole file and one large file keeps every worker busy:
- .warc.gz / .wet.gz (one gzip member per record, as Common Crawl, warcio and wget write them): a
  range owns the members that *start* in it. A range that starts mid-file resynchronises at the
  first offset where a gzip member begins that inflates to a `WARC/` header: the magic bytes alone
  also occur inside compressed data. A member that does not inflate costs that member only: its
  span, up to the next good member, is one `corrupt_gzip` error.
- .jsonl: a range owns the lines that start in it.
- .parquet: a range owns the row groups whose first column chunk starts in it.
Other inputs (uncompressed WARC, gzipped or zstd-compressed JSONL) are one range each.

Where a record came from: `source_offset` and `source_length` are the record's gzip member in the
compressed file (seek to the offset, inflate one member: the record, as Common Crawl's index
addresses records), its bytes in an uncompressed WARC or JSONL file, its line's bytes in the
decompressed stream of a gzipped or zstd JSONL file, or its row number in a Parquet file (length
null).

Files are opened by the caller, so the same code reads local files and any Beam FileSystems path.
"""

from __future__ import annotations

import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator
from typing import IO

import brotli
import zstandard
from fastwarc.warc import ArchiveIterator, WarcRecordType

from thresher.contracts.recipe import MAX_RECORD_BYTES
from thresher.contracts.schema import RawRecord, document_id

HTML_TYPES = ("text/html", "application/xhtml+xml")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
SUPPORTED = (
    "thresher reads .warc, .wet, .jsonl (also .json, .ndjson), each optionally .gz (JSONL also .zst), .parquet, "
    "and saved pages "
    "(.html, .htm, .xhtml, optionally .gz)"
)
# A saved page's URL: from `<page>.url` beside it (one line), else from the page itself, in the
# first PAGE_URL_BYTES: its canonical link, its og:url, or the "saved from url=" comment that
# browsers write into saved pages (the Mark of the Web).
URL_SIDECAR = ".url"
PAGE_URL_BYTES = 65536
_PAGE_URLS = (
    # bounded repeats: an unbounded [^>]* before "rel" backtracks over every <link of a hostile page
    re.compile(rb"<link\b[^>]{0,2048}?\brel\s*=\s*[\"']?canonical\b[^>]{0,2048}>", re.IGNORECASE),
    re.compile(rb"<meta\b[^>]{0,2048}?\bproperty\s*=\s*[\"']?og:url\b[^>]{0,2048}>", re.IGNORECASE),
    re.compile(rb"<!--\s*saved from url=\(\d+\)(\S+?)\s*-->", re.IGNORECASE),
)
_ABSOLUTE_URL = re.compile(rb"https?://[^\s\"'<>]+", re.IGNORECASE)
DOCUMENT_RECORD_TYPES = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.conversion
GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1, ID2 and CM = deflate (RFC 1952)
CHUNK = 1 << 20
# What a record may hold beyond its payload: WARC and HTTP headers.
HEADER_ALLOWANCE = 1 << 20
# How much inflated output tells a member that starts a WARC record from one that does not.
SYNC_PROBE = 8


def detect_format(path: str) -> str:
    name = path.lower()
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".wet", ".warc.wet")):
        return "wet"
    if name.endswith((".warc", ".arc")):
        return "warc"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(HTML_SUFFIXES):
        return "html"
    raise ValueError(f"cannot tell the format of {path!r} from its name: {SUPPORTED}")


def unreadable_zstd(path: str) -> bool:
    """A .zst input of a format read from a zstd stream only where it is JSONL: zstd WARC (with its
    dictionary, as .warc.zst files carry one), WET, Parquet and saved pages are refused at launch."""
    try:
        return path.lower().endswith(".zst") and detect_format(path) != "jsonl"
    except ValueError:
        return False  # an unknown format: the reader's unknown_format error says so


def splittable(path: str) -> bool:
    """Whether a file can be read in byte ranges (module docstring)."""
    name = path.lower()
    try:
        fmt = detect_format(path)
    except ValueError:
        return False
    if fmt in ("warc", "wet"):
        return name.endswith(".gz")
    return fmt == "parquet" or (fmt == "jsonl" and not name.endswith((".gz", ".zst")))


def plan_ranges(path: str, size: int, range_bytes: int) -> list[tuple[int, int]]:
    """[start, end) byte ranges covering the file: one when it cannot be split or is small."""
    if not splittable(path) or size <= range_bytes:
        return [(0, max(size, 0))]
    return [(start, min(start + range_bytes, size)) for start in range(0, size, range_bytes)]


class _Window:
    """Random reads over a seekable file through one buffer, for the forward scans of members."""

    def __init__(self, fh: IO[bytes]):
        self.fh = fh
        self.start = 0
        self.buf = b""

    def read_at(self, pos: int, n: int) -> bytes:
        end = self.start + len(self.buf)
        if not self.start <= pos <= end:
            self.start, self.buf, end = pos, b"", pos
        if pos + n > end:
            self.fh.seek(end)  # someone else (GzipMembers) may have moved the file
            self.buf = self.buf[pos - self.start :] + self.fh.read(max(n, CHUNK))
            self.start = pos
        return self.buf[pos - self.start : pos - self.start + n]


def _starts_warc_member(window: _Window, pos: int) -> bool:
    try:
        return zlib.decompressobj(wbits=31).decompress(window.read_at(pos, 1 << 16), SYNC_PROBE).startswith(b"WARC/")
    except zlib.error:
        return False


def next_member(window: _Window, pos: int, limit: int | None = None) -> int | None:
    """The first offset in [pos, limit) where a gzip member starts that inflates to a WARC header."""
    while limit is None or pos < limit:
        chunk = window.read_at(pos, CHUNK)
        if len(chunk) < len(GZIP_MAGIC):
            return None
        i = chunk.find(GZIP_MAGIC)
        if i < 0:
            pos += len(chunk) - len(GZIP_MAGIC) + 1
            continue
        candidate = pos + i
        if limit is not None and candidate >= limit:
            return None
        if _starts_warc_member(window, candidate):
            return candidate
        pos = candidate + 1
    return None


def inflate_member(window: _Window, offset: int, cap: int) -> tuple[int, bytes, int, str | None]:
    """(compressed length, inflated bytes up to `cap`, inflated size, error) of the gzip member
    at `offset`. Output past `cap` is inflated and counted but not kept (a gzip bomb costs CPU,
    not memory); error is `truncated_gzip` or `corrupt_gzip`."""
    inflate = zlib.decompressobj(wbits=31)
    pos, kept, size = offset, [], 0
    try:
        while True:
            chunk = window.read_at(pos, CHUNK)
            if not chunk:
                return pos - offset, b"".join(kept), size, "truncated_gzip"
            pos += len(chunk)
            data = chunk
            while data:
                piece = inflate.decompress(data, CHUNK)
                data = inflate.unconsumed_tail
                if size < cap:
                    kept.append(piece[: cap - size])
                size += len(piece)
                if inflate.eof:
                    return pos - len(inflate.unused_data) - offset, b"".join(kept), size, None
    except zlib.error:
        return pos - offset, b"".join(kept), size, "corrupt_gzip"


def _warcinfo_crawl(payload: bytes) -> str | None:
    # Common Crawl's warcinfo names the crawl: "isPartOf: CC-MAIN-2020-34".
    for line in payload.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "ispartof":
            return value.strip() or None
    return None


def _warc_headers(head: bytes) -> dict[str, str]:
    """The WARC header fields of a record's first bytes (for a record too large to parse whole)."""
    fields = {}
    for line in head.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


class RangeReader:
    """The records of one byte range of one file (`fh`: the file opened, undecompressed, seekable).

    Iterate for `RawRecord`s; `non_document_records` counts the records that carry no document.
    `read_sidecar(path)`: a small file's bytes, None when there is none (a saved page's `.url`)."""

    def __init__(
        self,
        path: str,
        fh: IO[bytes],
        start: int = 0,
        end: int | None = None,
        max_record_bytes: int = MAX_RECORD_BYTES,
        read_sidecar: Callable[[str], bytes | None] | None = None,
    ):
        self.path = path
        self.name = os.path.basename(path.rstrip("/"))
        self.fh = fh
        self.start = start
        self.end = end
        self.max_bytes = max_record_bytes
        self.non_document_records = 0
        self.crawl: str | None = None
        self.read_sidecar = read_sidecar

    def __iter__(self) -> Iterator[RawRecord]:
        try:
            fmt = detect_format(self.path)
        except ValueError:
            yield self._error("unknown", 0, "unknown_format", None, error_detail=f"{self.name}: {SUPPORTED}")
            return
        self.fh.seek(0)
        head = self.fh.read(2)
        self.fh.seek(self.start)
        gzipped = head == b"\x1f\x8b"
        if splittable(self.path) and gzipped != (fmt in ("warc", "wet")) and fmt != "parquet":
            # Ranges were planned from the name, but the bytes say otherwise (a gzipped file named
            # .jsonl, a plain one named .warc.gz): the first range reads the file whole.
            if self.start > 0:
                return
            self.end = None
        if not head:
            yield self._error(fmt, 0, "empty_file", 0)
        elif fmt == "html":
            yield self._html(gzipped)
        elif fmt in ("warc", "wet") and gzipped:
            yield from self._gzip_warc(fmt)
        elif fmt in ("warc", "wet"):
            yield from self._plain_warc(fmt)
        elif fmt == "jsonl":
            yield from self._jsonl(gzipped)
        else:
            yield from self._parquet()

    # -- records

    def _record(
        self,
        fmt: str,
        offset: int,
        length: int | None,
        record_id: str | None = None,
        content: bytes | str | None = None,
        crawl: str | None = None,
        **fields,
    ) -> RawRecord:
        """A record of this file, with its id (contracts/schema.py document_id); `crawl` as the
        record says, else the WARC file's warcinfo."""
        rec = RawRecord(
            source_file=self.path,
            source_offset=offset,
            source_length=length,
            source_format=fmt,
            record_id=record_id,
            crawl=crawl or self.crawl,
            **fields,
        )
        rec.id = document_id(record_id, rec.url, rec.crawl, content, f"{self.name}#{offset}")
        return rec

    def _error(self, fmt: str, offset: int, reason: str, length: int | None, **fields) -> RawRecord:
        return self._record(fmt, offset, length, error=reason, **fields)

    # -- WARC / WET

    def _gzip_warc(self, fmt: str) -> Iterator[RawRecord]:
        window = _Window(self.fh)
        end = self.end if self.end is not None else float("inf")
        if self.start > 0:
            self._read_crawl(window)  # the warcinfo record is at the start of the file
        pos = self.start if self.start == 0 else next_member(window, self.start, self.end)
        cap = self.max_bytes + HEADER_ALLOWANCE
        while pos is not None and window.read_at(pos, 1):
            # Past the end, the next range's first good member begins; damage that starts past
            # the end is this range's to report (the next range resynchronises after it).
            if pos >= end and _starts_warc_member(window, pos):
                break
            length, data, size, error = inflate_member(window, pos, cap)
            if error == "corrupt_gzip" or (error is None and not data.startswith(b"WARC/")):
                following = next_member(window, pos + 1)
                span = (following if following is not None else self.fh.seek(0, io.SEEK_END)) - pos
                yield self._error(
                    fmt, pos, "corrupt_gzip", span, error_detail=f"bytes {pos}-{pos + span} of {self.name}"
                )
                pos = following
                continue
            if error == "truncated_gzip":
                yield self._error(fmt, pos, error, length, **self._head_fields(data))
                return
            if size > cap:  # a whole file in one member, or a record too large: parse it as a stream
                yield from self._warc_records(fmt, GzipMembers(self.fh, pos, length), pos, length)
            else:
                yield from self._warc_records(fmt, io.BytesIO(data), pos, length)
            pos += length

    def _read_crawl(self, window: _Window) -> None:
        try:  # a bounded probe: the first member may be the whole file
            data = zlib.decompressobj(wbits=31).decompress(window.read_at(0, 1 << 16), 1 << 16)
        except zlib.error:
            return
        if data.startswith(b"WARC/"):
            fields = _warc_headers(data)
            if fields.get("WARC-Type") == "warcinfo":
                self.crawl = _warcinfo_crawl(data.split(b"\r\n\r\n", 1)[-1])

    def _head_fields(self, data: bytes) -> dict:
        fields = _warc_headers(data)
        return {
            "record_id": fields.get("WARC-Record-ID"),
            "url": (fields.get("WARC-Target-URI") or "").strip("<>") or None,
            "fetch_date": fields.get("WARC-Date"),
        }

    def _plain_warc(self, fmt: str) -> Iterator[RawRecord]:
        # No member boundaries: one range, records addressed by stream offset, each record's length
        # known when the next one starts. A broken record costs the bytes up to the next line
        # that starts a WARC header.
        pending: list[RawRecord] = []
        pos: int | None = 0
        stream = _Reads(self.fh)
        while pos is not None:
            self.fh.seek(pos)
            for rec in self._warc_records(fmt, stream, pos, None):
                if pending and pending[-1].source_offset != rec.source_offset:
                    for p in pending:
                        p.source_length = rec.source_offset - p.source_offset
                    yield from pending
                    pending = []
                pending.append(rec)
            broken = pending[-1] if pending and pending[-1].error == "corrupt_record" else None
            pos = _next_warc_header(self.fh, broken.source_offset + 1) if broken else None
        self.fh.seek(0, io.SEEK_END)
        for p in pending:
            p.source_length = self.fh.tell() - p.source_offset
        yield from pending

    def _warc_records(self, fmt: str, stream: IO[bytes], base: int, length: int | None) -> Iterator[RawRecord]:
        """The records of `stream`: one gzip member (`base`, `length`: its place in the file) or a
        whole uncompressed file (`length` None: offsets are stream positions)."""
        offset, seen = base, False
        try:
            # FastWARC undoes chunked transfer coding; Content-Encoding is decoded here, bounded
            # (_read_bounded): FastWARC's own decoding would inflate a whole bomb to skip it.
            for rec in ArchiveIterator(stream, parse_http=True, stream_detect=False, auto_decode="transfer"):
                seen = True
                offset = base if length is not None else rec.stream_pos  # FastWARC counts from the file start
                record = self._warc_record(fmt, rec, offset, length)
                if record is not None:
                    yield record
        except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
            raise
        except BaseException as exc:  # noqa: BLE001 - a parser's panic derives from BaseException
            if getattr(stream, "failed", None) is not None:
                raise  # the storage's fault, not the data's: the range fails and is retried, not marked done
            yield self._error(fmt, offset, "corrupt_record", length, error_detail=f"{type(exc).__name__}: {exc}"[:500])
            seen = True
        if not seen and length is None and base == 0:
            yield self._error(fmt, 0, "no_warc_records", None)
        elif not seen:
            yield self._error(fmt, base, "corrupt_record", length, error_detail="no WARC record in the gzip member")

    def _warc_record(self, fmt: str, rec, offset: int, length: int | None) -> RawRecord | None:
        rtype = rec.record_type
        headers = rec.headers
        if rtype == WarcRecordType.warcinfo:
            self.crawl = _warcinfo_crawl(rec.reader.read()) or self.crawl
            self.non_document_records += 1
            return None
        if not rtype & DOCUMENT_RECORD_TYPES:
            self.non_document_records += 1
            return None
        # A WET conversion names the response it was made from: the page's identity, whichever
        # of the crawl's files it is read from.
        record_id = headers.get("WARC-Refers-To") if rtype == WarcRecordType.conversion else None
        record_id = record_id or headers.get("WARC-Record-ID")
        # wget writes the target URI in angle brackets.
        url = (headers.get("WARC-Target-URI") or "").strip().strip("<>") or None
        fields = {"record_id": record_id, "url": url, "fetch_date": headers.get("WARC-Date")}
        declared = rec.content_length
        if declared > self.max_bytes:
            return self._error(fmt, offset, "too_large", length, payload_bytes=declared, **fields)
        if rtype == WarcRecordType.conversion:
            body = _read_bounded(rec, self.max_bytes)
            if len(body) > self.max_bytes:
                return self._error(fmt, offset, "too_large", length, payload_bytes=len(body), **fields)
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                return self._error(fmt, offset, "invalid_utf8", length, payload_bytes=len(body), **fields)
            return self._record(fmt, offset, length, content=body, text=text, payload_bytes=len(body), **fields)
        if rec.is_http:
            if not 200 <= rec.http_headers.status_code < 300:
                return self._error(fmt, offset, "http_status_not_ok", length, payload_bytes=declared, **fields)
            ctype = (rec.http_content_type or "").lower()
            charset = rec.http_charset
        else:
            ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
            charset = None
            if rtype == WarcRecordType.resource and ctype not in HTML_TYPES:
                # Crawler logs and metadata (wget's `metadata://` resources), not pages.
                self.non_document_records += 1
                return None
        encoding = (rec.http_headers.get("Content-Encoding") or "").strip().lower() if rec.is_http else ""
        try:
            body = _read_bounded(rec, self.max_bytes, encoding)
        except (zlib.error, brotli.error) as exc:
            detail = f"Content-Encoding {encoding}: {exc}"[:500]
            return self._error(fmt, offset, "bad_content_encoding", length, error_detail=detail, **fields)
        if ctype and ctype not in HTML_TYPES:
            return self._error(fmt, offset, "not_html", length, payload_bytes=len(body), **fields)
        if len(body) > self.max_bytes:
            return self._error(fmt, offset, "too_large", length, payload_bytes=len(body), **fields)
        return self._record(
            fmt, offset, length, content=body, payload=body, charset=charset, payload_bytes=len(body), **fields
        )

    # -- saved pages

    def _html(self, gzipped: bool) -> RawRecord:
        """A saved page: one document, the whole file (inflated when gzipped)."""
        fmt = "html"
        length = self.fh.seek(0, io.SEEK_END)
        self.fh.seek(0)
        stream = io.BufferedReader(GzipMembers(self.fh), CHUNK) if gzipped else self.fh
        try:
            body = stream.read(self.max_bytes + 1)
        except (EOFError, zlib.error) as exc:
            return self._error(fmt, 0, "truncated_gzip" if isinstance(exc, EOFError) else "corrupt_gzip", length)
        url = self._sidecar_url() or page_url(body)
        if len(body) > self.max_bytes:
            return self._error(fmt, 0, "too_large", length, url=url, payload_bytes=len(body))
        return self._record(fmt, 0, length, content=body, url=url, payload=body, payload_bytes=len(body))

    def _sidecar_url(self) -> str | None:
        if self.read_sidecar is None:
            return None
        data = self.read_sidecar(self.path + URL_SIDECAR)
        if not data:
            return None
        found = _ABSOLUTE_URL.match(data.strip())
        return found.group().decode("ascii", "replace") if found else None

    # -- JSONL

    def _jsonl(self, gzipped: bool) -> Iterator[RawRecord]:
        fmt = "jsonl"
        if self.path.lower().endswith(".zst"):  # by name: zstd's magic number is not checked first
            # Every frame, streamed: memory is the frame's window (at most 128 MiB, zstd's default
            # limit, ZSTD_WINDOWLOG_LIMIT_DEFAULT; a frame that needs more, from `zstd --long=31`,
            # is corrupt_zstd with zstd's reason) and a buffer, whatever the file's size. A file
            # cut short ends in one truncated_zstd (ZstdFrames).
            stream: IO[bytes] = io.BufferedReader(ZstdFrames(self.fh), CHUNK)
            pos, end = 0, None
        elif gzipped:
            stream = io.BufferedReader(GzipMembers(self.fh), CHUNK)
            pos, end = 0, None
        else:
            stream, pos, end = self.fh, self.start, self.end
            if pos > 0:  # the line that starts before the range belongs to the range before
                self.fh.seek(pos - 1)
                pos += len(self.fh.readline()) - 1
        try:
            while end is None or pos < end:
                # At most one byte past the limit per read: a line of 300 MB (a few KB compressed)
                # is counted too_large, never held whole.
                line = stream.readline(self.max_bytes + 1)
                if not line:
                    break
                offset, pos = pos, pos + len(line)
                if len(line) > self.max_bytes and not line.endswith(b"\n"):
                    while not line.endswith(b"\n"):  # the rest of the line, CHUNK at a time, skipped
                        line = stream.readline(CHUNK)
                        if not line:
                            break
                        pos += len(line)
                    yield self._error(fmt, offset, "too_large", pos - offset, payload_bytes=pos - offset)
                elif line.strip():
                    yield self._json_record(line, offset)
        except (EOFError, zlib.error, zstandard.ZstdError) as exc:  # an OSError is the storage's: it propagates
            if isinstance(exc, zstandard.ZstdError):
                yield self._error(fmt, pos, "corrupt_zstd", None, error_detail=str(exc)[:500])
            elif isinstance(exc, EOFError):
                truncated = "truncated_zstd" if self.path.lower().endswith(".zst") else "truncated_gzip"
                yield self._error(fmt, pos, truncated, None)
            else:
                yield self._error(fmt, pos, "corrupt_gzip", None)

    def _json_record(self, line: bytes, offset: int) -> RawRecord:
        fmt, length = "jsonl", len(line)
        if length > self.max_bytes:
            return self._error(fmt, offset, "too_large", length, payload_bytes=length)
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            return self._error(fmt, offset, "invalid_utf8", length, payload_bytes=length)
        except json.JSONDecodeError:
            return self._error(fmt, offset, "malformed_json", length, payload_bytes=length)
        if not isinstance(obj, dict):
            return self._error(fmt, offset, "missing_text", length, payload_bytes=length)
        fields = mapped_fields(obj)
        if not isinstance(fields["text"], str):
            return self._error(fmt, offset, "missing_text", length, payload_bytes=length)
        if not _encodable(*fields.values()):  # JSON's \ud800 escapes make lone surrogates
            return self._error(fmt, offset, "invalid_utf8", length, payload_bytes=length)
        return self._record(fmt, offset, length, content=fields["text"], payload_bytes=length, **fields)

    # -- Parquet

    def _parquet(self) -> Iterator[RawRecord]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        fmt = "parquet"
        try:
            pf = pq.ParquetFile(self.fh)
        except (OSError, pa.ArrowException) as exc:
            yield self._error(fmt, 0, "corrupt_parquet", None, error_detail=str(exc)[:500])
            return
        names = set(pf.schema_arrow.names)
        meta = pf.metadata
        groups = row_groups_in(meta, self.start, self.end)
        has_text = bool(names & set(FIELD_PATHS["text"]))
        if self.start == 0 and not has_text:
            yield self._error(fmt, 0, "missing_text_column", None)
            return
        first_rows = [0]
        for i in range(meta.num_row_groups):
            first_rows.append(first_rows[-1] + meta.row_group(i).num_rows)
        for i in groups if has_text else []:
            row = first_rows[i]
            for batch in pf.iter_batches(row_groups=[i], columns=[c for c in PARQUET_COLUMNS if c in names]):
                for obj in batch.to_pylist():
                    yield self._parquet_record(obj, row)
                    row += 1

    def _parquet_record(self, obj: dict, row: int) -> RawRecord:
        fmt = "parquet"
        fields = mapped_fields(obj)
        text = fields["text"]
        if not isinstance(text, str):
            return self._error(fmt, row, "missing_text", None)
        if len(text) > self.max_bytes:
            return self._error(fmt, row, "too_large", None, payload_bytes=len(text))
        return self._record(fmt, row, None, content=text, payload_bytes=len(text.encode("utf-8")), **fields)


# Where the common layouts of extracted web text keep each field: the first of a field's paths that
# holds a value wins ("a.b": key b of the object at key a). The layouts:
#   top-level          {"text", "url", "crawl" | "dump", "date"}: C4 ("timestamp"), thresher's own
#                      curated Parquet ("source_record_id")
#   datatrove/FineWeb  {"text", "id", "metadata": {"url", "dump", "date", "file_path", ...}}
#                      (FineWeb's Parquet has the same fields at the top level)
#   Dolma              {"id", "text", "source", "added", "created", "metadata": {"url", ...}}
#   CCNet              {"raw_content", "url", "date_download", "cc_segment", "digest", ...}
#   RedPajama          v1: {"text", "meta": {"url", "timestamp", ...}}; v2 documents: CCNet's
# `crawl` is the crawl's name, CC-MAIN-YYYY-WW, taken from a path that holds one (CCNet's
# cc_segment, FineWeb's file_path) where no field names it. `record_id` is kept only when it is a
# WARC-Record-ID (FineWeb's ids are): then the document's id is the one its WARC record has
# (contracts/schema.py document_id), whichever file it is read from; other ids (Dolma's, a row
# number) are not unique beyond their dataset, so those documents are identified by content.
FIELD_PATHS = {
    "text": ("text", "raw_content", "content"),
    "url": ("url", "metadata.url", "meta.url", "metadata.warc_target_uri"),
    "crawl": ("crawl", "dump", "metadata.crawl", "metadata.dump", "meta.crawl", "meta.dump"),
    "crawl_path": (
        "cc_segment",
        "metadata.cc_segment",
        "meta.cc_segment",
        "file_path",
        "metadata.file_path",
        "meta.file_path",
        "warc_path",
        "metadata.warc_path",
    ),
    "fetch_date": (
        "date",
        "fetch_date",
        "date_download",
        "timestamp",
        "metadata.date",
        "metadata.date_download",
        "metadata.timestamp",
        "meta.date",
        "meta.date_download",
        "meta.timestamp",
        "created",
    ),
    "record_id": ("id", "source_record_id", "metadata.warc_record_id", "metadata.id", "meta.warc_record_id"),
}
# The top-level columns a Parquet reader needs for the paths above.
PARQUET_COLUMNS = sorted({path.split(".")[0] for paths in FIELD_PATHS.values() for path in paths})
_CRAWL_NAME = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_WARC_RECORD_ID = re.compile(r"<urn:uuid:[0-9a-fA-F-]{36}>")


def _lookup(obj: dict, path: str):
    for key in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def mapped_fields(obj: dict) -> dict:
    """A JSON object's or Parquet row's text, url, crawl, fetch_date and record_id, wherever its
    layout keeps them (FIELD_PATHS): the first path with a value that is not null or "" (an empty
    `text` is then no text: `missing_text`). Metadata values of other types become text (`"date":
    20240101`, a timestamp column); `text` is returned as found, for the caller to check."""
    found = {}
    for field, paths in FIELD_PATHS.items():
        values = (_lookup(obj, path) for path in paths)
        if field == "record_id":
            values = (v for v in values if isinstance(v, str) and _WARC_RECORD_ID.fullmatch(v))
        value = next((v for v in values if v not in (None, "")), None)
        found[field] = value if field == "text" else _string(value)
    crawl_path = found.pop("crawl_path")
    if found["crawl"] is None and crawl_path:
        name = _CRAWL_NAME.search(crawl_path)
        found["crawl"] = name.group() if name else None
    return found


def _read_bounded(rec, max_bytes: int, encoding: str = "") -> bytes:
    """A record's body, decoded from its Content-Encoding (gzip, deflate, br; another one, or
    none, as stored), at most one byte past `max_bytes`: decoding stops there, so a body of a few MB
    that would inflate to GBs (a gzip bomb) costs what it takes to produce the limit. The stored
    bytes after the cut are read on and thrown away, undecoded: FastWARC, left inside a body, takes
    what follows for the next record's header."""
    limit = max_bytes + 1
    decoder = _decoder(encoding)
    if decoder is None:
        body = rec.reader.read(limit)
    else:
        out, size = [], 0
        while size < limit and (chunk := rec.reader.read(CHUNK)):
            for piece in decoder(chunk, limit - size):
                out.append(piece)
                size += len(piece)
                if size >= limit:
                    break
        body = b"".join(out)[:limit]
    if len(body) >= limit:
        while rec.reader.read(CHUNK):
            pass
    return body


def _decoder(encoding: str):
    """For a Content-Encoding, a function (compressed chunk, most bytes wanted) -> decoded pieces,
    never more than wanted in all; None for identity and encodings left as stored."""
    if encoding in ("gzip", "x-gzip", "deflate"):
        # 47: a gzip or zlib header, detected; HTTP's "deflate" is zlib, but some servers send it raw
        state = {"inflate": zlib.decompressobj(47), "raw": encoding == "deflate"}

        def inflate(chunk: bytes, wanted: int):
            data = chunk
            while data and wanted > 0:
                try:
                    piece = state["inflate"].decompress(data, wanted)
                except zlib.error:
                    if not state.pop("raw", False):
                        raise
                    state["inflate"] = zlib.decompressobj(-15)  # raw deflate, from the start
                    piece = state["inflate"].decompress(data, wanted)
                state["raw"] = False
                data = state["inflate"].unconsumed_tail
                wanted -= len(piece)
                yield piece
                if state["inflate"].eof:
                    return

        return inflate
    if encoding == "br":
        brotli_state = brotli.Decompressor()

        def unbrotli(chunk: bytes, wanted: int):
            piece = brotli_state.process(chunk, output_buffer_limit=wanted)
            yield piece
            while len(piece) and not brotli_state.can_accept_more_data() and (wanted := wanted - len(piece)) > 0:
                piece = brotli_state.process(b"", output_buffer_limit=wanted)
                yield piece

        return unbrotli
    return None


def page_url(body: bytes) -> str | None:
    """A saved page's own URL, where its first bytes give one (`_PAGE_URLS`, in that order)."""
    head = body[:PAGE_URL_BYTES]
    for pattern in _PAGE_URLS:
        found = pattern.search(head)
        if found:
            url = _ABSOLUTE_URL.search(found.group(found.lastindex or 0))
            if url:
                return url.group().decode("ascii", "replace")
    return None


def _string(value) -> str | None:
    """A metadata field as the schema's string: numbers and dates (`"date": 20240101`, a timestamp
    column) as their text."""
    return value if value is None or isinstance(value, str) else str(value)


def _encodable(*texts: str | None) -> bool:
    try:
        for text in texts:
            (text or "").encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Reads(io.RawIOBase):
    """A file, read through: remembers a read that failed, so that the storage's errors (which
    FastWARC raises as OSError, as it does its own parse errors) are not taken for bad data."""

    def __init__(self, fh: IO[bytes]):
        self.fh = fh
        self.failed: BaseException | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.fh.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.fh.seek(offset, whence)

    def readinto(self, buf) -> int:
        try:
            data = self.fh.read(len(buf))
        except BaseException as exc:
            self.failed = exc
            raise
        buf[: len(data)] = data
        return len(data)


def _next_warc_header(fh: IO[bytes], pos: int) -> int | None:
    """The first offset at or after `pos` where a line starts with `WARC/1.`, in a plain file."""
    fh.seek(pos)
    carry = b""
    while chunk := fh.read(CHUNK):
        buf = carry + chunk
        i = buf.find(b"\nWARC/1.")
        if i >= 0:
            return pos - len(carry) + i + 1
        carry = buf[-8:]
        pos += len(chunk)
    return None


def _row_group_offset(row_group) -> int:
    column = row_group.column(0)
    return column.dictionary_page_offset or column.data_page_offset


def row_groups_in(meta, start: int, end: int | None) -> list[int]:
    """The row groups of a Parquet file (its metadata) whose first column chunk starts in [start, end)."""
    return [
        i for i in range(meta.num_row_groups) if start <= _row_group_offset(meta.row_group(i)) < (end or float("inf"))
    ]


# Compressed bytes given to zstd at a time. zstd's largest ratio is an RLE block: 4 bytes for 128 KiB
# of output (32768:1), so a read holds at most 32 MiB of output, whatever the file decompresses to.
ZSTD_FEED = 1 << 10


class ZstdFrames(io.RawIOBase):
    """Decompresses concatenated zstd frames as one stream, forward only (a .jsonl.zst file), and,
    unlike zstandard's stream_reader, says when the file ends inside a frame: EOFError (truncated),
    after every byte it could decompress. zstandard.ZstdError: corrupt."""

    def __init__(self, raw: IO[bytes]):
        raw.seek(0)
        self._raw = raw
        self._zstd = zstandard.ZstdDecompressor()
        self._frame = self._zstd.decompressobj()
        self._in_frame = False
        self._pending = b""  # compressed bytes, given to zstd from _fed on
        self._fed = 0
        self._buf = b""
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        while self._at >= len(self._buf):
            if self._fed >= len(self._pending):
                self._pending, self._fed = self._raw.read(CHUNK), 0
                if not self._pending:
                    if self._in_frame:
                        raise EOFError("zstd file ended inside a frame")
                    return 0
            piece = self._pending[self._fed : self._fed + ZSTD_FEED]
            self._fed += len(piece)
            self._in_frame = True
            self._buf, self._at = self._frame.decompress(piece), 0
            if self._frame.eof:  # the end of a frame: the rest, if any, starts the next one
                self._pending, self._fed = self._frame.unused_data + self._pending[self._fed :], 0
                self._frame = self._zstd.decompressobj()
                self._in_frame = False
        n = min(len(buf), len(self._buf) - self._at)
        buf[:n] = self._buf[self._at : self._at + n]
        self._at += n
        return n


class GzipMembers(io.RawIOBase):
    """Inflates concatenated gzip members as one stream, forward only: a gzipped JSONL file, or one
    member too large to hold (from `offset`, `limit` compressed bytes). Unlike `gzip.GzipFile`,
    which throws away what a failing read had inflated, this returns every byte it could inflate
    before raising EOFError (truncated) or zlib.error (corrupt)."""

    def __init__(self, raw: IO[bytes], offset: int = 0, limit: int | None = None):
        raw.seek(offset)
        self._raw = raw
        self._left = limit
        self._inflate = zlib.decompressobj(wbits=31)
        self._in_member = False
        self._buf = b""
        self._at = 0  # how much of _buf has been read
        self._pending = b""  # compressed bytes not inflated yet
        self._pos = 0
        self._error: BaseException | None = None
        self._done = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True  # FastWARC asks; it only ever seeks forward

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self._pos + offset if whence == io.SEEK_CUR else None
        if target is None or target < self._pos:
            raise io.UnsupportedOperation("GzipMembers seeks forward only")
        while self._pos < target and self.read(min(target - self._pos, CHUNK)):
            pass
        return self._pos

    def _fill(self) -> None:
        while not self._buf and not self._done:
            if self._error is not None:
                error, self._error = self._error, None
                self._done = True
                raise error
            data = self._raw.read(CHUNK if self._left is None else min(CHUNK, self._left))
            if self._left is not None:
                self._left -= len(data)
            if not data:
                if self._in_member:
                    self._error = EOFError("compressed file ended before the end-of-stream marker was reached")
                else:
                    self._done = True
                continue
            self._pending = data
            self._inflate_some()

    def _inflate_some(self) -> None:
        """At most CHUNK bytes of output from the compressed bytes pending: memory stays bounded
        whatever the members inflate to."""
        try:
            while self._pending and not self._buf:
                self._in_member = True
                self._buf, self._at = self._inflate.decompress(self._pending, CHUNK), 0
                self._pending = self._inflate.unconsumed_tail
                if self._inflate.eof:  # the end of a member: the rest, if any, starts the next one
                    self._pending = self._inflate.unused_data
                    self._inflate = zlib.decompressobj(wbits=31)
                    self._in_member = False
        except zlib.error as exc:
            self._error, self._pending = exc, b""

    def readinto(self, buf) -> int:
        if self._at >= len(self._buf):
            self._buf, self._at = b"", 0
            self._inflate_some()
            self._fill()
        n = min(len(buf), len(self._buf) - self._at)
        buf[:n] = self._buf[self._at : self._at + n]
        self._at += n
        self._pos += n
        return n
