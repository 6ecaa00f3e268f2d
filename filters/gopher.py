"""Gopher's heuristic filters (Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights
from Training Gopher", appendix A.1.1 and table A1), computed exactly as datatrove 0.10.1 computes
them (`datatrove/pipeline/filters/gopher_{quality,repetition}_filter.py`), with the same reason
strings, but on `thresher.filters.spacy_words.split_words` instead of spaCy.

Both filters score every signal of a document (datatrove stops at the first failing rule) so that
stored scores can be re-thresholded; `decide` applies the rules in datatrove's order, so the reason
is the one datatrove would give. A threshold set to None switches its rule off (datatrove also
reads 0 as off for these rules; here 0 is a threshold like any other).

Words are split with the document's language (`doc["lang"]`, English when unknown); the thresholds
are Gopher's, which were set for English. The stop words are Gopher's English list; neither the
paper nor datatrove publishes lists for other languages, but FineWeb-2 does, with its own thresholds
per language: the `fineweb2/<lang>` recipes (filters/recipes/fineweb2/, e.g. `fineweb2/deu_Latn`)
pass them (`stop_words=`, `min_alpha_words_ratio=`, ...) for the languages thresher ships them for.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from thresher.contracts.recipe import Count, NonNegative, Share
from thresher.filters.base import Decision, DocumentFilter
from thresher.filters.spacy_words import PUNCTUATION, split_lines, split_paragraphs, split_words

# Gopher's stop words (paper, A.1.1: "at least two of the following English words: the, be, to, of,
# and, that, have, with"); datatrove's STOP_WORDS. Matched case-sensitively, as datatrove does.
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQualityFilter(DocumentFilter):
    """Gopher's quality rules: document length, mean word length, symbol-to-word ratio, bullet and
    ellipsis lines, words with a letter, stop words."""

    name = "gopher_quality"

    def __init__(
        self,
        min_doc_words: Count | None = 50,  # Gopher A.1.1: "fewer than 50 ... words"
        max_doc_words: Count | None = 100_000,  # Gopher A.1.1: "or more than 100,000 words"
        min_avg_word_length: NonNegative | None = 3,  # Gopher A.1.1: "mean word length outside 3 to 10"
        max_avg_word_length: NonNegative | None = 10,
        max_symbol_word_ratio: NonNegative | None = 0.1,  # Gopher A.1.1: "# or ... ratio greater than 0.1"
        max_bullet_lines_ratio: Share | None = 0.9,  # Gopher A.1.1: "more than 90% of lines starting with a bullet"
        max_ellipsis_lines_ratio: Share | None = 0.3,  # Gopher A.1.1: "more than 30% ending with an ellipsis"
        min_alpha_words_ratio: Share | None = 0.8,  # Gopher A.1.1: "80% of words ... at least one alphabetic"
        min_stop_words: Count | None = 2,  # Gopher A.1.1: "at least two of the following English words"
        stop_words: Sequence[str] = GOPHER_STOP_WORDS,
    ):
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = frozenset(stop_words)

    def score(self, doc: Mapping) -> dict[str, float]:
        text = doc["text"]
        words = split_words(text, doc.get("lang"))
        n_words = len(words)
        # Count per distinct word: the per-word tests then run once per vocabulary item.
        counts = Counter(words)
        n_non_symbol = non_symbol_chars = n_alpha = 0
        for word, count in counts.items():
            # a "symbol" is a word made only of punctuation (datatrove's PUNCTUATION_SET); the mean
            # word length and the document length count only the other words
            if not PUNCTUATION.issuperset(word):
                n_non_symbol += count
                non_symbol_chars += count * len(word)
            if any(map(str.isalpha, word)):
                n_alpha += count
        lines = text.splitlines()
        n_lines = len(lines) or 1
        per_word = 1 / n_words if n_words else 0.0
        return {
            "words": float(n_words),
            "non_symbol_words": float(n_non_symbol),
            "avg_word_length": non_symbol_chars / n_non_symbol if n_non_symbol else 0.0,
            "hash_word_ratio": text.count("#") * per_word,
            "ellipsis_word_ratio": (text.count("...") + text.count("…")) * per_word,
            "bullet_lines_ratio": sum(line.lstrip().startswith(("•", "-")) for line in lines) / n_lines,
            "end_ellipsis_lines_ratio": sum(line.rstrip().endswith(("...", "…")) for line in lines) / n_lines,
            "alpha_words_ratio": n_alpha * per_word,
            "stop_words": float(sum(word in counts for word in self.stop_words)),
        }

    def decide(self, scores: Mapping[str, float]) -> Decision:
        # datatrove's order and reason strings; the document length counts non-symbol words
        n = scores["non_symbol_words"]
        if self.min_doc_words is not None and n < self.min_doc_words:
            return Decision(False, "gopher_short_doc")
        if self.max_doc_words is not None and n > self.max_doc_words:
            return Decision(False, "gopher_long_doc")
        avg = scores["avg_word_length"]
        if self.min_avg_word_length is not None and avg < self.min_avg_word_length:
            return Decision(False, "gopher_below_avg_threshold")
        if self.max_avg_word_length is not None and avg > self.max_avg_word_length:
            return Decision(False, "gopher_above_avg_threshold")
        if self.max_symbol_word_ratio is not None:
            if scores["hash_word_ratio"] > self.max_symbol_word_ratio:
                return Decision(False, "gopher_too_many_hashes")
            if scores["ellipsis_word_ratio"] > self.max_symbol_word_ratio:
                return Decision(False, "gopher_too_many_ellipsis")
        if self.max_bullet_lines_ratio is not None and scores["bullet_lines_ratio"] > self.max_bullet_lines_ratio:
            return Decision(False, "gopher_too_many_bullets")
        if (
            self.max_ellipsis_lines_ratio is not None
            and scores["end_ellipsis_lines_ratio"] > self.max_ellipsis_lines_ratio
        ):
            return Decision(False, "gopher_too_many_end_ellipsis")
        if self.min_alpha_words_ratio is not None and scores["alpha_words_ratio"] < self.min_alpha_words_ratio:
            return Decision(False, "gopher_below_alpha_threshold")
        if self.min_stop_words is not None and scores["stop_words"] < self.min_stop_words:
            return Decision(False, "gopher_enough_stop_words")  # sic: datatrove's name for "too few"
        return Decision(True)


def _duplicates(items: list[str]) -> tuple[int, int]:
    """datatrove's find_duplicates: repeated elements (after their first occurrence) and their chars."""
    counts = Counter(items)
    repeated = len(items) - len(counts)
    if not repeated:
        return 0, 0
    return repeated, sum(len(item) * (count - 1) for item, count in counts.items() if count > 1)


