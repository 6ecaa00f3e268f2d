"""Polite, guarded HTTP fetching in plain Python (no Beam): what `thresher scrape` does with one
shard of URLs (pipelines/scrape.py wires it into Beam and writes what it returns).

- `AddressGuard`: a host's every resolved address is checked before any connection (private,
  loopback, link-local, multicast, reserved, CGNAT, cloud metadata: refused), and the connection
  goes to the exact address that was checked, with the name in the Host header and in TLS (SNI and
  certificate check): a name that resolves elsewhere a moment later (DNS rebinding) changes nothing.
- `Robots`: robots.txt through protego, fetched once per origin (scheme, host, port; RFC 9309
  §2.3) through the same guard, kept for the shard.
- `ShardFetcher`: one worker's loop over one shard. Every host gets a queue; the loop takes the
  host whose next allowed time comes first (round robin among hosts that are ready), sends one
  request and schedules the host again `max(1/rate, Crawl-delay)` seconds after that request
  started. A host lives in exactly one shard (scrape.py), so its rate holds with any number of
  workers. Retries (429, 5xx, connection errors) and redirects are steps of the same loop: a
  server that asks us to wait delays its host, never the shard's other hosts.

Every task ends in exactly one `on_response` (a 2xx response of an allowed content type) or one
`on_error` with a reason (`REASONS`).
"""

from __future__ import annotations

import heapq
import ipaddress
import socket
import threading
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin, urlsplit

import brotli
import urllib3
from protego import Protego

from thresher import __version__
from thresher.pipelines.http import backoff, retry_after

# A placeholder contact, on purpose: a site owner who sees it cannot reach the operator. The
# launcher warns while it is in use; the README says how to set a real one.
DEFAULT_USER_AGENT = f"thresher/{__version__} (+mailto:contact-unset@example.org)"
ROBOTS_TOKEN = "thresher"  # the product token robots.txt groups are matched against
# W3C's "Write Web Crawler" guide: "Add a delay of at least 1s between each query". (Nutch waits
# 5 s by default, Heritrix at least 3 s: 1/s is the fastest of the customary defaults.)
DEFAULT_RATE = 1.0
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0  # between two reads of the socket, not for the whole body
# The whole response, however slowly it trickles in: Scrapy's DOWNLOAD_TIMEOUT default (180 s).
TOTAL_TIMEOUT = 180.0
MAX_BYTES = 10 << 20  # a page larger than 10 MiB on the wire is counted too_large, not stored
# RFC 9309 §2.3.1.2: crawlers SHOULD follow at least five consecutive redirects (for robots.txt;
# Google follows 5 for robots.txt and 10 for pages). Five for pages too: a list of sites, not a hunt.
MAX_REDIRECTS = 5
RETRIES = 3  # urllib3's default (Retry.DEFAULT): 429, 5xx and connection errors, then give up
BACKOFF_BASE = 1.0  # full jitter (AWS Architecture Blog): sleep uniform(0, min(cap, base * 2**retry))
BACKOFF_CAP = 120.0  # urllib3's DEFAULT_BACKOFF_MAX; also the longest Retry-After we wait for
# StormCrawler's fetcher.max.crawl.delay and Oracle's crawler fetcher.delay.max: 30 s. A site that
# asks for more is not fetched (its URLs end as crawl_delay_too_long) instead of holding the shard.
MAX_CRAWL_DELAY = 30.0
ROBOTS_MAX_BYTES = 500 << 10  # RFC 9309 §2.5: parse at least 500 KiB
# What thresher's reader turns into documents (pipelines/readers.py HTML_TYPES): anything else
# would be fetched only to be counted not_html by curate.
CONTENT_TYPES = ("text/html", "application/xhtml+xml")
RESOLVE_TTL = 300.0  # seconds a resolved (and checked) address is reused within a shard
OPEN_POOLS = 64  # keep-alive connections held per shard: a shard of thousands of hosts must not hold a socket each
CHUNK = 64 << 10
ERROR_PAGE_BYTES = 64 << 10  # read of a non-2xx body (kept nowhere) before the connection is dropped instead
REASONS = (
    "invalid_url",
    "duplicate_url",
    "blocked_address",
    "dns_error",
    "robots_disallowed",
    "crawl_delay_too_long",
    "timeout",
    "connection_error",
    "tls_error",
    "too_large",
    "content_type",
    "too_many_redirects",
    "bad_redirect",
    "offsite_redirect",
    "http_<status>",
    "http_<status>_exhausted",
)

