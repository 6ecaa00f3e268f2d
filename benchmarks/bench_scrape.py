"""Fetch throughput of `thresher scrape` against local servers, the rate limit off, beside a plain
sequential urllib3 loop over the same URLs (the ceiling of one fetcher without robots.txt, guard,
WARC writing or Beam).

    python benchmarks/bench_scrape.py [--hosts 8] [--pages 200] [--workers 1 2] [--repeats 3]

Servers: `--hosts` threaded http.server instances, one per loopback address (127.0.0.1,
127.0.0.2, ...: distinct hosts and sites, so they spread over shards), in a process of their own
(not sharing this one's GIL); each serves a 404 robots.txt and `--pages` HTML pages of ~20 KB.
Each round scrapes every page into a fresh folder (`--rate 0 --allow-loopback`); wall clock from
the command's start to its stats.json, Beam's start-up included; medians of `--repeats` rounds.
"""

from __future__ import annotations

import argparse
import http.server
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import urllib3

from thresher.cli import main

BODY = (
    "<html><head><title>bench</title></head><body>" + "<p>thresher scrape benchmark page.</p>" * 540 + "</body></html>"
).encode()


def serve(addresses: list[str], ports, ready) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # headers and body in one write, flushed after each request
        disable_nagle_algorithm = True

        def do_GET(self):
            body, status = (b"", 404) if self.path == "/robots.txt" else (BODY, 200)
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    for address in addresses:
        httpd = http.server.ThreadingHTTPServer((address, 0), Handler)
        httpd.daemon_threads = True
        ports.append(httpd.server_port)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    ready.set()
    threading.Event().wait()


def reference(urls: list[str]) -> float:
    """Seconds for one sequential keep-alive GET loop over `urls`, bodies read."""
    pool = urllib3.PoolManager(maxsize=1, retries=False)
    start = time.perf_counter()
    for url in urls:
        pool.request("GET", url, preload_content=True)
    return time.perf_counter() - start


def scrape(urls_file: Path, workers: int) -> tuple[float, float]:
    """Wall seconds of one `thresher scrape`, and the seconds its shards spent fetching, summed."""
    out = Path(tempfile.mkdtemp(prefix="bench-scrape-")) / "out"
    start = time.perf_counter()
    code = main(
        ["scrape", "--input", urls_file, "--output", out, "--rate", "0", "--allow-loopback", "--workers", workers]
        + ["--user-agent", "thresher-bench (+mailto:bench@example.org)"]
    )
    assert code == 0
    wall = time.perf_counter() - start
    fetching = sum(json.loads(p.read_text())["seconds"] for p in (out / "_work" / "done").glob("*.json"))
    shutil.rmtree(out.parent)
    return wall, fetching


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--pages", type=int, default=200, help="pages per host")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    addresses = [f"127.0.0.{k + 1}" for k in range(args.hosts)]
    manager = multiprocessing.Manager()
    ports, ready = manager.list(), manager.Event()
    server = multiprocessing.Process(target=serve, args=(addresses, ports, ready), daemon=True)
    server.start()
    ready.wait()
    urls = [f"http://{a}:{p}/p{i}" for i in range(args.pages) for a, p in zip(addresses, ports)]
    urls_file = Path(tempfile.mkdtemp(prefix="bench-scrape-")) / "urls.txt"
    urls_file.write_text("\n".join(urls) + "\n")

    seconds = statistics.median(reference(urls) for _ in range(args.repeats))
    rows = [("sequential urllib3 loop (reference)", seconds, seconds)]
    for workers in args.workers:
        runs = [scrape(urls_file, workers) for _ in range(args.repeats)]
        rows.append((f"thresher scrape --workers {workers}", *(statistics.median(r[k] for r in runs) for k in (0, 1))))
    server.terminate()

    print(
        f"\n{len(urls)} pages ({len(BODY):,} bytes each) from {args.hosts} hosts, rate limit off; median of {args.repeats}"
    )
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    # wall: the whole command, Beam's start-up and the stats included; in shards: pages over the
    # seconds the shards spent fetching (robots.txt, guard, WARC writing), summed over shards
    print("| fetcher | wall s | pages/s (wall) | vs reference | pages/s in shards, per fetcher |")
    print("|---|---:|---:|---:|---:|")
    base = rows[0][1]
    for name, wall, fetching in rows:
        print(f"| {name} | {wall:.2f} | {len(urls) / wall:,.0f} | {base / wall:.2f}x | {len(urls) / fetching:,.0f} |")


if __name__ == "__main__":
    main_()
