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
    `scope: global` joins everything; documents without a crawl are one group either way."""

    def __init__(
        self,
        ngram: Count = 5,
        bands: Count = 14,
        rows: Count = 8,
        seed: Count = 1,
        scope: Literal["crawl", "global"] = "crawl",
        language: str | None = None,
    ):
        if min(ngram, bands, rows) < 1:
            raise ValueError("ngram, bands and rows must be at least 1")
        self.scope = scope
        self.hasher = MinHasher(ngram=ngram, bands=bands, rows=rows, seed=seed, language=language)

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