# n-gram keys are combined as key * vocabulary + word id while they stay below this; past it, they
# are renumbered 0, 1, ... first (rarely: long n-grams of texts with a large vocabulary)
_MAX_NGRAM_KEY = 2**62


def _ngram_chars(words: list[str], top_ns: set[int], dup_ns: set[int]) -> tuple[dict[int, int], dict[int, int]]:
    """For each n in `top_ns`, datatrove's find_top_duplicate: the characters of the most frequent
    n-gram (words joined by spaces) times its count, the first seen winning ties, as
    Counter.most_common does. For each n in `dup_ns`, datatrove's find_all_duplicate: scanning left
    to right, an n-gram seen before adds its characters (without spaces) and the scan jumps past
    it, so overlapping repeats are not counted twice.

    n-grams are numbered with numpy instead of joined into strings, n = 1, 2, ...: an n-gram can only
    occur twice if the (n-1)-gram it starts with does, so only those positions are sorted, a shrinking
    set (most 5-grams of a text occur once), and once no n-gram repeats, no longer one does. One
    difference from datatrove: it compares the words of n-grams, where datatrove compares their
    concatenation for repeats ("a bc" = "ab c" there).
    """
    top: dict[int, int] = dict.fromkeys(top_ns, 0)
    dup: dict[int, int] = dict.fromkeys(dup_ns, 0)
    m = len(words)
    longest = min(max(top_ns | dup_ns, default=0), m)
    if not longest:
        return top, dup
    index = dict(zip(dict.fromkeys(words), range(m)))
    n_ids = len(index)
    ids = np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=m)
    cum_chars = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=m), out=cum_chars[1:])
    # pos: the positions whose (n-1)-gram occurs more than once, ascending; key: that (n-1)-gram,
    # one integer below `bound`
    pos = np.arange(m)
    key = np.zeros(m, dtype=np.int64)
    bound = first_n = 1
    if longest > 1 and 1 not in top_ns and 1 not in dup_ns:
        # the 1-grams are the words: which of them repeat is a count by id, no sort needed
        pos = np.flatnonzero(np.bincount(ids)[ids] > 1)
        key, bound, first_n = ids[pos], n_ids, 2
    for n in range(first_n, longest + 1):
        if len(pos) < 2:
            break
        if pos[-1] > m - n:  # no n-gram starts there
            cut = int(np.searchsorted(pos, m - n, "right"))
            pos, key = pos[:cut], key[:cut]
        if bound * n_ids > _MAX_NGRAM_KEY:
            renumbered, key = np.unique(key, return_inverse=True)
            bound = len(renumbered)
        key = key * n_ids + ids[pos + (n - 1)]
        bound *= n_ids
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        same = sorted_key[1:] == sorted_key[:-1]
        if not same.any():
            break
        run_start = np.empty(len(key), dtype=bool)
        run_start[0] = True
        np.logical_not(same, out=run_start[1:])
        starts = np.flatnonzero(run_start)
        counts = np.empty(len(starts), dtype=np.int64)  # run lengths (np.diff's wrapper costs more here)
        np.subtract(starts[1:], starts[:-1], out=counts[:-1])
        counts[-1] = len(key) - starts[-1]
        firsts = pos[order[starts]]  # the sort is stable: a run starts at its n-gram's first occurrence
        if n in top_ns:
            best = int(counts.max())
            p = int(firsts[counts == best].min())
            top[n] = best * int(cum_chars[p + n] - cum_chars[p] + n - 1)
        if n in dup_ns:
            first_of = np.empty(len(key), dtype=np.int64)
            first_of[order] = np.repeat(firsts, counts)
            repeats = np.flatnonzero(first_of != pos)
            at = pos[repeats]
            chars = cum_chars[at + n] - cum_chars[at]
            dup[n] = _greedy_repeated_chars(
                key[repeats].tolist(), at.tolist(), first_of[repeats].tolist(), chars.tolist(), n
            )
        repeated = np.empty(len(key), dtype=bool)
        repeated[order] = np.repeat(counts > 1, counts)
        pos, key = pos[repeated], key[repeated]
    else:
        return top, dup
    # from this n on every n-gram occurs once: the top one is the first (duplicates stay 0)
    for k in top_ns:
        if n <= k <= m:
            top[k] = int(cum_chars[k] + k - 1)
    return top, dup


