"""WARC files written the way Common Crawl writes them, with warcio: WARC/1.1, one gzip member per
record, a `warcinfo` record first, then `request`, `response` and `metadata` records per fetch.

Each record's gzip member is kept apart (`members`), so a caller can cut or corrupt one (the demo's
truncated file, hostile-input tests). Record ids and dates come from the caller (`record_id`,
`now`, called once per fetch), so a seeded caller writes the same bytes on every run: warcio's gzip
headers carry no time.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def _http_date(t: datetime) -> str:
    return t.strftime("%a, %d %b %Y %H:%M:%S GMT")


class WarcFileWriter:
    def __init__(
        self,
        filename: str,
        info: dict[str, str],
        record_id: Callable[[], str] | None = None,
        now: Callable[[], datetime] | None = None,
    ):
        self.record_id = record_id or (lambda: f"<urn:uuid:{uuid.uuid4()}>")
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.members: list[bytes] = []
        self.non_document_records = 0
        self.warcinfo_id = self.record_id()
        self._write(self._writer().create_warcinfo_record(filename, info), self.warcinfo_id, self.now())

    @staticmethod
    def _writer(buf: io.BytesIO | None = None) -> WARCWriter:
        return WARCWriter(buf if buf is not None else io.BytesIO(), gzip=True, warc_version="1.1")

    def _write(self, record, record_id: str, date: datetime) -> bytes:
        record.rec_headers.replace_header("WARC-Record-ID", record_id)
        record.rec_headers.replace_header("WARC-Date", date.strftime("%Y-%m-%dT%H:%M:%SZ"))
        buf = io.BytesIO()
        self._writer(buf).write_record(record)
        self.members.append(buf.getvalue())
        if record.rec_type != "response":
            self.non_document_records += 1
        return self.members[-1]

    def _record(self, url: str, rtype: str, payload: bytes, headers: dict[str, str], http=None, content_type: str = ""):
        return self._writer().create_warc_record(
            url,
            rtype,
            payload=io.BytesIO(payload),
            length=len(payload),
            warc_headers_dict=headers,
            http_headers=http,
            warc_content_type=content_type,
        )

    def fetch(
        self,
        url: str,
        ip: str,
        body: bytes,
        status: str = "200 OK",
        content_type: str | None = "text/html; charset=utf-8",
        extra_headers: tuple[tuple[str, str], ...] = (),
        metadata: bool = True,
        user_agent: str = "thresher/0.1 (generated data, never sent)",
    ) -> bytes:
        """A page fetch: request, response and (like Common Crawl) a metadata record. Returns the
        response's gzip member."""
        host, _, path = url.partition("://")[2].partition("/")
        request = StatusAndHeaders(
            f"GET /{path} HTTP/1.1",
            [("Host", host), ("User-Agent", user_agent), ("Accept-Encoding", "identity"), ("Connection", "close")],
            protocol="",
        )
        date, request_id, response_id = self.now(), self.record_id(), self.record_id()
        common = {"WARC-Warcinfo-ID": self.warcinfo_id, "WARC-IP-Address": ip}
        self._write(self._record(url, "request", b"", common, request), request_id, date)
        headers = [("Date", _http_date(date)), ("Server", "nginx")]
        if content_type:
            headers.append(("Content-Type", content_type))
        headers += [*extra_headers, ("Content-Length", str(len(body))), ("Connection", "close")]
        response = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
        fields = {**common, "WARC-Concurrent-To": request_id}
        if content_type:
            fields["WARC-Identified-Payload-Type"] = content_type.split(";")[0]
        member = self._write(self._record(url, "response", body, fields, response), response_id, date)
        if metadata:
            meta = f"fetchTimeMs: {len(body) % 900 + 40}\r\n".encode()
            self._write(
                self._record(
                    url, "metadata", meta, {"WARC-Refers-To": response_id}, content_type="application/warc-fields"
                ),
                self.record_id(),
                date,
            )
        return member

    def data(self) -> bytes:
        return b"".join(self.members)
