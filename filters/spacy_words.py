"""Fast text splitting shared by the heuristic filters: words, lines, paragraphs, sentences.

Words are the hot spot. datatrove's Gopher, C4 and FineWeb filters split English words with spaCy's
blank English tokenizer (`spacy.blank("en")`, slow as datatrove calls it: BENCHMARKS.md), and the
filters' signals (word counts, mean word length, share of words with a letter, stop words, n-gram
repetition, sentences) depend on exactly which tokens come out: "world." is two tokens, "Mr." one,
"don't" is "do" + "n't", "well-known" is "well" "-" "known", a URL stays whole. `split_words`
reproduces that tokenization in plain Python:

- the text is cut at whitespace (`str.split`, the same `isspace` test spaCy uses); each chunk is
  tokenized by a port of spaCy's algorithm (spaCy 3.8 `Tokenizer._split_affixes`, `_attach_tokens`
  and the special-case pass `_apply_special_cases`): special cases, prefixes, suffixes, URL match,
  infixes, with spaCy's English rules (`spacy/lang/punctuation.py`, `spacy/lang/en/punctuation.py`)
  and exception table (`spacy/lang/tokenizer_exceptions.py`, `spacy/lang/en/tokenizer_exceptions.py`)
  written out below;
- chunks repeat (Zipf), so each chunk's tokens are cached: most chunks of web text are cache hits,
  and a document then costs one `str.split` plus one dict lookup per chunk (speeds, from an empty
  cache and a warm one: BENCHMARKS.md, bench_filters.py).

The tokens are spaCy's on every document of the parity corpus and on 20,000 random chunks made of
the characters the rules care about (`tests/test_filter_parity.py`). The one known difference:
letters of cased scripts are told by `str.isalpha`, `islower` and `isupper`, where spaCy lists the
Latin, Cyrillic and Greek ranges by hand (its ranges for scripts without case are copied below).

Other languages (`lang` not English and not None): spaCy's language-independent rules without the
English exception table (which would split German "im" into "i" + "m"), plus:
- Han, Hiragana and Katakana: one token per character. These scripts put no spaces between words;
  the references use dictionary segmenters (jieba, SudachiPy). A character is the one unit whose
  boundaries are never wrong; n-gram repetition signals become character n-gram signals, and
  counts of words are counts of characters (~1.5x the word count for Chinese), so count
  thresholds must be set per language.
- Thai, Lao, Khmer, Myanmar, Tibetan: one token per run of the script. Their characters are not
  units (vowel signs and tone marks combine with consonants) and without a dictionary no word
  boundary can be placed; the writer's spaces separate phrases, so "words" are phrases here.

Lines, paragraphs and sentences follow the reference filters exactly where they define them:
`split_lines` and `split_paragraphs` are Gopher repetition's splits, `count_sentences` is spaCy's
sentencizer (what datatrove's C4 filter counts with) applied to `split_words` tokens.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import chain, compress, filterfalse
from operator import not_

__all__ = [
    "PUNCTUATION",
    "TERMINAL_PUNCTUATION",
    "count_sentences",
    "count_words",
    "split_lines",
    "split_paragraphs",
    "split_words",
]

# datatrove.utils.text.TERMINAL_PUNCTUATION (datatrove 0.10.1), mirrored so that filters need not
# import datatrove: the sentence-ending characters FineWeb's quality filter looks for at the end of
# a line (Unicode Sentence_Terminal plus fullwidth and halfwidth stops).
TERMINAL_PUNCTUATION = tuple(
    "!.?։؝؞؟۔܀܁܂߹࠷࠹࠽࠾।॥၊။።፧፨᙮᜵᜶។៕៖៙៚᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᭽᭾᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼⹓⹔。꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡"
    "𐩖𐩗𐽕𐽖𐽗𐽘𐽙𐾆𐾇𐾈𐾉𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑥄𑥆𑩂𑩃𑪛𑪜𑱁𑱂𑻷𑻸\U00011f43\U00011f44"
    "𖩮𖩯𖫵𖬷𖬸𖭄𖺘𛲟𝪈"
)
# datatrove.utils.text.PUNCTUATION_SET: a word made only of these is a "symbol" for Gopher quality.
# Its quirks are kept: the fullwidth digit "１" is in it, tab and newline are not, the other C0 and
# C1 control characters are.
PUNCTUATION = frozenset(
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
    + "".join(map(chr, [*range(0, 9), 11, 12, *range(13, 32), *range(127, 160)]))
    + "".join(TERMINAL_PUNCTUATION)
)


# ---------------------------------------------------------------------------------------------
# spaCy's character classes and affix rules (spacy/lang/char_classes.py, spacy/lang/punctuation.py)

# LIST_ICONS: spaCy's hand-made list of Unicode "So" (other symbol) ranges, emoji included. Newer
# emoji (after U+1FA6D) are not in it, so spaCy does not split them off words, and neither do we.
_ICON_RANGES = (
    "\u00a6\u00a9\u00ae\u00b0\u0482\u058d\u058e\u060e\u060f\u06de\u06e9\u06fd\u06fe\u07f6\u09fa"
    "\u0b70\u0bf3-\u0bf8\u0bfa\u0c7f\u0d4f\u0d79\u0f01-\u0f03\u0f13\u0f15-\u0f17\u0f1a-\u0f1f"
    "\u0f34\u0f36\u0f38\u0fbe-\u0fc5\u0fc7-\u0fcc\u0fce\u0fcf\u0fd5-\u0fd8\u109e\u109f"
    "\u1390-\u1399\u1940\u19de-\u19ff\u1b61-\u1b6a\u1b74-\u1b7c\u2100\u2101\u2103-\u2106\u2108"
    "\u2109\u2114\u2116\u2117\u211e-\u2123\u2125\u2127\u2129\u212e\u213a\u213b\u214a\u214c\u214d"
    "\u214f\u218a\u218b\u2195-\u2199\u219c-\u219f\u21a1\u21a2\u21a4\u21a5\u21a7-\u21ad"
    "\u21af-\u21cd\u21d0\u21d1\u21d3\u21d5-\u21f3\u2300-\u2307\u230c-\u231f\u2322-\u2328"
    "\u232b-\u237b\u237d-\u239a\u23b4-\u23db\u23e2-\u2426\u2440-\u244a\u249c-\u24e9\u2500-\u25b6"
    "\u25b8-\u25c0\u25c2-\u25f7\u2600-\u266e\u2670-\u2767\u2794-\u27bf\u2800-\u28ff\u2b00-\u2b2f"
    "\u2b45\u2b46\u2b4d-\u2b73\u2b76-\u2b95\u2b98-\u2bc8\u2bca-\u2bfe\u2ce5-\u2cea\u2e80-\u2e99"
    "\u2e9b-\u2ef3\u2f00-\u2fd5\u2ff0-\u2ffb\u3004\u3012\u3013\u3020\u3036\u3037\u303e\u303f"
    "\u3190\u3191\u3196-\u319f\u31c0-\u31e3\u3200-\u321e\u322a-\u3247\u3250\u3260-\u327f"
    "\u328a-\u32b0\u32c0-\u32fe\u3300-\u33ff\u4dc0-\u4dff\ua490-\ua4c6\ua828-\ua82b\ua836\ua837"
    "\ua839\uaa77-\uaa79\ufdfd\uffe4\uffe8\uffed\uffee\ufffc\ufffd\U00010137-\U0001013f"
    "\U00010179-\U00010189\U0001018c-\U0001018e\U00010190-\U0001019b\U000101a0"
    "\U000101d0-\U000101fc\U00010877\U00010878\U00010ac8\U0001173f\U00016b3c-\U00016b3f\U00016b45"
    "\U0001bc9c\U0001d000-\U0001d0f5\U0001d100-\U0001d126\U0001d129-\U0001d164"
    "\U0001d16a-\U0001d16c\U0001d183\U0001d184\U0001d18c-\U0001d1a9\U0001d1ae-\U0001d1e8"
    "\U0001d200-\U0001d241\U0001d245\U0001d300-\U0001d356\U0001d800-\U0001d9ff"
    "\U0001da37-\U0001da3a\U0001da6d-\U0001da74\U0001da76-\U0001da83\U0001da85\U0001da86"
    "\U0001ecac\U0001f000-\U0001f02b\U0001f030-\U0001f093\U0001f0a0-\U0001f0ae"
    "\U0001f0b1-\U0001f0bf\U0001f0c1-\U0001f0cf\U0001f0d1-\U0001f0f5\U0001f110-\U0001f16b"
    "\U0001f170-\U0001f1ac\U0001f1e6-\U0001f202\U0001f210-\U0001f23b\U0001f240-\U0001f248"
    "\U0001f250\U0001f251\U0001f260-\U0001f265\U0001f300-\U0001f3fa\U0001f400-\U0001f6d4"
    "\U0001f6e0-\U0001f6ec\U0001f6f0-\U0001f6f9\U0001f700-\U0001f773\U0001f780-\U0001f7d8"
    "\U0001f800-\U0001f80b\U0001f810-\U0001f847\U0001f850-\U0001f859\U0001f860-\U0001f887"
    "\U0001f890-\U0001f8ad\U0001f900-\U0001f90b\U0001f910-\U0001f93e\U0001f940-\U0001f970"
    "\U0001f973-\U0001f976\U0001f97a\U0001f97c-\U0001f9a2\U0001f9b0-\U0001f9b9"
    "\U0001f9c0-\U0001f9c2\U0001f9d0-\U0001f9ff\U0001fa60-\U0001fa6d"
)


def _expand_ranges(ranges: str) -> frozenset[str]:
    chars, i = set(), 0
    while i < len(ranges):
        if i + 2 < len(ranges) and ranges[i + 1] == "-":
            chars.update(map(chr, range(ord(ranges[i]), ord(ranges[i + 2]) + 1)))
            i += 3
        else:
            chars.add(ranges[i])
            i += 1
    return frozenset(chars)


_ICONS = _expand_ranges(_ICON_RANGES)
# LIST_PUNCT (one character each; its two-character "……" is handled where it matters, in suffixes)
_PUNCT = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪"
# LIST_QUOTES, which is also CONCAT_QUOTES
_QUOTES = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉〈〉⟦⟧"
_CURRENCIES = ("$ £ € ¥ ฿ US$ C$ A$ ₽ ﷼ ₴ ₠ ₡ ₢ ₣ ₤ ₥ ₦ ₧ ₨ ₩ ₪ ₫ € ₭ ₮ ₯ ₰ ₱ ₲ ₳ ₴ ₵ ₶ ₷ ₸ ₹ ₺ ₻ ₼ ₽ ₾ ₿").split()
# UNITS, including spaCy's run-together "тбكم" (a missing separator in its source)
_UNITS = (
    "km km² km³ m m² m³ dm dm² dm³ cm cm² cm³ mm mm² mm³ ha µm nm yd in ft kg g mg µg t lb oz m/s "
    "km/h kmh mph hPa Pa mbar mb MB kb KB gb GB tb TB T G M K % км км² км³ м м² м³ дм дм² дм³ см "
    "см² см³ мм мм² мм³ нм кг г мг м/с км/ч кПа Па мбар Кб КБ кб Мб МБ мб Гб ГБ гб Тб ТБ тбكم كم² "
    "كم³ م م² م³ سم سم² سم³ مم مم² مم³ كم غرام جرام جم كغ ملغ كوب اكواب"
).split()
_HYPHENS = ("-", "–", "—", "--", "---", "——", "~")  # in spaCy's alternation order
_DIGITS = frozenset("0123456789")  # spaCy's rules say [0-9]: ASCII digits only

# TOKENIZER_PREFIXES: "§ % = — –", "+" unless a digit follows, LIST_PUNCT, "..", "…", quotes,
# currencies, icons. Only ".." runs and "US$"/"C$"/"A$" are longer than one character.
_PREFIX_CHARS = frozenset("§%=—–" + _PUNCT + _QUOTES) | frozenset(c for c in _CURRENCIES if len(c) == 1) | _ICONS
_PREFIX_CURRENCIES = tuple(c for c in _CURRENCIES if len(c) > 1)
# TOKENIZER_SUFFIXES that are one character whatever precedes them.
_SUFFIX_CHARS = frozenset(_PUNCT + _QUOTES + "—–") | _ICONS
_SUFFIX_POSSESSIVES = ("'s", "'S", "’s", "’S")
# r"(?<=[0-9])(?:currency)$" and r"(?<=[0-9])(?:unit)$"; searched for leftmost, so the longest wins
_DIGIT_SUFFIX = re.compile("[0-9](?:" + "|".join(map(re.escape, set(_CURRENCIES) | set(_UNITS))) + r")\Z").search
_LONGEST_DIGIT_SUFFIX = max(map(len, _CURRENCIES + _UNITS))
_DIGIT_SUFFIX_ENDS = frozenset(suffix[-1] for suffix in _CURRENCIES + _UNITS)
# r"(?<=[0-9{al}{e}{p}(?:{q})])\." splits a final period after a digit, a lower-case letter, one of
# %²-+, or any character of the PUNCT alternation string, the literal "(?:" and ")", or a quote.
_PERIOD_AFTER = frozenset("0123456789%²-+|(?:)" + _PUNCT + _QUOTES)
_INFIX_CANDIDATE = re.compile("[" + re.escape(".…+-*^,–—~:<>=/") + _ICON_RANGES + "]")


# spaCy's _uncased: whole blocks of scripts without case (marks and digits included) that count as
# letters, lower-case and upper-case letters alike.
_UNCASED = re.compile(
    "[\u1200-\u137f\u0980-\u09ff\u0591-\u05f4\ufb1d-\ufb4f\u0620-\u064a\u066e-\u06d5\u06e5-\u06ff"
    "\u0750-\u077f\u08a0-\u08bd\ufb50-\ufbb1\ufbd3-\ufd3d\ufd50-\ufdc7\ufdf0-\ufdfb\ufe70-\ufefc"
    "\U0001ee00-\U0001eebb\u0d80-\u0dff\u0900-\u097f\u0c80-\u0cff\u0b80-\u0bff\u0c00-\u0c7f\uac00-\ud7af"
    "\u1100-\u11ff\u3040-\u309f\u30a0-\u30ffー\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df"
    "\U0002a700-\U0002ebef"
    "\u2e80-\u2fdf\u2ff0-\u303f\u31c0-\u31ef\u3200-\u33ff\uf900-\ufaff\ufe30-\ufe4f\U0001f200-\U0001f2ff"
    "\U0002f800-\U0002fa1f]"
).match


def _alpha(c: str) -> bool:  # spaCy's ALPHA
    return c.isalpha() or _UNCASED(c) is not None


def _lower(c: str) -> bool:  # spaCy's ALPHA_LOWER: lower-case letters and uncased scripts
    return (c.isalpha() and not c.isupper()) or _UNCASED(c) is not None


def _upper(c: str) -> bool:  # spaCy's ALPHA_UPPER: upper-case letters and uncased scripts
    return (c.isalpha() and not c.islower()) or _UNCASED(c) is not None


def _find_prefix(s: str, start: int = 0, end: int | None = None) -> int:
    """Length of spaCy's prefix match at the start of s[start:end] (0: none)."""
    end = len(s) if end is None else end
    c = s[start]
    nxt = s[start + 1] if start + 1 < end else ""
    if c == "+":  # r"\+(?![0-9])"
        return 0 if nxt in _DIGITS else 1
    if c == "." and nxt == ".":  # r"\.\.+"
        j = start + 2
        while j < end and s[j] == ".":
            j += 1
        return j - start
    if c in _PREFIX_CHARS:
        return 1
    for cur in _PREFIX_CURRENCIES:
        if s.startswith(cur, start, end):
            return len(cur)
    return 0


