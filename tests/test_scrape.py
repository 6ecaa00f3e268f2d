"""`thresher scrape` against HTTP servers started here, on loopback only (127.0.0.1 and 127.0.0.2;
the tests pass --allow-loopback): robots.txt and Crawl-delay, pacing with two workers, a slow
response, 429/503 with Retry-After, redirects (a chain, a loop, one into a private network, one
to cloud metadata), a body over the limit, binary content, a connection reset; every URL
accounted for, the output read by thresher's own reader, a relaunch that skips finished shards.
"""

from __future__ import annotations

import gzip
import http.server
import io
import json
import socket
import struct
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import pytest

from thresher.pipelines import fetch, scrape
from thresher.pipelines.http import RETRY_AFTER_MAX_S, backoff, retry_after
from thresher.pipelines.readers import RangeReader

from conftest import run_cli

PAGE = "<html><head><title>{t}</title></head><body><p>{t}: a page served by the test.</p></body></html>"


class Server:
    """A threaded HTTP server on `address`; `routes`: path -> handler(request) writing a response;
    `log`: (path, arrival time) per request, in arrival order; `host_headers`: their Host headers."""

    def __init__(self, address: str, routes: dict, robots: str | int = ""):
        self.routes = {"/robots.txt": _robots(robots), **routes}
        self.log: list[tuple[str, float]] = []
        self.host_headers: list[str] = []
        self.hits: dict[str, int] = defaultdict(int)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server.log.append((self.path, time.monotonic()))
                server.host_headers.append(self.headers.get("Host"))
                server.hits[self.path] += 1
                route = server.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    _send(self, 404, b"not found")
                else:
                    route(self, server.hits[self.path])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *a: None  # the reset route breaks its own connection on purpose
        self.base = f"http://{address}:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def times(self) -> list[float]:
        return [t for _, t in self.log]


def _send(h, status: int, body: bytes, ctype: str = "text/html; charset=utf-8", headers=(), chunked=False):
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    for k, v in headers:
        h.send_header(k, v)
    if chunked:
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i in range(0, len(body), 4096):
            piece = body[i : i + 4096]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        h.wfile.write(b"0\r\n\r\n")
    else:
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def _robots(robots: str | int):
    def route(h, _):
        if isinstance(robots, int):
            _send(h, robots, b"", "text/plain")
        else:
            _send(h, 200, robots.encode(), "text/plain")

    return route


def page(title: str, **kw):
    return lambda h, _: _send(h, 200, PAGE.format(t=title).encode(), **kw)


def redirect(location: str, status: int = 301):
    return lambda h, _: _send(h, status, b"", headers=[("Location", location)])


def reset(h, _):
    # SO_LINGER 0: close() sends an RST, the client's read fails with "connection reset by peer"
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    h.wfile = io.BytesIO()
    h.close_connection = True


def slow(h, _):
    time.sleep(1.0)
    _send(h, 200, PAGE.format(t="slow").encode())


def throttled_once(h, hit):
    if hit == 1:
        _send(h, 429, b"slow down", headers=[("Retry-After", "1")])
    else:
        _send(h, 200, PAGE.format(t="after 429").encode())


def unavailable(after: str):
    return lambda h, _: _send(h, 503, b"down", headers=[("Retry-After", after)])


def gzipped(h, _):
    _send(h, 200, gzip.compress(PAGE.format(t="gzipped").encode()), headers=[("Content-Encoding", "gzip")])


ROBOTS = """User-agent: *
Disallow: /private
Allow: /private/open*

User-agent: otherbot
Disallow: /
"""


@contextmanager
def sites():
    a_routes = {
        "/a": page("a"),
        "/b": page("b", chunked=True),
        "/gzip": gzipped,
        "/private/secret": page("secret"),
        "/private/open-1": page("open"),
        "/slow": slow,
        "/429": throttled_once,
        "/503": unavailable("1"),
        "/503-long": unavailable("3600"),
        "/chain/3": redirect("/chain/2"),
        "/chain/2": redirect("/chain/1", 302),
        "/chain/1": redirect("/a?from=chain", 307),
        "/loop": redirect("/loop"),
        "/to-private": redirect("http://10.0.0.1/admin"),
        "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-ftp": redirect("ftp://files.example.org/"),
        "/big": page("big" * 40_000),
        "/big-chunked": page("big" * 40_000, chunked=True),
        "/binary": lambda h, _: _send(h, 200, bytes(range(256)) * 8, "application/octet-stream"),
        "/reset": reset,
        "/gone": lambda h, _: _send(h, 410, b"gone " * 30_000),  # an error page larger than the body cap
    }
    b_routes = {f"/p{i}": page(f"b{i}") for i in range(3)}
    with (
        Server("127.0.0.1", a_routes, ROBOTS) as a,
        Server("127.0.0.2", b_routes, "User-agent: *\nCrawl-delay: 1\n") as b,
    ):
        # robots.txt answering 503 to every try: the whole host is off limits (RFC 9309 §2.3.1.4)
        with Server("127.0.0.1", {"/x": page("x")}, 503) as c:
            yield a, b, c


