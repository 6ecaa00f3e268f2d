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

_NON_WORD = re.compile(r"[\W\d_]+", re.UNICODE)


def normalize_for_dedup(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def dedup_key(text: str) -> str:
    return hashlib.blake2b(normalize_for_dedup(text).encode("utf-8"), digest_size=16).hexdigest()


def pick_survivor(ids: list[str]) -> str:
    """Deterministic survivor of a group of exact duplicates: the smallest id."""
    return min(ids)
