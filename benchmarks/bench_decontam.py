"""Throughput of the decontamination stage against a plain set of n-gram strings, in one process.

    python benchmarks/bench_decontam.py [--repeats R] [--eval FILE]

Eval set: tiny Shakespeare (1.1 MB of text, one item) unless `--eval` names another `.txt` file.
Documents: the 160 FOMC statements of ../shared/data (0.7 MB of English prose), each scored whole,
plus the same statements with 20 consecutive words of the eval set planted in the middle, so that the
matching path is timed too. The reference is the algorithm of EleutherAI's janitor.py in pure
Python (every n-gram joined into a string, looked up in a Python set), on the same words: both
must report the same number of matched n-grams for every document, and the ratio of their
documents per second is printed. One process is one core. Prints the index build time and size,
the memory each keeps per n-gram, then, per implementation, the fastest of R passes (as timeit
does: on a shared machine slower passes measure the neighbours).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from thresher.filters.decontam import DecontaminationFilter, normalized_words

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class StringSetReference:
    """janitor.py's way: a set of the eval sets' n-grams as space-joined strings."""

    def __init__(self, eval_text: str, n: int):
        words = normalized_words(eval_text)
        self.n = n
        self.grams = {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}

    def count(self, text: str) -> int:
        words = normalized_words(text)
        grams = {" ".join(words[i : i + self.n]) for i in range(len(words) - self.n + 1)}
        return len(grams & self.grams)


def documents(eval_text: str) -> list[str]:
    statements = [
        p.read_text(encoding="utf-8") for p in sorted((DATA / "fomc-statements" / "statements").glob("*.txt"))
    ]
    if not statements:
        raise SystemExit(f"no statements under {DATA / 'fomc-statements'} (see shared/data/MANIFEST.md)")
    words = eval_text.split()
    planted = []
    for i, text in enumerate(statements):
        at = (i * 7919) % (len(words) - 20)
        middle = len(text) // 2
        planted.append(f"{text[:middle]} {' '.join(words[at : at + 20])} {text[middle:]}")
    return statements + planted


def timed(score, docs: list[str], repeats: int) -> tuple[float, list[int]]:
    times, counts = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        counts = [score(doc) for doc in docs]
        times.append(time.perf_counter() - start)
    return min(times), counts  # the least disturbed pass: the machine may be shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--eval", default=str(DATA / "tiny-shakespeare" / "input.txt"), help="a .txt file")
    args = parser.parse_args()

    start = time.perf_counter()
    stage = DecontaminationFilter(args.eval)
    built = time.perf_counter() - start
    eval_text = Path(args.eval).read_text(encoding="utf-8")
    index = stage.index
    print(
        f"index: {len(index.hashes):,} distinct {stage.ngram}-grams from {Path(args.eval).name} "
        f"({Path(args.eval).stat().st_size / 1e6:.2f} MB) in {built:.2f} s, {index.hashes.nbytes / 1e6:.1f} MB of hashes"
    )
    docs = documents(eval_text)
    megabytes = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    ours, our_counts = timed(lambda text: stage.matches(text)[0], docs, args.repeats)
    reference = StringSetReference(eval_text, stage.ngram)
    ours_bytes = index.hashes.nbytes + index.items.nbytes
    theirs_bytes = sys.getsizeof(reference.grams) + sum(map(sys.getsizeof, reference.grams))
    print(
        f"memory per n-gram: {ours_bytes / len(index.hashes):.0f} bytes (hash and item), "
        f"{theirs_bytes / len(reference.grams):.0f} bytes in the reference's set of strings"
    )
    theirs, their_counts = timed(reference.count, docs, args.repeats)
    assert our_counts == their_counts, "the stage and the string-set reference disagree"
    contaminated = sum(c > 0 for c in our_counts)
    print(f"{len(docs)} documents ({megabytes:.2f} MB), {contaminated} contaminated (both agree on every count)")
    for name, seconds in (("thresher (hashes, numpy)", ours), ("reference (string set)", theirs)):
        print(f"  {name:26s} {len(docs) / seconds:8.0f} docs/s  {megabytes / seconds:6.2f} MB/s")
    print(f"  ratio: {theirs / ours:.2f}x the reference's speed")


if __name__ == "__main__":
    main()