def _find_suffix(s: str, start: int = 0, end: int | None = None) -> int:
    """Length of spaCy's suffix match at the end of s[start:end] (0: none). spaCy searches
    "(alt1)$|(alt2)$|..." and the leftmost match wins: the longest matching suffix."""
    end = len(s) if end is None else end
    n = end - start
    last = s[end - 1]
    prev = s[end - 2] if n > 1 else ""
    best = 1 if last in _SUFFIX_CHARS else 0
    if last == ".":
        if prev == ".":  # r"\.\.+$": nothing else ends in ".." and is longer
            j = end - 2
            while j > start and s[j - 1] == ".":
                j -= 1
            return end - j
        if prev and (prev in _PERIOD_AFTER or _lower(prev)):
            best = 1
        elif n > 2 and _upper(prev) and _upper(s[end - 3]):  # r"(?<=[{au}][{au}])\."
            best = 1
        elif n > 2 and prev in "FCK" and s[end - 3] == "°":  # r"(?<=°[FfCcKk])\."
            best = 1
    elif last == "…" and prev == "…":
        best = 2
    elif last == "+" and prev and prev in _DIGITS:
        best = 1
    if n > 1 and s[end - 2 : end] in _SUFFIX_POSSESSIVES:
        best = max(best, 2)
    if last not in _DIGIT_SUFFIX_ENDS:  # the common case, decided without the regex
        return best
    m = _DIGIT_SUFFIX(s, max(start, end - _LONGEST_DIGIT_SUFFIX - 1), end)
    return max(best, m.end() - m.start() - 1) if m else best