def scrape_cli(urls: Path, out: Path, *extra) -> int:
    return run_cli(
        "scrape",
        [
            "--input",
            urls,
            "--output",
            out,
            "--allow-loopback",
            "--user-agent",
            "thresher-test (+mailto:test@example.org)",
            "--read-timeout",
            "0.5",
            "--connect-timeout",
            "0.5",
            "--max-bytes",
            "100000",
            "--retries",
            "1",
            "--max-retry-wait",
            "5",
            "--workers",
            "1",
            *extra,
        ],
    )


def read_errors(out: Path) -> dict[str, dict]:
    lines = [json.loads(line) for f in sorted((out / "errors").glob("*.jsonl")) for line in f.read_text().splitlines()]
    return {line["url"]: line for line in lines}


def read_records(out: Path) -> list:
    records = []
    for path in sorted((out / "warc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            records += list(RangeReader(str(path), fh))
    return records


def test_scrape_every_url_ends_in_a_record_or_a_reason(tmp_path):
    with sites() as (a, b, c):
        listed = {
            # fetched
            f"{a.base}/a": None,
            f"{a.base}/b": None,
            f"{a.base}/gzip": None,
            f"{a.base}/private/open-1": None,
            f"{a.base}/429": None,
            f"{a.base}/chain/3": None,
            f"{b.base}/p0": None,
            f"{b.base}/p1": None,
            f"{b.base}/p2": None,
            # errors
            f"{a.base}/private/secret": "robots_disallowed",
            f"{a.base}/slow": "timeout",
            f"{a.base}/503": "http_503_exhausted",
            f"{a.base}/503-long": "http_503_exhausted",
            f"{a.base}/loop": "too_many_redirects",
            f"{a.base}/to-private": "blocked_address",
            f"{a.base}/to-metadata": "blocked_address",
            f"{a.base}/to-ftp": "bad_redirect",
            f"{a.base}/big": "too_large",
            f"{a.base}/big-chunked": "too_large",
            f"{a.base}/binary": "content_type",
            f"{a.base}/reset": "connection_error_exhausted",
            f"{a.base}/missing": "http_404",
            f"{a.base}/gone": "http_410",
            f"{a.base}/caf\u00e9 menu?q=a b": "http_404",  # sent percent-encoded
            "http://127.0.0.1:9/closed-port": "connection_error_exhausted",  # its robots.txt, tried twice
            f"{c.base}/x": "robots_disallowed",
            "http://10.1.2.3/": "blocked_address",
            "http://[::ffff:169.254.169.254]/": "blocked_address",
            "ftp://example.org/file": "invalid_url",
            "not a url": "invalid_url",
            "http:///no-host": "invalid_url",
        }
        urls = tmp_path / "urls.txt"
        urls.write_text("# a comment, then a blank line\n\n" + "\n".join(listed) + f"\n{a.base}/a\n")  # /a twice
        out = tmp_path / "out"
        assert scrape_cli(urls, out, "--rate", "20") == 0

    stats = json.loads((out / "stats.json").read_text())
    (stage,) = stats["stages"]
    assert stats["accounting_ok"]
    assert stage["in"]["docs"] == len(listed) + 1  # the duplicate too
    fetched = [u for u, reason in listed.items() if reason is None]
    assert stage["kept"]["docs"] == len(fetched)

    errors = read_errors(out)
    expected = {u: r for u, r in listed.items() if r is not None}
    assert {u: e["reason"] for u, e in errors.items() if u in expected} == expected
    assert stage["errored"].pop("duplicate_url")["docs"] == 1
    assert sum(v["docs"] for v in stage["errored"].values()) == len(expected)
    assert "Retry-After 3600" in errors[f"{a.base}/503-long"]["detail"]
    assert errors[f"{a.base}/503"]["attempts"] == 2  # one retry
    # refused before connecting: a connection to 10.0.0.1 would have ended as a timeout
    assert "10.0.0.1 is private" in errors[f"{a.base}/to-private"]["detail"]
    assert "metadata" in errors[f"{a.base}/to-metadata"]["detail"]
    assert not any(p.startswith("/private/secret") for p, _ in a.log)  # robots.txt obeyed
    assert [p for p, _ in c.log] == ["/robots.txt"] * 2  # its 503 retried once (--retries 1), then disallowed
    assert "/caf%C3%A9%20menu?q=a%20b" in a.hits

    # what curate reads: one document per response record, the gzipped body decoded
    records = read_records(out)
    assert [r.error for r in records] == [None] * len(fetched)
    by_url = {r.url: r for r in records}
    assert set(by_url) == {u for u in fetched if "/chain/" not in u} | {f"{a.base}/a?from=chain"}
    assert by_url[f"{a.base}/gzip"].payload == PAGE.format(t="gzipped").encode()
    assert by_url[f"{a.base}/b"].payload == PAGE.format(t="b").encode()  # chunked on the wire

    # pacing: Crawl-delay 1 on host b (robots.txt included), the 429's Retry-After on host a
    gaps = [t2 - t1 for t1, t2 in zip(b.times(), b.times()[1:])]
    assert len(gaps) == 3 and min(gaps) >= 0.98
    hits_429 = [t for p, t in a.log if p == "/429"]
    assert len(hits_429) == 2 and hits_429[1] - hits_429[0] >= 0.98


def test_warc_records_carry_the_exchange(tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    with Server("127.0.0.1", {"/a": page("a")}) as a:
        urls = tmp_path / "urls.jsonl"
        urls.write_text(json.dumps({"url": f"{a.base}/a"}) + "\n" + json.dumps({"link": "x"}) + "\n")
        out = tmp_path / "out"
        assert scrape_cli(urls, out) == 0
    path = out / "warc" / f"{scrape.shard_name(scrape.shard_of('127.0.0.1', 16), 16)}.warc.gz"
    with open(path, "rb") as fh:
        records = [r for r in ArchiveIterator(fh) if r.content_stream().read() is not None]
    assert [r.rec_type for r in records] == ["warcinfo", "request", "response", "metadata"]
    request, response = records[1], records[2]
    assert response.rec_headers["WARC-Target-URI"] == f"{a.base}/a"
    assert response.rec_headers["WARC-IP-Address"] == "127.0.0.1"
    assert response.rec_headers["WARC-Payload-Digest"].startswith("sha1:")
    assert response.rec_headers["WARC-Concurrent-To"] == request.rec_headers["WARC-Record-ID"]
    assert response.rec_headers["WARC-Date"] and records[0].rec_headers["WARC-Type"] == "warcinfo"
    assert request.http_headers["User-Agent"] == "thresher-test (+mailto:test@example.org)"
    assert read_errors(out)['{"link": "x"}']["reason"] == "invalid_url"


def test_stored_urls_hold_no_credentials_and_unencodable_ones_are_counted(tmp_path):
    with Server("127.0.0.1", {"/a": page("a"), "/to-b": redirect("/b"), "/b": page("b")}) as a:
        secret = a.base.replace("://", "://user:s3cret@")
        urls = tmp_path / "urls.jsonl"
        lines = [
            json.dumps({"url": f"{secret}/a"}),
            json.dumps({"url": f"{secret}/to-b"}),
            json.dumps({"url": f"{secret}/gone"}),
            '{"url": "http://\\ud800.example.com/"}',  # JSON's escape of a lone surrogate
            '{"url": "http://example.com/\\udfff"}',
        ]
        urls.write_text("\n".join(lines) + "\n")
        out = tmp_path / "out"
        assert scrape_cli(urls, out) == 0
    for path in [*(out / "warc").glob("*.warc.gz"), *(out / "errors").glob("*.jsonl")]:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert b"s3cret" not in data and b"user:" not in data, path
    records = read_records(out)
    assert sorted(r.url for r in records) == [f"{a.base}/a", f"{a.base}/b"]
    errors = read_errors(out)
    assert errors[f"{a.base}/gone"]["reason"] == "http_404"
    assert errors["http://\\ud800.example.com/"]["reason"] == "invalid_url"  # stored backslash-escaped
    assert errors["http://example.com/\\udfff"]["reason"] == "invalid_url"
    assert all(f.read_bytes().isascii() for f in (out / "errors").glob("*.jsonl"))


def _two_shards(hosts: list[str]) -> int:
    """The smallest shard count that puts each of `hosts` in a shard of its own."""
    return next(n for n in range(2, 50) if len({scrape.shard_of(scrape.site_of(h), n) for h in hosts}) == len(hosts))


@pytest.mark.slow
def test_rate_per_host_holds_with_two_workers(tmp_path):
    rate, n = 5.0, 6
    routes = {f"/p{i}": page(f"p{i}") for i in range(n)}
    with Server("127.0.0.1", routes) as a, Server("127.0.0.2", routes) as b:
        # each host's URLs split over two lists: grouping, not the input, decides who fetches them
        for k in range(2):
            (tmp_path / f"urls{k}.txt").write_text(
                "\n".join(f"{s.base}/p{i}" for i in range(k, n, 2) for s in (a, b)) + "\n"
            )
        shards = _two_shards(["127.0.0.1", "127.0.0.2"])
        args = ["--rate", str(rate), "--shards", str(shards), "--input", tmp_path / "urls1.txt"]
        out = tmp_path / "out"
        assert scrape_cli(tmp_path / "urls0.txt", out, *args, "--workers", "2") == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"][0]["kept"]["docs"] == 2 * n
    # the two hosts were fetched at the same time, by the two workers
    assert a.times()[0] < b.times()[-1] and b.times()[0] < a.times()[-1]
    for server in (a, b):
        times = server.times()
        assert len(times) == n + 1  # robots.txt, then the pages
        gaps = [t2 - t1 for t1, t2 in zip(times, times[1:])]
        assert min(gaps) >= 1 / rate - 0.02, gaps


def test_relaunch_skips_finished_shards(tmp_path):
    routes = {f"/p{i}": page(f"p{i}") for i in range(2)}
    with Server("127.0.0.1", routes) as a, Server("127.0.0.2", routes) as b:
        urls = tmp_path / "urls.txt"
        urls.write_text("\n".join(f"{s.base}/p{i}" for i in range(2) for s in (a, b)) + "\n")
        shards = _two_shards(["127.0.0.1", "127.0.0.2"])
        out = tmp_path / "out"
        assert scrape_cli(urls, out, "--rate", "0", "--shards", shards) == 0
        first = json.loads((out / "stats.json").read_text())
        assert len(a.log) == len(b.log) == 3

        assert scrape_cli(urls, out, "--rate", "0", "--shards", shards) == 0  # complete: nothing fetched
        assert len(a.log) == len(b.log) == 3

        # a run stopped after host a's shard: b's shard is fetched again, a's is not
        b_shard = scrape.shard_name(scrape.shard_of("127.0.0.2", shards), shards)
        (out / "stats.json").unlink()
        (out / "_work" / "done" / f"{b_shard}.json").unlink()
        assert scrape_cli(urls, out, "--rate", "0", "--shards", shards) == 0
        assert (len(a.log), len(b.log)) == (3, 6)
    second = json.loads((out / "stats.json").read_text())
    assert second["stages"] == first["stages"]
    assert len(read_records(out)) == 4

    # another list into the same folder: refused, one line, exit 2
    other = tmp_path / "other.txt"
    other.write_text("http://127.0.0.1:9/\n")
    assert scrape_cli(other, out) == 2


def test_the_guard_is_on_by_default(tmp_path):
    with Server("127.0.0.1", {"/a": page("a")}) as a:
        urls = tmp_path / "urls.txt"
        urls.write_text(f"{a.base}/a\n")
        out = tmp_path / "out"
        assert run_cli("scrape", ["--input", urls, "--output", out, "--workers", "1"]) == 0
    assert a.log == []
    (error,) = read_errors(out).values()
    assert error["reason"] == "blocked_address" and "127.0.0.1 is loopback" in error["detail"]


@pytest.mark.parametrize(
    "address, refused",
    [
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: judged as the IPv4 address
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "CGNAT"),
        ("240.0.0.1", "private"),  # reserved (Python counts 240/4 as private too)
        ("192.0.2.1", "private"),  # documentation
        ("169.254.169.254", "metadata"),
        ("::ffff:169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
    ],
)
def test_guard_refuses_addresses_inside(address, refused):
    why = fetch.AddressGuard().refusal(address)
    assert (why is None) if refused is None else (refused in why)


def test_guard_opens_only_what_it_is_told():
    guard = fetch.AddressGuard(allow_loopback=True, allow_networks=("10.1.0.0/16",))
    assert guard.refusal("127.0.0.1") is None and guard.refusal("::ffff:127.0.0.1") is None
    assert guard.refusal("10.1.2.3") is None
    assert "private" in guard.refusal("10.2.0.1")
    assert "metadata" in fetch.AddressGuard(allow_networks=("169.254.0.0/16",)).refusal("169.254.169.254")
    with pytest.raises(fetch.FetchError) as e:
        fetch.AddressGuard().resolve("127.0.0.1", 80)
    assert e.value.reason == "blocked_address"


def test_retry_after_and_backoff():
    now = time.time()
    assert retry_after("7", now) == 7.0
    assert 58 < retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 60)), now) <= 60
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0.0  # in the past: now
    assert retry_after("soon", now) is None and retry_after(None, now) is None
    waits = [backoff(3, 1.0, 5.0) for _ in range(200)]
    assert 0 <= min(waits) and max(waits) <= 5.0 and max(waits) - min(waits) > 1  # jittered, capped
    assert backoff(10_000, 1.0, 5.0) <= 5.0  # no overflow however many tries


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("\u00b2", None),  # a digit to str.isdigit, not to float() nor to HTTP
        ("\u0663", None),  # ARABIC-INDIC DIGIT THREE
        ("9" * 5000, RETRY_AFTER_MAX_S),  # past int()'s digit limit
        ("1e400", None),
        ("-5", None),
        ("007", 7.0),
        ("Wed, 21 Oct 99999 07:28:00 GMT", None),  # a year datetime cannot hold
        ("Fri, 31 Dec 9999 23:59:59 -2359", RETRY_AFTER_MAX_S),  # past datetime's range once in UTC: capped
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),
        ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),  # no zone: UTC
        ("", None),
        ("\x00\xff", None),
    ],
)
def test_retry_after_never_raises(value, seconds):
    assert retry_after(value, time.time()) == seconds


