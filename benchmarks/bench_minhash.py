"""MinHash near-duplicate removal: thresher's filters/minhash.py against datatrove's, speed and parity, in one run.

    python benchmarks/bench_minhash.py [--passes 3] [--pages N] [--no-speed | --no-parity]   # ~8 minutes, one core

Input (../shared/data, see MANIFEST.md), built at run time: the text of the trafilatura-eval and
readability pages (thresher's cascade extractor), the FOMC statements, the SEC 8-K filings' items
and the presidential addresses; then planted duplicates: a third of the documents of 50 words or
more get one to three copies each (exact; 1% or 2% of the words replaced; a boilerplate line added
at the top and the bottom; one line replaced by boilerplate; a paragraph dropped; a third of the
copies are made from the previous copy), shuffled in.

Both sides use FineWeb's parameters: word 5-grams, 14 bands of 8 rows, seed 1. datatrove 0.10.1's
default shingle hash is xxhash64, which needs the `xxhash` package (not installed here; datatrove
pins xxhash<4, its MinHash breaks with xxhash 4): datatrove runs with `HashConfig(precision=64,
hash_fc="sha1")`, the SHA-1 64-bit hash FineWeb's datatrove used.

Speed: datatrove's MinhashDedupSignature work per document (`get_shingles` + `get_signature`, its
own code, without the bucket files it then writes and sorts: that stage's own rate is printed too)
against thresher's `MinHasher.signatures` + `band_keys` on batches of 1,000 documents, in both
modes: the default (`hash="thresher"`) and `hash="datatrove"` (datatrove's signatures bit for bit:
SHA-1 per shingle). Each pass starts from empty caches on every side (datatrove's spaCy tokenizer
created anew, loaded before the clock; thresher's word and chunk caches emptied before each mode's
cold run), then a second, warm pass over the same documents;
the median of `--passes` of each is printed. Times are CPU seconds of this one process
(`process_time`): docs/s and MB/s (UTF-8 bytes of text) per core.

Parity: datatrove's four stages run for real in a temporary folder (signatures, buckets with one
task per band, clusters, filter), against thresher's signatures, band keys and `duplicates`
(bands -> buckets -> union-find -> smallest id kept). Printed:
- the words: thresher's `MinHasher.words` against datatrove's `simplify_text` + spaCy tokenizer,
  document by document (equal words, equal shingle sets);
- the algorithm: thresher's band keys and `duplicates` on datatrove's own signatures (read back
  from its bucket files) against datatrove's clusters;
- the removal, end to end. Survivor rules differ: datatrove keeps the root of its union-find
  (union by size; between equal sizes the pair's first document in its sorted signatures, the
  smaller index), so a two-document cluster keeps the smaller index as thresher does, and a larger
  one whichever root the order of the unions left. The parity figure therefore takes datatrove's
  clusters with thresher's survivor rule (each keeps its smallest index): it compares cluster
  membership. The removal as datatrove does it is printed too;
- `hash="datatrove"`: thresher's signatures in that mode against datatrove's (read back from its
  bucket files), document by document, and its removal against datatrove's (the same clusters
  wherever the words are the same: any difference comes from a document whose words differ);
- controls: each implementation against itself with seed 2. The two sides hash shingles
  differently (SHA-1 of the joined n-gram there; BLAKE2b word hashes combined, here) and
  datatrove's `(x * a + b) % p` wraps mod 2^64 in uint64 before the mod p: for one pair of
  documents each side is an independent draw of the same LSH, so pairs near the threshold go either
  way, as they do between two seeds of one implementation. The disagreements are binned by the
  document's best exact Jaccard with its clusters, with the chance 2q(1 - q), q = 1 - (1 - s^8)^14,
  that two independent draws disagree on such a pair.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import random
import statistics
import struct
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.utils import word_tokenizers as datatrove_tokenizers
from datatrove.utils.hashing import HashConfig
from datatrove.utils.text import simplify_text as datatrove_simplify

from thresher.filters import spacy_words
from thresher.filters.extract import Extractor, decode_html
from thresher.filters.minhash import NO_SHINGLES, MinHasher, duplicates, jaccard

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BATCH = 1000
CONFIG = MinhashConfig(
    n_grams=5, num_buckets=14, hashes_per_bucket=8, seed=1, hash_config=HashConfig(precision=64, hash_fc="sha1")
)


def load_corpus(pages: int | None) -> list[tuple[str, str]]:
    """(source, text) of every non-empty document."""
    extractor = Extractor()
    html = sorted((DATA / "trafilatura-eval" / "eval").glob("*.html.gz"))[:pages]
    html += sorted((DATA / "mozilla-readability-test-pages" / "pages").glob("*/source.html.gz"))
    if not html:
        raise SystemExit(f"no pages under {DATA} (see shared/data/MANIFEST.md)")
    docs = []
    for path in html:
        try:
            docs.append(("web pages", extractor(decode_html(gzip.decompress(path.read_bytes())).text)))
        except Exception:  # a page the extractor refuses (too complex) is left out
            continue
    docs += [("FOMC", p.read_text("utf-8")) for p in sorted((DATA / "fomc-statements").glob("*/*.txt"))]
    with zipfile.ZipFile(DATA / "sec-edgar-filings" / "EXTRACTED_FILINGS_8-K.zip") as archive:
        for name in sorted(n for n in archive.namelist() if n.endswith(".json")):
            filing = json.loads(archive.read(name))
            items = [v for k, v in filing.items() if k.startswith("item_") and v.strip()]
            docs.append(("SEC 8-K", "\n\n".join(items)))
    addresses = DATA / "nltk-us-presidential-addresses"
    docs += [("addresses", p.read_text("latin-1")) for p in sorted(addresses.glob("*/*.txt")) if "README" not in p.name]
    return [(source, text) for source, text in docs if text.strip()]


BOILERPLATE = [
    "Share this article on Facebook, Twitter and LinkedIn.",
    "Subscribe to our newsletter for the latest updates.",
    "Copyright 2024 All rights reserved. Privacy Policy | Terms of Use",
    "This site uses cookies. By continuing to browse you agree to our use of cookies.",
    "Related posts: read more stories like this one",
]


def edit(text: str, rng: random.Random, vocabulary: list[str]) -> tuple[str, str]:
    """One planted copy of `text`, and what was done to it."""
    kind = rng.choice(["exact", "words 1%", "words 2%", "boilerplate", "line changed", "paragraph dropped"])
    if kind == "exact":
        return text, kind
    if kind.startswith("words"):
        words = text.split(" ")
        for i in rng.sample(range(len(words)), max(1, len(words) * int(kind[6]) // 100)):
            words[i] = rng.choice(vocabulary)
        return " ".join(words), kind
    lines = text.split("\n")
    if kind == "boilerplate":
        return "\n".join([rng.choice(BOILERPLATE), *lines, rng.choice(BOILERPLATE)]), kind
    if kind == "line changed":
        i = rng.randrange(len(lines))
        lines[i] = rng.choice(BOILERPLATE)
        return "\n".join(lines), kind
    paragraphs = text.split("\n\n") if "\n\n" in text else lines
    if len(paragraphs) > 2:
        del paragraphs[rng.randrange(len(paragraphs))]
    return ("\n\n" if "\n\n" in text else "\n").join(paragraphs), kind


def plant(texts: list[str], seed: int = 0) -> tuple[list[str], list[int], list[str]]:
    """texts + planted copies, shuffled; for each document the index of its original in `texts`
    and how it was made ("original" for the originals)."""
    rng = random.Random(seed)
    vocabulary = sorted({w for t in texts[:200] for w in t.split() if w.isalpha()})
    docs = [(t, i, "original") for i, t in enumerate(texts)]
    for i, text in enumerate(texts):
        if len(text.split()) >= 50 and rng.random() < 1 / 3:
            source = text
            for _ in range(rng.randint(1, 3)):
                copy, kind = edit(source, rng, vocabulary)
                docs.append((copy, i, kind))
                if rng.random() < 0.3:
                    source = copy  # the next copy is made from this one
    rng.shuffle(docs)
    return [d[0] for d in docs], [d[1] for d in docs], [d[2] for d in docs]


def reset_caches() -> None:
    datatrove_tokenizers.load_word_tokenizer.cache_clear()
    datatrove_tokenizers.load_word_tokenizer("en").word_tokenize("load spaCy before the clock starts")
    reset_thresher_words()


def reset_thresher_words() -> None:
    spacy_words._ENGLISH.cache.clear()
    spacy_words._ENGLISH.cache.update(spacy_words._ENGLISH.specials)


def time_datatrove(step: MinhashDedupSignature, texts: list[str]) -> float:
    start = time.process_time()
    for text in texts:
        shingles = step.get_shingles(text)
        if shingles.size:
            step.get_signature(shingles)
    return time.process_time() - start


def time_thresher(hasher: MinHasher, texts: list[str]) -> float:
    start = time.process_time()
    for i in range(0, len(texts), BATCH):
        hasher.band_keys(hasher.signatures(texts[i : i + BATCH]))
    return time.process_time() - start


def speed(texts: list[str], passes: int, folder: str) -> None:
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    # per pass and label: CPU seconds of datatrove, thresher's default, thresher's hash="datatrove"
    runs: dict[str, list[tuple[float, float, float]]] = {"cold": [], "warm": []}
    for _ in range(passes):
        reset_caches()
        step, hasher, compat = MinhashDedupSignature(folder, config=CONFIG), MinHasher(), MinHasher(hash="datatrove")
        for label in runs:
            ref, ours = time_datatrove(step, texts), time_thresher(hasher, texts)
            if label == "cold":
                reset_thresher_words()  # the compat mode's cold run starts from empty word caches too
            runs[label].append((ref, ours, time_thresher(compat, texts)))
    print(f"speed: {len(texts)} documents, {mb:.2f} MB; per core (CPU time of one process), median of {passes} passes")
    print(
        f"{'pass':<6} {'datatrove docs/s':>17} {'MB/s':>6} {'thresher docs/s':>16} {'MB/s':>6} {'ratio':>7}"
        f" {'hash=datatrove docs/s':>22} {'MB/s':>6} {'ratio':>7}"
    )
    for label, results in runs.items():
        ref, ours, compat_s = (statistics.median(r[k] for r in results) for k in range(3))
        ratios = [statistics.median(r[0] / r[k] for r in results) for k in (1, 2)]
        print(
            f"{label:<6} {len(texts) / ref:>17.0f} {mb / ref:>6.2f} {len(texts) / ours:>16.0f} {mb / ours:>6.2f}"
            f" {ratios[0]:>6.1f}x {len(texts) / compat_s:>22.0f} {mb / compat_s:>6.2f} {ratios[1]:>6.1f}x"
        )


def datatrove_removal(
    texts: list[str], folder: Path, seed: int = 1
) -> tuple[set[int], dict[int, int], np.ndarray, float]:
    """datatrove's four stages: (removed indices, {index: cluster id} for every clustered document,
    its signatures read back from its bucket files, CPU seconds of stage 1 with those files)."""
    config = dataclasses.replace(CONFIG, seed=seed)
    folder = folder / f"seed{seed}"
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    start = time.process_time()
    MinhashDedupSignature(str(folder / "signatures"), config=config).run(iter(docs), rank=0, world_size=1)
    stage1 = time.process_time() - start
    for bucket in range(config.num_buckets):
        MinhashDedupBuckets(str(folder / "signatures"), str(folder / "buckets"), config=config).run(
            rank=bucket, world_size=config.num_buckets
        )
    MinhashDedupCluster(str(folder / "buckets"), str(folder / "remove"), config=config, save_cluster_id=True).run()
    kept = {int(doc.id) for doc in MinhashDedupFilter(str(folder / "remove")).run(iter(docs), rank=0, world_size=1)}
    clusters = {}
    path = folder / "remove" / "000000.clusters"
    if path.exists():
        clusters = dict(struct.iter_unpack("<2I", path.read_bytes()))
    rows = config.hashes_per_bucket
    signatures = np.full((len(texts), config.num_buckets * rows), NO_SHINGLES, dtype=np.uint64)
    record = np.dtype([("values", "<u8", (rows,)), ("doc", "<u4")])
    for bucket in range(config.num_buckets):
        records = np.fromfile(folder / "signatures" / f"bucket_{bucket:03d}" / "00000.minhash.sig", dtype=record)
        signatures[records["doc"], bucket * rows : (bucket + 1) * rows] = records["values"]
    return set(range(len(texts))) - kept, clusters, signatures, stage1


def removed_with_smallest_kept(clusters: dict[int, int]) -> set[int]:
    """The documents a clustering removes when each cluster keeps its smallest index."""
    groups: dict[int, list[int]] = {}
    for doc, cluster in clusters.items():
        groups.setdefault(cluster, []).append(doc)
    return {d for g in groups.values() for d in sorted(g)[1:]}


def thresher_removal(
    texts: list[str], seed: int = 1, signatures: np.ndarray | None = None, hash: str = "thresher"
) -> dict[int, int]:
    """{removed index: survivor index} from thresher's signatures (or the ones given)."""
    hasher = MinHasher(seed=seed, hash=hash)
    if signatures is None:
        signatures = hasher.signatures(texts)
    ids = [f"{i:06d}" for i in range(len(texts))]  # zero-padded: the smallest id is the smallest index
    return {int(i): int(s) for i, s in duplicates(ids, hasher.band_keys(signatures)).items()}


