"""`http://` and `https://` files for Beam's FileSystems: read-only, seekable, read by HTTP range
requests, with retries. Importing this module registers both schemes (Beam finds a FileSystem by
its subclasses' `scheme()`); runs.py imports it, so the launcher and every worker that reads a
range have it.

    FileSystems.open("https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/segments/.../x.warc.gz")

- A URL names one file: `match` takes no globs (a web server has no listing to match against;
  UsageError), and sizes each URL by a HEAD request (Content-Length), or, where a server answers a
  HEAD without one, by a `Range: bytes=0-0` probe (Content-Range: bytes 0-0/<size>).
- `open` gives a seekable file that reads by `Range: bytes=a-b` GETs through a buffer: a worker
  that reads its byte range of a 1 GB WARC file downloads that range, not the file. The readahead
  starts at 64 KiB (a seek to a record and a probe read cost one small request) and doubles while
  the reads go on from where the last one ended, up to 8 MiB per request: sequential reading
  costs one request per 8 MiB, a few percent of the time to transfer it.
- Every request is retried on 429, 500, 502, 503 (Common Crawl's "SlowDown"), 504, connection
  errors and resets, timeouts and bodies cut short: up to ATTEMPTS attempts, sleeping a server's
  Retry-After where it sends one, else exponential backoff with full jitter (a uniform draw from 0
  to min(cap, base * 2^attempt): AWS's "Exponential Backoff And Jitter", the schedule its SDKs use,
  which spreads the retries of many workers instead of synchronising them). Then an OSError naming
  the URL, the last failure and the attempts. Other 4xx (403, 404, 416) are not retried.
- A server that ignores Range (HTTP 200 to a range request) is refused rather than read whole.
- Writing, renaming and deleting raise: Common Crawl and web servers are read from, never written.
"""

from __future__ import annotations

import io
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime

import urllib3
from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
    MatchResult,
)

from thresher import __version__
from thresher.contracts.files import check_no_glob
from thresher.pipelines.http import backoff, retry_after

# Retried: too many requests, and the server errors that a retry can outlast.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# 10 attempts with a 1 s base and a 60 s cap: ~2 minutes of expected waiting before giving up, long
# enough to outlast a throttling episode of Common Crawl's CloudFront, short enough that a file
# that is really gone fails its range (and the range is retried by Beam) within minutes.
ATTEMPTS = 10
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
# A Retry-After above this is cut to it: a server asking for an hour would otherwise stall a worker.
RETRY_AFTER_CAP_S = 300.0
# Connect within 10 s; 60 s between bytes, as contracts/files.py HTTP_TIMEOUT_S.
TIMEOUT = urllib3.Timeout(connect=10.0, read=60.0)
MAX_REDIRECTS = 5
MIN_READAHEAD = 64 << 10
MAX_READAHEAD = 8 << 20
# HEAD requests in flight while matching many URLs (a crawl's file list) at launch.
MATCH_THREADS = 16
USER_AGENT = f"thresher/{__version__} (web-crawl curation; Common Crawl range reads)"