# Cloud instance metadata services (the credentials endpoint of the machine the worker runs on):
# AWS, GCP, Azure, DigitalOcean, Oracle (169.254.169.254), AWS IPv6 (fd00:ec2::254), AWS ECS task
# metadata (169.254.170.2), Alibaba (100.100.100.200), Oracle's older endpoint (192.0.0.192).
# Refused even inside a network that --allow-network opens.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 shared address space: not global, not "private" in Python
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address


@dataclass(frozen=True)
class FetchOptions:
    user_agent: str = DEFAULT_USER_AGENT
    rate: float = DEFAULT_RATE  # requests per second per host; 0: no limit (benchmarks, your own servers)
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    total_timeout: float = TOTAL_TIMEOUT
    max_bytes: int = MAX_BYTES
    max_redirects: int = MAX_REDIRECTS
    retries: int = RETRIES
    backoff_base: float = BACKOFF_BASE
    backoff_cap: float = BACKOFF_CAP
    max_crawl_delay: float = MAX_CRAWL_DELAY
    content_types: tuple[str, ...] = CONTENT_TYPES
    allow_loopback: bool = False
    allow_networks: tuple[str, ...] = ()
    ca_certs: str | None = None  # a PEM bundle trusted instead of the system's (an internal CA)


class FetchError(Exception):
    """How a request ended without a usable response: `reason` is one of REASONS."""

    def __init__(self, reason: str, detail: str = "", retry: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail[:500]
        self.retry = retry


# -- the address guard


class AddressGuard:
    """Which addresses a fetch may connect to: the globally routable ones, unless an option opens
    loopback or a network deliberately. Cloud metadata addresses stay refused whatever is opened."""

    def __init__(self, allow_loopback: bool = False, allow_networks: tuple[str, ...] = ()):
        self.allow_loopback = allow_loopback
        self.allowed = [ipaddress.ip_network(n, strict=False) for n in allow_networks]

    def refusal(self, address: str) -> str | None:
        """Why `address` may not be connected to; None when it may."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scoped IPv6 address: judged without its scope
        ip = _embedded_ipv4(ip) or ip
        if ip in METADATA_ADDRESSES:
            return f"{address} is a cloud metadata address"
        if (self.allow_loopback and ip.is_loopback) or any(ip in net for net in self.allowed):
            return None
        for kind, hit in (
            ("unspecified", ip.is_unspecified),
            ("loopback", ip.is_loopback),
            ("link-local", ip.is_link_local),
            ("multicast", ip.is_multicast),
            ("private", ip.is_private),
            ("reserved", ip.is_reserved),
            ("shared (CGNAT)", ip.version == 4 and ip in CGNAT),
            ("not globally routable", not ip.is_global),
        ):
            if hit:
                return f"{address} is {kind}"
        return None

    def resolve(self, host: str, port: int) -> str:
        """The address to connect to: the first that `host` resolves to, after checking all of
        them (one refused address refuses the host: which one a later lookup returns is not ours
        to choose). FetchError blocked_address or dns_error."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            raise FetchError("dns_error", f"{host}: {e}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:
            why = self.refusal(address)
            if why:
                raise FetchError("blocked_address", f"{host}: {why}")
        if not addresses:
            raise FetchError("dns_error", f"{host}: no address")
        return addresses[0]


def _embedded_ipv4(ip) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped ::ffff:a.b.c.d, 6to4 2002::/16,
    NAT64 64:ff9b::/96): the packet goes there, so that address is the one judged."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


# -- one request


@dataclass
class Exchange:
    """One HTTP exchange as it went over the wire: what a WARC request/response pair holds. The
    body is as received (Content-Encoding untouched; chunked transfer coding removed by http.client)."""

    url: str
    ip: str
    request_line: str
    request_headers: list[tuple[str, str]]
    status: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    seconds: float = 0.0

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not host.isascii():  # an internationalised name: its ASCII form, as DNS and the Host header want it
            host = host.encode("idna").decode("ascii")
        return cls(parts.scheme.lower(), host.lower(), parts.port or _DEFAULT_PORT[parts.scheme.lower()])

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORT[self.scheme] else f"{host}:{self.port}"