def agreement(a: set[int], b: set[int], n: int) -> str:
    return f"{n - len(a ^ b)}/{n} = {(n - len(a ^ b)) / n:.2%}"


def match(s: float) -> float:
    return 1 - (1 - s**8) ** 14


def parity(texts: list[str], origins: list[int], kinds: list[str], sources: list[str], folder: Path) -> None:
    n = len(texts)
    hasher = MinHasher()
    ours = thresher_removal(texts)
    removed_dt, clusters_dt, signatures_dt, stage1 = datatrove_removal(texts, folder)
    canonical_dt = removed_with_smallest_kept(clusters_dt)
    print(f"\ndatatrove stage 1 with its bucket files: {n / stage1:.0f} docs/s (CPU)")
    print(f"parity: {n} documents ({sum(k != 'original' for k in kinds)} planted copies)")

    # the words: thresher's against datatrove's tokenizer on datatrove's simplified text
    tokenizer = datatrove_tokenizers.load_word_tokenizer("en")
    differ = [i for i, t in enumerate(texts) if hasher.words(t) != tokenizer.word_tokenize(datatrove_simplify(t))]
    print(f"  words (hence shingles) identical to datatrove's (simplify_text + spaCy): {n - len(differ)}/{n}")
    for i in differ[:3]:
        a, b = hasher.words(texts[i]), tokenizer.word_tokenize(datatrove_simplify(texts[i]))
        where = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        print(f"    doc {i}: thresher {a[where : where + 4]} datatrove {b[where : where + 4]}")
    # the algorithm: thresher's bands and union-find on datatrove's own signatures
    on_theirs = set(thresher_removal(texts, signatures=signatures_dt))
    print(f"  thresher's band keys + duplicates() on datatrove's signatures: {agreement(on_theirs, canonical_dt, n)}")

    removed_ours = set(ours)
    print(f"  removed: datatrove {len(removed_dt)}, thresher {len(removed_ours)};", end=" ")
    print(f"planted groups alone (one kept each) would remove {n - len(set(origins))}")
    print(
        f"  agreement on removal, datatrove's clusters with the smallest id kept: {agreement(removed_ours, canonical_dt, n)}"
    )
    print(f"  agreement on removal, as datatrove removes (its own survivor): {agreement(removed_ours, removed_dt, n)}")
    for source in sorted(set(sources)):
        docs = {i for i in range(n) if sources[i] == source}
        print(f"    {source} and their copies: {agreement(removed_ours & docs, canonical_dt & docs, len(docs))}")
    # hash="datatrove": datatrove's signatures bit for bit, hence its clusters (where the words agree)
    compat = MinHasher(hash="datatrove")
    start = time.process_time()
    signatures_compat = compat.signatures(texts)
    seconds = time.process_time() - start
    same = (signatures_compat == signatures_dt).all(axis=1)
    print(f"  hash=datatrove ({n / seconds:.0f} docs/s, CPU, signatures only):")
    print(f"    signatures identical to datatrove's (its bucket files): {same.sum()}/{n}", end="")
    print(f"; of the documents with its words: {np.delete(same, differ).sum()}/{n - len(differ)}")
    survivors = thresher_removal(texts, signatures=signatures_compat, hash="datatrove")
    removed_compat = set(survivors)
    groups_compat: dict[int, set[int]] = {}
    for doc, survivor in survivors.items():
        groups_compat.setdefault(survivor, {survivor}).add(doc)
    groups_dt: dict[int, set[int]] = {}
    for doc, cluster in clusters_dt.items():
        groups_dt.setdefault(cluster, set()).add(doc)
    same_clusters = sorted(map(sorted, groups_compat.values())) == sorted(map(sorted, groups_dt.values()))
    print(f"    removed: datatrove {len(removed_dt)}, thresher hash=datatrove {len(removed_compat)}", end="")
    print(f"; clusters ({len(groups_dt)} in datatrove) identical: {'yes' if same_clusters else 'no'}")
    print(
        f"    agreement on removal, datatrove's clusters with the smallest id kept: {agreement(removed_compat, canonical_dt, n)}"
    )
    print(
        f"    agreement on removal, as datatrove removes (its own survivor): {agreement(removed_compat, removed_dt, n)}"
        + (" (same clusters: the rest is datatrove's survivor, its union-find's root)" if same_clusters else "")
    )
    for source in sorted(set(sources)):
        docs = {i for i in range(n) if sources[i] == source}
        print(f"      {source} and their copies: {agreement(removed_compat & docs, canonical_dt & docs, len(docs))}")
    # controls: how much the same LSH disagrees with itself under another seed
    canonical_dt2 = removed_with_smallest_kept(datatrove_removal(texts, folder, seed=2)[1])
    print(f"  control, datatrove seed 1 vs seed 2: {agreement(canonical_dt, canonical_dt2, n)}")
    print(f"  control, thresher seed 1 vs seed 2: {agreement(removed_ours, set(thresher_removal(texts, seed=2)), n)}")

    # each disagreement: the document's best exact Jaccard with a document either side grouped it with
    members: dict[int, set[int]] = {}
    for doc, cluster in clusters_dt.items():
        members.setdefault(-1 - cluster, set()).add(doc)
    for doc, survivor in ours.items():
        members.setdefault(survivor, {survivor}).add(doc)
    partners: dict[int, set[int]] = {}
    for group in members.values():
        for doc in group:
            partners.setdefault(doc, set()).update(group - {doc})
    bins = {"< 0.6": [], "0.6-0.7": [], "0.7-0.8": [], "0.8-0.9": [], ">= 0.9": []}
    for d in sorted(removed_ours ^ canonical_dt):
        best = max(((jaccard(texts[d], texts[p]), p) for p in partners.get(d, ())), default=(0.0, -1))
        label = next(k for k, hi in zip(bins, (0.6, 0.7, 0.8, 0.9, 2)) if best[0] < hi)
        bins[label].append((d, *best))
    size_dt = {d: sum(c == clusters_dt[d] for c in clusters_dt.values()) for d in clusters_dt}
    size_ours = {d: len(g) for key, g in members.items() if key >= 0 for d in g}
    print("  disagreements by the document's best exact Jaccard with a member of either side's cluster:")
    for label, docs in bins.items():
        if docs:
            d, s, p = docs[0]
            q = match(s)
            print(
                f"    {label:<8} {len(docs):>4}   e.g. doc {d} ({kinds[d]}) and doc {p} ({kinds[p]}): J={s:.3f},"
                f" two independent draws disagree with probability 2q(1-q) = {2 * q * (1 - q):.2f};"
                f" clusters of {size_dt.get(d, 1)} (datatrove) and {size_ours.get(d, 1)} (thresher) documents"
            )
    print(
        "  (a document whose pairs are all far from the threshold still disagrees when its cluster is joined to\n"
        "  another through a borderline pair on one side only: the cluster's smallest id, the survivor, changes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=3, help="speed passes (cold + warm each), medians printed")
    parser.add_argument("--pages", type=int, default=None, help="use the first N trafilatura-eval pages only")
    parser.add_argument("--no-speed", action="store_true", help="parity only")
    parser.add_argument("--no-parity", action="store_true", help="speed only")
    args = parser.parse_args()
    sources, base = zip(*load_corpus(args.pages))
    texts, origins, kinds = plant(list(base))
    with tempfile.TemporaryDirectory() as folder:
        if not args.no_speed:
            speed(texts, args.passes, folder)
        if not args.no_parity:
            parity(texts, origins, kinds, [sources[o] for o in origins], Path(folder) / "datatrove")


if __name__ == "__main__":
    main()
