"""HTML bytes -> main text. Decoding and extraction, each failure with a reason.

Extractors, selectable in the recipe (their scores and speeds: BENCHMARKS.md, bench_extract.py):
- `cascade` (the default): resiliparse's main content, read with its headings and links, then
  rules on its lines and blocks (boilerplate line rules, boilerplate blocks skipped inside
  resiliparse's DOM walk, the text cut to its densest run of prose lines: boilerpipe's idea, on
  lines); pages the rules cannot decide (resiliparse fails, or nothing is left after the rules) go
  to trafilatura. Within a point of trafilatura's scores at several times its speed.
- `trafilatura`: what FineWeb ran (datatrove's `Trafilatura(favour_precision=True)`), the quality
  reference. We call it with `deduplicate=False`: trafilatura's dedup cache lives per process, so
  with it the output would depend on which worker saw which page first.
- `resiliparse`: `extract_plain_text(main_content=True)`, the fastest, but it keeps much more
  boilerplate.
- `full`: every visible text block, boilerplate included (raw crawl text, e.g. the negatives of a
  quality classifier).

No timeout per page (datatrove kills trafilatura after 1 s, which makes its output vary between
runs); pathological pages are bounded by the record size limit instead.
"""

from __future__ import annotations

import codecs
import html as html_entities
import logging
import re
from collections.abc import Mapping
from typing import Literal, NamedTuple

from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5

from thresher.contracts.recipe import Share
from thresher.filters.base import Decision, StageError

# How much of a body we look at to tell binary from text: the WHATWG MIME sniffing algorithm
# reads the first 1,445 bytes ("resource header"); NUL bytes never occur in HTML text.
SNIFF_BYTES = 1445


# Cascade thresholds, tuned on the even-index pages of ../shared/data's two evaluation sets only
# and reported on the odd-index ones; `python benchmarks/bench_extract.py --sweep` reruns each
# sweep below (the values tried and their scores), BENCHMARKS.md has the results.
#
# Blocks resiliparse skips during its one DOM walk (CSS selectors run inside its C code, where a
# Python walk over the tree would cost more than trafilatura itself). Class/id substrings from
# trafilatura's xpaths.py discard tokens; those that cost must-snippets found on dev ("header",
# "teaser", "sidebar", "menu", "widget", "bar") are left out.
_BOILERPLATE_NAMES = (
    "newsletter",
    "author",
    "footer",
    "cookie",
    "share",
    "social",
    "related",
    "breadcrumb",
    "consent",
    "subscribe",
)
# ... never on the article's own container: WordPress writes the post's tag and category slugs
# into the <article>'s class ("category-socialmedia"), which a substring test would match.
_CONTAINER = ":not(html):not(body):not(article):not(main):not([role=main])"
_SKIP_SELECTORS = [f'[{attr}*="{name}" i]{_CONTAINER}' for attr in ("class", "id") for name in _BOILERPLATE_NAMES] + [
    "nav",
    "aside",
    "footer",
    "form",
    "[role=navigation]",
    "[role=complementary]",
    # Figures and caption blocks: trafilatura drops them too (settings.py MANUALLY_CLEANED,
    # xpaths.py DISCARD_IMAGE_ELEMENTS).
    "figure",
    "figcaption",
    '[class*="caption" i]',
    '[id*="caption" i]',
    # Ruby annotations (furigana over Japanese kanji) are readings, not text: left in, they split
    # every annotated word (trafilatura drops them too).
    "rt",
    "rp",
]
# A line whose link text is more than half its text is navigation or a teaser (trafilatura's
# link-density test uses the same bound for short paragraphs).
MAX_LINK_SHARE = 0.5
# Non-heading lines under this many words that do not end like a sentence are menu items, labels,
# dates (sweep: fewer words keep more snippets, more words avoid no more boilerplate).
MIN_LINE_WORDS = 3
# Copyright notices are boilerplate unless the line is long enough to be prose that mentions it.
MAX_COPYRIGHT_LINE_WORDS = 30
# Calls to action and consent notices (newsletter, subscribe, cookies, privacy, share, log in; in
# English, German, French, Spanish, the eval pages' main languages) are boilerplate in lines under
# this many words (sweep: the most boilerplate avoided at no cost in snippets found).
MAX_CALL_TO_ACTION_WORDS = 15
# A "related articles" / comments heading in the second half of the text ends the article.
TAIL_START = 0.5
# The densest prose region: a prose line has 12+ words, or 5+ ending like a sentence; the region
# maximises (prose chars - penalty x other chars) over contiguous lines (sweep: a larger penalty
# avoids more but finds less on held-out pages) ...
PROSE_WORDS = 12
SHORT_PROSE_WORDS = 5
NON_PROSE_PENALTY = 4.0
# ... joined, repeatedly, with the best-scoring prose run before it, and with the best one after
# it if that scores at least this share of the region so far: tails hold teaser and comment prose,
# heads rarely do (sweep: the balance of snippets found and avoided) ...
MIN_TAIL_RUN_SHARE = 0.15
# ... when the lines between them are at most this multiple of the two runs' prose score (sweep:
# flat between 1 and 4).
MAX_GAP_RATIO = 2.0
# A region that would leave out more than this share of the text is not trusted: an article split
# by a list, table, recipe or code block looks the same. The page then keeps all its lines
# (sending it to trafilatura instead scores a little higher but costs twice the pages' time).
MAX_REGION_CUT = 0.4