_DEFAULT_PORT = {"http": 80, "https": 443}
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"  # RFC 3986 reserved characters and %: kept as they are (requests does the same)


def check_url(url: str) -> str | None:
    """Why `url` cannot be fetched (not http or https, no host, a bad port); None when it can."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port out of range or not a number
    except ValueError as e:
        return str(e)
    if parts.scheme.lower() not in _DEFAULT_PORT:
        return f"scheme {parts.scheme!r} is not http or https"
    if not parts.hostname:
        return "no host"
    try:
        parts.hostname.encode("idna")
    except UnicodeError as e:
        return f"host {parts.hostname!r}: {e}"
    if port == 0:
        return "port 0"
    return None


class Deadline:
    """When the request a Client is sending must be over (`at`, time.monotonic()), shared with its
    pools' connections; `passed`: the watchdog cut the connection at it."""

    def __init__(self):
        self.at = float("inf")
        self.passed = False


class _HeaderWatchdog:
    """Holds the response headers to the request's Deadline. A read timeout bounds each recv, not
    the headers as a whole: a server that sends a header byte every few seconds would otherwise
    hold the fetch for as long as it likes. At the deadline a timer shuts the socket down, which
    ends the pending read at once (in any thread); Client.get sees `passed` and counts a timeout.
    (The body has its own check between reads: Client._body.)"""

    def __init__(self, *args, deadline: Deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def getresponse(self):
        left = self.deadline.at - time.monotonic()  # TIMEOUT_MAX: --total-timeout inf waits forever, as asked
        timer = threading.Timer(min(max(0.0, left), threading.TIMEOUT_MAX), self._cut)
        timer.daemon = True
        timer.start()
        try:
            return super().getresponse()
        finally:
            timer.cancel()

    def _cut(self) -> None:
        sock = self.sock
        if sock is None:
            return
        self.deadline.passed = True
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed by the reading thread
            pass


class _HTTPConnection(_HeaderWatchdog, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_HeaderWatchdog, urllib3.connection.HTTPSConnection):
    pass


class _HTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class Client:
    """Requests through the guard: each one resolved and checked (cached RESOLVE_TTL seconds),
    then sent to the checked address. Keep-alive connections per (origin, address), at most
    OPEN_POOLS of them."""

    def __init__(self, options: FetchOptions):
        self.options = options
        self.guard = AddressGuard(options.allow_loopback, options.allow_networks)
        self.timeout = urllib3.Timeout(connect=options.connect_timeout, read=options.read_timeout)
        self.deadline = Deadline()  # one request at a time: a Client belongs to one shard's loop
        self.addresses: dict[tuple[str, int], tuple[float, str]] = {}
        self.pools: OrderedDict = OrderedDict()
        self.requests = 0

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()

    def address(self, origin: Origin) -> str:
        key = (origin.host, origin.port)
        cached = self.addresses.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        address = self.guard.resolve(origin.host, origin.port)
        self.addresses[key] = (time.monotonic() + RESOLVE_TTL, address)
        return address

    def _pool(self, origin: Origin, address: str):
        key = (origin, address)
        pool = self.pools.pop(key, None)
        if pool is None:
            if origin.scheme == "https":
                # SNI and the certificate check use the name; the socket goes to the checked address
                pool = _HTTPSConnectionPool(
                    address,
                    origin.port,
                    timeout=self.timeout,
                    retries=False,
                    deadline=self.deadline,
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=self.options.ca_certs,
                    server_hostname=origin.host,
                    assert_hostname=origin.host,
                )
            else:
                pool = _HTTPConnectionPool(
                    address, origin.port, timeout=self.timeout, retries=False, deadline=self.deadline
                )
            while len(self.pools) >= OPEN_POOLS:
                self.pools.popitem(last=False)[1].close()
        self.pools[key] = pool  # most recently used last
        return pool

    def get(self, url: str, max_bytes: int, content_types: tuple[str, ...] | None, truncate: bool = False) -> Exchange:
        """One GET of `url`, no redirect followed. The body is read for a 2xx response of an
        allowed content type (`content_types` None: any), up to `max_bytes`: FetchError too_large
        past it, or with `truncate` its first `max_bytes`. Other responses' bodies (error pages,
        redirects) are read up to ERROR_PAGE_BYTES and dropped. FetchError for what did not give a
        response (retry=True where another try may help)."""
        origin = Origin.of(url)
        address = self.address(origin)
        parts = urlsplit(url)
        # as a browser sends it: spaces and non-ASCII characters percent-encoded, the rest untouched
        target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=_URL_SAFE)
        headers = [
            ("Host", origin.host_header),
            ("User-Agent", self.options.user_agent),
            ("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"),
            # thresher's reader decodes these three (bounded); the body is stored as sent
            ("Accept-Encoding", "gzip, deflate, br"),
        ]
        pool = self._pool(origin, address)
        started = time.monotonic()
        self.requests += 1
        self.deadline.at, self.deadline.passed = started + self.options.total_timeout, False
        headers_late = FetchError("timeout", f"response headers not complete within {self.options.total_timeout:g} s")
        try:
            response = pool.urlopen(
                "GET",
                target,
                headers=dict(headers),
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
                assert_same_host=False,
            )
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            if self.deadline.passed:  # the watchdog's cut, whatever error the interrupted read raised
                raise headers_late from None
            raise _request_error(e, self.options.read_timeout) from None
        if self.deadline.passed:  # cut mid-headers: http.client takes what came before the end as all of them
            response.close()
            response.release_conn()
            raise headers_late
        exchange = Exchange(
            url=url,
            ip=address,
            request_line=f"GET {target} HTTP/1.1",
            request_headers=headers,
            status=response.status,
            reason=response.reason or "",
            http_version={10: "HTTP/1.0", 11: "HTTP/1.1"}.get(response.version, "HTTP/1.1"),
            headers=list(response.headers.items()),
        )
        complete = False
        deadline = started + self.options.total_timeout
        try:
            if 200 <= response.status < 300:
                if content_types is not None:
                    ctype = (exchange.header("Content-Type") or "").split(";")[0].strip().lower()
                    if ctype not in content_types:
                        raise FetchError("content_type", ctype or "no Content-Type")
                exchange.body, complete = self._body(response, max_bytes, deadline, truncate)
            else:  # read so that the connection can be reused; the status is what counts
                try:
                    _, complete = self._body(response, ERROR_PAGE_BYTES, deadline, True)
                except FetchError:
                    pass
        finally:
            if not complete:  # the rest of the body is still on the socket: the connection cannot be reused
                response.close()
            response.release_conn()
        exchange.seconds = time.monotonic() - started
        return exchange

    def _body(self, response, max_bytes: int, deadline: float, truncate: bool) -> tuple[bytes, bool]:
        """The body, and whether it was read whole. Past `max_bytes`: FetchError too_large, or,
        with `truncate`, its first `max_bytes`."""
        length = response.headers.get("Content-Length", "")
        if not truncate and length.isdigit() and int(length) > max_bytes:
            raise FetchError("too_large", f"Content-Length {length} > {max_bytes}")
        chunks, size = [], 0
        sock = getattr(response.connection, "sock", None)
        try:
            # read1: what one recv brings, so that the deadline is checked between any two reads (a
            # buffered read of CHUNK would wait for 64 KiB a byte at a time, however long that takes),
            # and no read waits past the deadline either (the socket timeout).
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FetchError("timeout", f"body not complete within {self.options.total_timeout:g} s")
                if sock is not None:
                    sock.settimeout(min(self.options.read_timeout, left))
                chunk = response.read1(CHUNK, decode_content=False)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    if truncate:
                        chunks.append(chunk)
                        return b"".join(chunks)[:max_bytes], False
                    raise FetchError("too_large", f"more than {max_bytes} bytes")
                chunks.append(chunk)
        except urllib3.exceptions.ReadTimeoutError:
            if time.monotonic() >= deadline:
                raise FetchError("timeout", f"body not complete within {self.options.total_timeout:g} s") from None
            raise FetchError("timeout", f"no data for {self.options.read_timeout:g} s") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise FetchError("connection_error", f"{type(e).__name__}: {e}", retry=True) from None
        return b"".join(chunks), True


