"""MinHash near-duplicate detection (filters/minhash.py): the LSH's statistics, recall and precision
on real text with planted duplicates, determinism, and short, empty and non-Latin documents."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import pickle
import random
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from thresher.filters.minhash import MERSENNE_PRIME, NO_SHINGLES, MinHasher, duplicates, jaccard

from conftest import need_data

HASHER = MinHasher()


def candidate_pairs(keys: np.ndarray) -> set[tuple[int, int]]:
    """Index pairs (i < j) of documents that share a key in some band."""
    pairs = set()
    for band in keys.T:
        groups: dict[int, list[int]] = {}
        for doc, key in enumerate(band.tolist()):
            if key != NO_SHINGLES:
                groups.setdefault(key, []).append(doc)
        for group in groups.values():
            pairs.update(itertools.combinations(group, 2))
    return pairs


def shingle_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    shared = len(np.intersect1d(a, b, assume_unique=True))
    return shared / (len(a) + len(b) - shared)


def overlapping_pairs(shingles: list[np.ndarray], at_least: float) -> set[tuple[int, int]]:
    """Every pair (i < j) of documents whose exact shingle Jaccard is at least `at_least` (an inverted
    index: only pairs that share a shingle are counted)."""
    doc = np.repeat(np.arange(len(shingles)), [len(s) for s in shingles])
    values = np.concatenate(shingles)
    order = np.argsort(values, kind="stable")
    values, doc = values[order], doc[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    shared: Counter = Counter()
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist()):
        shared.update(itertools.combinations(doc[start : start + size].tolist(), 2))
    return {(i, j) for (i, j), n in shared.items() if n / (len(shingles[i]) + len(shingles[j]) - n) >= at_least}


# --- the LSH's statistics ----------------------------------------------------------------------------

PAIRS_PER_LEVEL = 2000
UNION = 120  # shingles in the union of a pair's two sets: 120 s is a whole number at every level


def pair_with_jaccard(similarity: float, vocabulary: list[str], rng: random.Random) -> tuple[str, str]:
    """Two texts whose word 5-gram sets have exactly this Jaccard similarity: a run of distinct words
    in common (`shared` shingles), then `own` distinct words each (each adds one shingle of its own;
    the first four span the end of the common run, the rest are new)."""
    shared = round(UNION * similarity)
    own = (UNION - shared) // 2
    words = rng.sample(vocabulary, shared + 4 + 2 * own)
    common = words[: shared + 4]
    return " ".join(common + words[shared + 4 : shared + 4 + own]), " ".join(common + words[shared + 4 + own :])


@pytest.mark.slow
def test_band_match_probability_is_one_minus_one_minus_s_to_the_r_to_the_b():
    rng = random.Random(0)
    vocabulary = sorted({"".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=8)) for _ in range(5000)})
    assert HASHER.words(" ".join(vocabulary)) == vocabulary  # each is one word, unchanged by normalisation
    levels = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    texts = [text for s in levels for _ in range(PAIRS_PER_LEVEL) for text in pair_with_jaccard(s, vocabulary, rng)]
    for s, first in zip(levels, range(0, len(texts), 2 * PAIRS_PER_LEVEL)):
        assert jaccard(texts[first], texts[first + 1]) == pytest.approx(s)
    keys = HASHER.band_keys(HASHER.signatures(texts))
    matched = (keys[0::2] == keys[1::2]).any(axis=1).reshape(len(levels), PAIRS_PER_LEVEL).mean(axis=1)
    expected = [HASHER.match_probability(s) for s in levels]  # 0.054 at 0.5 ... 0.924 at 0.8 ... 1.0
    assert np.abs(matched - expected).max() <= 0.03, dict(zip(levels, zip(matched.round(3), np.round(expected, 3))))


def test_threshold_is_fineweb_s_curve_midpoint():
    assert HASHER.num_hashes == 112
    assert HASHER.threshold == pytest.approx((1 / 14) ** (1 / 8))
    assert round(HASHER.threshold, 2) == 0.72
    assert HASHER.match_probability(0.8) == pytest.approx(0.924, abs=1e-3)  # datatrove's docstring figure


# --- real text with planted duplicates ---------------------------------------------------------------

BOILERPLATE = [
    "Share this article on Facebook, Twitter and LinkedIn.",
    "Subscribe to our newsletter for the latest updates.",
    "Copyright 2024 All rights reserved. Privacy Policy | Terms of Use",
]


def planted_copy(text: str, kind: str, rng: random.Random, vocabulary: list[str]) -> str:
    if kind == "exact":
        return text
    if kind == "words edited":  # one word in a hundred replaced
        words = text.split(" ")
        for i in rng.sample(range(len(words)), max(1, len(words) // 100)):
            words[i] = rng.choice(vocabulary)
        return " ".join(words)
    lines = text.split("\n")
    if kind == "boilerplate added":
        return "\n".join([rng.choice(BOILERPLATE), *lines, rng.choice(BOILERPLATE)])
    lines[rng.randrange(len(lines))] = rng.choice(BOILERPLATE)  # "boilerplate line changed"
    return "\n".join(lines)


def real_documents() -> list[str]:
    """Readability's test pages (thresher's extractor), the inaugural addresses and the FOMC
    statements, of 50 words or more, with no two alike: of a pair with shingle Jaccard >= 0.3 (FOMC
    statements repeat each other) only the first is kept."""
    from thresher.filters.extract import Extractor, decode_html

    extractor = Extractor()
    texts = []
    for path in sorted(need_data("mozilla-readability-test-pages", "pages").glob("*/source.html.gz")):
        try:
            texts.append(extractor(decode_html(gzip.decompress(path.read_bytes())).text))
        except Exception:  # a page too complex to parse is left out
            continue
    texts += [
        p.read_text("latin-1") for p in sorted(need_data("nltk-us-presidential-addresses", "inaugural").glob("*"))
    ]
    texts += [p.read_text("utf-8") for p in sorted(need_data("fomc-statements").glob("*/*.txt"))]
    texts = [t for t in texts if len(HASHER.words(t)) >= 50]
    alike = overlapping_pairs([HASHER.shingle_hashes(t) for t in texts], 0.3)
    later = {j for _, j in alike}
    return [t for i, t in enumerate(texts) if i not in later]


@pytest.mark.slow
def test_recall_and_precision_on_real_text_with_planted_duplicates():
    base = real_documents()
    assert len(base) > 200
    rng = random.Random(1)
    vocabulary = sorted({w for t in base for w in t.split() if w.isalpha()})
    kinds = ["exact", "words edited", "boilerplate added", "boilerplate line changed"]
    texts, origin = list(base), list(range(len(base)))
    for i, text in enumerate(base):
        if i % 2 == 0:  # half the documents get two copies of two kinds
            for kind in rng.sample(kinds, 2):
                texts.append(planted_copy(text, kind, rng, vocabulary))
                origin.append(i)
    shingles = [HASHER.shingle_hashes(t) for t in texts]
    found = candidate_pairs(HASHER.band_keys(HASHER.signatures(texts)))

    planted = {
        (i, j): shingle_jaccard(shingles[i], shingles[j])
        for i, j in itertools.combinations(range(len(texts)), 2)
        if origin[i] == origin[j]
    }
    above = {pair for pair, s in planted.items() if s >= HASHER.threshold}
    assert len(above) > 250
    recall = len(above & found) / len(above)
    expected = np.mean([HASHER.match_probability(planted[pair]) for pair in above])
    precision = sum(origin[i] == origin[j] for i, j in found) / len(found)
    assert recall >= 0.95 and abs(recall - expected) <= 0.03, (recall, expected, len(above))
    assert precision >= 0.99, precision


def test_fomc_statements_pairs_of_jaccard_above_0_8_are_found():
    """Real near-duplicates: consecutive FOMC statements and implementation notes repeat each other.
    Each pair at 0.8 or above is found with probability >= 0.924; all 22 are, with seed 1."""
    paths = sorted(need_data("fomc-statements").glob("*/*.txt"))
    texts = [p.read_text("utf-8") for p in paths]
    shingles = [HASHER.shingle_hashes(t) for t in texts]
    similar = overlapping_pairs(shingles, 0.8)
    assert len(texts) == 166 and len(similar) == 22
    assert len({d for pair in similar for d in pair}) == 18  # documents with such a partner
    assert similar <= candidate_pairs(HASHER.band_keys(HASHER.signatures(texts)))


# --- determinism ------------------------------------------------------------------------------------

SAMPLE = [
    "The Committee decided today to keep its target for the federal funds rate at 5 1/4 percent.",
    "Ein Beispiel mit Umlauten: Größe, Übung und Äpfel sind schön; café, naïve, coöperate.",
    "世界人权宣言 联合国大会一九四八年十二月十日第217A(III)号决议通过并颁布",
    " ".join(f"word{i % 97} token{i % 89}" for i in range(3000)),  # more shingles than one block
    "short text",
    "",
]


def digest(signatures: np.ndarray) -> str:
    return hashlib.blake2b(signatures.tobytes(), digest_size=16).hexdigest()


def test_signatures_are_the_same_in_another_process():
    code = (
        "import hashlib, json, sys\n"
        "from thresher.filters.minhash import MinHasher\n"
        "sigs = MinHasher().signatures(json.loads(sys.stdin.read()))\n"
        "print(hashlib.blake2b(sigs.tobytes(), digest_size=16).hexdigest())\n"
    )
    for hash_seed in ("0", "12345"):  # Python's str hash differs: nothing may depend on it
        result = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(SAMPLE),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert result.stdout.strip() == digest(HASHER.signatures(SAMPLE))


def test_a_documents_signature_does_not_depend_on_its_batch():
    together = HASHER.signatures(SAMPLE)
    assert (HASHER.signatures(SAMPLE[::-1]) == together[::-1]).all()
    assert (np.vstack([HASHER.signatures([t]) for t in SAMPLE]) == together).all()
    small = MinHasher()
    small.block = 7  # documents spread over many blocks
    assert (small.signatures(SAMPLE) == together).all()


def test_a_pickled_hasher_gives_the_same_signatures_without_its_word_cache():
    HASHER.signatures(SAMPLE)
    copy = pickle.loads(pickle.dumps(HASHER))  # how Beam ships it to workers
    assert copy._word_hashes == {} and (copy.signatures(SAMPLE) == HASHER.signatures(SAMPLE)).all()


def test_signature_is_the_minimum_of_datatroves_permutations_mod_p():
    """Column i is min over shingles x of (a_i x + b_i) mod (2^61 - 1), with datatrove's a, b
    (np.random.RandomState(seed)), computed exactly: checked against Python integers."""
    generator = np.random.RandomState(1)
    a = generator.randint(1, MERSENNE_PRIME, dtype=np.uint64, size=112).tolist()
    b = generator.randint(0, MERSENNE_PRIME, dtype=np.uint64, size=112).tolist()
    text = SAMPLE[0] + " " + SAMPLE[1]
    xs = [x % MERSENNE_PRIME for x in HASHER.shingle_hashes(text).tolist()]
    expected = [min((ai * x + bi) % MERSENNE_PRIME for x in xs) for ai, bi in zip(a, b)]
    assert HASHER.signatures([text])[0].tolist() == expected
    # the extremes of the arithmetic: x = 0 and x = p - 1, where the products are largest
    assert HASHER._permute(np.array([0, MERSENNE_PRIME - 1], dtype=np.uint64)).T.tolist() == [
        [bi for bi in b],
        [(ai * (MERSENNE_PRIME - 1) + bi) % MERSENNE_PRIME for ai, bi in zip(a, b)],
    ]


def test_band_keys_of_equal_values_differ_between_bands():
    signatures = np.full((1, 112), 12345, dtype=np.uint64)
    keys = HASHER.band_keys(signatures)
    assert keys.shape == (1, 14) and len(set(keys[0].tolist())) == 14


def test_duplicates_keeps_the_smallest_id_of_each_component():
    keys = np.array([[1, 2], [3, 2], [3, 4], [5, 6], [7, 8], [7, 9]], dtype=np.uint64)  # 0-1 (band 1), 1-2 (band 0)
    assert duplicates(["d", "c", "b", "a", "f", "e"], keys) == {"d": "b", "c": "b", "f": "e"}


# --- short, empty and non-Latin documents ----------------------------------------------------------


def test_documents_under_five_words_have_no_shingles_and_are_never_duplicates():
    """As in datatrove: its n-gram iterator yields nothing under n words, so it writes no signature."""
    texts = [
        "",
        "   \n ",
        "!!! --- ...",
        "four words right here",
        "four words right here",
        "five words are just enough",
    ]
    assert [len(HASHER.shingle_hashes(t)) for t in texts] == [0, 0, 0, 0, 0, 1]
    signatures = HASHER.signatures(texts)
    keys = HASHER.band_keys(signatures)
    assert (signatures[:5] == NO_SHINGLES).all() and (keys[:5] == NO_SHINGLES).all()
    assert (signatures[5] < MERSENNE_PRIME).all() and (keys[5] != NO_SHINGLES).all()
    assert duplicates([str(i) for i in range(len(texts))], keys) == {}
    assert jaccard(texts[3], texts[4]) == 0.0


def test_words_are_datatroves_simplified_words():
    # lower case, numbers to 0 ("1,000,000" is "1,000" then ",000": two), datatrove's punctuation to
    # spaces, accents stripped (not "ß"), spaCy's English splitting of what is left ("cannot" is two words)
    text = "Größe, café & naïve: It's 3.5% of $1,000,000 in 2024-05... We cannot stop!"
    assert HASHER.words(text) == [
        "große", "cafe", "naive", "it", "s", "0", "of", "0", "0", "in", "0", "0", "we", "can", "not", "stop",
    ]  # fmt: skip


@pytest.mark.slow
def test_words_match_datatrove_on_real_text_in_many_scripts():
    pytest.importorskip("spacy")
    from datatrove.utils.text import simplify_text
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    tokenizer = load_word_tokenizer("en")
    udhr = need_data("udhr-multilingual")
    languages = ["eng", "deu", "fra", "vie", "tur", "pol", "rus", "ell_polytonic", "arb", "heb", "hin", "ben",
                 "tam", "tha", "kat", "amh", "kor", "jpn", "cmn_hans"]  # fmt: skip
    texts = [(udhr / f"{code}.txt").read_text("utf-8") for code in languages]
    texts += [p.read_text("utf-8") for p in sorted(need_data("fomc-statements").glob("*/*.txt"))[::10]]
    for text in texts:
        assert HASHER.words(text) == tokenizer.word_tokenize(simplify_text(text))


def test_cjk_words_are_clauses_in_english_and_characters_in_chinese():
    text = (need_data("udhr-multilingual") / "cmn_hans.txt").read_text("utf-8")
    clauses = HASHER.words(text)  # datatrove's English tokenizer: no spaces, so a run between punctuation
    characters = MinHasher(language="zh").words(text)
    assert "世界人权宣言" in clauses and all(len(w) == 1 for w in characters if "\u4e00" <= w[0] <= "\u9fff")
    assert len(characters) > 5 * len(clauses)
    # near-duplicates of Chinese text: one character in 200 replaced keeps most character 5-grams (and
    # loses whole clause 5-grams under the English rules)
    rng = random.Random(0)
    chars = list(text)
    for i in rng.sample([i for i, c in enumerate(chars) if "\u4e00" <= c <= "\u9fff"], len(chars) // 200):
        chars[i] = "中"
    edited = "".join(chars)
    assert jaccard(text, edited, language="zh") > 0.85 > jaccard(text, edited)
    chinese = MinHasher(language="zh")
    assert candidate_pairs(chinese.band_keys(chinese.signatures([text, edited]))) == {(0, 1)}


# --- hash="datatrove": datatrove's signatures, bit for bit ------------------------------------------

DATATROVE = MinHasher(hash="datatrove")
UDHR_LANGUAGES = ["eng", "deu", "fra", "vie", "tur", "pol", "rus", "ell_polytonic", "arb", "heb", "hin", "ben",
                  "tam", "tha", "kat", "amh", "kor", "jpn", "cmn_hans"]  # fmt: skip


def datatrove_step(**config):
    """datatrove's MinhashDedupSignature as FineWeb ran it (SHA-1, 64 bits), for its get_shingles and
    get_signature (its output folder is never written to)."""
    pytest.importorskip("spacy")
    minhash = pytest.importorskip("datatrove.pipeline.dedup.minhash")
    from datatrove.utils.hashing import HashConfig

    hash_config = HashConfig(precision=64, hash_fc="sha1")
    return minhash.MinhashDedupSignature("unused", config=minhash.MinhashConfig(hash_config=hash_config, **config))


def datatrove_signatures(step, texts: list[str]) -> np.ndarray:
    """(len(texts), num_hashes) datatrove's `get_signature(get_shingles(text))`, its buckets side by side;
    NO_SHINGLES for a document it writes no signature for."""
    signatures = np.full((len(texts), step.num_hashes), NO_SHINGLES, dtype=np.uint64)
    for i, text in enumerate(texts):
        shingles = step.get_shingles(text)
        if shingles.size:
            signatures[i] = np.array(step.get_signature(shingles), dtype=np.uint64).ravel()
    return signatures


def test_datatrove_hash_permutations_are_datatroves_uint64_arithmetic():
    """(x * a + b) % p in numpy uint64, wrapping mod 2^64 before the mod p, for any 64-bit shingle x
    (datatrove's are not reduced mod p): against datatrove's get_signature and Python integers."""
    step = datatrove_step()
    a, b = (v.ravel().tolist() for v in step.parameters)
    rng = np.random.default_rng(0)
    edges = [0, 1, MERSENNE_PRIME - 1, MERSENNE_PRIME, MERSENNE_PRIME + 1, 1 << 61, 1 << 63, (1 << 64) - 1]
    xs = np.array(edges + rng.integers(0, 1 << 64, 200, dtype=np.uint64, endpoint=False).tolist(), dtype=np.uint64)
    values = DATATROVE._permute_datatrove(xs)
    expected = [[((ai * x + bi) % (1 << 64)) % MERSENNE_PRIME for x in xs.tolist()] for ai, bi in zip(a, b)]
    assert values.tolist() == expected
    for i in range(len(edges)):  # one shingle: the signature is its permuted values
        assert np.array(step.get_signature(xs[i : i + 1, None])).ravel().tolist() == values[:, i].tolist()
    assert np.array(step.get_signature(xs[:, None])).ravel().tolist() == values.min(axis=1).tolist()
    # the wrap matters: the exact arithmetic of the default (on x mod p) gives other values
    assert (HASHER._permute(xs[-200:] % np.uint64(MERSENNE_PRIME)) != values[:, -200:]).mean() > 0.99


def test_datatrove_hash_shingles_are_datatroves_sha1_of_the_joined_words():
    """A shingle: the n-gram's words joined by a space, SHA-1 of its UTF-8, first 8 bytes little-endian."""
    step = datatrove_step()
    texts = SAMPLE[:-2] + ["Größe, café & naïve: It's 3.5% of $1,000,000 in 2024-05... We cannot stop!"]
    for text in texts:
        assert (DATATROVE.shingle_hashes(text) == np.unique(step.get_shingles(text))).all()
    words = DATATROVE.words(SAMPLE[0])
    gram = " ".join(words[:5]).encode("utf-8")
    assert int.from_bytes(hashlib.sha1(gram).digest()[:8], "little") in DATATROVE.shingle_hashes(SAMPLE[0])
    for ngram in (1, 3):  # other n-gram sizes, as datatrove's n_grams
        other = datatrove_step(n_grams=ngram)
        ours = MinHasher(ngram=ngram, hash="datatrove")
        assert (ours.signatures(texts) == datatrove_signatures(other, texts)).all()


def test_datatrove_hash_rows_are_independent_of_batch_and_pickling():
    together = DATATROVE.signatures(SAMPLE)
    assert (np.vstack([DATATROVE.signatures([t]) for t in SAMPLE]) == together).all()
    small = pickle.loads(pickle.dumps(DATATROVE))
    small.block = 7
    assert (small.signatures(SAMPLE) == together).all()
    empty = (together == NO_SHINGLES).all(axis=1)  # under five words: SAMPLE's Chinese clauses, short, empty
    assert empty.tolist() == [False, False, True, False, True, True] and (together[~empty] < MERSENNE_PRIME).all()
    assert not (together[~empty] == HASHER.signatures(SAMPLE)[~empty]).any()  # the default draws other values
    with pytest.raises(ValueError, match="hash must be"):
        MinHasher(hash="xxhash")


@pytest.fixture(scope="module")
def datatrove_corpus() -> list[str]:
    """A few hundred real documents (FOMC statements, inaugural addresses, the UDHR in 19 languages),
    and planted copies of a third of them, some near the LSH threshold (2% to 15% of words replaced)."""
    texts = [p.read_text("utf-8") for p in sorted(need_data("fomc-statements").glob("*/*.txt"))]
    texts += [
        p.read_text("latin-1") for p in sorted(need_data("nltk-us-presidential-addresses", "inaugural").glob("*"))
    ]
    texts += [(need_data("udhr-multilingual") / f"{code}.txt").read_text("utf-8") for code in UDHR_LANGUAGES]
    rng = random.Random(2)
    vocabulary = sorted({w for t in texts for w in t.split() if w.isalpha()})
    copies = []
    for text in texts[::3]:
        words = text.split(" ")
        for i in rng.sample(range(len(words)), len(words) * rng.choice([2, 5, 8, 10, 12, 15]) // 100):
            words[i] = rng.choice(vocabulary)
        copies.append(" ".join(words))
    return texts + copies + SAMPLE


@pytest.mark.slow
def test_datatrove_hash_signatures_are_datatroves_bit_for_bit_on_real_text(datatrove_corpus):
    texts = datatrove_corpus
    assert len(texts) > 300
    ours = DATATROVE.signatures(texts)
    assert (ours == datatrove_signatures(datatrove_step(), texts)).all()
    assert (ours == NO_SHINGLES).all(axis=1).sum() == 3  # SAMPLE's Chinese (four clauses), "short text", ""


@pytest.mark.slow
def test_datatrove_hash_removes_what_datatroves_four_stages_remove(datatrove_corpus, tmp_path):
    """datatrove's signatures, buckets (one task per band), clusters and filter, run for real: the
    same clusters as thresher's band keys and union-find, so the same number of documents removed
    (and the same documents, when each cluster keeps its smallest index, thresher's rule)."""
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter

    texts = datatrove_corpus
    config = datatrove_step().config
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    datatrove_step().__class__(str(tmp_path / "sigs"), config=config).run(iter(docs), rank=0, world_size=1)
    for bucket in range(config.num_buckets):
        MinhashDedupBuckets(str(tmp_path / "sigs"), str(tmp_path / "buckets"), config=config).run(
            rank=bucket, world_size=config.num_buckets
        )
    MinhashDedupCluster(str(tmp_path / "buckets"), str(tmp_path / "remove"), config=config, save_cluster_id=True).run()
    kept = {int(d.id) for d in MinhashDedupFilter(str(tmp_path / "remove")).run(iter(docs), rank=0, world_size=1)}
    removed_datatrove = set(range(len(texts))) - kept
    clusters: dict[int, set[int]] = {}
    for doc, cluster in struct_pairs((tmp_path / "remove" / "000000.clusters").read_bytes()):
        clusters.setdefault(cluster, set()).add(doc)

    ids = [f"{i:06d}" for i in range(len(texts))]  # the smallest id is the smallest index
    removed = {int(d): int(s) for d, s in duplicates(ids, DATATROVE.band_keys(DATATROVE.signatures(texts))).items()}
    groups: dict[int, set[int]] = {}
    for doc, survivor in removed.items():
        groups.setdefault(survivor, {survivor}).add(doc)
    assert len(removed_datatrove) > 50  # near-threshold copies included: not a trivial agreement
    assert len(removed) == len(removed_datatrove)
    assert sorted(map(sorted, groups.values())) == sorted(map(sorted, clusters.values()))
    assert set(removed) == {d for members in clusters.values() for d in sorted(members)[1:]}


def struct_pairs(data: bytes) -> list[tuple[int, int]]:
    """datatrove's .clusters file: (document index, cluster id) pairs of little-endian uint32."""
    return [tuple(pair) for pair in np.frombuffer(data, dtype="<u4").reshape(-1, 2).tolist()]
