"""HTML bytes -> main text. Decoding and extraction, each failure with a reason.

Four extractors, selectable in the recipe:
- `trafilatura`: what FineWeb ran (datatrove's `Trafilatura(favour_precision=True)`), the quality
  reference. We call it with `deduplicate=False`: trafilatura's dedup cache lives per process, so
  with it the output would depend on which worker saw which page first.
- `resiliparse`: `extract_plain_text(main_content=True)`, an order of magnitude faster.
- `cascade`: resiliparse's main content without comment sections, then boilerplate line rules;
  pages where the rules had to drop much (resiliparse likely took a sidebar or a teaser list
  along) or left nothing go to trafilatura. About 6x trafilatura's speed with better recall,
  but it lets through more boilerplate (7 points fewer must-not snippets avoided, 2 points lower
  token precision on held-out pages; BENCHMARKS.md), so FineWeb's recipe stays on trafilatura.
- `cascade_region`: the cascade, plus blocks whose class/id names boilerplate (footer, share,
  related, newsletter, ...) skipped while resiliparse walks the DOM, and the text cut to its
  densest run of prose lines (boilerpipe's idea, on lines); pages where that cut removes much go
  to trafilatura. Within 1.2 points of trafilatura on every score on held-out pages (better
  recall and F1), but trafilatura runs on ~18% of pages, so it is only ~3x trafilatura's speed
  (BENCHMARKS.md).

No timeout per page (datatrove kills trafilatura after 1 s, which makes its output vary between
runs); pathological pages are bounded by the record size limit instead.
"""

from __future__ import annotations

import codecs
import html as html_entities
import logging
import re

from resiliparse.parse.encoding import detect_encoding

# Trafilatura's published input bounds (trafilatura/settings.cfg: MAX_FILE_SIZE, MIN_FILE_SIZE).
MAX_HTML_BYTES = 20_000_000
MIN_HTML_BYTES = 10

# How much of a body we look at to tell binary from text: the WHATWG MIME sniffing algorithm
# reads the first 1,445 bytes ("resource header"); NUL bytes never occur in HTML text.
SNIFF_BYTES = 1445


# Cascade thresholds, tuned on the even-index pages of ../shared/data's two evaluation sets only
# (benchmarks/bench_extract.py --split dev), reported on the odd-index ones.
# A line whose link text is more than half its text is navigation or a teaser (trafilatura's
# link-density test uses the same bound for short paragraphs).
MAX_LINK_SHARE = 0.5
# Non-heading lines under 3 words that do not end like a sentence are menu items, labels, dates.
# 3 kept must-snippet recall at trafilatura's level; 5 and 8 trade 2-5 points of it for 3 of
# boilerplate avoided.
MIN_LINE_WORDS = 3
# Copyright notices are boilerplate unless the line is long enough to be prose that mentions it.
MAX_COPYRIGHT_LINE_WORDS = 30
# A "related articles" / comments heading in the second half of the text ends the article.
TAIL_START = 0.5
# Fall back to trafilatura when the rules dropped more than this share of resiliparse's text:
# the dev pages' 95th percentile, so ~5% of pages pay for trafilatura (5x trafilatura's speed
# overall); at 10-30% fallback the scores barely move (+0.5-2.5 points boilerplate avoided).
MAX_DROPPED_SHARE = 0.15

# cascade_region, tuned the same way. Class/id substrings of blocks to skip (trafilatura's
# xpaths.py discard tokens that moved the dev scores; "header", "teaser", "sidebar", "menu",
# "widget", "bar" cost 1-2 points of must-snippets found each and are left out). CSS selectors run
# inside resiliparse's C walk: a Python walk over HTMLTree's `.children` costs ~20 ms per page.
_BOILERPLATE_NAMES = ("newsletter", "author", "footer", "cookie", "share", "social", "related", "breadcrumb",
                      "consent", "subscribe")
_SKIP_SELECTORS = [f'[{attr}*="{name}" i]:not(body):not(html)' for attr in ("class", "id") for name in _BOILERPLATE_NAMES] + [
    "nav", "aside", "footer", "form", "[role=navigation]", "[role=complementary]"]
# A prose line has 12+ words, or 5+ ending like a sentence; the densest region maximises
# (prose chars - 4 x other chars) over contiguous lines (penalties 1/2/8 and 8/20 words: found vs
# avoided moved together along the same ~180-point sum).
PROSE_WORDS = 12
SHORT_PROSE_WORDS = 5
NON_PROSE_PENALTY = 4.0
# Fall back to trafilatura when the region leaves out more than this share of the text: a cut that
# large is as often the article split by a figure or list as boilerplate (0.3 / 0.5: 0.6 / 2 points
# fewer must-snippets found, 3 / 7 points fewer pages on trafilatura).
MAX_REGION_CUT = 0.2

