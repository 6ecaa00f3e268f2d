"""Throughput of thresher's four heuristic filters against datatrove's, side by side in one process.

    python benchmarks/bench_filters.py [--docs N] [--repeats R]

Documents: the trafilatura evaluation pages of ../shared/data (900-odd real pages, many languages),
text extracted with resiliparse's main-content extractor. Filters, configured alike on both sides:
Gopher repetition, Gopher quality, C4 quality (as FineWeb ran it: no end-mark rule, 3 words per
line, 5 sentences) and FineWeb quality, all with English word splitting as FineWeb ran them.

Each implementation runs each filter twice over all documents: a first pass from empty tokenizer
caches (thresher's chunk cache cleared; datatrove's spaCy tokenizer created anew, loaded before the
clock starts) and a second, steady-state pass. One process is one core, so MB/s here (UTF-8 bytes
of text per second) is MB/s per core. With `--repeats R` each filter's two passes run R times (the
caches emptied before each first pass) and the medians are printed, with the range of the ratio:
on a shared machine one run can land on a busy moment. Needs spaCy for datatrove's tokenizer
(`pip install spacy`).
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path
from statistics import median

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter as DatatroveC4,
    FineWebQualityFilter as DatatroveFineWeb,
    GopherQualityFilter as DatatroveGopherQuality,
    GopherRepetitionFilter as DatatroveGopherRepetition,
)
from datatrove.utils import text as datatrove_text, word_tokenizers as datatrove_tokenizers
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

from thresher.filters import spacy_words as thresher_text
from thresher.filters.c4 import C4QualityFilter
from thresher.filters.fineweb import FineWebQualityFilter
from thresher.filters.gopher import GopherQualityFilter, GopherRepetitionFilter

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

FILTERS = {
    "gopher_repetition": (DatatroveGopherRepetition(), GopherRepetitionFilter()),
    "gopher_quality": (DatatroveGopherQuality(), GopherQualityFilter()),
    "c4_quality": (
        DatatroveC4(filter_no_terminal_punct=False),
        C4QualityFilter(min_words_per_line=3, min_num_sentences=5, filter_no_terminal_punct=False),
    ),
    "fineweb_quality": (DatatroveFineWeb(), FineWebQualityFilter()),
}


def load_documents(limit: int | None) -> list[str]:
    paths = sorted((DATA / "trafilatura-eval" / "eval").glob("*.html.gz"))[:limit]
    if not paths:
        raise SystemExit(f"no pages under {DATA / 'trafilatura-eval' / 'eval'} (see shared/data/MANIFEST.md)")
    texts = []
    for path in paths:
        raw = gzip.decompress(path.read_bytes())
        texts.append(extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=True))
    return [t for t in texts if t.strip()]


def reset_caches() -> None:
    """Both tokenizers back to empty caches (spaCy loaded again, outside the timed loop)."""
    datatrove_tokenizers.load_word_tokenizer.cache_clear()
    datatrove_text.split_into_parts.cache_clear()
    datatrove_tokenizers.load_word_tokenizer("en").word_tokenize("load spaCy before the clock starts")
    for tokenizer in (thresher_text._ENGLISH, thresher_text._OTHER):
        tokenizer.cache.clear()
        tokenizer.cache.update(tokenizer.specials)


def run_datatrove(f, texts: list[str]) -> tuple[float, list[bool]]:
    start = time.perf_counter()
    keeps = [f.filter(Document(text=t, id=str(i), metadata={})) is True for i, t in enumerate(texts)]
    return time.perf_counter() - start, keeps


def run_thresher(f, texts: list[str]) -> tuple[float, list[bool]]:
    start = time.perf_counter()
    keeps = [f({"text": t}).keep for t in texts]
    return time.perf_counter() - start, keeps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=None, help="use the first N pages only")
    parser.add_argument("--repeats", type=int, default=1, help="run each filter R times, report medians")
    args = parser.parse_args()
    texts = load_documents(args.docs)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"{len(texts)} documents, {mb:.2f} MB of text; MB/s per core (one process), median of {args.repeats}\n")
    print(
        f"{'filter':<18} {'pass':<7} {'datatrove':>10} {'thresher':>10} {'ratio':>7} {'(range)':>13}   decisions agree"
    )
    for name, (reference, ours) in FILTERS.items():
        runs: dict[str, list[tuple[float, float, int]]] = {"first": [], "steady": []}
        for _ in range(args.repeats):
            reset_caches()
            for label in ("first", "steady"):
                t_ref, keep_ref = run_datatrove(reference, texts)
                t_ours, keep_ours = run_thresher(ours, texts)
                runs[label].append((t_ref, t_ours, sum(a == b for a, b in zip(keep_ref, keep_ours))))
        for label, results in runs.items():
            t_ref = median(r[0] for r in results)
            t_ours = median(r[1] for r in results)
            ratios = [r[0] / r[1] for r in results]
            same = min(r[2] for r in results)
            spread = f"{min(ratios):.1f}-{max(ratios):.1f}x" if len(ratios) > 1 else ""
            print(
                f"{name:<18} {label:<7} {mb / t_ref:>10.2f} {mb / t_ours:>10.2f} {median(ratios):>6.1f}x {spread:>13}"
                f"   {same}/{len(texts)}"
            )


if __name__ == "__main__":
    main()
