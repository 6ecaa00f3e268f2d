"""Main-text extraction quality and speed: trafilatura, resiliparse and thresher's methods, side by side.

    python benchmarks/bench_extract.py [--split all|dev|heldout] [--methods trafilatura,resiliparse,cascade] [--repeats 3]
    python benchmarks/bench_extract.py --sweep [--split dev]     # the cascade's threshold sweeps

Pages (../shared/data, see MANIFEST.md):
- trafilatura-eval: 990 pages, each with snippets that must appear in the main text ("with") and
  snippets that must not ("without"). Scores: share of must-snippets found, share of must-not
  snippets avoided, both pooled over all snippets (micro), whitespace-normalised substring tests.
- mozilla-readability-test-pages: 130 pages with Readability.js's expected article. Scores: token
  precision / recall / F1 against the expected article's text. Tokens are lowercased `\\w+` runs;
  overlap is the bag-of-words (multiset) intersection, as trafilatura's evaluation compares
  extractions by content rather than order. Computed per page, then averaged over pages (macro);
  an empty extraction scores 0 on all three.

Each HTML page is decoded once, before any clock starts, with thresher's `decode_html`; pages
it cannot decode (binary) are left out for every extractor alike. The
extractors then run page by page in turn (so a noisy neighbour on a shared machine slows them
alike), and only the extraction call is timed, in CPU seconds of this process (`process_time`):
one process is one core, so pages/s here is pages/s per core.

Then the same methods on the HTML responses of ../shared/data's real crawl WARCs (no expected text:
agreement with the first method's text, speed, and how often the cascade falls back), since most
of a crawl is not articles.

Splits: `dev` is the even-index pages of each set (in evaldata.json order and page-name order),
`heldout` the odd-index ones. The cascade's thresholds were tuned on `dev` only.

`--sweep` reruns the sweeps that set the cascade's thresholds (SWEEPS: each constant of
filters/extract.py with the values tried, the shipped one marked *), scores only, no timing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import time
from collections import Counter
from pathlib import Path

from lxml import html as lxml_html

from thresher.filters.extract import ExtractionError, Extractor, decode_html

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRAFILATURA_EVAL = DATA / "trafilatura-eval"
READABILITY = DATA / "mozilla-readability-test-pages" / "pages"

WORD = re.compile(r"\w+")
SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return SPACE.sub(" ", text).strip()


def tokens(text: str) -> Counter:
    return Counter(WORD.findall(text.lower()))


def take(items: list, split: str) -> list:
    if split == "dev":
        return items[0::2]
    if split == "heldout":
        return items[1::2]
    return items


def load_pages(split: str = "all") -> tuple[list[dict], list[dict], int]:
    """(snippet pages, readability pages, pages left out because they do not decode)."""
    undecodable = 0
    snippet_pages = []
    evaldata = json.loads((TRAFILATURA_EVAL / "evaldata.json").read_text())
    for url, entry in take(list(evaldata.items()), split):
        for folder in ("eval", "cache"):
            path = TRAFILATURA_EVAL / folder / f"{entry['file']}.gz"
            if path.exists():
                break
        else:
            raise SystemExit(f"{entry['file']} is in neither eval/ nor cache/ (see shared/data/MANIFEST.md)")
        try:
            page_html = decode_html(gzip.decompress(path.read_bytes())).text
        except ExtractionError:
            undecodable += 1
            continue
        snippet_pages.append({"url": url, "html": page_html, "with": entry["with"], "without": entry["without"]})
    readability_pages = []
    for folder in take(sorted(p for p in READABILITY.iterdir() if p.is_dir()), split):
        try:
            page_html = decode_html(gzip.decompress((folder / "source.html.gz").read_bytes())).text
        except ExtractionError:
            undecodable += 1
            continue
        expected = lxml_html.fromstring(gzip.decompress((folder / "expected.html.gz").read_bytes())).text_content()
        readability_pages.append({"url": None, "html": page_html, "expected": tokens(expected)})
    return snippet_pages, readability_pages, undecodable


def snippet_scores(texts: list[str], pages: list[dict]) -> tuple[float, float]:
    found = wanted = avoided = unwanted = 0
    for text, page in zip(texts, pages):
        text = normalise(text)
        for snippet in page["with"]:
            found += normalise(snippet) in text
        for snippet in page["without"]:
            avoided += normalise(snippet) not in text
        wanted += len(page["with"])
        unwanted += len(page["without"])
    return found / wanted, avoided / unwanted


def token_scores(texts: list[str], pages: list[dict]) -> tuple[float, float, float]:
    precision = recall = f1 = 0.0
    for text, page in zip(texts, pages):
        got, expected = tokens(text), page["expected"]
        common = sum((got & expected).values())
        if common:
            p, r = common / sum(got.values()), common / sum(expected.values())
            precision, recall, f1 = precision + p, recall + r, f1 + 2 * p * r / (p + r)
    n = len(pages)
    return precision / n, recall / n, f1 / n


def timed(methods: list[str], pages: list[dict], repeats: int) -> tuple[dict, dict, dict]:
    """Each method's texts (first pass: every extractor is deterministic), and its speeds as medians
    over `repeats` passes: pages/s, and the ratio to the first method within each pass."""
    extractors = {m: Extractor(m) for m in methods}
    outputs = {m: [] for m in methods}
    speeds = {m: [] for m in methods}
    ratios = {m: [] for m in methods}
    for repeat in range(repeats):
        seconds = dict.fromkeys(methods, 0.0)
        for page in pages:
            for method, extract in extractors.items():
                start = time.process_time()
                text = extract(page["html"], url=page["url"])
                seconds[method] += time.process_time() - start
                if repeat == 0:
                    outputs[method].append(text)
        for method in methods:
            speeds[method].append(len(pages) / seconds[method])
            ratios[method].append(seconds[methods[0]] / seconds[method])
    return (
        outputs,
        {m: statistics.median(v) for m, v in speeds.items()},
        {m: statistics.median(v) for m, v in ratios.items()},
    )


def run(methods: list[str], snippet_pages: list[dict], readability_pages: list[dict], repeats: int = 1) -> dict:
    outputs, speeds, ratios = timed(methods, snippet_pages + readability_pages, repeats)
    results = {}
    n = len(snippet_pages)
    for method in methods:
        found, avoided = snippet_scores(outputs[method][:n], snippet_pages)
        precision, recall, f1 = token_scores(outputs[method][n:], readability_pages)
        results[method] = {
            "found": found,
            "avoided": avoided,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "pages_per_s": speeds[method],
            "speed_ratio": ratios[method],
        }
    return results


def load_crawl_pages() -> list[dict]:
    """The HTML pages of ../shared/data's real crawls (Common Crawl's CC-MAIN-2020-34 sample, wget
    and Internet Archive WARCs), read and decoded as `thresher curate` reads them: pages nobody
    tuned on and with no expected text, many of them not articles (listings, home pages, video
    indexes), as most of a crawl is."""
    from thresher.pipelines.readers import RangeReader

    pages = []
    paths = sorted((DATA / "web-warc-samples").glob("*.warc.gz")) + sorted(
        (DATA / "commoncrawl-records").glob("*.warc.gz")
    )
    for path in paths:
        with path.open("rb") as stream:
            for record in RangeReader(str(path), stream):
                if record.payload is None or record.error:
                    continue  # errored records and already extracted text: not pages
                try:
                    page_html = decode_html(record.payload, record.charset).text
                except ExtractionError:
                    continue
                pages.append({"url": record.url, "html": page_html})
    return pages


def crawl_report(methods: list[str], repeats: int) -> None:
    """Speed on real crawl pages, how often the cascade hands a page to trafilatura, and how close
    each method's text is to trafilatura's (token P / R / F1 against it, pages where it found text)."""
    pages = load_crawl_pages()
    outputs, speeds, ratios = timed(methods, pages, repeats)
    fallback = sum(Extractor.cascade_text(page["html"]) is None for page in pages)
    print(
        f"\nreal crawl pages: {len(pages)} HTML responses; the cascade hands {fallback} "
        f"({100 * fallback / len(pages):.0f}%) to trafilatura"
    )
    reference = [{"expected": tokens(text)} for text in outputs[methods[0]]]
    scored = [i for i, page in enumerate(reference) if page["expected"]]
    print(
        f"\n| extractor | token P % vs {methods[0]} | token R % | token F1 % | pages/s per core "
        f"| speed vs {methods[0]} |"
    )
    print("|---|---|---|---|---|---|")
    for method in methods:
        precision, recall, f1 = token_scores([outputs[method][i] for i in scored], [reference[i] for i in scored])
        print(
            f"| {method} | {100 * precision:.1f} | {100 * recall:.1f} | {100 * f1:.1f} | {speeds[method]:.1f} "
            f"| {ratios[method]:.1f}x |"
        )


# filters/extract.py constant -> values tried; the shipped value is the module's own.
SWEEPS = {
    "MIN_LINE_WORDS": [2, 3, 4, 5],
    "MAX_CALL_TO_ACTION_WORDS": [0, 10, 15, 20],
    "NON_PROSE_PENALTY": [2.0, 4.0, 8.0],
    "MIN_TAIL_RUN_SHARE": [0.08, 0.15, 0.25, 0.4],
    "MAX_GAP_RATIO": [1.0, 2.0, 4.0],
    "MAX_REGION_CUT": [0.3, 0.4, 0.5, 1.0],
    "_SKIP_SELECTORS": [[]],  # no block skipping at all
}


def sweep(snippet_pages: list[dict], readability_pages: list[dict]) -> None:
    """The cascade's scores with each threshold set to each value it was tried at, the rest as shipped."""
    import thresher.filters.extract as extract

    print("\n| constant | value | must found % | must-not avoided % | token P % | token R % | token F1 % |")
    print("|---|---|---|---|---|---|---|")
    for name, values in SWEEPS.items():
        shipped = getattr(extract, name)
        for value in values + ([shipped] if shipped not in values else []):
            setattr(extract, name, value)
            try:
                r = run(["cascade"], snippet_pages, readability_pages)["cascade"]
            finally:
                setattr(extract, name, shipped)
            mark = "*" if value == shipped else ""
            shown = f"{len(value)} selectors" if isinstance(value, list) else repr(value)
            print(
                f"| {name} | {shown}{mark} | {100 * r['found']:.1f} | {100 * r['avoided']:.1f} "
                f"| {100 * r['precision']:.1f} | {100 * r['recall']:.1f} | {100 * r['f1']:.1f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("all", "dev", "heldout"), default="all")
    parser.add_argument("--repeats", type=int, default=1, help="timed passes; speeds are their medians")
    parser.add_argument(
        "--methods",
        default="trafilatura,resiliparse,cascade",
        help="comma-separated Extractor methods; the first is the speed reference",
    )
    parser.add_argument("--sweep", action="store_true", help="rerun the cascade's threshold sweeps (scores only)")
    args = parser.parse_args()
    methods = args.methods.split(",")
    snippet_pages, readability_pages, undecodable = load_pages(args.split)
    print(
        f"split {args.split}: {len(snippet_pages)} trafilatura-eval pages, {len(readability_pages)} "
        f"readability pages, {undecodable} left out (undecodable)"
    )
    if args.sweep:
        sweep(snippet_pages, readability_pages)
        return
    results = run(methods, snippet_pages, readability_pages, args.repeats)
    print(
        f"\n| extractor | must found % | must-not avoided % | token P % | token R % | token F1 % "
        f"| pages/s per core | speed vs {methods[0]} |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for method, r in results.items():
        print(
            f"| {method} | {100 * r['found']:.1f} | {100 * r['avoided']:.1f} | {100 * r['precision']:.1f} "
            f"| {100 * r['recall']:.1f} | {100 * r['f1']:.1f} | {r['pages_per_s']:.1f} "
            f"| {r['speed_ratio']:.1f}x |"
        )
    crawl_report(methods, args.repeats)


if __name__ == "__main__":
    main()