_PROSE_END = re.compile(r'[.!?…:;"”»“)\]]\s*$')
_SENTENCE_END = re.compile(r'[.!?…"”»“)\]]\s*$')
_WORD = re.compile(r"\w+")
_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.DOTALL)
_HEADING = re.compile(r"\s*<h[1-6]>")
_COPYRIGHT = re.compile(r"©|\(c\)|copyright|all rights reserved", re.IGNORECASE)
# Headings that open what follows an article (English, German, Spanish, French: the eval pages'
# main languages).
_TAIL_HEADING = re.compile(
    r"^(you (may|might) also like|related( (posts|articles|stories))?|more (from|stories|on this)|read more"
    r"|recommended|weitere (artikel|beiträge|nachrichten|themen)|das könnte (sie|dich) auch interessieren"
    r"|lesen sie auch|mehr zum thema|top[- ]themen|meistgelesen|leave a (reply|comment)|kommentare"
    r"|comments?|schreibe(n sie)? einen kommentar|ähnliche (artikel|beiträge)|verwandte artikel"
    r"|auch interessant|lea también|noticias relacionadas|articles? (similaires|connexes))\b",
    re.IGNORECASE,
)
# A tail heading is a heading, not a sentence that starts with the same words.
_TAIL_HEADING_MAX_CHARS = 60


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
    """`Extractor("trafilatura" | "resiliparse" | "cascade" | "cascade_region")(html) -> text` (empty when nothing found)."""

    METHODS = ("trafilatura", "resiliparse", "cascade", "cascade_region")

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
        if self.method == "cascade":
            text = self._resiliparse_with_line_rules(html)
            if text is not None:
                return text
        if self.method == "cascade_region":
            text = self._resiliparse_with_line_rules(html, skip_boilerplate_blocks=True, densest_region=True)
            if text is not None:
                return text
        return self._trafilatura(html, url)

    def _trafilatura(self, html: str, url: str | None) -> str:
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

    @staticmethod
    def _resiliparse_with_line_rules(html: str, skip_boilerplate_blocks: bool = False,
                                     densest_region: bool = False) -> str | None:
        """Resiliparse's main content, filtered line by line; None when trafilatura should decide."""
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLParserException

        try:
            # minimal_html keeps <hN> and <a> markup, from which the rules read headings and
            # link density; comments=False and post_meta=False match trafilatura's output, which
            # leaves out comment sections and bylines.
            marked = extract_plain_text(
                html, preserve_formatting="minimal_html", main_content=True, links=True, alt_texts=False,
                list_bullets=False, comments=False, post_meta=False,
                skip_elements=_SKIP_SELECTORS if skip_boilerplate_blocks else None,
            )
        except HTMLParserException:  # malformed input resiliparse gives up on: trafilatura may cope
            return None
        kept: list[tuple[bool, str]] = []  # (is heading, text)
        total = dropped = 0
        for line in marked.split("\n"):
            text = html_entities.unescape(_TAG.sub("", line)).strip()
            if not text:
                continue
            total += len(text)
            if Extractor._is_boilerplate_line(line, text):
                dropped += len(text)
            else:
                kept.append((bool(_HEADING.match(line)), text))
        if not total or dropped > MAX_DROPPED_SHARE * total:
            return None
        # A heading stays only if body text follows it: headings over dropped link lists are
        # "More from ...", "Weitere Informationen:".
        kept = [(heading, t) for i, (heading, t) in enumerate(kept)
                if not heading or (i + 1 < len(kept) and not kept[i + 1][0])]
        for i in range(int(TAIL_START * len(kept)), len(kept)):
            if len(kept[i][1]) < _TAIL_HEADING_MAX_CHARS and _TAIL_HEADING.match(kept[i][1]):
                kept = kept[:i]
                break
        if densest_region and kept:
            start, end = Extractor._densest_prose_region(kept)
            total = sum(len(t) for _, t in kept)
            if total - sum(len(t) for _, t in kept[start:end]) > MAX_REGION_CUT * total:
                return None
            kept = kept[start:end]
        if not kept:
            return None
        return "\n".join(t for _, t in kept)

    @staticmethod
    def _densest_prose_region(kept: list[tuple[bool, str]]) -> tuple[int, int]:
        """[start, end) of the contiguous lines with the largest prose-minus-rest score (Kadane),
        widened upwards over the headings just above it (title, first section heading)."""
        best, run, run_start, start, end = 0.0, 0.0, 0, 0, len(kept)
        for i, (heading, text) in enumerate(kept):
            if run <= 0:
                run, run_start = 0.0, i
            words = len(_WORD.findall(text))
            if heading:
                score = 0.0
            elif words >= PROSE_WORDS or (words >= SHORT_PROSE_WORDS and _PROSE_END.search(text)):
                score = len(text)
            else:
                score = -NON_PROSE_PENALTY * len(text)
            run += score
            if run > best:
                best, start, end = run, run_start, i + 1
        if best <= 0:  # no prose line at all: keep everything, as the cascade does
            return 0, len(kept)
        while start > 0 and kept[start - 1][0]:
            start -= 1
        return start, end

    @staticmethod
    def _is_boilerplate_line(line: str, text: str) -> bool:
        if "<a" in line and sum(len(_TAG.sub("", a)) for a in _LINK.findall(line)) > MAX_LINK_SHARE * len(text):
            return True
        words = len(_WORD.findall(text))
        if words < MIN_LINE_WORDS and not _SENTENCE_END.search(text) and not _HEADING.match(line):
            return True
        return words < MAX_COPYRIGHT_LINE_WORDS and bool(_COPYRIGHT.search(text))