# Sentence ends, with the CJK (。！？), Devanagari (।) and Arabic (؟ ۔) ones.
_SENTENCE_END = frozenset('.!?…"”»“)]。！？।؟۔')
_PROSE_END = _SENTENCE_END | frozenset(":;：；")
_WORD = re.compile(r"\w+")
_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.DOTALL)
_HEADING = re.compile(r"\s*<h[1-6]>")
_COPYRIGHT = re.compile(r"©|\(c\)|copyright|all rights reserved", re.IGNORECASE)
# Stems match inside words (abonnieren, subscription); the verbs only as words ("mitteilen",
# "catalog in" are prose).
_CALL_TO_ACTION = re.compile(
    r"newsletter|abonn|subscri|suscr|cookie|datenschutz|privacy|privatsph|share this"
    r"|\b(log(ged)? in|sign up|teilen|anmelden|eingeloggt|melde dich)\b",
    re.IGNORECASE,
)
# Headings that open what follows an article (English, German, Spanish, French).
_TAIL_HEADING = re.compile(
    r"^(you (may|might) also like|related( (posts|articles|stories))?|more (from|stories|on this)|read more"
    r"|recommended|weitere (artikel|beiträge|nachrichten|themen)|das könnte (sie|dich) auch interessieren"
    r"|lesen sie auch|mehr zum thema|top[- ]themen|meistgelesen|leave a (reply|comment)|kommentare"
    r"|comments?|schreibe(n sie)? einen kommentar|ähnliche (artikel|beiträge)|verwandte artikel"
    r"|auch interessant|lea también|noticias relacionadas|articles? (similaires|connexes))\b",
    re.IGNORECASE,
)
# A tail heading is a heading, or a short line not ending like a sentence: not a sentence that
# starts with the same words ("Related to this, the council voted 5 to 2.").
_TAIL_HEADING_MAX_CHARS = 60


class _Line(NamedTuple):
    heading: bool
    text: str
    prose: bool


class ExtractionError(StageError):
    """A page that cannot become text; `reason` is machine-readable (`binary_body`, ...)."""


def _codec(name: str | None) -> str | None:
    """A charset label as browsers read it (WHATWG Encoding: latin1 and ascii are windows-1252,
    gb2312 is GBK, ...; resiliparse's table), as a Python codec; None for a label neither knows."""
    if not name:
        return None
    label = name.strip().strip("\"'")
    mapped = map_encoding_to_html5(label) or label
    if mapped == "utf-8" and label.lower().replace("_", "-") not in ("utf-8", "utf8", "unicode-1-1-utf-8"):
        try:  # resiliparse answers utf-8 for labels it does not know: unknown is not a declaration
            codecs.lookup(label)
        except LookupError:
            return None
    try:
        codec = codecs.lookup(mapped).name
    except LookupError:
        return None
    return _SUPERSETS.get(codec, codec)


