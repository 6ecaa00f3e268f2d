"""Exact deduplication key: a hash of the normalised text.

Normalisation (NFKC, case-folded, punctuation and digits removed, whitespace collapsed) follows
the spirit of datatrove's `simplify_text` for dedup: two pages that differ only in case,
punctuation, numbers (dates, counters) or spacing are the same document. The survivor of a group
is the document with the smallest `id`, so the result does not depend on processing order.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

import numpy as np

from thresher.contracts.recipe import Count
from thresher.filters.minhash import NO_SHINGLES, MinHasher
from thresher.filters.spacy_words import count_sentences

_NON_WORD = re.compile(r"[\W\d_]+", re.UNICODE)


def normalize_for_dedup(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def dedup_key(text: str) -> str:
    return hashlib.blake2b(normalize_for_dedup(text).encode("utf-8"), digest_size=16).hexdigest()


def pick_survivor(ids: list[str]) -> str:
    """Deterministic survivor of a group of exact duplicates: the smallest id."""
    return min(ids)


class MinHashDedup:
    """The `minhash_dedup` stage: near-duplicates by MinHash LSH (filters/minhash.py), removed by
    the pipeline (pipelines/near_dedup.py): documents sharing a band key are joined, and of each
    connected component only the smallest id is kept.

    Defaults are FineWeb's (datatrove's MinhashConfig as FineWeb ran it): word 5-grams, 14 bands of
    8 rows (112 hashes), seed 1; pairs above Jaccard `MinHasher.threshold` ~0.72 are likely to be
    joined (92% at 0.8). `scope: crawl` deduplicates each crawl (the documents' `crawl`, e.g.
    CC-MAIN-2024-10) on its own, as FineWeb did each dump: deduplicating across dumps made its
    models worse (FineWeb, Penedo et al. 2024, section 3.3: it upsampled the older dumps' data).
    `scope: global` joins everything; documents without a crawl are one group either way.
    `hash: datatrove` computes datatrove's MinhashDedupSignature signatures bit for bit (SHA-1
    shingles, `HashConfig(precision=64, hash_fc="sha1")`, FineWeb's run): with the same words
    the same documents share a band as in datatrove. The default, `hash: thresher`, is
    thresher's own shingle hash and exact permutations: the same statistics, other draws."""

    def __init__(
        self,
        ngram: Count = 5,
        bands: Count = 14,
        rows: Count = 8,
        seed: Count = 1,
        scope: Literal["crawl", "global"] = "crawl",
        language: str | None = None,
        hash: Literal["thresher", "datatrove"] = "thresher",
    ):
        self.scope = scope  # MinHasher checks the rest
        self.hasher = MinHasher(ngram=ngram, bands=bands, rows=rows, seed=seed, language=language, hash=hash)

    def band_keys(self, texts: Sequence[str], crawls: Sequence[str | None]) -> np.ndarray:
        """(len(texts), bands) uint64 bucket keys: the band keys, each mixed with the document's
        group (its crawl under `scope: crawl`), so that only documents of one group share a key.
        A document too short for one shingle has NO_SHINGLES in every column: never bucketed."""
        keys = self.hasher.band_keys(self.hasher.signatures(list(texts)))
        if self.scope == "crawl":
            groups = np.array([_group_hash(c) for c in crawls], dtype=np.uint64)[:, None]
            keys = np.where(keys == NO_SHINGLES, NO_SHINGLES, (keys ^ groups) % NO_SHINGLES)
        return keys


def _group_hash(name: str | None) -> int:
    return int.from_bytes(hashlib.blake2b((name or "").encode("utf-8"), digest_size=8).digest(), "little")


class LineDedup:
    """The `line_dedup` stage, TFDS C4's `dedupe_lines`: a line (stripped, lower-cased) that appears
    in several documents is kept in the one with the smallest id and removed from the others, and a
    line repeated within a document is kept once, and blank lines go (TFDS keeps the first blank
    line of the corpus, in one page; C4's cleaned pages have none); a document left with no text, or with fewer than
    `min_num_sentences` sentences (TFDS re-applies C4's page rule, `_MIN_NUM_SENTENCES` = 3, after
    the removal), is dropped (`empty`, `too_few_sentences`). The pipeline finds the lines
    (pipelines/near_dedup.py LineRemovals); this class hashes and removes them.

    Differences from TFDS, on purpose: the copy kept is the smallest document id's (TFDS: the
    smallest hash of the URL; ids are path-independent and every record has one), and the stage
    runs after every per-document filter, so a line is never kept only in a page a later filter
    drops (TFDS dedupes before its bad-words and language filters). The C4 paper describes
    "three-sentence spans"; TFDS, whose C4 is the one people train on, removes lines."""

    def __init__(self, min_num_sentences: Count = 3):
        self.min_num_sentences = min_num_sentences

    @staticmethod
    def line_hashes(text: str) -> list[int]:
        """The distinct 64-bit hashes of a text's non-empty lines, in order of first appearance."""
        return list(dict.fromkeys(_line_hash(line) for line in text.split("\n") if line.strip()))

    def apply(self, text: str, remove: set[int], lang: str | None = None) -> tuple[str, str | None]:
        """(the text without the lines in `remove` and without repeats, None) or ("", reason)."""
        seen: set[int] = set()
        kept = []
        for line in text.split("\n"):
            if not line.strip():
                continue
            key = _line_hash(line)
            if key in remove or key in seen:
                continue
            seen.add(key)
            kept.append(line)
        new = "\n".join(kept)
        if not new:
            return "", "empty"
        if self.min_num_sentences and count_sentences(new, lang) < self.min_num_sentences:
            return new, "too_few_sentences"
        return new, None


def _line_hash(line: str) -> int:
    # 63 bits: Beam's coder writes ints of int64 as varints and pickles larger ones
    digest = hashlib.blake2b(line.strip().lower().encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