def _infix_at(s: str, i: int) -> int:
    """End of the infix match starting at `i`, trying spaCy's English infixes in order; 0 if none."""
    c = s[i]
    n = len(s)
    prev = s[i - 1] if i else ""
    nxt = s[i + 1] if i + 1 < n else ""
    if c == "." and nxt == ".":  # LIST_ELLIPSES r"\.\.+"
        j = i + 2
        while j < n and s[j] == ".":
            j += 1
        return j
    if c == "…" or c in _ICONS:
        return i + 1
    if c in "+-*^" and prev in _DIGITS and nxt and (nxt in _DIGITS or nxt == "-"):
        return i + 1
    if c == "." and prev and nxt and (_lower(prev) or prev in _QUOTES) and (_upper(nxt) or nxt in _QUOTES):
        return i + 1
    if c == "," and prev and nxt and _alpha(prev) and _alpha(nxt):
        return i + 1
    if prev and (prev in _DIGITS or _alpha(prev)):
        for h in _HYPHENS:
            end = i + len(h)
            if s.startswith(h, i) and end < n and _alpha(s[end]):
                return end
        if c in ":<>=/" and nxt and _alpha(nxt):
            return i + 1
    return 0


def _split_infixes(s: str) -> list[str]:
    tokens, start, pos = [], 0, 0
    while (m := _INFIX_CANDIDATE.search(s, pos)) is not None:
        i = m.start()
        end = _infix_at(s, i)
        if not end:
            pos = i + 1
            continue
        pos = end
        if i == 0:  # spaCy skips an infix at the very start: it stays glued to what follows
            continue
        if i != start:
            tokens.append(s[start:i])
        tokens.append(s[i:end])
        start = end
    if start < len(s):
        tokens.append(s[start:])
    return tokens


