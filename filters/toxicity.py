"""Toxicity filters: C4's bad-words rule, and a fastText classifier hook.

`BadWordsFilter` matches the word list shipped in the `better_profanity` package
(`profanity_wordlist.txt`, 916 English entries derived from the "List of Dirty, Naughty, Obscene and
Otherwise Bad Words" that C4 used) on the lower-cased text, on word boundaries, as C4 does
(TFDS `get_badwords_filter_fn`: an entry flanked by non-word characters or the text's ends).
Entries of several words match as phrases, with any whitespace between the words. By default a
page with any listed word is dropped (C4); a count or a ratio can be allowed instead. The list is
English: run it on English documents, as C4 did.

`FastTextToxicityFilter` scores documents with a fastText classifier that the user provides (a
local path, or a URL with its `sha256`; none ships with thresher) and drops those whose
probability for the given label reaches the threshold, as datatrove's FastTextClassifierFilter
does with `remove_labels`.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from thresher.contracts.recipe import Count, PinnedFile, Sha256, Share
from thresher.filters.base import Decision, DocumentFilter
from thresher.filters.fasttext_model import load_fasttext, predict


@lru_cache(maxsize=1)
def default_bad_words() -> tuple[str, ...]:
    """better_profanity's word list, lower-cased."""
    text = importlib.resources.files("better_profanity").joinpath("profanity_wordlist.txt").read_text("utf-8")
    return tuple(sorted({line.strip().lower() for line in text.splitlines() if line.strip()}))


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex for all words, as a trie: a position is tried against the entries sharing its first
    character only (a flat alternation of 900 entries is many times slower). A space in an entry matches
    any run of whitespace."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in " ".join(word.split()):
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [(r"\s+" if char == " " else re.escape(char)) + build(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body  # a word may end here or go on

    return build(trie)


@lru_cache(maxsize=8)
def _bad_words_regex(words: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"(?<!\w)(?:" + _trie_pattern(words) + r")(?!\w)")


class BadWordsFilter(DocumentFilter):
    name = "bad_words"

    def __init__(
        self,
        max_bad_words: Count | None = 0,  # C4 (Raffel et al. 2020): drop any page with a listed word
        max_bad_word_ratio: Share | None = None,  # off: no published value
        words: Sequence[str] | None = None,  # None: better_profanity's list
    ):
        self.max_bad_words = max_bad_words
        self.max_bad_word_ratio = max_bad_word_ratio
        self.words = default_bad_words() if words is None else tuple(sorted({w.strip().lower() for w in words}))
        self._regex = _bad_words_regex(self.words)

    def score(self, doc: Mapping) -> dict[str, float]:
        text = doc["text"].lower()
        found = len(self._regex.findall(text))
        n_words = len(text.split())  # whitespace-separated words
        return {"bad_words": float(found), "bad_word_ratio": found / n_words if n_words else 0.0}

    def decide(self, scores: Mapping[str, float]) -> Decision:
        if self.max_bad_words is not None and scores["bad_words"] > self.max_bad_words:
            return Decision(False, "document_removed_with_badwords")  # datatrove's C4BadWordsFilter reason
        if self.max_bad_word_ratio is not None and scores["bad_word_ratio"] > self.max_bad_word_ratio:
            return Decision(False, "bad_word_ratio")
        return Decision(True)


class FastTextToxicityFilter(DocumentFilter):
    """Drop documents whose fastText probability for `label` is at least `threshold`.

    `label` is the model's label as written in its training file, e.g. "__label__toxic". The model
    is loaded when the filter is built, so that a missing model or a bad checksum stops the run at
    start-up instead of erroring every document, and kept per process: the filter holds only its
    path, so it pickles small (Beam workers).
    """

    name = "fasttext_toxicity"

    def __init__(
        self,
        model_path: PinnedFile,
        label: str,
        threshold: Share,
        sha256: Sha256 | None = None,  # a URL needs it (or `skip`); a local file is checked when given
    ):
        self.model_path = os.fspath(model_path)
        self.sha256 = sha256
        self.label = label
        self.threshold = threshold
        if not getattr(self, "_decide_only", False):
            self._model()

    @classmethod
    def for_decide(cls, **options) -> FastTextToxicityFilter:
        """A filter that can only `decide` on stored scores (`thresher refilter`): no model is loaded."""
        self = cls.__new__(cls)
        self._decide_only = True
        self.__init__(**options)
        return self

    def _model(self):
        return load_fasttext(self.model_path, self.sha256)  # cached per process

    def score(self, doc: Mapping) -> dict[str, float]:
        # k=-1: every label, so that a label outside the top k still gets its probability
        probabilities = dict(predict(self._model(), doc["text"], k=-1))
        return {"probability": probabilities.get(self.label, 0.0)}

    def decide(self, scores: Mapping[str, float]) -> Decision:
        if scores["probability"] >= self.threshold:
            return Decision(False, "toxic")
        return Decision(True)
