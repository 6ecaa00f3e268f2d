"""`thresher demo`: every stage, offline, on the embedded demo crawl, in a few minutes on 2 cores.

1. writes the demo input (thresher/demo/data.py: WARC, WET-free JSONL and broken files, generated
   from text written for the project) into OUT/input;
2. curates it with the default recipe (fineweb) on two local workers and prints the funnel;
3. trains a small byte-level BPE on the curated Parquet;
4. shards the tokens into Arrow;
5. pretrains the `tiny` model on the CPU for a few hundred steps;
and prints where every output is.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

# Small enough for 2 cores in minutes. The demo keeps ~15k words: a 512-token vocabulary gives
# ~33k training tokens, enough for the tiny model to learn what generalises (validation loss falls
# 6.3 -> 3.9 in 300 steps) rather than memorise, which it does with a 2,048-token vocabulary.
DEMO_VOCAB_SIZE = 512
DEMO_SEQUENCE_LENGTH = 128
DEMO_VAL_SHARE = 0.1  # a tenth of the documents, so the tiny corpus still has a validation split
DEMO_STEPS = 300
LOCAL_WORKERS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def val_fraction_for(curated_dir: Path, share: float) -> float:
    """The smallest `val_fraction` that puts `share` of the curated documents (at least one) in
    the val split: with a fixed 0.1, the demo's 32 documents could give no validation split."""
    import pyarrow.parquet as pq

    from thresher.contracts.shards import SPLIT_MODULUS, split_bucket

    buckets = sorted(split_bucket(i) for i in pq.read_table(curated_dir, columns=["id"]).column("id").to_pylist())
    if not buckets:
        return share
    wanted = max(1, round(share * len(buckets)))
    # half a bucket above the last one wanted: (b + 1) / 10,000 * 10,000 can round above b + 1
    return (buckets[wanted - 1] + 0.5) / SPLIT_MODULUS


def _step(title: str) -> float:
    print(f"\n=== {title} ===", flush=True)
    return time.time()


def _pii_totals(curated: Path) -> str:
    import pyarrow.parquet as pq

    from thresher.contracts.schema import scores_dict

    totals: dict[str, float] = {}
    for scores in pq.read_table(curated, columns=["scores"]).column("scores").to_pylist():
        for key, value in scores_dict(scores).items():
            if key.startswith("pii."):
                totals[key[4:]] = totals.get(key[4:], 0) + value
    return ", ".join(f"{int(v)} {k}" for k, v in sorted(totals.items())) or "nothing"


def pretrain_argv(shard_dir: Path, model_dir: Path, steps: int) -> list[str]:
    return [
        "--input",
        str(shard_dir),
        "--output",
        str(model_dir),
        "--model",
        "tiny",
        "--device",
        "cpu",
        "--steps",
        str(steps),
        "--batch-size",
        "8",
        "--grad-accum",
        "1",
        "--lr",
        "2e-3",
        "--warmup",
        str(max(1, steps // 10)),
        "--eval-interval",
        str(max(1, steps // 6)),
        "--eval-steps",
        "8",
        "--ckpt-interval",
        str(max(1, steps // 2)),
        "--log-interval",
        str(max(1, steps // 10)),
    ]


def run_demo(out: Path, steps: int = DEMO_STEPS, workers: list[str] | None = None) -> dict:
    from thresher.cli import main as cli
    from thresher.contracts.funnel import check_accounting, format_funnel
    from thresher.demo.data import build_demo_inputs
    from thresher.pipelines import curate, shard
    from thresher.report import write_report
    from thresher.tokenizer.train import train_tokenizer

    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    # Multi-process workers relay a harmless start-up warning each ("No semi_persistent_directory").
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    out.mkdir(parents=True, exist_ok=True)
    workers = LOCAL_WORKERS if workers is None else workers

    t = _step("1/5 demo input")
    inputs = build_demo_inputs(out / "input")
    for path, what in inputs.items():
        print(f"  {path}: {what}")
    print(f"  ({time.time() - t:.1f}s)")

    t = _step("2/5 curate (recipe fineweb, Beam, 2 local workers)")
    run_dir = out / "curated-run"
    stats = curate.run([str(out / "input" / "*")], str(run_dir), "fineweb", workers)
    print(format_funnel(stats))
    problems = check_accounting(stats)
    if problems:
        raise SystemExit("accounting failed: " + "; ".join(problems))
    silent = [s["name"] for s in stats["stages"] if not s["dropped"] and not s["errored"]]
    print(f"  every record accounted for at every stage; stages that removed nothing: {silent or 'none'}")
    print(f"  pii masked: {_pii_totals(run_dir / 'curated')}")
    print(f"  ({time.time() - t:.1f}s)")

    t = _step("3/5 tokenizer (byte-level BPE)")
    curated = str(run_dir / "curated" / "*.parquet")
    tok_dir = out / "tokenizer"
    train_tokenizer([curated], tok_dir, vocab_size=DEMO_VOCAB_SIZE)
    print(f"  ({time.time() - t:.1f}s)")

    t = _step("4/5 shard (Beam, Arrow IPC)")
    shard_dir = out / "shards"
    manifest = shard.run(
        curated,
        str(tok_dir),
        str(shard_dir),
        workers,
        sequence_length=DEMO_SEQUENCE_LENGTH,
        val_fraction=val_fraction_for(run_dir / "curated", DEMO_VAL_SHARE),
        source="demo",
    )
    print(f"  ({time.time() - t:.1f}s)")

    t = _step(f"5/5 pretrain (tiny model, CPU, {steps} steps)")
    model_dir = out / "model"
    shutil.rmtree(model_dir, ignore_errors=True)  # the demo trains afresh each time, like its first run
    rc = cli(["pretrain", *pretrain_argv(shard_dir, model_dir, steps)])
    if rc:
        raise SystemExit(f"pretraining failed with exit code {rc}")
    print(f"  ({time.time() - t:.1f}s)")

    # The run on one page (thresher report), tokens counted with the tokenizer just trained.
    report_path = write_report(str(run_dir), str(out / "report.html"), str(tok_dir))

    print("\n=== outputs ===")
    for label, path in [
        ("input crawl", out / "input"),
        ("curated Parquet", run_dir / "curated"),
        ("funnel (thresher stats)", run_dir / "stats.json"),
        ("every document's scores", run_dir / "attributes"),
        ("dropped samples per reason", run_dir / "exclusions"),
        ("errored records", run_dir / "errors"),
        ("data card", run_dir / "README.md"),
        ("report (open in a browser)", report_path),
        ("tokenizer", tok_dir / "tokenizer.json"),
        ("token shards", shard_dir / "manifest.json"),
        ("model checkpoints and metrics", model_dir),
    ]:
        print(f"  {label:32s} {path}")
    return {"stats": stats, "manifest": manifest, "shard_dir": shard_dir, "model_dir": model_dir}


def run(args) -> int:
    """`thresher demo --output DIR --steps N`."""
    run_demo(Path(args.output), steps=args.steps)
    return 0