# spaCy's URL_PATTERN (spacy/lang/tokenizer_exceptions.py, after Diego Perini's, MIT): a chunk that
# is a URL once its affixes are off is one token. Its top-level domain must be ALPHA_LOWER letters,
# which a regex class cannot say here: the group takes any run and `_url_match` checks it.
_URL = re.compile(
    r"^"
    r"(?:(?:[\w\+\-\.]{2,})://)?"
    r"(?:\S+(?::\S*)?@)?"
    r"(?:"
    r"(?!(?:10|127)(?:\.\d{1,3}){3})"
    r"(?!(?:169\.254|192\.168)(?:\.\d{1,3}){2})"
    r"(?!172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{1,3}){2})"
    r"(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])"
    r"(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}"
    r"(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))"
    r"|"
    r"(?:(?:[A-Za-z0-9\u00a1-\uffff][A-Za-z0-9\u00a1-\uffff_-]{0,62})?[A-Za-z0-9\u00a1-\uffff]\.)+"
    r"(?P<tld>[^\s.:/?#]{2,63})"
    r")"
    r"(?::\d{2,5})?"
    r"(?:[/?#]\S*)?"
    r"$"
).match


def _url_match(s: str) -> bool:
    m = _URL(s)
    return m is not None and (m["tld"] is None or all(map(_lower, m["tld"])))