# WHATWG's decoders for these labels are Python's supersets (the extensions real pages use).
_SUPERSETS = {"euc_kr": "cp949", "shift_jis": "cp932", "big5": "big5hkscs", "gbk": "gb18030"}


# Byte order marks, which outrank every declaration (WHATWG Encoding, "decode").
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# `<meta charset=...>` and `<meta http-equiv=Content-Type content="...; charset=...">`, looked for
# in the first 1,024 bytes as the WHATWG prescan does (HTML, "determining the character encoding").
_META_CHARSET = re.compile(rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
META_PRESCAN_BYTES = 1024


# Pages with more invalid bytes than this, per character, are dropped (`invalid_bytes`). thresher's
# bound, as no reference pipeline decodes this way (trafilatura and datatrove re-guess the charset):
# a page of 2,000 characters may lose 20 to a bad copy-paste and still read; past that, words are
# broken throughout. Of ../shared/data's 1,223 HTML pages, 5 have any (1 to 18 characters).
MAX_REPLACEMENT_SHARE = 0.01


class Decoded(NamedTuple):
    text: str
    charset: str
    # Characters that are U+FFFD because their bytes are invalid in `charset`.
    replaced: int
    # A charset was declared, but its decoding was mostly invalid bytes: `charset` is another one
    # that decodes the page cleanly (a page in cp1252 served as UTF-8).
    fallback: bool


def declared_charset(payload: bytes, http_charset: str | None = None) -> str | None:
    """The charset a page without a byte order mark declares, in the WHATWG order: HTTP
    Content-Type, then `<meta>` in the first 1,024 bytes. None when it declares none we know."""
    found = _META_CHARSET.search(payload, 0, META_PRESCAN_BYTES)
    meta = _codec(found.group(1).decode("ascii") if found else None)
    if meta and meta.replace("_", "-").startswith("utf-16"):  # a page that can say so in ASCII is not UTF-16 (WHATWG)
        meta = "utf-8"
    return _codec(http_charset) or meta


def decode_html(payload: bytes, http_charset: str | None = None) -> Decoded:
    """Bytes -> str, as declared (a byte order mark, else `declared_charset`, else UTF-8), never
    silently re-guessed.

    A page whose bytes are partly invalid in its charset is decoded with U+FFFD for the invalid
    bytes, and `replaced` says how many: the extract stage scores the share and drops a page above
    its limit. Only when the invalid bytes outnumber the valid non-ASCII characters (the page is
    not in that charset at all) is another charset tried, UTF-8 then the detected one (uchardet),
    strictly, and `fallback` says so: single-byte charsets decode any bytes, so re-guessing a mostly
    valid UTF-8 page would turn every one of its accented letters into mojibake.
    Raises ExtractionError('binary_body') for bodies with NUL bytes (never in HTML text).
    """
    declared = None
    for bom, name in _BOMS:
        if payload.startswith(bom):
            payload, declared = payload[len(bom) :], name
            break
    else:
        if b"\x00" in payload[:SNIFF_BYTES]:
            raise ExtractionError("binary_body")
        declared = declared_charset(payload, http_charset)
    primary = declared or "utf-8"
    try:
        return Decoded(payload.decode(primary), primary, 0, False)
    except UnicodeDecodeError:
        pass
    text = payload.decode(primary, "replace")
    replaced = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if non_ascii - replaced >= replaced:
        return Decoded(text, primary, replaced, False)
    for other in ("utf-8", _codec(detect_encoding(payload))):
        if other and other != primary:
            try:
                return Decoded(payload.decode(other), other, 0, declared is not None)
            except UnicodeDecodeError:
                continue
    return Decoded(text, primary, replaced, False)


def replacement_share(text: str, replaced: int | None = None) -> float:
    """The share of a text's characters that are U+FFFD (invalid bytes)."""
    if not text:
        return 0.0
    return (text.count("\ufffd") if replaced is None else replaced) / len(text)


# Bounds on what parsing a page may cost, checked before any extractor runs: deterministic (a
# property of the page, never a timer racing the machine's load) and cheap (a regex over the tags,
# a tokenising pass only on the rare page with a very long tag, and one CSS query on the tree
# resiliparse parses anyway). Both costs grow with the square of
# what they bound (bench: `python benchmarks/bench_hostile.py`): resiliparse's main-content walk with
# nesting depth (200,000 nested <div>s: 15 minutes), resiliparse's and lxml's parsers with the
# attributes of one element (40,000: 3 s and 7 s).
# WebKit's and Blink's HTML parsers nest no deeper than 512 (deeper elements become siblings), so
# no browser renders a page deeper than this; the 1,158 evaluation pages of ../shared/data reach 41.
MAX_DEPTH = 512
# thresher's bound (no parser or pipeline publishes one): 1,000 attributes cost ~2 ms to parse;
# the evaluation pages' largest element has fewer than 100.
MAX_ATTRIBUTES = 1000
# Tags as the HTML tokenizer reads them (a value quoted after "=" may hold ">"; a quote anywhere
# else is a character of a name; whitespace is HTML's five ASCII characters, so a no-break space is
# part of a name or value). A tag with more than MAX_ATTRIBUTES attributes is at least twice as many
# characters long: only such long ones are looked at closely.
_TAG_START = re.compile(r"""<[A-Za-z](?:[^>=]++|=[ \t\n\f\r]*+(?:"[^"]*+"|'[^']*+')?)*+""")
_LONG_TAG_CHARS = 2 * MAX_ATTRIBUTES
_ATTRIBUTE = re.compile(r"""[^ \t\n\f\r/>=]++(?:[ \t\n\f\r]*+=[ \t\n\f\r]*+(?:"[^"]*+"|'[^']*+'|[^ \t\n\f\r>]*+))?""")
# Where "<" starts no tag: comments, and the text of the raw-text elements, up to their end tag.
_MARKUP = re.compile(r"<!--|<[A-Za-z]")
_RAW_TEXT_ELEMENTS = ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript")
_RAW_TEXT_END = {name: re.compile(rf"</{name}[ \t\n\f\r/>]", re.IGNORECASE) for name in _RAW_TEXT_ELEMENTS}
_TAG_NAME = re.compile(r"<([A-Za-z][^ \t\n\f\r/>]*)")
_TOO_DEEP = "html" + " > *" * MAX_DEPTH


def _tags(html: str):
    """(start, end) of every start tag, as the HTML tokenizer finds them: comments and the text of
    script, style and the other raw-text elements skipped, quoted attribute values read whole.
    Linear: each step starts where the last one ended."""
    pos = 0
    while found := _MARKUP.search(html, pos):
        if found.group() == "<!--":
            end = html.find("-->", found.end())
            if end < 0:
                return
            pos = end + 3
            continue
        tag = _TAG_START.match(html, found.start())
        yield tag.start(), tag.end()
        pos = tag.end()
        name = _TAG_NAME.match(html, found.start()).group(1).lower()
        if name in _RAW_TEXT_END:
            closing = _RAW_TEXT_END[name].search(html, pos)
            if closing is None:
                return
            pos = closing.end()


def parse_bounded(html: str):
    """The page parsed (resiliparse's HTMLTree, which its extractors take as is; the string itself
    when resiliparse cannot parse it), or ExtractionError('too_complex') when it is nested deeper
    than MAX_DEPTH or has an element with more than MAX_ATTRIBUTES attributes."""
    from resiliparse.parse.html import HTMLParserException, HTMLTree

    # Long tags are rare (22 of 1,223 real pages have one, all inside scripts): only then is the
    # page tokenised, once, front to back, to tell real tags from text that looks like one.
    if any(tag.end() - tag.start() >= _LONG_TAG_CHARS for tag in _TAG_START.finditer(html)):
        for start, end in _tags(html):
            if end - start >= _LONG_TAG_CHARS and len(_ATTRIBUTE.findall(html, start + 1, end)) - 1 > MAX_ATTRIBUTES:
                raise ExtractionError("too_complex")
    try:
        tree = HTMLTree.parse(html)
    except HTMLParserException:  # the extractors' own parse fails alike: the cascade's fallback copes
        return html
    if tree.document is not None and tree.document.query_selector(_TOO_DEEP) is not None:
        raise ExtractionError("too_complex")
    return tree


class Extractor:
    """`Extractor("cascade" | "trafilatura" | "resiliparse")(html) -> text` (empty when nothing found)."""

    METHODS = ("cascade", "trafilatura", "resiliparse", "full")

    def __init__(
        self,
        method: Literal["cascade", "trafilatura", "resiliparse", "full"] = "cascade",
        favor_precision: bool = True,
        include_tables: bool = True,
        max_replacement_share: Share = MAX_REPLACEMENT_SHARE,
    ):
        if method not in self.METHODS:
            raise ValueError(f"unknown extractor {method!r}; choose one of {self.METHODS}")
        self.method = method
        # trafilatura logs a warning per page it gives up on; at crawl scale that is noise, and
        # each such page is already counted (extract:empty_text) and written to errors/.
        logging.getLogger("trafilatura").setLevel(logging.ERROR)
        # FineWeb: Trafilatura(favour_precision=True); tables kept as trafilatura's default.
        self.favor_precision = favor_precision
        self.include_tables = include_tables
        self.max_replacement_share = max_replacement_share

    def __call__(self, html: str, url: str | None = None) -> str:
        """The page's main text; ExtractionError('too_complex') beyond the parsing bounds."""
        tree = parse_bounded(html)
        if self.method in ("resiliparse", "full"):
            from resiliparse.extract.html2text import extract_plain_text

            # full: every visible text block, navigation and boilerplate included (raw crawl text,
            # the negatives of a quality classifier)
            main = self.method == "resiliparse"
            return extract_plain_text(tree, main_content=main, alt_texts=False, list_bullets=False).strip()
        if self.method == "cascade":
            text = self.cascade_text(tree)
            if text is not None:
                return text
        return self._trafilatura(html, url)

    def apply(self, doc: Mapping) -> Decision:
        """The extract stage of a chain: a document's text from its HTML `payload` (WET, JSONL and
        Parquet records come with text). Scores `replacement_share` (U+FFFD, invalid bytes, per
        character) and, for HTML, `charset_fallback`; drops a document above
        `max_replacement_share` (`invalid_bytes`). No text is an error, `empty_text`; a page
        beyond the parsing bounds is one too, `too_complex`."""
        text = doc["text"]
        if text is None:  # WARC: HTML bytes
            decoded = decode_html(doc["payload"], doc.get("charset"))
            share = replacement_share(decoded.text, decoded.replaced)
            scores = {"replacement_share": share, "charset_fallback": float(decoded.fallback)}
            if share > self.max_replacement_share:
                return Decision(False, "invalid_bytes", scores)
            text = self(decoded.text, url=doc["url"])
        else:
            scores = {"replacement_share": replacement_share(text)}
            if scores["replacement_share"] > self.max_replacement_share:
                return Decision(False, "invalid_bytes", scores)
        if not text.strip():
            raise ExtractionError("empty_text")
        return Decision(True, scores=scores, fields={"text": text, "payload": None})

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
    def cascade_text(html) -> str | None:
        """The cascade's own text, or None when the page should go to trafilatura."""
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLParserException

        try:
            # minimal_html keeps <hN> and <a> markup, from which the rules read headings and
            # link density; comments=False and post_meta=False match trafilatura's output, which
            # leaves out comment sections and bylines.
            marked = extract_plain_text(
                html,
                preserve_formatting="minimal_html",
                main_content=True,
                links=True,
                alt_texts=False,
                list_bullets=False,
                comments=False,
                post_meta=False,
                skip_elements=_SKIP_SELECTORS,
            )
        except HTMLParserException:  # malformed input resiliparse gives up on: trafilatura may cope
            return None
        lines = Extractor._kept_lines(marked)
        # Nothing left: resiliparse missed the article, or the page is all links (a listing, a home
        # page). Only trafilatura can tell. A page the rules cut down to a few lines is decided
        # here, though: on real crawl pages (listings, video indexes) sending those to trafilatura
        # too halved the cascade's speed for no measurable gain (BENCHMARKS.md).
        if not lines:
            return None
        start, end = Extractor._densest_prose_region(lines)
        total = sum(len(line.text) for line in lines)
        if total - sum(len(line.text) for line in lines[start:end]) <= MAX_REGION_CUT * total:
            lines = lines[start:end]
        return "\n".join(line.text for line in lines)

    @staticmethod
    def _kept_lines(marked: str) -> list[_Line]:
        """Resiliparse's lines without boilerplate ones."""
        lines: list[tuple[bool, str, bool]] = []  # (heading, text, boilerplate)
        for raw in marked.split("\n"):
            text = _TAG.sub("", raw) if "<" in raw else raw
            if "&" in text:
                text = html_entities.unescape(text)
            text = text.strip()
            if not text:
                continue
            heading = _HEADING.match(raw) is not None
            lines.append((heading, text, Extractor._is_boilerplate_line(raw, text, heading)))
        kept: list[_Line] = []
        for i, (heading, text, boilerplate) in enumerate(lines):
            # A heading right above dropped lines labels a link box ("Unsere Partner", "Neueste
            # Artikel").
            if boilerplate or (heading and i + 1 < len(lines) and lines[i + 1][2]):
                continue
            words = len(_WORD.findall(text))
            prose = not heading and (words >= PROSE_WORDS or (words >= SHORT_PROSE_WORDS and text[-1] in _PROSE_END))
            kept.append(_Line(heading, text, prose))
        # A heading stays only if body text follows it: of two headings in a row (a title over a
        # section heading) only the second stays (keeping both lets more boilerplate through).
        kept = [
            line for i, line in enumerate(kept) if not line.heading or (i + 1 < len(kept) and not kept[i + 1].heading)
        ]
        for i in range(int(TAIL_START * len(kept)), len(kept)):
            line = kept[i]
            if (
                (line.heading or line.text[-1] not in _SENTENCE_END)
                and len(line.text) < _TAIL_HEADING_MAX_CHARS
                and _TAIL_HEADING.match(line.text)
            ):
                return kept[:i]
        return kept

    @staticmethod
    def _is_boilerplate_line(raw: str, text: str, heading: bool) -> bool:
        if "<a" in raw and sum(len(_TAG.sub("", a)) for a in _LINK.findall(raw)) > MAX_LINK_SHARE * len(text):
            return True
        words = len(_WORD.findall(text))
        if words < MIN_LINE_WORDS and text[-1] not in _SENTENCE_END and not heading:
            return True
        if words < MAX_CALL_TO_ACTION_WORDS and _CALL_TO_ACTION.search(text):
            return True
        return words < MAX_COPYRIGHT_LINE_WORDS and bool(_COPYRIGHT.search(text))

    @staticmethod
    def _densest_prose_region(lines: list[_Line]) -> tuple[int, int]:
        """[start, end) of the contiguous lines with the largest prose-minus-rest score (Kadane),
        joined, while the lines between are not much longer than the runs, with the best prose run
        before it and the best one after it (if large enough), then widened upwards over the
        headings just above it (the title). Everything when there is no prose line."""
        scores = [
            0.0 if line.heading else len(line.text) if line.prose else -NON_PROSE_PENALTY * len(line.text)
            for line in lines
        ]
        best, start, end = _best_run(scores, 0, len(lines))
        if best <= 0:
            return 0, len(lines)
        joined = True
        while joined:
            joined = False
            after, after_start, after_end = _best_run(scores, end, len(lines))
            if (
                after > 0
                and after >= MIN_TAIL_RUN_SHARE * best
                and (sum(len(line.text) for line in lines[end:after_start]) <= MAX_GAP_RATIO * (best + after))
            ):
                best, end, joined = best + after, after_end, True
            before, before_start, before_end = _best_run(scores, 0, start)
            if before > 0 and sum(len(line.text) for line in lines[before_end:start]) <= MAX_GAP_RATIO * (
                best + before
            ):
                best, start, joined = best + before, before_start, True
        while start > 0 and lines[start - 1].heading:
            start -= 1
        return start, end


def _best_run(scores: list[float], lo: int, hi: int) -> tuple[float, int, int]:
    """(sum, start, end) of the contiguous scores[lo:hi] with the largest sum (Kadane)."""
    best, run, run_start, start, end = 0.0, 0.0, lo, lo, lo
    for i in range(lo, hi):
        if run <= 0:
            run, run_start = 0.0, i
        run += scores[i]
        if run > best:
            best, start, end = run, run_start, i + 1
    return best, start, end
