"""What tag once, select many costs: attributes' storage beside curated/, and the document chain's
time with and without `--keep-dropped` (every stage scores every document, dropped ones included).

    python benchmarks/bench_attributes.py [FILE ...]   # default: the Common Crawl sample + web-warc-samples

Storage: a `thresher curate` run (fineweb recipe, one worker) with and without `--keep-dropped`;
bytes of curated/ and attributes/, and of the attributes rewritten without their `text` column.
Time: `DocumentChain` over the same records in one process, models loaded, best of 5 (curate's
end-to-end time is mostly start-up on inputs this small).
"""

from __future__ import annotations

import glob
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from thresher.filters.chain import DocumentChain
from thresher.filters.registry import load_recipe
from thresher.pipelines.curate import read_sidecar
from thresher.pipelines.readers import RangeReader

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEFAULT = [
    DATA / "commoncrawl-records" / "resiliparse-CC-MAIN-2020-34-sample.warc.gz",
    *sorted((DATA / "web-warc-samples").glob("*.warc.gz")),
]


def size(pattern: str) -> int:
    return sum(os.path.getsize(p) for p in glob.glob(pattern))


def without_text(pattern: str) -> int:
    total = 0
    for path in glob.glob(pattern):
        sink = io.BytesIO()
        pq.write_table(pq.read_table(path).drop_columns(["text"]), sink, compression="zstd")
        total += len(sink.getvalue())
    return total


def storage(paths: list[str]) -> None:
    print("| run | curated/ bytes | attributes/ bytes | x curated | attributes without text |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for flag in ([], ["--keep-dropped"]):
            out = f"{tmp}/run{len(flag)}"
            cmd = [sys.executable, "-m", "thresher", "curate", "--output", out, "--workers", "1", *flag]
            subprocess.run([*cmd, "--input", *paths], check=True, capture_output=True)
            curated, attributes = size(f"{out}/curated/*.parquet"), size(f"{out}/attributes/*.parquet")
            name = " ".join(flag) or "default"
            print(
                f"| {name} | {curated:,} | {attributes:,} | {attributes / curated:.2f} | "
                f"{without_text(f'{out}/attributes/*.parquet'):,} |"
            )


def chain_time(paths: list[str]) -> None:
    records = []
    for path in paths:
        with open(path, "rb") as fh:
            records += list(RangeReader(path, fh, 0, os.path.getsize(path), 20_000_000, read_sidecar))
    recipe = load_recipe("fineweb")
    chains = {flag: DocumentChain(recipe, keep_dropped=flag) for flag in (False, True)}
    for chain in chains.values():  # warm: models loaded
        for record in records:
            chain.process(record)
    best = dict.fromkeys(chains, float("inf"))
    for _ in range(5):
        for flag, chain in chains.items():
            start = time.perf_counter()
            for record in records:
                chain.process(record)
            best[flag] = min(best[flag], time.perf_counter() - start)
    print(
        f"\n{len(records)} records; chain, best of 5: default {best[False]:.3f} s, "
        f"--keep-dropped {best[True]:.3f} s, ratio {best[True] / best[False]:.2f}x"
    )


def main() -> None:
    paths = [str(p) for p in (sys.argv[1:] or DEFAULT)]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        sys.exit(f"missing input: {missing[0]} (the benchmark reads ../shared/data)")
    storage(paths)
    chain_time(paths)


if __name__ == "__main__":
    main()
