"""The embedded default input of `thresher demo`: pages written for the project, packed as a crawl.

    from thresher.demo_data import build_demo_inputs, demo_manifest
    build_demo_inputs(Path("demo-out/input"))   # writes the files -> {path: what it holds}
    demo_manifest()                              # every page: url, kind, reader outcome, expected stage

The text lives in `thresher/demo/corpus.yaml` (32 English articles, 4 in other languages, 1 toxic
page) and `thresher/demo/pages.yaml` (web sites, and pages made for one stage each to drop). This
module wraps each page in its site's boilerplate (cookie banner, navigation, sidebar, footer,
analytics script) and writes WARC/1.1 the way Common Crawl does: one gzip member per record, a
`warcinfo` record first (`isPartOf: DEMO-CRAWL-2026`), then `request`, `response` and `metadata`
records per page. FastWARC 2.0 reads WARC but does not write it, hence the small writer here.

| file | holds |
|---|---|
| demo-crawl-00000.warc.gz, demo-crawl-00001.warc.gz | 27 good articles; an exact and a near duplicate; spam; a short page; a page without end punctuation, one of short lines, one with a curly bracket; two boilerplate-only pages; 4 foreign pages; a toxic page; a page on a blocklisted domain |
| demo-broken.warc.gz | a PNG (`not_html`), a 301 (`http_status_not_ok`), a page over the size limit (`too_large`), gzip bytes served as HTML (`binary_body` at extraction), bytes no charset decodes (`undecodable` at extraction) |
| demo-truncated.warc.gz | 2 good articles, then a record cut in the middle (`truncated_gzip`) |
| demo-empty.warc.gz | 0 bytes (`empty_file`) |
| demo-docs.jsonl | 3 good articles as extracted text, a malformed line (`malformed_json`), a Latin-1 line (`invalid_utf8`), a line without `text` (`missing_text`) |

With the built-in `fineweb` recipe every stage removes something: see EXPECT for which page
each stage should take, and `demo_manifest()["expected"]` for the totals.

Reruns give identical bytes: one seeded generator makes every choice (record ids, fetch times,
sidebar links) in a fixed order, dates start at a fixed instant and gzip headers carry no time.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import random
import struct
import uuid
import zlib
from collections import Counter
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import yaml

from thresher.filters.extract import MAX_HTML_BYTES

DEMO_CRAWL = "DEMO-CRAWL-2026"
DEMO_SEED = 20260115
# The oversized page is just over this: by default the reader's own limit, so that the built-in
# recipes report it as `too_large`. It is repeated text, so gzip makes 20 MB about 70 kB.
DEMO_MAX_RECORD_BYTES = MAX_HTML_BYTES
START_TIME = datetime(2026, 1, 15, 8, 0, 0, tzinfo=timezone.utc)

CRAWL_FILES = ("demo-crawl-00000.warc.gz", "demo-crawl-00001.warc.gz")
BROKEN_FILE = "demo-broken.warc.gz"
TRUNCATED_FILE = "demo-truncated.warc.gz"
EMPTY_FILE = "demo-empty.warc.gz"
JSONL_FILE = "demo-docs.jsonl"
DEMO_FILES = (*CRAWL_FILES, BROKEN_FILE, TRUNCATED_FILE, EMPTY_FILE, JSONL_FILE)

# Good articles placed outside the two crawl files; the others alternate between them.
TRUNCATED_ARTICLES = ("packing-light", "what-makes-a-good-coach")
TRUNCATED_CUT = "lighthouse-keepers"  # re-crawled into the truncated file and cut off mid-record
JSONL_ARTICLES = ("walking-a-city-without-a-map", "herbs-on-a-windowsill", "what-moves-exchange-rates")

TOPIC_SITES = {
    "science": "fieldnotes", "history": "fieldnotes", "cooking": "hearth", "gardening": "hearth",
    "finance": "ledger", "software": "buildlog", "travel": "everyday", "sport": "everyday",
    "health": "everyday",
}
LANG_SITES = {"de": "stadtblatt", "fr": "valleejournal", "es": "sabores", "ja": "machiaruki"}
# Which crawl file (0 or 1) holds each page that is not a plain good article.
SPECIAL_FILES = {
    "spam": 0, "no_punctuation": 0, "category_index": 0, "toxic": 0, "de": 0, "ja": 0,
    "short": 1, "short_lines": 1, "curly_bracket": 1, "not_found": 1, "blocklisted": 1, "fr": 1, "es": 1,
}
# What each kind of page should become under the built-in `fineweb` recipe: "kept", the stage
# kind (thresher.recipe.STAGE_KINDS) that drops it, or "errored:<reason>". Checked against
# trafilatura 2.3, fastText lid.176, and both datatrove's and thresher's Gopher/C4/FineWeb filters.
EXPECT = {
    "article": "kept",
    "near_duplicate": "kept",          # exact dedup hashes normalised text; 5 words differ
    "exact_duplicate": "exact_dedup",  # one of the pair survives: the smaller document id
    "blocklisted": "url_blocklist",    # registered domain in the UT1 adult list
    "category_index": "errored:empty_text",  # headings and links only: trafilatura keeps nothing
    "foreign": "fasttext_langid",
    "spam": "gopher_repetition",       # dup_line_frac
    "not_found": "gopher_repetition",  # 10 words left; the top 3-gram's share fires first
    "short": "gopher_quality",         # gopher_short_doc: 32 words
    "curly_bracket": "c4_quality",     # curly_bracket (also with C4's end-mark rule on)
    "no_punctuation": "fineweb_quality",  # line_punct_ratio; strict C4 (end marks on) drops it first
    "short_lines": "fineweb_quality",  # short_line_ratio
    "toxic": "bad_words",
    "binary_body": "errored:binary_body",
    "undecodable": "errored:undecodable",
}


# ---------------------------------------------------------------------------------------------
# Text


def _load(name: str) -> dict:
    return yaml.safe_load((resources.files("thresher") / "demo" / name).read_text(encoding="utf-8"))


def paragraphs(text: str) -> list[str]:
    """A folded YAML block -> its paragraphs (one per line)."""
    return [p.strip() for p in text.split("\n") if p.strip()]


def plain_text(title: str, text: str) -> str:
    """An article as extracted text: the title, then one paragraph per line."""
    return "\n".join([title, *paragraphs(text)])


def demo_articles() -> list[dict]:
    """The good English articles of corpus.yaml: slug, title, topic, text (folded block)."""
    return _load("corpus.yaml")["articles"]


def demo_foreign() -> list[dict]:
    return _load("corpus.yaml")["foreign"]


# ---------------------------------------------------------------------------------------------
# HTML


def _e(s: str) -> str:
    return html.escape(s, quote=True)


def _slugify(s: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in s.lower()).split()) or "page"


def _body_html(paras: list[str]) -> str:
    return "\n".join(f"<p>{_e(p)}</p>" for p in paras)


def render_page(site: dict, title: str, body: str, sidebar: list[tuple[str, str]], author: str,
                date: datetime, section: str, heading: bool = True) -> str:
    """One page of `site`: its boilerplate around `body` (HTML of the main content).

    `heading=False` leaves the title out of the content, as archive and index pages often do.
    """
    nav = [(item, f"/{_slugify(item)}/") for item in site["nav"]]
    footer = [(item, f"/{_slugify(item)}") for item in site["footer"]]
    day = f"{date.day} {date:%B %Y}"
    words = len(html.unescape(body).split())
    if site["layout"] == "divs":
        return f"""<!DOCTYPE html>
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{_e(title)} - {_e(site["name"])}</title>
<link rel="stylesheet" href="/wp-content/themes/digest/style.css">
<script>var _paq = window._paq = window._paq || []; _paq.push(['trackPageView']);</script>
</head>
<body class="single">
<div id="consent">This website uses cookies to give you the best experience. <a href="/privacy">Learn more</a> <a href="#" class="ok">Got it</a></div>
<div id="top"><div class="brand"><a href="/">{_e(site["name"])}</a></div><div class="slogan">{_e(site["tagline"])}</div></div>
<div id="menu">{" | ".join(f'<a href="{u}">{_e(t)}</a>' for t, u in nav)}</div>
<div id="wrap">
<div id="content">
<div class="entry">
{f'<h1 class="entry-title">{_e(title)}</h1>' if heading else ""}
<div class="entry-meta">Posted on {day} by {_e(author)} in <a href="/{section}/">{_e(section.title())}</a></div>
<div class="entry-content">
{body}
</div>
<div class="entry-tags">Tags: <a href="/tag/{section}">{_e(section)}</a>, <a href="/tag/featured">featured</a></div>
</div>
</div>
<div id="rail">
<div class="widget"><h3>{_e(site["sidebar_title"])}</h3><ul>{"".join(f'<li><a href="{u}">{_e(t)}</a></li>' for t, u in sidebar)}</ul></div>
<div class="widget"><h3>Newsletter</h3><p>{_e(site["newsletter"])}</p><form action="/subscribe"><input type="email" name="email"><input type="submit" value="Subscribe"></form></div>
</div>
</div>
<div id="footer">{" | ".join(f'<a href="{u}">{_e(t)}</a>' for t, u in footer)}<br>Copyright 2026 {_e(site["name"])}</div>
</body>
</html>
"""
    return f"""<!DOCTYPE html>