class VirtualClock:
    """ShardFetcher's clock and sleep: sleeping advances it at once, so a pacing test takes no time."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run_shard(urls, clock: VirtualClock | None, **options):
    """One shard fetched in this process; `clock` None: real time, waits included."""
    done, errors = [], {}
    fetcher = fetch.ShardFetcher(
        fetch.FetchOptions(allow_loopback=True, **options),
        lambda t, e: done.append(t.url),
        lambda t, r, d: errors.__setitem__(t.url, (r, d)),
        lambda host: host,
        **({} if clock is None else {"clock": clock, "sleep": clock.sleep}),
    )
    fetcher.run(urls)
    return done, errors


def test_rate_holds_across_same_host_redirects():
    clock, at = VirtualClock(), []

    def to_slash(h, _):
        at.append(clock.now)
        _send(h, 301, b"", headers=[("Location", h.path + "/")])

    def landing(h, _):
        at.append(clock.now)
        _send(h, 200, PAGE.format(t="x").encode())

    routes = {**{f"/p{i}": to_slash for i in range(3)}, **{f"/p{i}/": landing for i in range(3)}}
    with Server("127.0.0.1", routes) as s:
        done, errors = run_shard([f"{s.base}/p{i}" for i in range(3)], clock, rate=1.0)
    assert len(done) == 3 and not errors
    # robots.txt at 0, then one request a second: a redirect does not add a turn to its host
    assert at == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_a_location_that_is_no_url_is_a_bad_redirect():
    clock = VirtualClock()
    oops = redirect("http://[oops/", 302)
    with Server("127.0.0.1", {"/badloc": oops}) as a, Server("127.0.0.1", {"/robots.txt": oops, "/x": page("x")}) as b:
        done, errors = run_shard([f"{a.base}/badloc", f"{b.base}/x"], clock)
    assert errors[f"{a.base}/badloc"][0] == "bad_redirect" and "oops" in errors[f"{a.base}/badloc"][1]
    assert done == [f"{b.base}/x"]  # robots.txt redirected nowhere: unavailable, allow all


def test_robots_txt_answering_503_is_retried_before_disallowing():
    clock = VirtualClock()

    def robots(h, hit):
        if hit == 1:
            _send(h, 503, b"busy", headers=[("Retry-After", "7")])
        else:
            _send(h, 200, b"User-agent: *\nDisallow: /no\n", "text/plain")

    with Server("127.0.0.1", {"/robots.txt": robots, "/yes": page("yes"), "/no": page("no")}) as a:
        done, errors = run_shard([f"{a.base}/yes", f"{a.base}/no"], clock, retries=1)
        assert [p for p, _ in a.log] == ["/robots.txt", "/robots.txt", "/yes"]
    assert clock.now >= 7.0  # the server's Retry-After, waited by its host
    assert done == [f"{a.base}/yes"] and errors[f"{a.base}/no"][0] == "robots_disallowed"

    with Server("127.0.0.1", {"/yes": page("yes")}, 503) as b:  # 503 to every try: disallowed
        done, errors = run_shard([f"{b.base}/yes"], VirtualClock(), retries=2, backoff_base=0.01)
        assert [p for p, _ in b.log] == ["/robots.txt"] * 3
    assert errors[f"{b.base}/yes"][0] == "robots_disallowed" and "3 attempts" in errors[f"{b.base}/yes"][1]


def serve_tls(server: Server, ca, name: str) -> list[str]:
    """Puts `server` behind TLS with a certificate from `ca` for `name` only (its base becomes
    https://); returns the list of server names (SNI) that clients send, filled as they connect."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(name).configure_cert(context)
    names = []
    context.sni_callback = lambda sock, sni, ctx: names.append(sni)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    server.base = server.base.replace("http://", "https://")
    return names


def test_total_timeout_holds_against_a_trickling_body():
    def trickle(h, _):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(1000):  # a byte every 0.2 s: never a read timeout, 200 s in all
            h.wfile.write(b"a")
            h.wfile.flush()
            time.sleep(0.2)

    with Server("127.0.0.1", {"/trickle": trickle}) as a:
        started = time.monotonic()
        done, errors = run_shard([f"{a.base}/trickle"], VirtualClock(), read_timeout=1.0, total_timeout=2.0)
        took = time.monotonic() - started
    assert errors[f"{a.base}/trickle"][0] == "timeout" and "within 2 s" in errors[f"{a.base}/trickle"][1]
    assert took < 3.0

    def stall(h, _):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b"a")
        h.wfile.flush()
        time.sleep(10)

    with Server("127.0.0.1", {"/stall": stall}) as a:  # no read waits past the deadline either
        started = time.monotonic()
        done, errors = run_shard([f"{a.base}/stall"], VirtualClock(), read_timeout=8.0, total_timeout=1.0)
        took = time.monotonic() - started
    assert errors[f"{a.base}/stall"][0] == "timeout" and took < 2.0


