"""MinHash signatures and LSH band keys for near-duplicate removal (issue 11), in plain numpy.

    hasher = MinHasher()                        # FineWeb's: word 5-grams, 14 bands x 8 rows
    hasher = MinHasher(hash="datatrove")        # the same, with signatures bit for bit datatrove's
    sigs = hasher.signatures(texts)             # (n, 112) uint64
    keys = hasher.band_keys(sigs)               # (n, 14) uint64: documents sharing a key in any band are a pair
    removed = duplicates(ids, keys)             # in memory, for tests and benchmarks: {id: survivor id}

The pipeline groups documents by band key (a Beam join), turns each group into edges, takes
connected components and keeps the smallest id of each; `duplicates` is that algorithm in memory.
Two documents whose shingle sets have Jaccard similarity s share at least one band key with
probability 1 - (1 - s^rows)^bands (`match_probability`): 5% at s=0.5, 56% at 0.7, 92% at 0.8,
99.96% at 0.9; the curve's midpoint is `threshold` = (1/bands)^(1/rows) = (1/14)^(1/8) ~ 0.72.

What is hashed, as datatrove's MinhashDedupSignature does it (datatrove 0.10.1, FineWeb's run):

- Words: `simplify_text` (datatrove's `simplify_text` with its default TextNormConfig, step by
  step: lower-case, every number to "0", datatrove's punctuation to spaces, accents stripped
  (NFD, then combining marks dropped)), then the words the quality filters see:
  `spacy_words.split_words`, spaCy's blank English tokenizer reproduced in plain Python (what
  datatrove's English word tokenizer runs). On the benchmark's pages the word lists are spaCy's,
  token for token (benchmarks/bench_minhash.py checks it). Known differences: numbers are found by
  `re`'s `\\d` and accents by `unicodedata` (Unicode 14 in Python 3.11) where datatrove uses the
  `regex` module's `\\p{Nd}` (a newer Unicode): digits and marks of scripts added since differ.
- Shingles: every run of `ngram` consecutive words. A document with fewer words has none, as in
  datatrove (its n-gram iterator yields nothing and it writes no signature): it can never be a
  near-duplicate (exact dedup still sees it). Its signature row and band keys are `NO_SHINGLES`
  in every column, and the pipeline must not bucket those (`duplicates` skips them).
- Non-Latin scripts: words are split by the same rules. In English (`language=None`, FineWeb's
  setting) Chinese or Japanese text has no spaces, so a "word" is a clause between two
  punctuation marks, as in datatrove with its English tokenizer. With `language` set to another
  code (say "zh", "ja"), `split_words` splits Han and Kana into one word per character (and
  Thai, Lao, Khmer, Myanmar, Tibetan into runs of the script): 5-grams of characters, the usual
  unit for near-duplicates in those scripts (datatrove would need jieba or SudachiPy).
- Shingle hash (`hash="thresher"`, the default): 64 bits, from 64-bit word hashes (keyed BLAKE2b
  of the word's UTF-8 bytes, key from `seed`, cached per word) combined as a polynomial mod 2^64
  and mixed by splitmix64's finalizer. datatrove hashes the joined n-gram string with SHA-1 (or
  xxhash64) per shingle in Python: a different function on the same set of shingles, so the
  signatures differ bit for bit while their statistics are the same. No Python `hash()`: the
  values are the same in every process and on every machine.
- Permutations (default): h_i(x) = (a_i * x + b_i) mod p with p = 2^61 - 1 and datatrove's a_i,
  b_i (`np.random.RandomState(seed).randint`, a stream NumPy keeps fixed). The products of 61-bit
  numbers are computed exactly, in uint64 pieces (32-bit halves, folded with 2^61 = 1 mod p).
  datatrove computes `(shingles * a + b) % p` in uint64, which wraps mod 2^64 before the mod p:
  a different (still valid) hash family.
- `hash="datatrove"`: datatrove's MinhashDedupSignature with `HashConfig(precision=64,
  hash_fc="sha1")` (FineWeb's run), bit for bit. A shingle is its `ngram` words joined by one
  space, UTF-8 encoded, hashed with SHA-1, the digest's first 8 bytes read as a little-endian
  uint64 (datatrove's `sha1_hash64`), not reduced mod p; the permutations are datatrove's
  arithmetic: `(x * a + b)` in uint64, wrapping mod 2^64, then mod p. Wherever the words are
  datatrove's (see Words above), the signature values are then datatrove's, column for column
  (column i is bucket i // rows, position i % rows), and so are the documents sharing a band:
  its stage 2 pairs documents whose `rows` values in a bucket are equal; a band key here is a
  64-bit hash of the same values (equal values, equal keys; two different value tuples share a
  key with probability about 2^-64 per pair). The one departure: a word with a lone surrogate
  (not valid UTF-8), where datatrove raises UnicodeEncodeError, is encoded with "surrogatepass"
  as in the default. SHA-1 is one hashlib call per shingle (~0.55 us, against ~0.05 for the
  default's cached word hashes; nothing cached, every shingle is new to it), and the wrapping
  arithmetic is ~2.5x cheaper than the exact one: per shingle ~15% slower than the default, and
  the same speed end to end on the benchmark, where splitting words costs more.

Speed: words are cached per whitespace chunk (spacy_words) and word hashes per word; the
permutations run on blocks of about a thousand shingles at a time (112 values each, numpy
buffers reused); `hash="datatrove"` hashes each shingle's string with SHA-1 instead (not cached),
then runs datatrove's wrapping arithmetic on the same blocks. benchmarks/bench_minhash.py measures
both against datatrove, and the parity of the removed documents with datatrove's four stages.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import Literal

import numpy as np

from thresher.filters.spacy_words import split_words

__all__ = ["MERSENNE_PRIME", "NO_SHINGLES", "MinHasher", "duplicates", "jaccard", "simplify_text"]

MERSENNE_PRIME = (1 << 61) - 1
# Signature values are < 2^61 - 1 and real band keys are < 2^64 - 1: this one marks "no shingles".
NO_SHINGLES = np.uint64((1 << 64) - 1)

# datatrove.utils.text.PUNCTUATION (datatrove 0.10.1): the characters simplify_text turns into
# spaces. Not its PUNCTUATION_SET: the terminal punctuation of other scripts stays.
_PUNCTUATION_CHARS = (
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
    + "".join(map(chr, [*range(0, 9), 11, 12, *range(13, 32), *range(127, 160)]))
)
_PUNCTUATION = re.compile(f"[{re.escape(_PUNCTUATION_CHARS)}]")  # 5x faster than str.translate
# datatrove's NUMBERS_PATTERN, r"\p{Nd}+([.,،٫⎖⎗⎘]{1}\p{Nd}+)?": `re`'s \d is Unicode Nd too.
_NUMBERS = re.compile(r"\d+(?:[.,،٫⎖⎗⎘]\d+)?")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@cache
def _combining_marks() -> tuple[re.Pattern, re.Pattern]:
    """Patterns for every nonspacing mark (category Mn), which simplify_text drops after NFD: one for
    the BMP (which `re` tests with a bitmap) and one for the other planes (a slower list of ranges,
    run only on text that has such characters). Built on first use (0.1 s)."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) == "Mn":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])

    def pattern(spans: list[list[int]]) -> re.Pattern:
        return re.compile("[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in spans) + "]+")

    return pattern([r for r in ranges if r[1] < 0x10000]), pattern([r for r in ranges if r[0] >= 0x10000])