<html lang="{site.get("lang", "en")}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} | {_e(site["name"])}</title>
<link rel="stylesheet" href="/assets/site.css">
<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}} gtag('js', new Date());</script>
</head>
<body class="article-page">
<div class="cookie-banner" role="dialog" aria-label="Cookie consent">
<p>We use cookies to remember your settings and to understand how the site is used. See our <a href="/privacy">privacy policy</a> for details.</p>
<button type="button">Accept all</button> <button type="button">Reject non-essential</button> <a href="/cookies">Manage preferences</a>
</div>
<header class="site-header">
<a class="logo" href="/">{_e(site["name"])}</a> <span class="tagline">{_e(site["tagline"])}</span>
<nav class="main-nav"><ul>{"".join(f'<li><a href="{u}">{_e(t)}</a></li>' for t, u in nav)}</ul></nav>
<form class="search" action="/search" method="get"><input type="search" name="q" placeholder="Search"><button type="submit">Search</button></form>
</header>
<main class="layout">
<nav class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/{section}/">{_e(section.title())}</a></nav>
<article class="post">
{f"<h1>{_e(title)}</h1>" if heading else ""}
<p class="byline">By <a href="/authors/{_slugify(author)}">{_e(author)}</a> | <time datetime="{date:%Y-%m-%d}">{day}</time> | {max(1, words // 200)} min read</p>
{body}
<div class="share">Share: <a href="#">Email</a> <a href="#">Copy link</a></div>
</article>
<aside class="sidebar">
<section><h2>{_e(site["sidebar_title"])}</h2><ol>{"".join(f'<li><a href="{u}">{_e(t)}</a></li>' for t, u in sidebar)}</ol></section>
<section class="newsletter"><h2>Newsletter</h2><p>{_e(site["newsletter"])}</p><form action="/subscribe"><input type="email" name="email" placeholder="Email address"><button type="submit">Sign up</button></form></section>
</aside>
</main>
<footer class="site-footer">
<ul>{"".join(f'<li><a href="{u}">{_e(t)}</a></li>' for t, u in footer)}</ul>
<p>&copy; 2026 {_e(site["name"])}. All rights reserved.</p>
</footer>
<script src="/assets/app.js" defer></script>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------------
# WARC


def _digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def _http_date(t: datetime) -> str:
    return t.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)  # mtime=0: no timestamp in the header


class WarcFileWriter:
    """Records of one WARC file, each its own gzip member, in Common Crawl's layout."""

    def __init__(self, filename: str, rng: random.Random, clock: list[datetime]):
        self.filename = filename
        self.rng = rng
        self.clock = clock  # shared across files, so dates keep increasing
        self.members: list[bytes] = []
        self.non_document_records = 0
        self.warcinfo_id = self._new_id()
        info = (
            f"isPartOf: {DEMO_CRAWL}\r\n"
            "publisher: thresher\r\n"
            "description: Demo crawl generated by thresher.demo_data from text written for the project\r\n"
            "operator: thresher demo\r\n"
            "software: thresher.demo_data\r\n"
            "format: WARC File Format 1.1\r\n"
            "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
        ).encode()
        self._add("warcinfo", [("WARC-Filename", filename), ("WARC-Record-ID", self.warcinfo_id),
                               ("Content-Type", "application/warc-fields")], info)

    def _new_id(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}>"

    def _now(self) -> datetime:
        return self.clock[0]

    def _add(self, rtype: str, fields: list[tuple[str, str]], block: bytes, keep: bool = True) -> bytes:
        head = [("WARC-Type", rtype), ("WARC-Date", self._now().strftime("%Y-%m-%dT%H:%M:%SZ"))]
        head += [kv for kv in fields if kv[0] == "WARC-Record-ID"]
        head += [("Content-Length", str(len(block)))]
        head += [kv for kv in fields if kv[0] != "WARC-Record-ID"]
        text = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head) + "\r\n"
        member = _gzip(text.encode("utf-8") + block + b"\r\n\r\n")
        if keep:
            self.members.append(member)
        if rtype != "response":
            self.non_document_records += 1
        return member

    def fetch(self, url: str, ip: str, body: bytes, status: str = "200 OK",
              content_type: str | None = "text/html; charset=utf-8",
              extra_headers: tuple[tuple[str, str], ...] = (), metadata: bool = True) -> bytes:
        """A page fetch: request, response and (like CC) a metadata record. Returns the response member."""
        self.clock[0] += timedelta(seconds=self.rng.randint(1, 9))
        scheme, _, rest = url.partition("://")
        host, _, path = rest.partition("/")
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {host}\r\n"
            "User-Agent: thresher-demo/0.1 (generated demo data, never sent)\r\n"
            "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
            "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
        ).encode()
        request_id, response_id = self._new_id(), self._new_id()
        common = [("WARC-Warcinfo-ID", self.warcinfo_id), ("WARC-IP-Address", ip), ("WARC-Target-URI", url)]
        self._add("request", [("WARC-Record-ID", request_id), ("Content-Type", "application/http; msgtype=request"),
                              *common, ("WARC-Block-Digest", _digest(request))], request)
        headers = [("Date", _http_date(self._now())), ("Server", "nginx")]
        if content_type:
            headers.append(("Content-Type", content_type))
        headers += [*extra_headers, ("Content-Length", str(len(body))), ("Connection", "close")]
        http = (f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode() + body
        fields = [("WARC-Record-ID", response_id), ("Content-Type", "application/http; msgtype=response"),
                  *common, ("WARC-Concurrent-To", request_id), ("WARC-Payload-Digest", _digest(body)),
                  ("WARC-Block-Digest", _digest(http))]
        if content_type:
            fields.append(("WARC-Identified-Payload-Type", content_type.split(";")[0]))
        member = self._add("response", fields, http)
        if metadata:
            meta = f"fetchTimeMs: {self.rng.randint(40, 900)}\r\n".encode()
            self._add("metadata", [("WARC-Record-ID", self._new_id()), ("WARC-Refers-To", response_id),
                                   ("WARC-Target-URI", url), ("Content-Type", "application/warc-fields"),
                                   ("WARC-Block-Digest", _digest(meta))], meta)
        return member

    def data(self) -> bytes:
        return b"".join(self.members)


def _png(width: int = 16, height: int = 16) -> bytes:
    """A small valid PNG (an RGB gradient), made here rather than shipped."""
    rows = b"".join(b"\x00" + b"".join(bytes((x * 16, y * 16, 128)) for x in range(width)) for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


# ---------------------------------------------------------------------------------------------
# The demo inputs


def build_demo_inputs(out_dir: Path, max_record_bytes: int = DEMO_MAX_RECORD_BYTES, seed: int = DEMO_SEED) -> dict[str, str]:
    """Write the demo's input files into `out_dir`; return {path: what the file holds}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    contents, manifest = _generate(max_record_bytes, seed)
    described = {}
    for name, data in contents.items():
        (out_dir / name).write_bytes(data)
        described[str(out_dir / name)] = _summary(manifest["files"][name])
    return described


def demo_manifest(max_record_bytes: int = DEMO_MAX_RECORD_BYTES, seed: int = DEMO_SEED) -> dict:
    """What `build_demo_inputs` writes, page by page, and what should become of it.

    {"crawl", "seed", "max_record_bytes", "good_articles", "good_words",
     "files": {name: {"format", "documents", "errors", "non_document_records", "pages"}},
     "expected": {"kept", "dropped": {stage kind: n}, "errored": {reason: n}}}

    `documents`, `errors` and `non_document_records` are what
    `thresher.pipelines.readers.read_records(..., max_record_bytes)` yields for the file; each page
    has `url`, `kind`, `title` (articles), `read` ("document" or the reader's error) and `expect`.
    """
    return _generate(max_record_bytes, seed)[1]


def _summary(f: dict) -> str:
    kinds = Counter((p["kind"], p["expect"]) for p in f["pages"])
    parts = ", ".join(f"{n} {kind} ({expect})" for (kind, expect), n in kinds.items())
    return f"{f['format'].upper()}, {len(f['pages'])} records: {parts}"


def _generate(max_record_bytes: int, seed: int) -> tuple[dict[str, bytes], dict]:
    corpus, spec = _load("corpus.yaml"), _load("pages.yaml")
    sites = spec["sites"]
    rng = random.Random(seed)
    clock = [START_TIME]
    articles = {a["slug"]: a for a in corpus["articles"]}
    contents: dict[str, bytes] = {}
    files: dict[str, dict] = {}

    def article_url(site_key: str, section: str, slug: str) -> str:
        return f"https://{sites[site_key]['host']}/{section}/2026/01/{slug}"

    # Sidebars link to the other articles of the same site.
    site_titles: dict[str, list[tuple[str, str]]] = {}
    for a in corpus["articles"]:
        key = TOPIC_SITES[a["topic"]]
        site_titles.setdefault(key, []).append((a["title"], f"/{a['topic']}/2026/01/{a['slug']}"))

    def page(site_key: str, title: str, body: str, section: str, heading: bool = True) -> bytes:
        site = sites[site_key]
        others = [t for t in site_titles.get(site_key, []) if t[0] != title]
        sidebar = rng.sample(others, min(5, len(others))) if others else [(n, f"/{_slugify(n)}/") for n in site["nav"][:4]]
        author = rng.choice(site["authors"])
        return render_page(site, title, body, sidebar, author, clock[0], section, heading).encode("utf-8")

    def article_page(a: dict, site_key: str | None = None, url: str | None = None, text: str | None = None) -> tuple[str, bytes]:
        site_key = site_key or TOPIC_SITES[a["topic"]]
        url = url or article_url(site_key, a["topic"], a["slug"])
        return url, page(site_key, a["title"], _body_html(paragraphs(text or a["text"])), a["topic"])

    def add_file(name: str, fmt: str, data: bytes, pages: list[dict], non_document: int) -> None:
        contents[name] = data
        errors = Counter(p["read"] for p in pages if p["read"] != "document")
        files[name] = {"format": fmt, "documents": sum(p["read"] == "document" for p in pages),
                       "errors": dict(errors), "non_document_records": non_document, "pages": pages}

    # -- the two crawl files. Which page goes where, in a seeded order:
    placed = set(TRUNCATED_ARTICLES) | set(JSONL_ARTICLES)
    crawl_pages: list[list[dict]] = [[], []]
    for i, a in enumerate(x for x in corpus["articles"] if x["slug"] not in placed):
        crawl_pages[i % 2].append({"kind": "article", "article": a})
    where = {p["article"]["slug"]: f for f, pages in enumerate(crawl_pages) for p in pages}
    for key in ("exact_duplicate", "near_duplicate"):  # in the other file than their original
        crawl_pages[1 - where[spec[key]["of"]]].append({"kind": key, "article": articles[spec[key]["of"]]})
    for f in corpus["foreign"]:
        crawl_pages[SPECIAL_FILES[f["lang"]]].append({"kind": "foreign", "article": f})
    crawl_pages[SPECIAL_FILES["toxic"]].append({"kind": "toxic", "article": corpus["toxic"]})
    for key, special in spec["special"].items():
        crawl_pages[SPECIAL_FILES[key]].append({"kind": key, "special": special})
    for pages in crawl_pages:
        rng.shuffle(pages)

    for index, name in enumerate(CRAWL_FILES):
        warc = WarcFileWriter(name, rng, clock)
        described = []
        for p in crawl_pages[index]:
            kind = p["kind"]
            if "article" in p:
                a = p["article"]
                if kind == "article":
                    url, body = article_page(a)
                elif kind in ("exact_duplicate", "near_duplicate"):
                    d = spec[kind]
                    text = a["text"]
                    for old, new in d.get("replace", ()):
                        assert old in text, f"near_duplicate: {old!r} not in {a['slug']}"
                        text = text.replace(old, new, 1)
                    url, body = article_page(a, d["site"], f"https://{sites[d['site']]['host']}{d['path']}", text)
                elif kind == "foreign":
                    url, body = article_page({**a, "topic": "culture"}, LANG_SITES[a["lang"]])
                else:  # toxic
                    url, body = article_page({**a, "topic": "opinion"}, "everyday")
                title = a["title"]
            else:
                s = p["special"]
                url, title = f"https://{sites[s['site']]['host']}{s['path']}", s["title"]
                body = page(s["site"], title, _special_body(kind, s), s["path"].strip("/").split("/")[0],
                            heading=kind != "category_index")
            warc.fetch(url, _site_ip(sites, url), body)
            described.append({"url": url, "kind": kind, "title": title, "read": "document", "expect": EXPECT[kind]})
        add_file(name, "warc", warc.data(), described, warc.non_document_records)

    # -- broken records
    warc = WarcFileWriter(BROKEN_FILE, rng, clock)
    described = []
    url = "https://fieldnotes.example.org/images/2026/01/tide-pool-zones.png"
    warc.fetch(url, sites["fieldnotes"]["ip"], _png(), content_type="image/png")
    described.append({"url": url, "kind": "image", "read": "not_html", "expect": "errored:not_html"})

    url, target = "https://markets.example.net/old/bond-basics", "https://markets.example.net/explainers/bond-market-basics"
    moved = f'<html><head><title>301 Moved Permanently</title></head><body><a href="{target}">Moved here</a></body></html>'.encode()
    warc.fetch(url, sites["ledger"]["ip"], moved, status="301 Moved Permanently", extra_headers=(("Location", target),))
    described.append({"url": url, "kind": "redirect", "read": "http_status_not_ok", "expect": "errored:http_status_not_ok"})

    # A server that gzips pages but forgets Content-Encoding: NUL bytes in the gzip header.
    url = "https://devlog.example.com/guides/version-control-for-beginners"
    _, html_bytes = article_page(articles["version-control-for-beginners"], "buildlog", url)
    warc.fetch(url, sites["buildlog"]["ip"], _gzip(html_bytes))
    described.append({"url": url, "kind": "binary_body", "read": "document", "expect": EXPECT["binary_body"]})

    url = "https://journal.example.org/archive/2009/03/letters-from-the-lake"
    warc.fetch(url, sites["everyday"]["ip"], _undecodable_body())
    described.append({"url": url, "kind": "undecodable", "read": "document", "expect": EXPECT["undecodable"]})

    url = "https://deals.example.net/every-cheap-deal-on-one-page"
    warc.fetch(url, sites["deals"]["ip"], _oversized_body(max_record_bytes))
    described.append({"url": url, "kind": "oversized", "read": "too_large", "expect": "errored:too_large"})
    add_file(BROKEN_FILE, "warc", warc.data(), described, warc.non_document_records)

    # -- truncated: whole records, then one cut in the middle of its gzip member
    warc = WarcFileWriter(TRUNCATED_FILE, rng, clock)
    described = []
    for slug in TRUNCATED_ARTICLES:
        url, body = article_page(articles[slug])
        warc.fetch(url, _site_ip(sites, url), body)
        described.append({"url": url, "kind": "article", "title": articles[slug]["title"], "read": "document", "expect": "kept"})
    url, body = article_page(articles[TRUNCATED_CUT])
    body = body.replace(b"</body>", _page_state_script(articles[TRUNCATED_CUT], rng) + b"\n</body>")
    response = warc.fetch(url, _site_ip(sites, url), body, metadata=False)
    assert warc.members[-1] is response
    warc.members[-1] = _cut_member(response, keep_bytes=TRUNCATED_KEEP_BYTES)
    described.append({"url": url, "kind": "truncated", "read": "truncated_gzip", "expect": "errored:truncated_gzip"})
    add_file(TRUNCATED_FILE, "warc", warc.data(), described, warc.non_document_records)

    add_file(EMPTY_FILE, "warc", b"", [{"url": None, "kind": "empty", "read": "empty_file", "expect": "errored:empty_file"}], 0)

    # -- already extracted documents
    lines: list[bytes] = []
    described = []

    def jsonl_line(doc: dict, kind: str, read: str, encoding: str = "utf-8") -> None:
        lines.append(json.dumps({"id": f"demo-doc-{len(lines) + 1:04d}", **doc}, ensure_ascii=False).encode(encoding))
        described.append({"url": doc["url"], "kind": kind, "title": doc.get("title"), "read": read,
                          "expect": "kept" if read == "document" else f"errored:{read}"})

    def jsonl_article(slug: str) -> None:
        a = articles[slug]
        doc = {"url": article_url(TOPIC_SITES[a["topic"]], a["topic"], slug), "text": plain_text(a["title"], a["text"])}
        jsonl_line(doc, "article", "document")
        described[-1]["title"] = a["title"]

    jsonl_article(JSONL_ARTICLES[0])
    jsonl_article(JSONL_ARTICLES[1])
    url = "https://hearth.example.com/notes/export"
    lines.append(f'{{"id": "demo-doc-{len(lines) + 1:04d}", "url": "{url}", "text": "This export stopped in the middle of a wo'.encode())
    described.append({"url": url, "kind": "malformed_json", "title": None, "read": "malformed_json", "expect": "errored:malformed_json"})
    jsonl_article(JSONL_ARTICLES[2])
    jsonl_line({"url": "https://hearth.example.com/notes/latin-1",
                "text": "Café crème, crêpes and a résumé of the menu, saved by an old tool in Latin-1."},
               "latin1_line", "invalid_utf8", encoding="latin-1")
    jsonl_line({"url": "https://hearth.example.com/notes/title-only", "title": "A record with a title and no text"},
               "missing_text", "missing_text")
    add_file(JSONL_FILE, "jsonl", b"\n".join(lines) + b"\n", described, 0)

    expected: dict = {"kept": 0, "dropped": Counter(), "errored": Counter()}
    for f in files.values():
        for p in f["pages"]:
            outcome = p["expect"] if p["read"] == "document" else f"errored:{p['read']}"
            if outcome == "kept":
                expected["kept"] += 1
            elif outcome.startswith("errored:"):
                expected["errored"][outcome.split(":", 1)[1]] += 1
            else:
                expected["dropped"][outcome] += 1
    good = corpus["articles"]
    manifest = {
        "crawl": DEMO_CRAWL,
        "seed": seed,
        "max_record_bytes": max_record_bytes,
        "good_articles": len(good),
        "good_words": sum(len(plain_text(a["title"], a["text"]).split()) for a in good),
        "files": files,
        "expected": {"kept": expected["kept"], "dropped": dict(expected["dropped"]), "errored": dict(expected["errored"])},
    }
    return contents, manifest


def _site_ip(sites: dict, url: str) -> str:
    host = url.split("/")[2]
    return next(s["ip"] for s in sites.values() if s["host"] == host)


def _special_body(kind: str, s: dict) -> str:
    if kind == "spam":
        return _body_html(list(s["lines"]) * s["repeat"])
    if kind in ("no_punctuation", "short_lines"):
        return _body_html(s["lines"])
    if kind == "category_index":
        return "\n".join(
            f'<h2><a href="/recipes/{_slugify(group)}/">{_e(group)}</a></h2>\n<ul>' + "".join(f'<li><a href="/recipes/{_slugify(i)}">{_e(i)}</a></li>' for i in items) + "</ul>"
            for group, items in s["groups"].items()
        )
    if kind == "not_found":
        links = "".join(f'<li><a href="/{_slugify(t)}/">{_e(t)}</a></li>' for t in s["links"])
        return f"<p>{_e(s['text'].strip())}</p>\n<ul>{links}</ul>"
    return _body_html(paragraphs(s["text"]))  # short, blocklisted


def _page_state_script(article: dict, rng: random.Random, comments: int = 1000) -> bytes:
    """The JSON page state many sites inline (comments included): makes the cut record long."""
    sentences = [s.strip() + "." for p in paragraphs(article["text"]) for s in p.split(". ") if s.strip()]
    state = {"props": {"pageProps": {"slug": article["slug"], "comments": [
        {"id": 1000 + i, "author": f"reader{rng.randrange(10_000):04d}", "likes": rng.randrange(50),
         "body": rng.choice(sentences)}
        for i in range(comments)
    ]}}}
    return b'<script id="page-state" type="application/json">' + json.dumps(state).encode() + b"</script>"


# FastWARC reads its input 64 KiB at a time, and GzipFile.read() discards what it decompressed
# in a call that ends in a truncated member: the records in the last 64 KiB before the cut are
# lost with it. The cut record keeps more than 64 KiB of its text, so the read that fails starts
# after the records before it, and those come back.
TRUNCATED_KEEP_BYTES = 65536 + 32768


def _cut_member(member: bytes, keep_bytes: int) -> bytes:
    """The shortest prefix of a gzip member that decompresses to at least `keep_bytes`."""
    d = zlib.decompressobj(wbits=31)
    out = 0
    for end in range(256, len(member), 256):
        out += len(d.decompress(member[end - 256:end]))
        if out >= keep_bytes:
            return member[:end]
    raise ValueError(f"record too short to cut after {keep_bytes} bytes")


def _undecodable_body() -> bytes:
    """Declared UTF-8, yet neither UTF-8 nor the detected charset (cp1252) decodes it.

    Bytes 0x81, 0x8D, 0x8F, 0x90 and 0x9D are unassigned in cp1252, and lone continuation bytes
    are invalid UTF-8: the kind of mix left by a page stitched together from several encodings.
    """
    return (
        b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Letters from the lake</title></head>'
        b"<body><article><h1>Letters from the lake</h1>"
        b"<p>The caf\xe9 by the pier re-opened this spring \x81 \x8d and the ferry timetable \x8f changed again.</p>"
        b"<p>Readers wrote in \x90 about the new footpath and the old boathouse \x9d which is finally being repaired.</p>"
        b"</article></body></html>"
    )


def _oversized_body(max_record_bytes: int) -> bytes:
    """An HTML page just over the limit, of repeated lines, so gzip shrinks it about a thousandfold."""
    head = b"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Every cheap deal on one page</title></head><body>\n"
    line = b"<p>Cheap flights, cheap hotels and cheap car hire at the best cheap prices online.</p>\n"
    tail = b"</body></html>\n"
    n = (max_record_bytes - len(head) - len(tail)) // len(line) + 2
    return head + line * n + tail
