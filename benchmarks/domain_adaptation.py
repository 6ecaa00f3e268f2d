"""Domain adaptation end to end on the CPU: pretrain on general English, continue on finance.

    python benchmarks/domain_adaptation.py [--work DIR] [--base-steps 800] [--adapt-steps 400]

Every stage is thresher's own, on real text from ../shared/data:
1. documents as curated Parquet (`thresher.contracts.schema.DOCUMENT_SCHEMA`, `domain` set):
   general = the presidential inaugural and State of the Union addresses and tiny-shakespeare
   (one speech per document); finance = SEC 10-K and 8-K filings (the items of each filing, from
   the JSON inside the zips) and the FOMC's policy statements and implementation notes;
2. a byte-level BPE trained at run time (`train_tokenizer`) on the training documents of both
   domains (the held-out documents, chosen by contracts.md 5's split hash, stay unseen);
3. token shards of each domain with `pipelines/shard.py` (the Beam pipeline, 5% of documents held out);
4. the base model: `thresher pretrain --mix general=...:1,finance=...:0`, trained on general text
   only, with the finance validation loss measured all along (a weight of 0 evaluates only);
5. continued pretraining from it: `--init-from BASE --mix finance=...:0.7,general=...:0.3`
   (finance, with 30% general text replayed against forgetting) and, for comparison, finance alone
   (`finance=...:1,general=...:0`).

Reported: validation loss (nats per token, on the held-out documents) of each domain for the base
model and for both continued models, and the change. What it shows: the finance loss falls
clearly, the general loss rises little with replay, and more without it.

The work folder (data, tokenizer, shards, checkpoints) is a temporary one unless --work names one.
Nothing it writes belongs in the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from thresher.cli import main as cli
from thresher.contracts.schema import DOCUMENT_SCHEMA, to_row
from thresher.contracts.shards import split_of
from thresher.pipelines import shard
from thresher.tokenizer.train import train_tokenizer

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VAL_FRACTION = 0.05


def general_documents():
    addresses = DATA / "nltk-us-presidential-addresses"
    for path in sorted(addresses.glob("*/*.txt")):
        yield f"{path.parent.name}/{path.name}", path.read_text(encoding="latin-1")  # the NLTK files are Latin-1
    plays = (DATA / "tiny-shakespeare" / "input.txt").read_text()
    for i, speech in enumerate(s for s in plays.split("\n\n") if s.strip()):
        yield f"tiny-shakespeare#{i}", speech


def finance_documents():
    for name in ("EXTRACTED_FILINGS_10-K.zip", "EXTRACTED_FILINGS_8-K.zip"):
        with zipfile.ZipFile(DATA / "sec-edgar-filings" / name) as z:
            for member in sorted(n for n in z.namelist() if n.endswith(".json")):
                filing = json.loads(z.read(member))
                for key, text in filing.items():  # item_1, item_1A, ...: the sections of the filing
                    if key.startswith("item_") and text.strip():
                        yield f"{member}#{key}", text
    for path in sorted((DATA / "fomc-statements").glob("*/*.txt")):
        yield f"fomc/{path.parent.name}/{path.name}", path.read_text()


def write_documents(path: Path, documents, domain: str) -> int:
    rows = [to_row({"id": f"{domain}:{doc_id}", "text": text, "domain": domain}) for doc_id, text in documents]
    pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), path)
    return len(rows)


def val_losses(out: Path) -> dict[str, float]:
    """Each source's validation loss at the run's last evaluation."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = max(r["step"] for r in rows if r["split"] == "val")
    return {r["source"]: r["loss"] for r in rows if r["split"] == "val" and r["step"] == last}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--work",
        default=None,
        help="folder for data, shards and checkpoints (default: a temporary one, removed at the end)",
    )
    p.add_argument(
        "--vocab-size",
        type=int,
        default=4096,
        help="BPE vocabulary (default 4096: small enough for the tiny model's embedding)",
    )
    p.add_argument("--seq-len", type=int, default=128, help="tokens per row (default 128)")
    p.add_argument("--batch-size", type=int, default=16, help="rows per step (default 16)")
    p.add_argument("--base-steps", type=int, default=800, help="steps of general pretraining (default 800)")
    p.add_argument("--adapt-steps", type=int, default=400, help="steps of continued pretraining (default 400)")
    p.add_argument("--base-lr", type=float, default=3e-3, help="peak learning rate of the base run (default 3e-3)")
    p.add_argument(
        "--adapt-lr",
        type=float,
        default=1e-3,
        help="peak learning rate of continued pretraining (default 1e-3: a third of the base's, "
        "a usual choice for continued pretraining: it adapts without erasing)",
    )
    p.add_argument(
        "--replay", type=float, default=0.3, help="share of general text in the continued mixture (default 0.3)"
    )
    p.add_argument(
        "--eval-steps",
        type=int,
        default=10,
        help="validation batches per source and evaluation (default 10: 20k tokens, most of the general held-out set)",
    )
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()

        curated = work / "curated"
        curated.mkdir(exist_ok=True)
        counts = {
            "general": write_documents(curated / "general.parquet", general_documents(), "general"),
            "finance": write_documents(curated / "finance.parquet", finance_documents(), "finance"),
        }
        train_only = [
            d
            for domain in counts
            for d in pq.read_table(curated / f"{domain}.parquet", columns=["id", "text"]).to_pylist()
            if split_of(d["id"], VAL_FRACTION) == "train"
        ]
        (work / "tokenizer-input").mkdir(exist_ok=True)
        pq.write_table(pa.Table.from_pylist(train_only), work / "tokenizer-input" / "train.parquet")
        tokenizer = work / "tokenizer"
        train_tokenizer(str(work / "tokenizer-input" / "train.parquet"), tokenizer, vocab_size=args.vocab_size)
        shards = {}
        for domain in counts:
            shards[domain] = work / "shards" / domain
            shard.run(
                str(curated / f"{domain}.parquet"),
                str(tokenizer),
                str(shards[domain]),
                [],
                sequence_length=args.seq_len,
                val_fraction=VAL_FRACTION,
                source=domain,
            )
        prepared = time.perf_counter() - start

        common = [
            "--model",
            "tiny",
            "--batch-size",
            str(args.batch_size),
            "--grad-accum",
            "1",
            "--eval-steps",
            str(args.eval_steps),
            "--log-interval",
            "50",
            "--device",
            "cpu",
            "--dtype",
            "fp32",
        ]

        def run(
            out: Path, mix: dict[str, float], steps: int, lr: float, warmup: int, init_from: Path | None = None
        ) -> dict[str, float]:
            argv = [
                "--mix",
                ",".join(f"{d}={shards[d]}:{w}" for d, w in mix.items()),
                "--output",
                str(out),
                "--steps",
                str(steps),
                "--lr",
                str(lr),
                "--warmup",
                str(warmup),
                "--eval-interval",
                str(steps),
                "--ckpt-interval",
                str(steps),
            ]
            if init_from is None:
                argv += common
            else:
                argv += [a for a in common if a not in ("--model", "tiny")] + ["--init-from", str(init_from)]
            assert cli(["pretrain", *argv]) == 0
            return val_losses(out)

        t = time.perf_counter()
        base = run(
            work / "base", {"general": 1, "finance": 0}, args.base_steps, args.base_lr, warmup=args.base_steps // 10
        )
        base_s = time.perf_counter() - t
        t = time.perf_counter()
        replay = run(
            work / "replay",
            {"finance": 1 - args.replay, "general": args.replay},
            args.adapt_steps,
            args.adapt_lr,
            warmup=args.adapt_steps // 20,
            init_from=work / "base",
        )
        finance_only = run(
            work / "finance-only",
            {"finance": 1, "general": 0},
            args.adapt_steps,
            args.adapt_lr,
            warmup=args.adapt_steps // 20,
            init_from=work / "base",
        )
        adapt_s = time.perf_counter() - t

        manifests = {d: json.loads((shards[d] / "manifest.json").read_text()) for d in shards}
        tokens = {d: {s: manifests[d]["splits"][s]["tokens"] for s in ("train", "val")} for d in shards}
        step_tokens = args.batch_size * args.seq_len
        print(f"\n### Domain adaptation (tiny model, {args.vocab_size}-token BPE, sequence length {args.seq_len})\n")
        print(
            f"Documents: general {counts['general']:,}, finance {counts['finance']:,}; tokens (train / held out): "
            + "; ".join(f"{d} {t['train']:,} / {t['val']:,}" for d, t in tokens.items())
            + "."
        )
        print(
            f"Base: {args.base_steps} steps on general text ({args.base_steps * step_tokens:,} tokens, peak lr {args.base_lr}). "
            f"Continued: {args.adapt_steps} steps ({args.adapt_steps * step_tokens:,} tokens, peak lr {args.adapt_lr}) from the base.\n"
        )
        print(
            "| validation loss (nats/token) | base (general only) | continued: finance 70% + general 30% | continued: finance only |"
        )
        print("|---|---|---|---|")
        for domain in ("finance", "general"):
            b, r, f = base[domain], replay[domain], finance_only[domain]
            print(f"| {domain} | {b:.3f} | {r:.3f} ({r - b:+.3f}) | {f:.3f} ({f - b:+.3f}) |")
        print(
            f"\nTime: data, tokenizer and shards {prepared:.0f} s; base {base_s:.0f} s; both continued runs {adapt_s:.0f} s."
        )
        (work / "results.json").write_text(
            json.dumps({"base": base, "replay": replay, "finance_only": finance_only}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