def _request_error(e: Exception, read_timeout: float) -> FetchError:
    """What an exception from sending a request and reading its response headers means."""
    if isinstance(e, urllib3.exceptions.NewConnectionError):  # refused, unreachable (a ConnectTimeoutError subclass)
        return FetchError("connection_error", str(e), retry=True)
    if isinstance(e, urllib3.exceptions.ConnectTimeoutError):
        return FetchError("timeout", f"connect: {e}", retry=True)
    if isinstance(e, urllib3.exceptions.ReadTimeoutError):
        return FetchError("timeout", f"no response headers within {read_timeout:g} s")
    if isinstance(e, urllib3.exceptions.SSLError):
        return FetchError("tls_error", str(e))
    if isinstance(e, ValueError):  # http.client refuses the request line (a control character)
        return FetchError("invalid_url", str(e))
    return FetchError("connection_error", f"{type(e).__name__}: {e}", retry=True)


# -- robots.txt


@dataclass
class Robots:
    """An origin's robots.txt: its rules (None: allow all), or refusal of everything with why;
    `error`: (reason, detail) when the origin itself cannot be reached (blocked_address,
    dns_error, connection_error, timeout, tls_error; `retry`: another try may help): its URLs end
    with that reason, unfetched (RFC 9309 §2.3.1.4: unreachable means disallowed)."""

    rules: Protego | None = None
    disallow_all: str | None = None
    crawl_delay: float = 0.0
    error: tuple[str, str] | None = None
    retry: bool = False
    retry_after: str | None = None  # the Retry-After of a 429 or 5xx answer

    def refusal(self, url: str) -> str | None:
        if self.disallow_all is not None:
            return self.disallow_all
        if self.rules is not None and not self.rules.can_fetch(url, ROBOTS_TOKEN):
            return "disallowed by robots.txt"
        return None