# ---------------------------------------------------------------------------------------------
# spaCy's tokenizer exceptions ("special cases"): chunk -> its tokens.

_EMOTICONS = r"""
:) :-) :)) :-)) :))) :-))) (: (-: =) (= :] :-] [: [-: [= =] :o) (o: :} :-} 8) 8-) (-8 ;) ;-) (; (-;
:( :-( :(( :-(( :((( :-((( ): )-: =( >:( :') :'-) :'( :'-( :/ :-/ =/ =| :| :-| ]= =[ :1 :P :-P :p
:-p :O :-O :o :-o :0 :-0 :() >:o :* :-* :3 :-3 =3 :> :-> :X :-X :x :-x :D :-D ;D ;-D =D xD XD xDD
XDD 8D 8-D ^_^ ^__^ ^___^ >.< >.> <.< ._. ;_; -_- -__- v.v V.V v_v V_V o_o o_O O_o O_O 0_o o_0 0_0
o.O O.o O.O o.o 0.0 o.0 0.o @_@ <3 <33 <333 </3 (^_^) (-_-) (._.) (>_<) (*_*) (¬_¬) ಠ_ಠ ಠ︵ಠ (ಠ_ಠ)
¯\(ツ)/¯ (╯°□°）╯︵┻━┻ ><(((*>
""".split()


def _base_exceptions() -> dict[str, tuple[str, ...]]:
    """spacy/lang/tokenizer_exceptions.py BASE_EXCEPTIONS: shared by every language."""
    exc = {}
    singles = [" ", "\t", "\\t", "\n", "\\n", "\u2014", "\u00a0", "'", '\\")', "<space>", "''", "C++"]
    singles += [c + "." for c in "abcdefghijklmnopqrstuvwxyzäöü"] + _EMOTICONS
    for orth in singles:
        exc[orth] = (orth,)
    for u in "cfkCFK":
        exc[f"°{u}."] = ("°", u, ".")
    return exc


