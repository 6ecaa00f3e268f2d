"""URL blocklist filter: datatrove's URLFilter (the one FineWeb ran), on the lists datatrove ships.

A document is dropped, in this order, when:
- its registered domain ("example.co.uk") is in the UT1 domain blocklist: "domain";
- its full host name ("www.example.co.uk") is: "subdomain";
- the URL itself is in the UT1 URL blocklist: "url";
- a word of the URL (runs of ASCII letters and digits) is a banned word: "hard_blacklisted";
- at least `soft_word_threshold` (2) of its words are soft-banned words: "soft_blacklisted";
- the URL, keeping only its letters and digits, contains a banned sub-word: "blacklisted_subword".

The lists are datatrove's assets (`datatrove/assets/url_filterblacklistsv0_3_0.tar.gz`, the
UT1 blocklists of Université Toulouse 1 Capitole as datatrove packs them, and its
`banned_words.txt`, `banned_subwords.txt`, `soft_banned_words.txt`); they are read from the
installed package, never by importing datatrove's modules, and parsed once per process. The 4.6
million blocklisted domains are kept as a sorted array of 64-bit hashes (36 MB instead of ~500 MB
of Python strings; a false match has a probability of ~1e-13 per URL). Registered domains come
from `tldextract` with its bundled Public Suffix List snapshot (ICANN section), as datatrove's,
but without fetching a fresh list from the network.

Differences from datatrove, both on purpose: host names and URL words are lower-cased before
matching (the lists are lower case; datatrove misses "WWW.Example.COM" and "/XXX/"), and a
document without a URL (datatrove fails on it) is dropped as "no_url", or with `missing_url: keep`
kept unchecked; either way its `no_url` score is 1, so it is counted. As in datatrove, the URL
list is matched against the whole URL as given; UT1 writes its entries without a scheme, so
"http://" URLs rarely match it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import re
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Literal, NamedTuple

import numpy as np

from thresher.contracts.files import cache_dir, file_sha256
from thresher.contracts.recipe import Count
from thresher.filters.base import Decision, DocumentFilter

_NON_ALNUM = re.compile(r"[^a-zA-Z0-9]+")  # datatrove url_filter.normalizer


def _normalize(text: str) -> str:
    return _NON_ALNUM.sub("", text).lower()


class _Lists(NamedTuple):
    domain_hashes: np.ndarray  # sorted _key() of each blocklisted domain's UTF-8 bytes
    urls: frozenset[str]
    banned_words: frozenset[str]
    banned_subwords: tuple[str, ...]
    soft_banned_words: frozenset[str]


def _asset(name: str):
    return importlib.resources.files("datatrove").joinpath("assets", name)


def _key(line: bytes) -> int:
    """A domain's 64-bit key: stable across processes (Python's hash() of bytes is salted per
    process), so the sorted keys of the lists can be kept on disk between runs."""
    return int.from_bytes(hashlib.blake2b(line, digest_size=8).digest(), "little", signed=True)


def _hashed_lines(stream, chunk_size: int = 1 << 24) -> np.ndarray:
    """_key() of every non-empty, non-comment line, sorted; read in chunks so that the lines never
    exist as Python objects all at once."""
    arrays, rest = [], b""
    while True:
        chunk = stream.read(chunk_size)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop() if chunk else b""
        lines = [line for line in map(bytes.strip, lines) if line and not line.startswith(b"#")]
        arrays.append(np.fromiter(map(_key, lines), dtype=np.int64, count=len(lines)))
        if not chunk:
            hashes = np.concatenate(arrays)
            hashes.sort()
            return hashes


def _domain_hashes(tar: tarfile.TarFile, asset_sha256: str) -> np.ndarray:
    """The sorted domain keys, built once per list file and kept in the cache
    ($THRESHER_CACHE/url-blocklist/): hashing 4.5 million domains takes seconds, loading them
    milliseconds, and every worker process needs them. Built in memory when the cache is not
    writable."""
    # The key function's version is in the name: another _key must not read these.
    path = cache_dir() / "url-blocklist" / f"blake2b64-v1-{asset_sha256}.npy"
    if path.is_file():
        return np.load(path)
    hashes = _hashed_lines(tar.extractfile("domains"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy") as tmp:
            np.save(tmp, hashes)
            tmp.flush()
            os.link(tmp.name, path)  # the complete file under its name, or nothing
    except OSError:
        pass
    return hashes


def _word_list(name: str) -> frozenset[str]:
    # datatrove's parse_list(do_normalize=True): comment lines start with "#"
    lines = _asset(name).read_text("utf-8").splitlines()
    return frozenset(word for word in (_normalize(line) for line in lines if line and not line.startswith("#")) if word)


@lru_cache(maxsize=1)
def _lists() -> _Lists:
    with importlib.resources.as_file(_asset("url_filterblacklistsv0_3_0.tar.gz")) as asset, tarfile.open(asset) as tar:
        domain_hashes = _domain_hashes(tar, file_sha256(asset))
        url_lines = tar.extractfile("urls").read().decode("utf-8").splitlines()
    return _Lists(
        domain_hashes=domain_hashes,
        urls=frozenset(line.strip() for line in url_lines if line and not line.startswith("#")),
        banned_words=_word_list("banned_words.txt"),
        banned_subwords=tuple(sorted(_word_list("banned_subwords.txt"))),
        soft_banned_words=_word_list("soft_banned_words.txt"),
    )


@lru_cache(maxsize=1)
def _tld_extractor():
    import tldextract  # imports requests: only when a URL filter is used

    # the bundled Public Suffix List snapshot only: no download, no cache directory
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _listed(hashes: np.ndarray, domain: str) -> bool:
    if not domain:
        return False
    key = _key(domain.encode("utf-8"))
    i = int(np.searchsorted(hashes, key))
    return i < len(hashes) and int(hashes[i]) == key


class URLBlocklistFilter(DocumentFilter):
    name = "url_blocklist"

    def __init__(
        self,
        soft_word_threshold: Count = 2,  # datatrove URLFilter default, as FineWeb ran it
        extra_domains: Sequence[str] = (),
        extra_urls: Sequence[str] = (),
        # A document this stage cannot check: dropped by default, so that a corpus read without
        # its URLs (a JSONL layout the reader does not know) shows in the funnel, not passes.
        missing_url: Literal["drop", "keep"] = "drop",
    ):
        self.soft_word_threshold = soft_word_threshold
        self.missing_url = missing_url
        self.extra_domains = frozenset(d.strip().lower() for d in extra_domains)
        self.extra_urls = frozenset(u.strip() for u in extra_urls)

    def score(self, doc: Mapping) -> dict[str, float]:
        url = doc.get("url") or ""
        if not url:
            scores = dict.fromkeys(
                ("domain", "subdomain", "url", "banned_words", "soft_banned_words", "banned_subwords"), 0.0
            )
            return {**scores, "no_url": 1.0}
        lists = _lists()
        parts = _tld_extractor()(url)
        registered = f"{parts.domain}.{parts.suffix}".lower() if parts.domain and parts.suffix else ""
        host = parts.fqdn.lower()
        words = set(_NON_ALNUM.split(url.lower()))
        normalized = _normalize(url)
        return {
            "domain": float(registered in self.extra_domains or _listed(lists.domain_hashes, registered)),
            "subdomain": float(host in self.extra_domains or _listed(lists.domain_hashes, host)),
            "url": float(url in lists.urls or url in self.extra_urls),
            "banned_words": float(len(words & lists.banned_words)),
            "soft_banned_words": float(len(words & lists.soft_banned_words)),
            "banned_subwords": float(sum(sub in normalized for sub in lists.banned_subwords)),
            "no_url": 0.0,
        }

    def decide(self, scores: Mapping[str, float]) -> Decision:
        if scores.get("no_url") and self.missing_url == "drop":  # runs before this score existed lack it
            return Decision(False, "no_url")
        if scores["domain"]:
            return Decision(False, "domain")
        if scores["subdomain"]:
            return Decision(False, "subdomain")
        if scores["url"]:
            return Decision(False, "url")
        if scores["banned_words"]:
            return Decision(False, "hard_blacklisted")
        if scores["soft_banned_words"] >= self.soft_word_threshold:
            return Decision(False, "soft_blacklisted")
        if scores["banned_subwords"]:
            return Decision(False, "blacklisted_subword")
        return Decision(True)