class HttpFileError(OSError):
    """A request that failed for good: a status not retried (404, 403), or retries exhausted."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class HttpClient:
    """GET and HEAD with the retry policy of the module docstring, over one urllib3 pool per
    process (thread-safe). `sleep` and the backoff constants are parameters for tests."""

    def __init__(
        self,
        attempts: int = ATTEMPTS,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        sleep=time.sleep,
    ):
        self.attempts = attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.sleep = sleep
        self.retries = 0  # sleeps taken, for benchmarks and tests

    def request(self, url: str, method: str = "GET", start: int | None = None, end: int | None = None):
        """(status, headers, body) of a successful request; bytes [start, end) when given (a
        range request, answered 206). HttpFileError when it fails for good."""
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if start is not None:
            headers["Range"] = f"bytes={start}-{end - 1}"
        problem = ""
        for attempt in range(self.attempts):
            wait = None
            try:
                response = _pool().request(
                    method,
                    url,
                    headers=headers,
                    preload_content=False,
                    timeout=TIMEOUT,
                    retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=MAX_REDIRECTS),
                )
                try:
                    if response.status in RETRY_STATUSES:
                        problem = f"HTTP {response.status}"
                        wait = retry_after(response.headers.get("Retry-After"), time.time())
                        wait = None if wait is None else min(wait, RETRY_AFTER_CAP_S)
                    elif response.status >= 400:
                        raise HttpFileError(f"{url}: HTTP {response.status}", response.status)
                    elif start is not None and response.status != 206:
                        raise HttpFileError(
                            f"{url}: the server ignores Range requests (HTTP {response.status}), "
                            f"refusing to download the whole file for bytes {start}-{end - 1}",
                            response.status,
                        )
                    else:
                        # urllib3 checks the body against Content-Length: one cut short raises (and is retried)
                        body = b"" if method == "HEAD" else response.read()
                        return response.status, response.headers, body
                finally:
                    if start is not None and response.status == 200:
                        response.close()  # a whole file: dropped with its connection, not drained
                    else:
                        response.drain_conn()
                    response.release_conn()
            except urllib3.exceptions.HTTPError as e:  # connection refused or reset, timeout, short body
                if isinstance(getattr(e, "reason", None), urllib3.exceptions.NameResolutionError):
                    # A name that does not resolve (a typo, or no DNS: offline) is not retried for
                    # minutes. Beam itself opens https URLs through this filesystem (the Prism
                    # runner's download) and falls back to a local runner only once it fails.
                    raise HttpFileError(f"{url}: {e.reason}") from None
                problem = f"{type(e).__name__}: {e}"
            if attempt + 1 < self.attempts:
                self.retries += 1
                self.sleep(wait if wait is not None else backoff(attempt, self.backoff_base_s, self.backoff_cap_s))
        raise HttpFileError(f"{url}: {problem} after {self.attempts} attempts")

    def get_range(self, url: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file at `url`; fewer only where the file ends first."""
        _, headers, body = self.request(url, start=start, end=end)
        first = _content_range(headers.get("Content-Range"))[0]
        if first != start:
            raise HttpFileError(f"{url}: asked for bytes from {start}, got them from {first}")
        return body

    def stat(self, url: str) -> tuple[int, float, str] | None:
        """(size, last modified in seconds, ETag) of the file at `url`; None when there is none (404, 410)."""
        try:
            try:
                _, headers, _ = self.request(url, "HEAD")
                size = headers.get("Content-Length")
            except HttpFileError as e:
                if e.status != 405:  # HEAD not allowed: the probe below
                    raise
                size = None
            if size is None:  # a HEAD without a size: a one-byte range says it
                _, headers, _ = self.request(url, start=0, end=1)
                size = _content_range(headers.get("Content-Range"))[1]
        except HttpFileError as e:
            if e.status in (404, 410):
                return None
            raise
        modified = headers.get("Last-Modified")
        try:
            seconds = parsedate_to_datetime(modified).timestamp() if modified else 0.0
        except (TypeError, ValueError):
            seconds = 0.0
        return int(size), seconds, headers.get("ETag") or ""


_POOLS: dict[int, urllib3.PoolManager] = {}
_POOLS_LOCK = threading.Lock()


def _pool() -> urllib3.PoolManager:
    """One pool per process (a forked worker must not share its parent's sockets)."""
    pid = os.getpid()
    with _POOLS_LOCK:
        if pid not in _POOLS:
            _POOLS[pid] = urllib3.PoolManager(num_pools=32, maxsize=MATCH_THREADS)
        return _POOLS[pid]


def _content_range(value: str | None) -> tuple[int, int]:
    """(first byte, total size) from `Content-Range: bytes a-b/size`."""
    try:
        unit, _, spec = (value or "").partition(" ")
        span, _, total = spec.partition("/")
        if unit != "bytes":
            raise ValueError(value)
        return int(span.partition("-")[0]), int(total)
    except ValueError:
        raise HttpFileError(f"unreadable Content-Range {value!r}") from None