def _english_exceptions() -> dict[str, tuple[str, ...]]:
    """spacy/lang/en/tokenizer_exceptions.py, generated the way spaCy generates it."""
    exc: dict[str, tuple[str, ...]] = {}

    def add(*pieces: str) -> None:
        exc["".join(pieces)] = pieces

    def cased(word: str) -> tuple[str, str]:
        return word, word.title()

    for orth in cased("i"):
        add(orth, "'m"), add(orth, "m"), add(orth, "'m", "a"), add(orth, "m", "a")
    would_will = [("'ll",), ("ll",), ("'ll", "'ve"), ("ll", "ve"), ("'d",), ("d",), ("'d", "'ve"), ("d", "ve")]
    for pron in ["i", "you", "he", "she", "it", "we", "they"]:
        for orth in cased(pron):
            for tail in would_will:
                add(orth, *tail)
    for pron in ["i", "you", "we", "they"]:
        for orth in cased(pron):
            add(orth, "'ve"), add(orth, "ve")
    for pron in ["you", "we", "they"]:
        for orth in cased(pron):
            add(orth, "'re"), add(orth, "re")
    for pron in ["he", "she", "it"]:
        for orth in cased(pron):
            add(orth, "'s"), add(orth, "s")
    # W-words etc.: singular ones take 's, plural ones 're and 've, the rest all of them
    for word, number in [
        ("who", None),
        ("what", None),
        ("when", None),
        ("where", None),
        ("why", None),
        ("how", None),
        ("there", None),
        ("that", "sing"),
        ("this", "sing"),
        ("these", "plur"),
        ("those", "plur"),
    ]:
        for orth in cased(word):
            if number != "plur":
                add(orth, "'s"), add(orth, "s")
            add(orth, "'ll"), add(orth, "ll"), add(orth, "'ll", "'ve"), add(orth, "ll", "ve")
            if number != "sing":
                add(orth, "'re"), add(orth, "re"), add(orth, "'ve"), add(orth, "ve")
            add(orth, "'d"), add(orth, "d"), add(orth, "'d", "'ve"), add(orth, "d", "ve")
    for verb in [
        "ca",
        "could",
        "do",
        "does",
        "did",
        "had",
        "may",
        "might",
        "must",
        "need",
        "ought",
        "sha",
        "should",
        "wo",
        "would",
    ]:
        for orth in cased(verb):
            add(orth, "n't"), add(orth, "nt"), add(orth, "n't", "'ve"), add(orth, "nt", "ve")
    for verb in ["could", "might", "must", "should", "would"]:
        for orth in cased(verb):
            add(orth, "'ve"), add(orth, "ve")
    for verb in ["ai", "are", "is", "was", "were", "have", "has", "dare"]:
        for orth in cased(verb):
            add(orth, "n't"), add(orth, "nt")
    for word in ["doin", "goin", "nothin", "nuthin", "ol", "somethin"]:
        for orth in cased(word):
            add(orth), add(orth + "'")
    for word in ["em", "ll", "nuff"]:
        add(word), add("'" + word)
    for h in range(1, 13):
        for period in ["a.m.", "am", "p.m.", "pm"]:
            add(str(h), period)
    for pieces in [
        ("y'", "all"),
        ("y", "all"),
        ("how", "'d", "'y"),
        ("How", "'d", "'y"),
        ("not", "'ve"),
        ("not", "ve"),
        ("Not", "'ve"),
        ("Not", "ve"),
        ("can", "not"),
        ("Can", "not"),
        ("gon", "na"),
        ("Gon", "na"),
        ("got", "ta"),
        ("Got", "ta"),
        ("let", "'s"),
        ("Let", "'s"),
        ("c'm", "on"),
        ("C'm", "on"),
    ]:
        add(*pieces)
    singles = """
        'S 's \u2018S \u2018s and/or w/o 're 'Cause 'cause 'cos 'Cos 'coz 'Coz 'cuz 'Cuz 'bout ma'am Ma'am
        o'clock O'clock lovin' Lovin' lovin Lovin havin' Havin' havin Havin doin' Doin' doin Doin goin'
        Goin' goin Goin Mt. Ak. Ala. Apr. Ariz. Ark. Aug. Calif. Colo. Conn. Dec. Del. Feb. Fla. Ga. Ia.
        Id. Ill. Ind. Jan. Jul. Jun. Kan. Kans. Ky. La. Mar. Mass. Mich. Minn. Miss. N.C. N.D. N.H. N.J.
        N.M. N.Y. Neb. Nebr. Nev. Nov. Oct. Okla. Ore. Pa. S.C. Sep. Sept. Tenn. Va. Wash. Wis.
        'd a.m. Adm. Bros. co. Co. Corp. D.C. Dr. e.g. E.g. E.G. Gen. Gov. i.e. I.e. I.E. Inc. Jr. Ltd.
        Md. Messrs. Mo. Mont. Mr. Mrs. Ms. p.m. Ph.D. Prof. Rep. Rev. Sen. St. vs. v.s.
    """
    for orth in singles.split():
        add(orth)
    # contractions without apostrophe that are ordinary English words
    for word in [
        "Ill",
        "ill",
        "Its",
        "its",
        "Hell",
        "hell",
        "Shell",
        "shell",
        "Shed",
        "shed",
        "were",
        "Were",
        "Well",
        "well",
        "Whore",
        "whore",
    ]:
        exc.pop(word, None)
    return exc