def fetch_robots(client: Client, origin: Origin, max_redirects: int) -> Robots:
    """An origin's robots.txt. RFC 9309 §2.3.1: redirects followed (each hop through the guard);
    4xx: no rules ("unavailable": allow all); 5xx or unreachable: disallow all (once the caller's
    retries, as for a page, run out: `retry`). Google does the same and also treats 429 as a server error (developers.google.com/search/docs/crawling-indexing/
    robots/robots_txt, "Handling of errors and HTTP status codes")."""
    url = f"{origin.scheme}://{origin.host_header}/robots.txt"
    for hop in range(max_redirects + 1):
        try:
            # RFC 9309 §2.5: a crawler may stop parsing past its limit (at least 500 KiB)
            exchange = client.get(url, ROBOTS_MAX_BYTES, None, truncate=True)
        except FetchError as e:
            if hop == 0:  # the origin cannot be reached (refused, unresolvable, down, bad TLS): say so
                return Robots(error=(e.reason, f"robots.txt: {e.detail}"), retry=e.retry)
            return Robots(disallow_all=f"robots.txt unreachable at {url} ({e.reason}: {e.detail})")
        status = exchange.status
        location = exchange.header("Location")
        if 300 <= status < 400 and location:
            try:
                url = urljoin(url, location)
            except ValueError:  # a Location that is no URL (`http://[oops/`): as one that leads nowhere below
                return Robots()
            if check_url(url):
                return Robots()  # redirected somewhere that is no robots.txt: RFC 9309 §2.3.1.2, unavailable
            continue
        if 200 <= status < 300:
            rules = Protego.parse(_robots_text(exchange))
            delay = rules.crawl_delay(ROBOTS_TOKEN)
            return Robots(rules=rules, crawl_delay=float(delay or 0.0))
        if status == 429 or status >= 500:  # retried as a page is (ShardFetcher._step); disallowed once tries run out
            return Robots(
                disallow_all=f"robots.txt answered {status}", retry=True, retry_after=exchange.header("Retry-After")
            )
        return Robots()  # 4xx (and any other status): unavailable, allow all
    return Robots()  # RFC 9309 §2.3.1.2: past the redirect limit, robots.txt is unavailable


