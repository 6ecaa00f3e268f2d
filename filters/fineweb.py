"""FineWeb's own heuristic rules (Penedo et al. 2024, "The FineWeb Datasets"), exactly as datatrove
0.10.1's FineWebQualityFilter computes them, with the same reason strings and with the defaults that
FineWeb ran (datatrove's examples/fineweb.py uses `FineWebQualityFilter()` as is):

- `line_punct_ratio`: share of (non-blank) lines ending in terminal punctuation, at least 0.12;
- `short_line_ratio`: share of lines of at most 30 characters, at most 0.67;
- `char_dup_ratio`: characters in repeated lines over all non-newline characters, at most 0.01;
- `list_ratio`: newlines per word, at most 0.3 (long lists of short items).

All four signals are always scored (datatrove stops at the first failing rule); `decide` applies
them in datatrove's order. Words are counted (`thresher.filters.spacy_words.count_words`, the number of
`split_words` tokens) with the document's language.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from itertools import repeat

from thresher.contracts.recipe import Count, NonNegative, Share
from thresher.filters.base import Decision, DocumentFilter
from thresher.filters.spacy_words import TERMINAL_PUNCTUATION, count_words


class FineWebQualityFilter(DocumentFilter):
    name = "fineweb_quality"

    def __init__(
        self,
        line_punct_thr: Share = 0.12,  # FineWeb: keep if >= 12% of lines end in punctuation
        short_line_thr: NonNegative = 0.67,  # FineWeb: drop if > 67% of lines are short
        short_line_length: Count = 30,  # FineWeb: "short" is at most 30 characters
        char_duplicates_ratio: Share = 0.01,  # FineWeb's run (datatrove default): <= 1% chars in repeated lines
        new_line_ratio: NonNegative = 0.3,  # FineWeb's run (datatrove default): <= 0.3 newlines per word
    ):
        self.line_punct_thr = line_punct_thr
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio

    def score(self, doc: Mapping) -> dict[str, float]:
        text = doc["text"]
        lines = list(filter(str.strip, text.split("\n")))
        if not lines:
            return {
                "lines": 0.0,
                "line_punct_ratio": 0.0,
                "short_line_ratio": 0.0,
                "char_dup_ratio": 0.0,
                "list_ratio": 0.0,
            }
        n_lines = len(lines)
        counts = Counter(lines)
        # datatrove's find_duplicates: every occurrence of a line after its first counts its characters
        dup_chars = 0
        if len(counts) < n_lines:
            dup_chars = sum(len(line) * (count - 1) for line, count in counts.items() if count > 1)
        # a non-blank line holds a non-space character, so neither denominator below can be zero
        n_words = count_words(text, doc.get("lang"))
        return {
            "lines": float(n_lines),
            # (map over methods: the loops run in C)
            "line_punct_ratio": sum(map(str.endswith, lines, repeat(TERMINAL_PUNCTUATION, n_lines))) / n_lines,
            "short_line_ratio": sum(map(self.short_line_length.__ge__, map(len, lines))) / n_lines,
            "char_dup_ratio": dup_chars / (len(text) - text.count("\n")),
            "list_ratio": text.count("\n") / n_words,
        }

    def decide(self, scores: Mapping[str, float]) -> Decision:
        if not scores["lines"]:
            return Decision(False, "empty")
        if scores["line_punct_ratio"] < self.line_punct_thr:
            return Decision(False, "line_punct_ratio")
        if scores["short_line_ratio"] > self.short_line_thr:
            return Decision(False, "short_line_ratio")
        if scores["char_dup_ratio"] > self.char_duplicates_ratio:
            return Decision(False, "char_dup_ratio")
        if scores["list_ratio"] > self.new_line_ratio:
            return Decision(False, "list_ratio")
        return Decision(True)