class HttpRangeFile(io.RawIOBase):
    """A read-only, seekable file over HTTP range requests, buffered with a growing readahead
    (module docstring)."""

    def __init__(self, url: str, size: int, client: HttpClient | None = None):
        self.url = url
        self.size = size
        self.client = client or HttpClient()
        self._pos = 0
        self._buf = b""
        self._buf_start = 0
        self._readahead = MIN_READAHEAD
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def _fill(self, n: int) -> None:
        """Make the buffer hold [pos, pos + n), as far as the file goes."""
        want = min(self._pos + n, self.size)
        buf_end = self._buf_start + len(self._buf)
        if self._buf_start <= self._pos and want <= buf_end:
            return
        if self._buf and self._pos == buf_end:  # reading on from where the last read ended
            self._readahead = min(2 * self._readahead, MAX_READAHEAD)
        elif not self._buf_start <= self._pos <= buf_end:
            self._readahead = MIN_READAHEAD
        keep = self._buf[self._pos - self._buf_start :] if self._buf_start <= self._pos <= buf_end else b""
        start = self._pos + len(keep)
        end = min(self.size, max(want, start + self._readahead))
        self.requests += 1
        self._buf, self._buf_start = keep + self.client.get_range(self.url, start, end), self._pos

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self._pos
        n = min(n, self.size - self._pos)
        if n <= 0:
            return b""
        self._fill(n)
        i = self._pos - self._buf_start
        out = self._buf[i : i + n]
        self._pos += len(out)
        return out

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        pieces, got = [], 0
        while self._pos < self.size and (size < 0 or got < size):
            self._fill(1)
            i = self._pos - self._buf_start
            newline = self._buf.find(b"\n", i)
            stop = len(self._buf) if newline < 0 else newline + 1
            if size >= 0:
                stop = min(stop, i + size - got)
            piece = self._buf[i:stop]
            pieces.append(piece)
            got += len(piece)
            self._pos += len(piece)
            if piece.endswith(b"\n"):
                break
        return b"".join(pieces)


def _read_only(path: str) -> BeamIOError:
    return BeamIOError(f"{path}: http(s) files are read-only")


class HttpsFileSystem(FileSystem):
    """Beam's FileSystem for https:// (module docstring)."""

    @classmethod
    def scheme(cls):
        return "https"

    def __init__(self, pipeline_options=None):
        super().__init__(pipeline_options)
        self.client = HttpClient()

    def join(self, basepath: str, *paths: str) -> str:
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path: str) -> tuple[str, str]:
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def has_dirs(self) -> bool:
        return False

    def mkdirs(self, path):
        raise _read_only(path)

    def _list(self, dir_or_prefix):
        raise BeamIOError(f"{dir_or_prefix}: a web server has no listing")

    def match(self, patterns, limits=None):
        for pattern in patterns:
            check_no_glob(pattern)
        with ThreadPoolExecutor(min(MATCH_THREADS, max(len(patterns), 1))) as pool:
            stats = list(pool.map(self.client.stat, patterns))
        return [
            MatchResult(pattern, [] if stat is None else [FileMetadata(pattern, stat[0], stat[1])])
            for pattern, stat in zip(patterns, stats)
        ]

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        raise _read_only(path)

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        stat = self.client.stat(path)
        if stat is None:
            raise FileNotFoundError(f"{path}: HTTP 404")
        raw = HttpRangeFile(path, stat[0], self.client)
        compression_type = self._get_compression_type(path, compression_type)
        if compression_type == CompressionTypes.UNCOMPRESSED:
            return raw
        return CompressedFile(raw, compression_type=compression_type)

    def copy(self, source_file_names, destination_file_names):
        raise _read_only(destination_file_names[0] if destination_file_names else "")

    def rename(self, source_file_names, destination_file_names):
        raise _read_only(source_file_names[0] if source_file_names else "")

    def delete(self, paths):
        raise _read_only(paths[0] if paths else "")

    def exists(self, path: str) -> bool:
        return self.client.stat(path) is not None

    def _stat(self, path: str) -> tuple[int, float, str]:
        stat = self.client.stat(path)
        if stat is None:
            raise BeamIOError(f"{path}: HTTP 404")
        return stat

    def size(self, path: str) -> int:
        return self._stat(path)[0]

    def last_updated(self, path: str) -> float:
        return self._stat(path)[1]

    def checksum(self, path: str) -> str:
        return self._stat(path)[2]

    def metadata(self, path: str) -> FileMetadata:
        size, modified, _ = self._stat(path)
        return FileMetadata(path, size, modified)


class HttpFileSystem(HttpsFileSystem):
    """The same, for http:// (a local mirror, a test server)."""

    @classmethod
    def scheme(cls):
        return "http"
