"""Near-duplicate removal at scale: `thresher curate` with `minhash_dedup` on 10k, 100k, 1M generated
short documents; time and peak memory as the input grows.

    python benchmarks/bench_near_dedup.py [--sizes 10000,100000,1000000] [--workers 2]

Documents (generated, seeded): 60-120 words drawn from a 5,000-word vocabulary (Zipf-like), one in
ten a near copy of an earlier one (3% of its words replaced), so clusters of two to a few documents
make edges for the components to join. The recipe is `extract` (text given: nothing to extract) and
`minhash_dedup` (FineWeb's 5-grams, 14 x 8, global scope): the run is reading, hashing, bucketing
and the components. Peak resident memory of the launcher (which runs Beam's DirectRunner and holds
what crosses stages: on Dataflow, the shuffle service) and of the largest worker, sampled every
0.1 s . Each size is checked against the in-memory algorithm
(filters/minhash.py `duplicates`) up to 100k documents.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq

VOCABULARY = 5000


def write_documents(path: Path, n: int, seed: int = 0) -> int:
    """n documents as JSONL; the number of planted near copies."""
    rng = random.Random(seed)
    # letters only: MinHash's words map every number to 0 (datatrove's simplify_text)
    words = ["".join("abcdefghijklmnopqrstuvwxyz"[int(d)] for d in f"{i:04d}") + "a" for i in range(VOCABULARY)]
    weights = [1 / (i + 10) for i in range(VOCABULARY)]
    recent: list[list[str]] = []
    copies = 0
    with open(path, "w") as fh:
        for i in range(n):
            if recent and rng.random() < 0.1:
                doc = list(rng.choice(recent))
                for j in rng.sample(range(len(doc)), k=max(1, len(doc) * 3 // 100)):
                    doc[j] = rng.choice(words)
                copies += 1
            else:
                doc = rng.choices(words, weights, k=rng.randint(60, 120))
                recent = (recent + [doc])[-1000:]
            fh.write(json.dumps({"text": " ".join(doc) + ".", "url": f"https://gen.example/{i}"}) + "\n")
    return copies


RECIPE = {
    "name": "near-dedup-bench",
    "exclusion_samples": 10,
    "stages": [{"name": "extract", "kind": "extract"}, {"name": "minhash", "kind": "minhash_dedup", "scope": "global"}],
}


def measure(cmd: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS of the launcher, peak RSS of its largest child process), every 0.1 s."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    launcher = worker = 0
    while proc.poll() is None:
        try:
            launcher = max(launcher, proc.memory_info().rss)
            for child in proc.children(recursive=True):
                try:
                    worker = max(worker, child.memory_info().rss)
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-3000:]}")
    return time.perf_counter() - start, launcher, worker


def check(jsonl: Path, out: Path) -> bool:
    from thresher.filters.dedup import MinHashDedup
    from thresher.filters.minhash import duplicates
    from thresher.pipelines.readers import RangeReader

    with open(jsonl, "rb") as fh:
        records = list(RangeReader(str(jsonl), fh))
    keys = MinHashDedup(scope="global").band_keys([r.text for r in records], [None] * len(records))
    ids = [r.id for r in records]
    expected = set(ids) - set(duplicates(ids, keys))
    kept = {
        i for f in (out / "curated").glob("*.parquet") for i in pq.read_table(f, columns=["id"]).column(0).to_pylist()
    }
    return kept == expected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print(
        "| documents | input MB | planted near copies | removed | wall s | s per 10k docs | launcher peak GiB | largest worker GiB | equals in-memory |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            jsonl = tmp / "docs.jsonl"
            copies = write_documents(jsonl, n)
            recipe = tmp / "recipe.yaml"
            recipe.write_text(json.dumps(RECIPE))
            out = tmp / "run"
            cmd = [sys.executable, "-m", "thresher", "curate", "--input", str(jsonl), "--output", str(out)]
            cmd += ["--recipe", str(recipe), "--workers", str(args.workers)]
            wall, launcher, worker = measure(cmd)
            stats = json.loads((out / "stats.json").read_text())
            stage = next(s for s in stats["stages"] if s["name"] == "minhash")
            removed = stage["dropped"].get("duplicate", {}).get("docs", 0)
            same = check(jsonl, out) if n <= 100_000 else "-"
            print(
                f"| {n:,} | {jsonl.stat().st_size / 1e6:.0f} | {copies:,} | {removed:,} | {wall:.0f} | "
                f"{wall / n * 1e4:.1f} | {launcher / 2**30:.2f} | {worker / 2**30:.2f} | {same} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
