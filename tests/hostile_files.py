"""Hostile files, generated: what tests/test_hostile.py feeds to thresher and
benchmarks/bench_hostile.py times (thresher beside datatrove). Nothing here reads thresher's code
but its WARC writer."""

from __future__ import annotations

import zlib

PROSE = (
    "The harbour committee met on Tuesday to review the plans for the new ferry terminal. Members "
    "asked for a second survey of the old pier before any work begins, and the chair agreed to "
    "publish the engineers' report in full before the next meeting. "
)


def deep_page(depth: int = 200_000) -> bytes:
    """`depth` nested <div>s around a paragraph (200,000: 2.2 MB)."""
    return b"<html><body>" + b"<div>" * depth + PROSE.encode() + b"</div>" * depth + b"</body></html>"


def wide_page(attributes: int = 50_000) -> bytes:
    """One element with `attributes` attributes."""
    names = b" ".join(b"a%d=x" % i for i in range(attributes))
    return b"<html><body><div " + names + b">" + PROSE.encode() + b"</div></body></html>"


def gzip_bomb(n_bytes: int) -> bytes:
    """gzip of n_bytes spaces, compressed as a stream: ~1 MB per GiB."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    return b"".join([*(c.compress(chunk) for _ in range(n_bytes >> 20)), c.flush()])


def member_bomb(url: str, n_bytes: int) -> bytes:
    """One WARC response record of n_bytes of HTML, as one gzip member of ~1 MB per GiB."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % n_bytes
    head = (
        b"WARC/1.1\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-00000000b0b0>\r\n"
        b"WARC-Target-URI: " + url.encode() + b"\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
        b"WARC-Identified-Payload-Type: text/html\r\n"
        b"Content-Type: application/http; msgtype=response\r\nContent-Length: %d\r\n\r\n" % (len(http) + n_bytes)
    )
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [c.compress(head + http), *(c.compress(chunk) for _ in range(n_bytes >> 20)), c.compress(b"\r\n\r\n")]
    return b"".join([*parts, c.flush()])


def corrupt(member: bytes) -> bytes:
    """A gzip member with 16 bytes in the middle of its deflate stream overwritten."""
    middle = len(member) // 2
    return member[:middle] + bytes(b ^ 0x5A for b in member[middle : middle + 16]) + member[middle + 16 :]