def _with_curly_apostrophes(exc: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """spaCy's expand_exc(exc, "'", "’"): every entry with ' also exists with ’."""
    out = dict(exc)
    for orth, pieces in exc.items():
        if "'" in orth:
            out[orth.replace("'", "’")] = tuple(p.replace("'", "’") for p in pieces)
    return out


ENGLISH_EXCEPTIONS = _with_curly_apostrophes({**_base_exceptions(), **_english_exceptions()})
BASE_EXCEPTIONS = _with_curly_apostrophes(_base_exceptions())


def _has_infix(s: str) -> bool:
    return any(_infix_at(s, m.start()) for m in _INFIX_CANDIDATE.finditer(s))


class _ChunkTokenizer:
    """spaCy's per-chunk algorithm (Tokenizer._split_affixes, _attach_tokens, and the special-case
    pass _apply_special_cases) with a chunk cache."""

    # A bounded cache: web text has a long tail of one-off chunks (URLs, numbers); clearing it when
    # full keeps memory at ~30 MB and costs a few misses while the frequent chunks come back.
    max_cache = 200_000

    def __init__(self, specials: dict[str, tuple[str, ...]]):
        self.specials = specials
        self.longest_special = max(map(len, specials), default=0)
        self.cache: dict[str, tuple[str, ...]] = dict(specials)
        # spaCy's second pass: a special case that its own affix rules would split ("z." -> "z" ".")
        # is found again as that token sequence inside a chunk ("z.B." -> "z" "." "B.") and merged.
        self.patterns: dict[tuple[str, ...], str] = {}
        if specials:
            plain = _ChunkTokenizer({})
            self.patterns = {
                plain.tokenize(orth): orth
                for orth in specials
                if not any(c.isspace() for c in orth) and (_find_prefix(orth) or _find_suffix(orth) or _has_infix(orth))
            }
        # first token -> lengths of the patterns starting with it: most tokens start none
        self.pattern_lengths: dict[str, list[int]] = {}
        for pattern in self.patterns:
            self.pattern_lengths.setdefault(pattern[0], []).append(len(pattern))

    def tokenize(self, string: str) -> tuple[str, ...]:
        specials = self.specials
        if string.isalpha() and string not in specials:
            return (string,)  # no affix or infix rule applies to letters only
        head, last = string[:-1], string[-1]
        if (
            head.isalpha()
            and head not in specials
            and (last in _SUFFIX_CHARS or (last == "." and _find_suffix(string)))
        ):
            # a word and its punctuation ("world,"): what the loop below finds, in one step; of the
            # special-case patterns, only one of exactly these two tokens can change them
            orth = self.patterns.get((head, last))
            return (head, last) if orth is None else specials[orth]
        if string not in specials:
            # more shapes of web text that the loop below would split in several steps
            first = string[0]
            if first in _PREFIX_CHARS:  # a one-character prefix before a word ("(word", "«word»,")
                core = string[1:]
                if core.isalpha():  # the loop strips the prefix and finds no suffix on letters
                    return tuple(self._merge_specials([first, *specials.get(core, (core,))]))
                core = string[1:-1]
                if core.isalpha() and last in _SUFFIX_CHARS and head not in specials and string[1:] not in specials:
                    # prefix and suffix come off together, then the word (which may be special)
                    return tuple(self._merge_specials([first, *specials.get(core, (core,)), last]))
            elif "-" in string:  # words joined by single hyphens ("well-known", "Val-de-Travers,")
                word, end = string, ""
                if last in _SUFFIX_CHARS or (last == "." and _find_suffix(string)):
                    word, end = head, last
                pieces = word.split("-")
                if len(pieces) > 1 and all(map(str.isalpha, pieces)) and word not in specials:
                    # no affix on letters; no URL without a dot; each hyphen between letters an infix
                    tokens = [pieces[0]]
                    for piece in pieces[1:]:
                        tokens += ("-", piece)
                    if end:
                        tokens.append(end)
                    return tuple(self._merge_specials(tokens))
        # The affix loop works on string[start:end] and slices only what it looks up, so that a
        # long run of punctuation costs linear time, not quadratic.
        longest = self.longest_special
        prefixes: list[str] = []
        suffixes: list[str] = []
        start, end = 0, len(string)
        last_size = 0
        while start < end and end - start != last_size:
            if end - start <= longest and string[start:end] in specials:
                break
            last_size = end - start
            pre_len = _find_prefix(string, start, end)
            if pre_len:
                rest = end - start - pre_len
                if rest and rest <= longest and string[start + pre_len : end] in specials:
                    prefixes.append(string[start : start + pre_len])
                    start += pre_len
                    break
            suf_len = _find_suffix(string, start + pre_len, end) if end > start + pre_len else 0
            if suf_len:
                rest = end - start - suf_len
                if rest and rest <= longest and string[start : end - suf_len] in specials:
                    suffixes.append(string[end - suf_len : end])
                    end -= suf_len
                    break
            if pre_len and suf_len and pre_len + suf_len <= end - start:
                prefixes.append(string[start : start + pre_len])
                suffixes.append(string[end - suf_len : end])
                start += pre_len
                end -= suf_len
            elif pre_len:
                prefixes.append(string[start : start + pre_len])
                start += pre_len
            elif suf_len:
                suffixes.append(string[end - suf_len : end])
                end -= suf_len
        tokens = prefixes
        if start < end:
            string = string[start:end]
            if string in specials:
                tokens.extend(specials[string])
            elif _url_match(string):
                tokens.append(string)
            else:
                tokens.extend(_split_infixes(string))
        tokens.extend(reversed(suffixes))
        if len(tokens) > 1:
            tokens = self._merge_specials(tokens)
        return tuple(tokens)

    def _merge_specials(self, tokens: list[str]) -> list[str]:
        if self.pattern_lengths.keys().isdisjoint(tokens):
            return tokens  # the common case: no token starts a pattern
        n = len(tokens)
        matches = [
            (length, start)
            for start, token in enumerate(tokens)
            for length in self.pattern_lengths.get(token, ())
            if start + length <= n and tuple(tokens[start : start + length]) in self.patterns
        ]
        if not matches:
            return tokens
        # spaCy's _filter_special_spans: longest first (then leftmost), skipping a match whose first
        # or last token is already taken
        kept, taken = [], set()
        for length, start in sorted(matches, key=lambda m: (-m[0], m[1])):
            if start not in taken and start + length - 1 not in taken:
                kept.append((start, length))
            taken.update(range(start, start + length))
        merged, i = [], 0
        for start, length in sorted(kept):
            merged += tokens[i:start]
            merged += self.specials[self.patterns[tuple(tokens[start : start + length])]]
            i = start + length
        return merged + tokens[i:]

    def parts(self, text: str) -> list[tuple[str, ...]]:
        """The tokens of each whitespace-separated chunk of `text`, in order."""
        chunks = text.split()
        cache = self.cache
        parts = list(map(cache.get, chunks))
        if None in parts:
            # the new chunks, each once, picked in C rather than by a loop over all (no chunk has
            # zero tokens, so only a miss is falsy)
            new = set(compress(chunks, map(not_, parts)))
            if len(cache) > self.max_cache:
                cache.clear()
                cache.update(self.specials)
                new = set(chunks).difference(cache)
            # every special case is in the cache, so a new chunk of letters only is one token
            # (zip of one iterable gives 1-tuples)
            words = list(filter(str.isalpha, new))
            cache.update(zip(words, zip(words)))
            others = list(filterfalse(str.isalpha, new))
            cache.update(zip(others, map(self.tokenize, others)))
            parts = list(map(cache.__getitem__, chunks))
        return parts

    def split(self, text: str) -> list[str]:
        return list(chain.from_iterable(self.parts(text)))

    def count(self, text: str) -> int:
        return sum(map(len, self.parts(text)))


_ENGLISH = _ChunkTokenizer(ENGLISH_EXCEPTIONS)
_OTHER = _ChunkTokenizer(BASE_EXCEPTIONS)

# Scripts written without spaces between words (see the module docstring).
_HAN_KANA = (
    "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
_SOUTHEAST_ASIAN = "\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff"
_SPACELESS = re.compile(f"([{_HAN_KANA}]|[{_SOUTHEAST_ASIAN}]+)")


def split_words(text: str, lang: str | None = None) -> list[str]:
    """Words as datatrove's filters see them (spaCy's tokens, whitespace dropped); see module doc.
    An unknown language (None) is English, as in datatrove's filters."""
    if lang is None or lang == "en":
        return _ENGLISH.split(text)
    if _SPACELESS.search(text) is None:
        return _OTHER.split(text)
    # re.split with a group alternates [text, spaceless token, text, spaceless token, ..., text]
    pieces = _SPACELESS.split(text)
    words: list[str] = []
    for i, piece in enumerate(pieces):
        if i % 2:
            words.append(piece)
        elif piece:
            words += _OTHER.split(piece)
    return words


def count_words(text: str, lang: str | None = None) -> int:
    """`len(split_words(text, lang))`, without building the list of words."""
    if lang is None or lang == "en":
        return _ENGLISH.count(text)
    if _SPACELESS.search(text) is None:
        return _OTHER.count(text)
    return len(split_words(text, lang))


# spaCy's Sentencizer.default_punct_chars: a token made of exactly one of these ends a sentence.
_SENTENCE_ENDS = frozenset(
    "!.?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？"
    "𐩖𐩗𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑩂𑩃𑪛𑪜𑱁𑱂𖩮𖩯𖫵𖬷𖬸𖭄𛲟𝪈｡。"
)


def _is_punct(token: str) -> bool:
    # spaCy's Token.is_punct: every character is in a Unicode punctuation category
    return all(unicodedata.category(c)[0] == "P" for c in token)


_ANY_SENTENCE_END = re.compile("[" + re.escape("".join(sorted(_SENTENCE_ENDS))) + "]").search
_WHITESPACE_RUNS = re.compile(r"(\s+)")


def count_sentences(text: str, lang: str | None = None) -> int:
    """Sentences in `text` as spaCy's sentencizer finds them, which is how datatrove's C4 filter
    counts (TFDS's C4 used NLTK's Punkt; the two differ mainly on abbreviations, which the
    tokenizer's exception table keeps whole here). A sentence ends at a token that is one of the
    sentence-ending characters; punctuation right after it ('"', ")") stays in that sentence. Like
    spaCy, a run of whitespace other than one plain space is a token of its own (not punctuation),
    so it starts a sentence after an end mark.
    """
    if not text:
        return 0
    if _ANY_SENTENCE_END(text) is None:
        return 1
    # With single spaces only (the common case) there are no whitespace tokens to look for.
    single_spaces = " ".join(text.split()) == text
    count = 1
    seen_end = False
    for i, piece in enumerate((text,) if single_spaces else _WHITESPACE_RUNS.split(text)):
        if i % 2:
            if seen_end and piece != " ":
                count += 1
                seen_end = False
            continue
        for token in split_words(piece, lang):
            if token in _SENTENCE_ENDS:
                seen_end = True
            elif seen_end and not _is_punct(token):
                count += 1
                seen_end = False
    return count


def split_lines(text: str) -> list[str]:
    """Gopher repetition's lines: split at runs of newlines (a leading newline gives an empty line)."""
    # re.split("\n+", text), several times faster: inside the text, the empty pieces of a plain
    # split are the runs of newlines
    lines = text.split("\n")
    if len(lines) < 3:
        return lines
    return [lines[0], *filter(None, lines[1:-1]), lines[-1]]


def split_paragraphs(text: str) -> list[str]:
    """Gopher repetition's paragraphs: the stripped text split at blank lines."""
    # re.split(r"\n{2,}", text.strip()), several times faster: splitting at "\n\n" leaves the empty
    # pieces of a longer run, and its odd newline at the start of the next paragraph
    text = text.strip()
    if "\n\n\n" not in text:
        return text.split("\n\n")
    return [p[1:] if p[0] == "\n" else p for p in text.split("\n\n") if p]