def _greedy_repeated_chars(grams: list[int], positions: list[int], firsts: list[int], chars: list[int], n: int) -> int:
    """find_all_duplicate's scan, walked over the repeats only (first occurrences are never hits):
    a repeat is a hit if an earlier occurrence was visited, i.e. the first occurrence was not
    jumped over by a hit, or another repeat of the same n-gram was visited."""
    visited: set[int] = set()
    hits: list[int] = []
    repeated = next_pos = 0
    for gram, r, f, c in zip(grams, positions, firsts, chars):
        if r < next_pos:
            continue  # jumped over
        last_hit = hits[bisect_right(hits, f) - 1] if hits and hits[0] < f else -n
        if gram in visited or f >= last_hit + n:
            repeated += c
            hits.append(r)
            next_pos = r + n
        else:
            visited.add(gram)
            next_pos = r + 1
    return repeated


class GopherRepetitionFilter(DocumentFilter):
    """Gopher's repetition rules (table A1): duplicated lines and paragraphs, the share of the text
    in the most frequent short n-grams, and in repeated longer n-grams."""

    name = "gopher_repetition"

    def __init__(
        self,
        dup_line_frac: Share | None = 0.3,  # Gopher table A1: duplicate line fraction
        dup_para_frac: Share | None = 0.3,  # duplicate paragraph fraction
        dup_line_char_frac: Share | None = 0.2,  # duplicate line character fraction
        dup_para_char_frac: Share | None = 0.2,  # duplicate paragraph character fraction
        # Gopher table A1: top 2-, 3-, 4-gram character fraction
        top_n_grams: Sequence[tuple[Count, Share]] = ((2, 0.2), (3, 0.18), (4, 0.16)),
        # Gopher table A1: duplicate 5- to 10-gram character fraction
        dup_n_grams: Sequence[tuple[Count, Share]] = (
            (5, 0.15),
            (6, 0.14),
            (7, 0.13),
            (8, 0.12),
            (9, 0.11),
            (10, 0.10),
        ),
    ):
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.top_n_grams = tuple((int(n), float(frac)) for n, frac in top_n_grams)
        self.dup_n_grams = tuple((int(n), float(frac)) for n, frac in dup_n_grams)

    def score(self, doc: Mapping) -> dict[str, float]:
        text = doc["text"]
        n_chars = len(text)
        scores = {"chars": float(n_chars)}
        per_char = 1 / n_chars if n_chars else 0.0
        paragraphs = split_paragraphs(text)
        dup, dup_chars = _duplicates(paragraphs)
        scores["dup_para_frac"] = dup / len(paragraphs)
        scores["dup_para_char_frac"] = dup_chars * per_char
        lines = split_lines(text)
        dup, dup_chars = _duplicates(lines)
        scores["dup_line_frac"] = dup / len(lines)
        scores["dup_line_char_frac"] = dup_chars * per_char
        words = split_words(text, doc.get("lang"))
        top, dup = _ngram_chars(words, {n for n, _ in self.top_n_grams}, {n for n, _ in self.dup_n_grams})
        for n, _ in self.top_n_grams:
            scores[f"top_{n}_gram"] = top[n] * per_char
        for n, _ in self.dup_n_grams:
            scores[f"duplicated_{n}_n_grams"] = dup[n] * per_char
        return scores

    def decide(self, scores: Mapping[str, float]) -> Decision:
        if not scores["chars"]:
            return Decision(False, "empty")
        # datatrove's order: paragraphs, lines, top n-grams, duplicated n-grams
        for name, limit in (
            ("dup_para_frac", self.dup_para_frac),
            ("dup_para_char_frac", self.dup_para_char_frac),
            ("dup_line_frac", self.dup_line_frac),
            ("dup_line_char_frac", self.dup_line_char_frac),
        ):
            if limit is not None and scores[name] > limit:
                return Decision(False, name)
        for n, limit in self.top_n_grams:
            if scores[f"top_{n}_gram"] > limit:
                return Decision(False, f"top_{n}_gram")
        for n, limit in self.dup_n_grams:
            if scores[f"duplicated_{n}_n_grams"] > limit:
                return Decision(False, f"duplicated_{n}_n_grams")
        return Decision(True)
