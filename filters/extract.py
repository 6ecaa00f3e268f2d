"""HTML bytes -> main text. Decoding and extraction, each failure with a reason.

Two extractors, selectable in the recipe:
- `trafilatura`: what FineWeb ran (datatrove's `Trafilatura(favour_precision=True)`), the quality
  reference. We call it with `deduplicate=False`: trafilatura's dedup cache lives per process, so
  with it the output would depend on which worker saw which page first.
- `resiliparse`: `extract_plain_text(main_content=True)`, an order of magnitude faster.

No timeout per page (datatrove kills trafilatura after 1 s, which makes its output vary between
runs); pathological pages are bounded by the record size limit instead.
"""

from __future__ import annotations

import codecs
import logging

from resiliparse.parse.encoding import detect_encoding

# Trafilatura's published input bounds (trafilatura/settings.cfg: MAX_FILE_SIZE, MIN_FILE_SIZE).
MAX_HTML_BYTES = 20_000_000
MIN_HTML_BYTES = 10

# How much of a body we look at to tell binary from text: the WHATWG MIME sniffing algorithm
# reads the first 1,445 bytes ("resource header"); NUL bytes never occur in HTML text.
SNIFF_BYTES = 1445


class ExtractionError(Exception):
    """A page that cannot become text; `reason` is machine-readable (`binary_body`, ...)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip('"\'')).name
    except LookupError:
        return None


def decode_html(payload: bytes, declared_charset: str | None = None) -> str:
    """Bytes -> str, strictly: the declared charset, else UTF-8, else the detected one.

    Raises ExtractionError('binary_body') for bodies with NUL bytes and ('undecodable') when no
    candidate charset decodes the bytes without errors: we never silently insert U+FFFD.
    """
    if b"\x00" in payload[:SNIFF_BYTES]:
        raise ExtractionError("binary_body")
    candidates = [_codec(declared_charset), "utf-8"]
    for codec in candidates:
        if codec is None:
            continue
        try:
            return payload.decode(codec)
        except UnicodeDecodeError:
            continue
    detected = _codec(detect_encoding(payload))
    if detected and detected not in candidates:
        try:
            return payload.decode(detected)
        except UnicodeDecodeError:
            pass
    raise ExtractionError("undecodable")


class Extractor:
    """`Extractor("trafilatura" | "resiliparse")(html) -> text` (empty string when nothing found)."""

    METHODS = ("trafilatura", "resiliparse")

    def __init__(self, method: str = "trafilatura", favor_precision: bool = True, include_tables: bool = True):
        if method not in self.METHODS:
            raise ValueError(f"unknown extractor {method!r}; choose one of {self.METHODS}")
        self.method = method
        # trafilatura logs a warning per page it gives up on; at crawl scale that is noise, and
        # each such page is already counted (extract:empty_text) and written to errors/.
        logging.getLogger("trafilatura").setLevel(logging.ERROR)
        # FineWeb: Trafilatura(favour_precision=True); tables kept as trafilatura's default.
        self.favor_precision = favor_precision
        self.include_tables = include_tables

    def __call__(self, html: str, url: str | None = None) -> str:
        if self.method == "resiliparse":
            from resiliparse.extract.html2text import extract_plain_text

            return extract_plain_text(html, main_content=True, alt_texts=False, list_bullets=False).strip()
        import trafilatura

        text = trafilatura.extract(
            html,
            url=url,
            favor_precision=self.favor_precision,
            include_comments=False,
            include_tables=self.include_tables,
            deduplicate=False,
        )
        return (text or "").strip()