def test_urls_shard_by_site():
    assert scrape.site_of("www.example.co.uk") == scrape.site_of("news.example.co.uk") == "example.co.uk"
    assert scrape.site_of("127.0.0.1") == "127.0.0.1"
    assert scrape.shard_of("example.org", 16) == scrape.shard_of("example.org", 16)
    # sha1, not Python's salted hash(): the same shard in every process and every run
    assert scrape.shard_of("example.org", 1 << 30) == int("20116dfd6774a9e7", 16) % (1 << 30)
    assert fetch.check_url("https://example.org:8443/x") is None
    assert "scheme" in fetch.check_url("javascript:alert(1)")
    assert fetch.check_url("http://example.org:99999/") is not None


def test_https_is_verified_against_the_name(tmp_path):
    """The connection goes to the checked address; the certificate is still checked against the
    URL's host: refused without the CA (tls_error), fetched with it (--ca-certs)."""
    ca = pytest.importorskip("trustme").CA()
    ca_pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    with Server("127.0.0.1", {"/a": page("a")}) as a:
        serve_tls(a, ca, "127.0.0.1")
        https = a.base
        urls = tmp_path / "urls.txt"
        urls.write_text(f"{https}/a\n")
        assert scrape_cli(urls, tmp_path / "untrusted") == 0
        assert scrape_cli(urls, tmp_path / "trusted", "--ca-certs", ca_pem) == 0
    assert read_errors(tmp_path / "untrusted")[f"{https}/a"]["reason"] == "tls_error"
    (record,) = read_records(tmp_path / "trusted")
    assert record.url == f"{https}/a" and record.payload == PAGE.format(t="a").encode()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_total_timeout_holds_against_trickling_headers(scheme, tmp_path):
    def trickle(h, _):
        h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
        for _ in range(200):  # a header byte every 0.5 s: never a read timeout, the headers never end
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.5)

    options = {"read_timeout": 1.0, "total_timeout": 2.0}
    with Server("127.0.0.1", {"/trickle": trickle}) as a:
        if scheme == "https":
            ca = pytest.importorskip("trustme").CA()
            ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
            serve_tls(a, ca, "127.0.0.1")
            options["ca_certs"] = str(tmp_path / "ca.pem")
        started = time.monotonic()
        done, errors = run_shard([f"{a.base}/trickle"], VirtualClock(), **options)
        took = time.monotonic() - started
    reason, detail = errors[f"{a.base}/trickle"]
    assert (reason, detail) == ("timeout", "response headers not complete within 2 s")
    assert took < 3.5  # robots.txt, then the headers cut at 2 s