def _robots_text(exchange: Exchange) -> str:
    body = exchange.body
    encoding = (exchange.header("Content-Encoding") or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate", "br"):
        try:
            if encoding == "br":
                body = brotli.Decompressor().process(body, output_buffer_limit=ROBOTS_MAX_BYTES)
            else:
                body = zlib.decompressobj(47).decompress(body, ROBOTS_MAX_BYTES)
        except (zlib.error, brotli.error):
            body = b""
    return body.decode("utf-8", "replace")


# -- a shard's loop


@dataclass
class Task:
    """One listed URL on its way: `current` is the hop being fetched."""

    url: str
    current: str
    attempts: int = 0  # requests sent for it (hops and retries)
    retries: int = 0
    hops: int = 0


@dataclass
class HostQueue:
    tasks: deque = field(default_factory=deque)
    next_time: float = 0.0
    delay: float = 0.0
    scheduled: bool = False


class ShardFetcher:
    """Fetches one shard's URLs politely (module docstring). `site_of(hostname)`: a redirect is
    followed only within the listed URL's site (the unit scrape.py shards by), so that the host it
    leads to is paced by this shard alone; elsewhere it ends as offsite_redirect, its target in the
    detail."""

    def __init__(
        self,
        options: FetchOptions,
        on_response: Callable[[Task, Exchange], None],
        on_error: Callable[[Task, str, str], None],
        site_of: Callable[[str], str],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.options = options
        self.on_response = on_response
        self.on_error = on_error
        self.site_of = site_of
        self.clock = clock
        self.sleep = sleep
        self.client = Client(options)
        self.robots: dict[Origin, Robots] = {}
        self.robots_tries: dict[Origin, int] = {}
        self.hosts: dict[str, HostQueue] = {}
        self.heap: list[tuple[float, int, str]] = []
        self.seq = 0
        self.min_delay = 1.0 / options.rate if options.rate > 0 else 0.0

    @property
    def requests(self) -> int:
        return self.client.requests

    def run(self, urls) -> None:
        """Fetch every URL of `urls` (valid per check_url), each ending in one callback."""
        seen = set()
        for url in urls:
            if url in seen:
                self.on_error(Task(url, url), "duplicate_url", "listed before in this shard")
                continue
            seen.add(url)
            self._enqueue(Task(url, url.split("#", 1)[0]), front=False)
        try:
            while self.heap:
                when, _, host = heapq.heappop(self.heap)
                wait = when - self.clock()
                if wait > 0:
                    self.sleep(wait)
                queue = self.hosts[host]
                queue.scheduled = False
                self._step(host, queue)
                if queue.tasks and not queue.scheduled:  # a same-host redirect has re-scheduled it already
                    self._schedule(host, queue)
        finally:
            self.client.close()

    def _enqueue(self, task: Task, front: bool) -> None:
        host = Origin.of(task.current).host
        queue = self.hosts.setdefault(host, HostQueue(delay=self.min_delay))
        (queue.tasks.appendleft if front else queue.tasks.append)(task)
        if not queue.scheduled:
            self._schedule(host, queue)

    def _schedule(self, host: str, queue: HostQueue) -> None:
        self.seq += 1
        queue.scheduled = True
        heapq.heappush(self.heap, (queue.next_time, self.seq, host))

    def _finish(self, queue: HostQueue, task: Task, reason: str, detail: str) -> None:
        queue.tasks.popleft()
        self.on_error(task, reason, detail)

    def _step(self, host: str, queue: HostQueue) -> None:
        """At most one request to `host`: its robots.txt, or the next hop of its first task. Tasks
        that end without a request (robots, guard) end here too, until one needs a request."""
        while queue.tasks:
            task = queue.tasks[0]
            origin = Origin.of(task.current)
            robots = self.robots.get(origin)
            if robots is None:
                started, requests_before = self.clock(), self.client.requests
                robots = self.robots[origin] = fetch_robots(self.client, origin, self.options.max_redirects)
                queue.delay = max(queue.delay, min(robots.crawl_delay, self.options.max_crawl_delay))
                if self.client.requests > requests_before:  # a request went out: the host's next one waits its turn
                    queue.next_time = started + queue.delay
                tries = self.robots_tries[origin] = self.robots_tries.get(origin, 0) + 1
                asked = retry_after(robots.retry_after, time.time())
                if (
                    robots.retry
                    and tries <= self.options.retries
                    and (asked is None or asked <= self.options.backoff_cap)
                ):
                    del self.robots[origin]  # robots.txt again, after the server's wait or a backoff, as a page
                    wait = (
                        asked
                        if asked is not None
                        else backoff(tries - 1, self.options.backoff_base, self.options.backoff_cap)
                    )
                    queue.next_time = max(queue.next_time, self.clock() + wait)
                    return
                if robots.retry and robots.error is not None:
                    robots.error = (f"{robots.error[0]}_exhausted", f"{tries} attempts; last: {robots.error[1]}")
                elif robots.retry:  # a 429 or 5xx to the last try: disallowed (RFC 9309 §2.3.1.4)
                    robots.disallow_all = f"{robots.disallow_all} to {tries} attempts"
                if self.client.requests > requests_before:
                    return
                continue
            if robots.error is not None:
                self._finish(queue, task, *robots.error)
                continue
            if robots.crawl_delay > self.options.max_crawl_delay:
                self._finish(
                    queue,
                    task,
                    "crawl_delay_too_long",
                    f"robots.txt Crawl-delay {robots.crawl_delay:g} s > {self.options.max_crawl_delay:g} s",
                )
                continue
            why = robots.refusal(task.current)
            if why:
                self._finish(queue, task, "robots_disallowed", f"{task.current}: {why}")
                continue
            self._request(queue, task)
            return

    def _request(self, queue: HostQueue, task: Task) -> None:
        options = self.options
        started = self.clock()
        requests_before = self.client.requests
        try:
            exchange = self.client.get(task.current, options.max_bytes, options.content_types)
        except FetchError as e:
            if self.client.requests > requests_before:
                task.attempts += 1
                queue.next_time = started + queue.delay
            if e.retry:
                self._retry(queue, task, e.reason, e.detail, None)
            else:
                self._finish(queue, task, e.reason, e.detail)
            return
        task.attempts += 1
        queue.next_time = started + queue.delay
        status = exchange.status
        if 200 <= status < 300:
            queue.tasks.popleft()
            self.on_response(task, exchange)
        elif status in (301, 302, 303, 307, 308) and exchange.header("Location"):
            location = exchange.header("Location")
            try:
                target = urljoin(task.current, location).split("#", 1)[0]
            except ValueError as e:  # urljoin refuses it (`http://[oops/`): a redirect to nowhere
                self._finish(queue, task, "bad_redirect", f"{task.current} -> {location!r}: {e}")
                return
            self._redirect(queue, task, target)
        elif status == 429 or status >= 500:
            self._retry(queue, task, f"http_{status}", exchange.reason, exchange.header("Retry-After"))
        else:
            self._finish(queue, task, f"http_{status}", exchange.reason)

    def _redirect(self, queue: HostQueue, task: Task, target: str) -> None:
        queue.tasks.popleft()
        problem = check_url(target)
        refused = None
        if not problem:
            try:  # the guard first, so that a redirect into the worker's network is named for what it is
                self.client.address(Origin.of(target))
            except FetchError as e:
                refused = e if e.reason == "blocked_address" else None
        if problem:
            self.on_error(task, "bad_redirect", f"{task.current} -> {target}: {problem}")
        elif refused is not None:
            self.on_error(task, refused.reason, f"redirect to {target}: {refused.detail}")
        elif task.hops >= self.options.max_redirects:
            self.on_error(task, "too_many_redirects", f"more than {self.options.max_redirects}, last {target}")
        elif self.site_of(Origin.of(target).host) != self.site_of(Origin.of(task.current).host):
            self.on_error(task, "offsite_redirect", target)
        else:
            task.hops += 1
            task.retries = 0
            task.current = target
            self._enqueue(task, front=True)  # its next hop before the host's other URLs

    def _retry(self, queue: HostQueue, task: Task, reason: str, detail: str, after: str | None) -> None:
        """Another try later, or the end: `<reason>_exhausted` when the tries are used up or the
        server asks for a wait longer than the cap. The wait delays the host, not the shard."""
        options = self.options
        if task.retries >= options.retries:
            self._finish(queue, task, f"{reason}_exhausted", f"{task.attempts} attempts; last: {detail}")
            return
        asked = retry_after(after, time.time())
        if asked is not None and asked > options.backoff_cap:
            self._finish(
                queue, task, f"{reason}_exhausted", f"Retry-After {asked:.0f} s > {options.backoff_cap:g} s cap"
            )
            return
        wait = asked if asked is not None else backoff(task.retries, options.backoff_base, options.backoff_cap)
        task.retries += 1
        queue.next_time = max(queue.next_time, self.clock() + wait)