def simplify_text(text: str) -> str:
    """datatrove's `simplify_text` with its defaults, in its order; whitespace is left as it is
    (the word splitter cuts at any run of it, which is what datatrove's collapsing amounts to)."""
    text = _PUNCTUATION.sub(" ", _NUMBERS.sub("0", text.lower()))
    if not text.isascii():
        text = unicodedata.normalize("NFD", text)
        bmp_marks, other_marks = _combining_marks()
        text = bmp_marks.sub("", text)
        if _ASTRAL.search(text):
            text = other_marks.sub("", text)
    return text


def _words(text: str, language: str | None) -> list[str]:
    return split_words(simplify_text(text), language)


def jaccard(a: str, b: str, ngram: int = 5, language: str | None = None) -> float:
    """Exact Jaccard similarity of two documents' sets of word n-grams, on MinHasher's words. A
    document without shingles (fewer than `ngram` words) is similar to nothing: 0."""

    def shingles(text: str) -> set[tuple[str, ...]]:
        words = _words(text, language)
        return set(zip(*(words[i:] for i in range(ngram))))

    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa and sb else 0.0


# Odd 64-bit multipliers: the polynomial base for shingles and band keys (a power of an odd number
# is odd, hence invertible mod 2^64), and splitmix64's finalizer constants (Steele et al. 2014).
_BASE = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_P = np.uint64(MERSENNE_PRIME)
_LOW32 = np.uint64(0xFFFFFFFF)
_LOW29 = np.uint64((1 << 29) - 1)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: a bijection of uint64 that spreads every input bit."""
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def _mod_p(x: np.ndarray) -> np.ndarray:
    """x mod 2^61 - 1 for any uint64 x."""
    x = (x & _P) + (x >> np.uint64(61))  # < 2^61 + 8
    return np.minimum(x, x - _P)  # x - p wraps around (to above x) unless x >= p


class MinHasher:
    """MinHash signatures of documents' word n-gram shingles and their LSH band keys.

    Defaults are FineWeb's (datatrove MinhashConfig as FineWeb ran it): 5-gram word shingles,
    14 bands of 8 rows, 112 hashes, seed 1. `language` picks the word splitting rules (None is
    English, as FineWeb ran it; see the module docstring for other scripts). `hash="datatrove"`
    makes the signatures datatrove's MinhashDedupSignature's with `HashConfig(precision=64,
    hash_fc="sha1")`, bit for bit (SHA-1 shingles and datatrove's wrapping permutations); the
    default is thresher's own shingle hash (cached word hashes) and exact permutations: the same
    statistics, other draws.
    """

    # Shingles per block in `signatures`: three (112, block) uint64 buffers of ~0.9 MB each stay in
    # cache; (hashes, shingles) is ~15% faster than (shingles, hashes) (measured, 512 to 4,096).
    block = 1024
    # Distinct words whose hashes are kept (~25 MB); past it the cache starts again.
    max_cached_words = 200_000

    def __init__(
        self,
        ngram: int = 5,
        bands: int = 14,
        rows: int = 8,
        seed: int = 1,
        language: str | None = None,
        hash: Literal["thresher", "datatrove"] = "thresher",
    ):
        if ngram < 1 or bands < 1 or rows < 1:
            raise ValueError(f"ngram, bands and rows must be positive, not {ngram}, {bands}, {rows}")
        if hash not in ("thresher", "datatrove"):
            raise ValueError(f"hash must be 'thresher' or 'datatrove', not {hash!r}")
        self.ngram, self.bands, self.rows, self.seed, self.language = ngram, bands, rows, seed, language
        self.hash = hash
        self.num_hashes = bands * rows
        # datatrove's draw, in its order (MinhashDedupSignature.parameters): a in [1, p), b in [0, p).
        gen = np.random.RandomState(seed)
        a = gen.randint(1, MERSENNE_PRIME, dtype=np.uint64, size=self.num_hashes)
        self._b = gen.randint(0, MERSENNE_PRIME, dtype=np.uint64, size=self.num_hashes)[:, None]
        self._a = a
        self._a_column = a[:, None]  # for hash="datatrove"
        # columns: the permutation kernel works on (num_hashes, shingles) blocks
        self._a_high = (a >> np.uint64(32))[:, None]  # < 2^29
        self._a_low = (a & _LOW32)[:, None]  # < 2^32
        self._a_high8 = self._a_high << np.uint64(3)  # 8 * a_high, for the 2^64 = 8 (mod p) term
        # Band keys start from a distinct constant per band (a bijection of distinct numbers), so
        # equal values in two bands differ by (start_b - start_c) * base^rows, never 0 mod 2^64.
        self._band_start = _mix(np.arange(1, bands + 1, dtype=np.uint64) * _BASE + np.uint64(seed))
        self._ngram_powers = _BASE ** np.arange(ngram - 1, -1, -1, dtype=np.uint64)  # wraps mod 2^64
        self._key = f"thresher-minhash-{seed}".encode()[:64]
        self._word_hashes: dict[str, int] = {}

    def __getstate__(self) -> dict:
        """Pickled (sent to Beam workers) without the word-hash cache, which each copy refills."""
        return {**self.__dict__, "_word_hashes": {}}

    @property
    def threshold(self) -> float:
        """(1/bands)^(1/rows): the Jaccard similarity at which the band-match probability rises
        fastest, the usual reading of LSH's cut-off ((1/14)^(1/8) ~ 0.72 for FineWeb's bands)."""
        return (1 / self.bands) ** (1 / self.rows)

    def match_probability(self, similarity: float) -> float:
        """Probability that two documents of this Jaccard similarity share a band key."""
        return 1 - (1 - similarity**self.rows) ** self.bands

    def words(self, text: str) -> list[str]:
        """The normalised words that shingles are made of."""
        return _words(text, self.language)

    def _hash_words(self, words: list[str]) -> np.ndarray:
        cache = self._word_hashes
        try:
            return np.fromiter(map(cache.__getitem__, words), dtype=np.uint64, count=len(words))
        except KeyError:
            new = set(words).difference(cache)
            if len(cache) + len(new) > self.max_cached_words:
                cache.clear()
                new = set(words)
            key = self._key
            for word in new:
                digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8, key=key).digest()
                cache[word] = int.from_bytes(digest, "little")
            return np.fromiter(map(cache.__getitem__, words), dtype=np.uint64, count=len(words))

    def _shingles(self, word_hashes: np.ndarray) -> np.ndarray:
        """Hashes of every window of `ngram` consecutive words (a polynomial in the word hashes,
        mixed): one per window, len(word_hashes) - ngram + 1 of them."""
        count = len(word_hashes) - self.ngram + 1
        if count <= 0:
            return np.empty(0, dtype=np.uint64)
        shingles = word_hashes[:count] * self._ngram_powers[0]
        for i in range(1, self.ngram):
            shingles += word_hashes[i : i + count] * self._ngram_powers[i]
        return _mix(shingles)

    def _sha1_shingles(self, words: list[str]) -> np.ndarray:
        """datatrove's shingles (hash="datatrove"): each window of `ngram` words joined by a space,
        its UTF-8 bytes hashed with SHA-1, the digest's first 8 bytes as a little-endian uint64."""
        n = self.ngram
        if len(words) < n:
            return np.empty(0, dtype=np.uint64)
        grams = map(" ".join, zip(*(words[i:] for i in range(n)))) if n > 1 else words
        sha1 = hashlib.sha1
        # whole digests joined, then their first 8 bytes: one slice for all, not one per shingle
        digests = b"".join([sha1(gram.encode("utf-8", "surrogatepass")).digest() for gram in grams])
        first8 = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 20)[:, :8]
        return np.ascontiguousarray(first8).view("<u8").ravel().astype(np.uint64, copy=False)

    def _document_shingles(self, text: str) -> np.ndarray:
        """One hash per window of `ngram` words (repeats included), by the chosen `hash`."""
        words = self.words(text)
        if self.hash == "datatrove":
            return self._sha1_shingles(words)
        return self._shingles(self._hash_words(words))

    def shingle_hashes(self, text: str) -> np.ndarray:
        """The document's distinct shingle hashes, sorted (uint64); empty below `ngram` words."""
        return np.unique(self._document_shingles(text))

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), bands * rows) uint64 MinHash signatures: column i is the minimum of
        permutation i over the document's shingles. A row is all `NO_SHINGLES` for a document
        with fewer than `ngram` words. Each row depends on its document only (not on the batch)."""
        signatures = np.full((len(texts), self.num_hashes), NO_SHINGLES, dtype=np.uint64)
        per_doc = [self._document_shingles(text) for text in texts]
        counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(per_doc))
        docs = np.flatnonzero(counts)  # documents with shingles, in order
        if not len(docs):
            return signatures
        shingles = np.concatenate([per_doc[d] for d in docs])
        if self.hash == "datatrove":
            permute = self._permute_datatrove  # datatrove's shingles are not reduced mod p first
        else:
            shingles, permute = _mod_p(shingles), self._permute
        ends = np.cumsum(counts[docs])
        starts = ends - counts[docs]
        buffers = np.empty((3, self.num_hashes, min(self.block, len(shingles))), dtype=np.uint64)
        for lo in range(0, len(shingles), self.block):
            hi = min(lo + self.block, len(shingles))
            values = permute(shingles[lo:hi], buffers)
            # the documents with shingles in [lo, hi), and where each starts in the block
            first, last = np.searchsorted(ends, lo, side="right"), np.searchsorted(starts, hi, side="left")
            offsets = np.maximum(starts[first:last] - lo, 0)
            rows = docs[first:last]
            signatures[rows] = np.minimum(signatures[rows], np.minimum.reduceat(values, offsets, axis=1).T)
        return signatures

    def _permute(self, x: np.ndarray, buffers: np.ndarray | None = None) -> np.ndarray:
        """(num_hashes, len(x)) values (a_i * x + b_i) mod p, exactly, for x < p, in uint64: with
        x = xh 2^32 + xl and a = ah 2^32 + al (xh, ah < 2^29; xl, al < 2^32), a x = ah xh 2^64 +
        (ah xl + al xh) 2^32 + al xl, and 2^61 = 1 (mod p) folds each term below 2^61 or so."""
        if buffers is None:
            buffers = np.empty((3, self.num_hashes, len(x)), dtype=np.uint64)
        total, mid, scratch = (buffer[:, : len(x)] for buffer in buffers)
        x_high, x_low = x >> np.uint64(32), x & _LOW32
        np.multiply(x_high, self._a_high8, out=total)  # ah xh 2^64 = 8 ah xh < 2^61
        np.multiply(x_high, self._a_low, out=mid)
        np.multiply(x_low, self._a_high, out=scratch)
        mid += scratch  # < 2^62; mid 2^32 = (mid >> 29) 2^61 + (mid & (2^29 - 1)) 2^32
        np.right_shift(mid, np.uint64(29), out=scratch)
        total += scratch
        mid &= _LOW29
        mid <<= np.uint64(32)
        total += mid
        np.multiply(x_low, self._a_low, out=mid)  # al xl < 2^64 = (. >> 61) 2^61 + (. & p)
        np.right_shift(mid, np.uint64(61), out=scratch)
        total += scratch
        mid &= _P
        total += mid
        total += self._b  # < 4 * 2^61 + 2^33 + 8
        np.right_shift(total, np.uint64(61), out=scratch)
        total &= _P
        total += scratch  # < 2^61 + 4
        np.subtract(total, _P, out=scratch)
        return np.minimum(total, scratch, out=total)  # total - p wraps around unless total >= p

    def _permute_datatrove(self, x: np.ndarray, buffers: np.ndarray | None = None) -> np.ndarray:
        """(num_hashes, len(x)) values of datatrove's `(x * a + b) % p` for any uint64 x: the
        product and the sum wrap mod 2^64 as numpy's uint64 does, then the mod p (a fold with
        2^61 = 1 mod p, as `_mod_p`, in the buffers)."""
        if buffers is None:
            buffers = np.empty((2, self.num_hashes, len(x)), dtype=np.uint64)
        total, scratch = buffers[0][:, : len(x)], buffers[1][:, : len(x)]
        np.multiply(x, self._a_column, out=total)  # mod 2^64
        total += self._b  # mod 2^64
        np.right_shift(total, np.uint64(61), out=scratch)
        total &= _P
        total += scratch  # < 2^61 + 8
        np.subtract(total, _P, out=scratch)
        return np.minimum(total, scratch, out=total)  # total - p wraps around unless total >= p

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """(n, bands) uint64: one key per band of `rows` signature values, a polynomial in the
        values started from a constant of the band and mixed (a bijection), so equal values in two
        band positions never give the same key (but for the one key 2^64 - 1, moved to 2^64 - 2 to
        keep NO_SHINGLES apart). Rows of NO_SHINGLES give NO_SHINGLES keys."""
        signatures = np.asarray(signatures, dtype=np.uint64)
        if signatures.ndim != 2 or signatures.shape[1] != self.num_hashes:
            raise ValueError(f"signatures must be (n, {self.num_hashes}), not {signatures.shape}")
        values = signatures.reshape(len(signatures), self.bands, self.rows)
        keys = np.broadcast_to(self._band_start, values.shape[:2]).copy()
        for row in range(self.rows):
            keys *= _BASE
            keys += values[:, :, row]
        keys = np.minimum(_mix(keys), NO_SHINGLES - np.uint64(1))
        keys[signatures[:, 0] == NO_SHINGLES] = NO_SHINGLES
        return keys


def duplicates(ids: Sequence, band_keys: np.ndarray) -> dict:
    """The near-duplicate removal in memory (for tests and benchmarks; the pipeline runs it in
    Beam): documents sharing a band key in the same band are linked, linked documents form
    components (union-find), and each component keeps its smallest id. Returns {removed id:
    survivor id}. Documents whose keys are NO_SHINGLES are never linked."""
    band_keys = np.asarray(band_keys, dtype=np.uint64)
    if len(ids) != len(band_keys):
        raise ValueError(f"{len(ids)} ids for {len(band_keys)} rows of band keys")
    parent = list(range(len(ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving
            i = parent[i]
        return i

    for keys in band_keys.T:
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        same = np.flatnonzero((ordered[1:] == ordered[:-1]) & (ordered[1:] != NO_SHINGLES))
        for i, j in zip(order[same].tolist(), order[same + 1].tolist()):
            ri, rj = root(i), root(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    members: dict[int, list[int]] = {}
    for i in range(len(ids)):
        members.setdefault(root(i), []).append(i)
    removed = {}
    for group in members.values():
        if len(group) > 1:
            survivor = min(ids[i] for i in group)
            removed.update((ids[i], survivor) for i in group if ids[i] != survivor)
    return removed