@pytest.fixture
def rebinding(monkeypatch):
    """`rebind.test` resolves to 127.0.0.1 (loopback: allowed with allow_loopback) the first time
    it is looked up and to 10.0.0.1 (private: refused) every time after, as a name under an
    attacker's DNS does (DNS rebinding). Returns the answers given, in order."""
    real = socket.getaddrinfo
    answers = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        answers.append("10.0.0.1" if answers else "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answers[-1], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_a_rebinding_name_is_fetched_from_the_address_checked(rebinding):
    with Server("127.0.0.1", {"/a": page("a")}) as a:
        port = a.httpd.server_port
        url = f"http://rebind.test:{port}/a"
        done, errors = run_shard([url], VirtualClock(), rate=0, connect_timeout=0.5, read_timeout=0.5)
    assert errors == {} and done == [url]
    assert [p for p, _ in a.log] == ["/robots.txt", "/a"]  # reached here, at the address the guard checked
    assert a.host_headers == [f"rebind.test:{port}"] * 2
    assert rebinding == ["127.0.0.1"]  # looked up once, by the guard: the connections did not resolve it again


def test_https_to_a_rebinding_name_checks_the_certificate_against_the_name(rebinding, tmp_path):
    """The socket goes to 127.0.0.1, the TLS handshake is for `rebind.test`: its name in SNI, and a
    certificate for that name only is accepted; one for another name is refused."""
    ca = pytest.importorskip("trustme").CA()
    ca_pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    options = {"rate": 0, "connect_timeout": 0.5, "read_timeout": 0.5, "ca_certs": str(ca_pem)}
    with Server("127.0.0.1", {"/a": page("a")}) as a, Server("127.0.0.1", {"/a": page("a")}) as b:
        sni = serve_tls(a, ca, "rebind.test")
        serve_tls(b, ca, "other.test")
        good, bad = (f"https://rebind.test:{s.httpd.server_port}/a" for s in (a, b))
        done, errors = run_shard([good], VirtualClock(), **options)
        assert errors == {} and done == [good]
        assert sni == ["rebind.test"]  # one connection, kept alive for robots.txt and the page
        assert a.host_headers == [f"rebind.test:{a.httpd.server_port}"] * 2
        rebinding.clear()  # a fresh name for the second shard: 127.0.0.1 again first
        done, errors = run_shard([bad], VirtualClock(), **options)
    assert done == [] and errors[bad][0] == "tls_error"
    assert b.log == []  # no request went over the refused handshake


def test_robots_txt_retry_after_is_waited_before_the_next_try():
    """A robots.txt 503 with Retry-After: 1: the host waits that second, in real time (pacing off,
    a backoff of at most 10 ms otherwise), then robots.txt answers and the page is fetched."""

    def robots(h, hit):
        if hit == 1:
            _send(h, 503, b"busy", "text/plain", headers=[("Retry-After", "1")])
        else:
            _send(h, 200, b"User-agent: *\nAllow: /\n", "text/plain")

    with Server("127.0.0.1", {"/robots.txt": robots, "/yes": page("yes")}) as a:
        done, errors = run_shard([f"{a.base}/yes"], None, rate=0, backoff_base=0.01)
    assert errors == {} and done == [f"{a.base}/yes"]
    assert [p for p, _ in a.log] == ["/robots.txt", "/robots.txt", "/yes"]
    assert a.times()[1] - a.times()[0] >= 0.98
