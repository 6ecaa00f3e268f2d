"""What the shard pipeline's global shuffle costs: `thresher shard` as it is, against the same
pipeline without the second GroupByKey (each packing bucket written as it is packed), same input.

    python benchmarks/bench_shard.py [--copies 3] [--workers 2] [--repeats 3]

Input: the finance and general text of ../shared/data (SEC 10-K items and 8-K filings, FOMC
statements, presidential addresses, Shakespeare, the UDHR in 388 languages, lingua's sentences in
75), as curated Parquet written at run time, `--copies` times over with distinct ids; a 4,096-token
BPE trained on it first. Both variants tokenize, split and pack exactly alike; the global shuffle
then keys every row, groups rows by shard (a second shuffle of every token) and sorts each shard.
Wall clock of each pipeline run and the peak resident memory of this process and its workers
(psutil, sampled), medians of the rounds; docs/contracts.md (contract 5) says who needs the shuffle.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import apache_beam as beam
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from thresher.contracts.schema import DOCUMENT_SCHEMA
from thresher.pipelines import shard
from thresher.pipelines.options import local_workers, pipeline_options
from thresher.pipelines.runs import match_inputs, plan, range_bytes_for
from thresher.tokenizer.train import train_tokenizer

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def texts() -> list[str]:
    out = []
    for name in ("EXTRACTED_FILINGS_10-K.zip", "EXTRACTED_FILINGS_8-K.zip"):
        with zipfile.ZipFile(DATA / "sec-edgar-filings" / name) as z:
            for member in z.namelist():
                if member.endswith(".json"):
                    out += [v for k, v in json.loads(z.read(member)).items() if k.startswith("item") and v]
    for folder, pattern in (
        ("fomc-statements", "**/*.txt"),
        ("nltk-us-presidential-addresses", "**/*.txt"),
        ("udhr-multilingual", "*.txt"),
        ("lingua-language-testdata", "sentences/*.txt"),
        ("tiny-shakespeare", "*.txt"),
    ):
        out += [p.read_bytes().decode("utf-8", "replace") for p in sorted((DATA / folder).glob(pattern))]
    return [t for t in out if t.strip()]


def write_corpus(folder: Path, copies: int) -> Path:
    folder.mkdir(parents=True)
    docs = texts()
    for copy in range(copies):
        rows = [{"id": f"{copy}-{i}", "text": t} for i, t in enumerate(docs)]
        columns = {f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in DOCUMENT_SCHEMA}
        pq.write_table(pa.table(columns, schema=DOCUMENT_SCHEMA), folder / f"part-{copy}.parquet")
    return folder


def build_unshuffled(
    p,
    inputs,
    files,
    range_bytes,
    tokenizer,
    output,
    sequence_length=1024,
    val_fraction=0.01,
    seed=1234,
    packing_buckets=shard.DEFAULT_PACKING_BUCKETS,
):
    """The shard pipeline without its global shuffle: each bucket written as packed."""
    encoder = shard.load_encoder(tokenizer)
    row_length, dtype = sequence_length + 1, encoder.dtype.name
    write = shard.WriteShard(output, row_length, dtype, {"format": shard.FORMAT})

    def pack_and_write(element):
        (split, bucket), _ = element
        rows = [kv for kv in shard.PackBucket(row_length, seed, dtype).process(element) if isinstance(kv, tuple)]
        yield from write.process(((split, bucket), [keyed for _, keyed in rows]))

    (
        p
        | beam.Create(files)
        | beam.FlatMap(lambda file: plan([tuple(file)], range_bytes))
        | "SpreadRanges" >> beam.Reshuffle()
        | beam.ParDo(shard.TokenizeRange(tokenizer, encoder.sha256, val_fraction, packing_buckets, output))
        | beam.GroupByKey()
        | beam.FlatMap(pack_and_write)
    )


def timed(build, args) -> tuple[float, int]:
    """(wall seconds, peak RSS of this process and its children) of one pipeline run."""
    me, peak, done = psutil.Process(), [0], threading.Event()

    def sample():
        while not done.wait(0.1):
            total = 0
            for proc in [me] + me.children(recursive=True):
                try:
                    total += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            peak[0] = max(peak[0], total)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    start = time.perf_counter()
    p = beam.Pipeline(options=pipeline_options(local_workers(args.workers, [])))
    build(p)
    p.run().wait_until_finish()
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    return seconds, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("apache_beam").setLevel(logging.ERROR)  # each worker's start-up warning, twice a run
    with tempfile.TemporaryDirectory(prefix="bench-shard-") as tmp:
        tmp = Path(tmp)
        corpus = write_corpus(tmp / "curated", args.copies)
        inputs = [str(corpus / "*.parquet")]
        train_tokenizer(inputs, tmp / "tok", vocab_size=4096, max_characters=50_000_000)
        files = match_inputs(inputs)
        range_bytes = range_bytes_for(sum(size for _, size in files))
        results: dict[str, list] = {"global shuffle (thresher shard)": [], "no global shuffle": []}
        for round_ in range(args.repeats):
            for name, builder in (
                ("global shuffle (thresher shard)", shard.build_pipeline),
                ("no global shuffle", build_unshuffled),
            ):
                out = str(tmp / f"out-{round_}-{len(name)}")
                seconds, peak = timed(
                    lambda p, b=builder, o=out: b(p, inputs, files, range_bytes, str(tmp / "tok"), o), args
                )
                results[name].append((seconds, peak))
                print(f"round {round_ + 1}: {name}: {seconds:.1f} s, peak RSS {peak / 2**30:.2f} GiB", flush=True)
        # build_pipeline leaves the shard set staged (shard.run publishes it): the manifest is there.
        out = tmp / f"out-0-{len('global shuffle (thresher shard)')}"
        manifest = json.loads((out / shard.STAGED / "manifest.json").read_text())
        tokens = sum(s["tokens"] for s in manifest["splits"].values())
    print(f"\n{tokens:,} tokens in rows of 1,025; {args.workers} workers\n")
    print("| pipeline | wall s (median) | tokens/s | peak RSS (median) |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        wall = statistics.median(s for s, _ in runs)
        print(
            f"| {name} | {wall:.1f} | {tokens / wall / 1e6:.2f}M | {statistics.median(m for _, m in runs) / 2**30:.2f} GiB |"
        )


if __name__ == "__main__":
    main()
