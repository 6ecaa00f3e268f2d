"""`thresher classifier`: train, evaluate and build training sets for fastText document classifiers.

    thresher classifier train --input FILE.jsonl|FILE.csv --output model.bin [--label hq] [--positive 1]
        [--text-field text --label-field label --test-fraction 0.1 --seed 0]
        [--epoch 5 --lr 0.1 --word-ngrams 2 --dim 100 --min-count 1 --threads N]
    thresher classifier eval --model model.bin|URL --input FILE [--label hq] [--positive 1] [--keep-top 0.1]
    thresher classifier prepare-quality --positives GLOB... --negatives GLOB... --output FILE.jsonl
    thresher classifier prepare-domain  --domain GLOB... --general GLOB... --output FILE.jsonl

Classifiers are binary. `--positive` lists the values of the label field that are positive
(`--positive 0,1` for Davidson et al.'s hate speech + offensive classes, the rest negative); in the
model they become `__label__<label>` and `__label__not_<label>`, and a recipe stage
(`fasttext_classifier`, `fasttext_domain`) scores `<label>`.

`train` holds out `--test-fraction` of the rows (seeded shuffle), trains on the rest, prints
precision, recall, F1 and ROC AUC on the held-out rows and the score threshold that keeps the top
`--keep-top` share of them (DCLM keeps the top 10%), saves the model and, beside it, a report
(`model.bin` -> `model.json`): the data, the parameters, the held-out figures and the model's
sha256 (for a recipe's `sha256:`).

Hyperparameters are fastText's supervised defaults (lr 0.1, dim 100, epoch 5, minCount 1, bucket
2M), which DCLM's `train_fasttext_classifier.py` also uses, except `wordNgrams=2`: word bigrams,
as in DCLM's OH-2.5 + ELI5 quality classifier (`..._bigram_200k_train.bin`) and dolma's Jigsaw
toxicity models (`jigsaw_fasttext_bigrams_*`). With bigrams the hashed n-gram table is bucket x dim
floats (800 MB at the defaults); `--bucket 200000 --dim 32` makes small models for small data.
With more than one thread fastText's SGD (Hogwild!) is not deterministic; `--threads 1` is.

`prepare-*` writes a balanced JSONL training set (`{"text", "label": 1|0, "source"}`) from text
files (.txt), HTML pages (.html[.gz]), WARC/WET, JSONL and Parquet (curated output, or anything
with a `text` column), extracting HTML with the curate pipeline's extractors or, with
`--extract full`, keeping every visible line (boilerplate included). Quality: positives are a
reference corpus you name, negatives random crawl text (GPT-3, DCLM). Domain: in-domain text
(e.g. SEC filings, FOMC statements) against general text.
"""

from __future__ import annotations

import argparse
import csv
import glob
import gzip
import json
import math
import os
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from thresher.contracts.files import file_sha256
from thresher.contracts.layout import check_complete
from thresher.filters.fasttext_model import LABEL_PREFIX, label_probability, load_fasttext, train_supervised

DCLM_KEEP_TOP = 0.1  # DCLM-Baseline keeps the top 10% of its pool by classifier score
NOT = "not_"


# --------------------------------------------------------------------------------------------
# Labelled data


def _label_value(value) -> str | None:
    """A label cell as a string: JSON true/1/1.0 and CSV "1" all read as "1"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    value = str(value).strip()
    return value or None


def _open_text(path: str):
    return (
        gzip.open(path, "rt", encoding="utf-8", newline="")
        if path.endswith(".gz")
        else open(path, encoding="utf-8", newline="")
    )


def read_labelled(path: str, text_field: str = "text", label_field: str = "label") -> tuple[list[str], list[str], int]:
    """(texts, labels, skipped) from a JSONL or CSV file; rows without text or label are skipped."""
    name = path.lower().removesuffix(".gz")
    texts, labels, skipped = [], [], 0
    with _open_text(path) as fh:
        if name.endswith(".csv"):
            rows: Iterable[dict] = csv.DictReader(fh)
        elif name.endswith((".jsonl", ".json", ".ndjson")):
            rows = (json.loads(line) for line in fh if line.strip())
        else:
            raise SystemExit(f"{path}: expected .jsonl or .csv (optionally .gz)")
        for row in rows:
            text, label = row.get(text_field), _label_value(row.get(label_field))
            if not isinstance(text, str) or not text.strip() or label is None:
                skipped += 1
                continue
            texts.append(text)
            labels.append(label)
    if not texts:
        raise SystemExit(f"{path}: no rows with a {text_field!r} text and a {label_field!r} label")
    return texts, labels, skipped


def split_indices(n: int, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, test) row indices: a seeded shuffle, `ceil(n * test_fraction)` rows held out."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_test = math.ceil(n * test_fraction)
    return sorted(order[n_test:]), sorted(order[:n_test])


# --------------------------------------------------------------------------------------------
# Metrics (numpy only)


def roc_auc(y: Sequence[bool], scores: Sequence[float]) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random
    negative, ties counting one half (Mann-Whitney U from average ranks). NaN without both classes."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # 1-based rank of the last element of each group of ties
    average_rank = last - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def at_threshold(y: Sequence[bool], scores: Sequence[float], threshold: float) -> dict:
    """Precision, recall, F1 and accuracy of `score >= threshold` as the positive prediction."""
    y = np.asarray(y, dtype=bool)
    predicted = np.asarray(scores, dtype=np.float64) >= threshold
    tp = int((predicted & y).sum())
    fp = int((predicted & ~y).sum())
    fn = int((~predicted & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": float(threshold),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": float((predicted == y).mean()),
        "kept_share": float(predicted.mean()),
    }


def keep_top_threshold(scores: Sequence[float], share: float) -> float:
    """The score threshold that keeps the top `share` of `scores` (`score >= threshold`); ties at
    the threshold are all kept, so the share kept can be slightly larger."""
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    k = max(1, math.ceil(len(s) * share))
    return float(s[min(k, len(s)) - 1])


def best_accuracy_threshold(y: Sequence[bool], scores: Sequence[float]) -> dict:
    """The threshold with the highest accuracy on this data (an optimistic figure: it is chosen on
    the data it is measured on)."""
    candidates = np.unique(np.asarray(scores, dtype=np.float64))
    best = max((at_threshold(y, scores, t) for t in candidates), key=lambda m: m["accuracy"])
    return best


def evaluate(
    y: Sequence[bool], scores: Sequence[float], threshold: float = 0.5, keep_top: float = DCLM_KEEP_TOP
) -> dict:
    y = np.asarray(y, dtype=bool)
    return {
        "examples": len(y),
        "positives": int(y.sum()),
        "roc_auc": roc_auc(y, scores),
        "at_threshold": at_threshold(y, scores, threshold),
        "keep_top": {"share": keep_top, **at_threshold(y, scores, keep_top_threshold(scores, keep_top))},
        "best_accuracy": best_accuracy_threshold(y, scores),
    }


def format_metrics(m: dict) -> str:
    def row(name: str, r: dict) -> str:
        return (
            f"  {name:<26} threshold {r['threshold']:.6g}  precision {r['precision']:.4f}  recall {r['recall']:.4f}"
            f"  F1 {r['f1']:.4f}  accuracy {r['accuracy']:.4f}  kept {r['kept_share']:.1%}"
        )

    return "\n".join(
        [
            f"  examples {m['examples']}, positives {m['positives']} ({m['positives'] / m['examples']:.1%})",
            f"  ROC AUC {m['roc_auc']:.4f}",
            row("at threshold", m["at_threshold"]),
            row(f"keep top {m['keep_top']['share']:.0%}", m["keep_top"]),
            row("best accuracy (this data)", m["best_accuracy"]),
        ]
    )


def model_label(model, label: str | None) -> str:
    """The positive label, prefixed: the one given, or the model's `X` where it has `X`/`not_X`."""
    labels = [name.removeprefix(LABEL_PREFIX) for name in model.labels]
    if label is None:
        plain = [name for name in labels if not name.startswith(NOT)]
        if len(labels) == 2 and len(plain) == 1 and NOT + plain[0] in labels:
            label = plain[0]
        else:
            raise SystemExit(f"say which label is positive (--label): the model has {labels}")
    label = label.removeprefix(LABEL_PREFIX)
    if label not in labels:
        raise SystemExit(f"the model has no label {label!r}; its labels are {labels}")
    return LABEL_PREFIX + label


def score_texts(model, texts: Sequence[str], label: str) -> np.ndarray:
    return np.array([label_probability(model, text, label) for text in texts])


def _positive_values(spec: str, labels: Sequence[str]) -> set[str]:
    values = {v.strip() for v in spec.split(",") if v.strip()}
    seen = sorted(set(labels))
    if not values & set(seen) or set(seen) <= values:
        raise SystemExit(f"--positive {spec!r} must name some but not all label values; the data has {seen}")
    return values


# --------------------------------------------------------------------------------------------
# Commands


def train(args: argparse.Namespace) -> int:
    texts, labels, skipped = read_labelled(args.data, args.text_field, args.label_field)
    positive = _positive_values(args.positive, labels)
    y = np.array([label in positive for label in labels])
    train_rows, test_rows = split_indices(len(texts), args.test_fraction, args.seed)
    pos, neg = args.label, NOT + args.label
    params = {
        "lr": args.lr,
        "dim": args.dim,
        "epoch": args.epoch,
        "wordNgrams": args.word_ngrams,
        "minCount": args.min_count,
        "bucket": args.bucket,
        "thread": args.threads,
        "seed": args.seed,
        "verbose": args.verbose,
    }
    print(
        f"training on {len(train_rows)} of {len(texts)} rows of {args.data} ({skipped} skipped), "
        f"holding out {len(test_rows)}: __label__{pos} = {args.label_field} in {sorted(positive)}, {params}"
    )
    start = time.perf_counter()
    model = train_supervised([(pos if y[i] else neg, texts[i]) for i in train_rows], **params)
    seconds = time.perf_counter() - start
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out))
    report = {
        "model": str(out),
        "sha256": file_sha256(out),
        "label": LABEL_PREFIX + pos,
        "labels": list(model.labels),
        "data": args.data,
        "text_field": args.text_field,
        "label_field": args.label_field,
        "positive_values": sorted(positive),
        "rows": len(texts),
        "skipped": skipped,
        "train_rows": len(train_rows),
        "test_rows": len(test_rows),
        "test_fraction": args.test_fraction,
        "seed": args.seed,
        "params": params,
        "train_seconds": round(seconds, 2),
    }
    if test_rows:
        scores = score_texts(model, [texts[i] for i in test_rows], LABEL_PREFIX + pos)
        report["held_out"] = evaluate(y[test_rows], scores, args.threshold, args.keep_top)
        print(f"held-out ({len(test_rows)} rows), scoring __label__{pos}:")
        print(format_metrics(report["held_out"]))
    report_path = out.with_suffix(".json")
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"wrote {out} ({out.stat().st_size:,} bytes, sha256 {report['sha256']}, trained in {seconds:.1f}s) and {report_path}"
    )
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    model = load_fasttext(args.model, args.sha256)
    label = model_label(model, args.label)
    texts, labels, skipped = read_labelled(args.data, args.text_field, args.label_field)
    positive = _positive_values(args.positive, labels)
    y = np.array([value in positive for value in labels])
    metrics = evaluate(y, score_texts(model, texts, label), args.threshold, args.keep_top)
    print(
        f"{args.model} on {args.data} ({skipped} rows skipped), scoring {label}, positive = {args.label_field} in {sorted(positive)}:"
    )
    print(format_metrics(metrics))
    return 0


# --- training sets ---------------------------------------------------------------------------

EXTRACT_CHOICES = ("trafilatura", "resiliparse", "cascade", "full")


def iter_documents(patterns: Sequence[str], extract: str = "trafilatura") -> Iterator[tuple[str, str]]:
    """(source, text) for every document under `patterns` (globs): text files whole, HTML pages and
    crawl records through curate's own reader and extract stage; unreadable records are skipped."""
    from thresher.contracts.schema import RawRecord, document_id
    from thresher.filters.chain import DocumentChain
    from thresher.filters.registry import parse_recipe
    from thresher.pipelines.readers import RangeReader

    chain = DocumentChain(
        parse_recipe({"name": "prepare", "stages": [{"name": "extract", "kind": "extract", "method": extract}]})
    )
    for pattern in patterns:
        paths = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        check_complete(paths, os.path.exists)  # a curated run's output, only once the run is complete
        if not paths:
            raise SystemExit(f"{pattern!r} matched no files")
        for path in paths:
            name = path.lower().removesuffix(".gz")
            if name.endswith((".txt", ".html", ".htm")):
                with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as fh:
                    data = fh.read()
                if name.endswith(".txt"):
                    try:
                        yield path, data.decode("utf-8")
                    except UnicodeDecodeError:
                        yield path, data.decode("latin-1")  # older corpora (nltk's addresses); every byte decodes
                    continue
                records = [
                    RawRecord(path, 0, len(data), "html", id=document_id(None, None, None, data, path), payload=data)
                ]
            else:
                with open(path, "rb") as fh:
                    records = list(RangeReader(path, fh))
            for rec in records:
                outcome = chain.process(rec)
                if outcome.status == "kept":
                    yield f"{path}#{rec.source_offset}", outcome.doc["text"]


def chunk_text(text: str, words: int) -> list[str]:
    """Split a long text into pieces of about `words` words at line ends (0: the text whole). A
    tail under half a piece joins the previous one."""
    if words <= 0:
        return [text] if text.strip() else []
    pieces, lines, count = [], [], 0
    for line in text.splitlines():
        lines.append(line)
        count += len(line.split())
        if count >= words:
            pieces.append("\n".join(lines).strip())
            lines, count = [], 0
    if count:
        tail = "\n".join(lines).strip()
        if pieces and count < words / 2:
            pieces[-1] += "\n" + tail
        else:
            pieces.append(tail)
    return [p for p in pieces if p]


def prepare(
    positives: Sequence[str],
    negatives: Sequence[str],
    out: str,
    extract: str,
    chunk_words: int,
    per_class: int | None,
    seed: int,
) -> dict:
    """Write a shuffled JSONL training set, `per_class` examples of each class (default: the smaller
    class's count, so it is balanced, as DCLM's 200k + 200k)."""
    classes = {}
    for label, patterns in ((1, positives), (0, negatives)):
        classes[label] = [
            (source, piece)
            for source, text in iter_documents(patterns, extract)
            for piece in chunk_text(text, chunk_words)
        ]
        if not classes[label]:
            raise SystemExit(f"no text under {list(patterns)}")
    available = {label: len(docs) for label, docs in classes.items()}
    n = per_class or min(available.values())
    rng = random.Random(seed)
    rows = []
    for label, docs in classes.items():
        chosen = docs if len(docs) <= n else rng.sample(docs, n)
        rows += [{"text": text, "label": label, "source": source} for source, text in chosen]
    rng.shuffle(rows)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = {label: sum(r["label"] == label for r in rows) for label in (1, 0)}
    print(
        f"wrote {len(rows)} examples to {out}: {counts[1]} positive (label 1) of {available[1]} available, "
        f"{counts[0]} negative (label 0) of {available[0]}"
    )
    return {"available": available, "written": counts}


# --------------------------------------------------------------------------------------------
# Command line


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", dest="data", required=True, help="labelled .jsonl or .csv (optionally .gz)")
    p.add_argument("--text-field", default="text")
    p.add_argument("--label-field", default="label")
    p.add_argument("--positive", default="1", help="comma-separated label values that are positive (default: 1)")
    p.add_argument(
        "--threshold", type=float, default=0.5, help="score threshold for precision/recall/F1 (default: 0.5)"
    )
    p.add_argument(
        "--keep-top",
        type=float,
        default=DCLM_KEEP_TOP,
        help="also report the threshold keeping this top share (default: 0.1, DCLM's top 10%%)",
    )


def _prepare_command(positives: Sequence[str], negatives: Sequence[str], args: argparse.Namespace) -> int:
    prepare(positives, negatives, args.out, args.extract, args.chunk_words, args.per_class, args.seed)
    return 0


def _prepare_args(p: argparse.ArgumentParser, positives: str, negatives: str) -> None:
    p.add_argument(f"--{positives}", nargs="+", required=True, metavar="GLOB")
    p.add_argument(f"--{negatives}", nargs="+", required=True, metavar="GLOB")
    p.add_argument("--output", dest="out", required=True, help="JSONL to write")
    p.add_argument(
        "--extract",
        choices=EXTRACT_CHOICES,
        default="trafilatura",
        help="HTML to text: curate's extractors, or `full` (every visible line, boilerplate included)",
    )
    p.add_argument(
        "--chunk-words", type=int, default=0, help="split long documents into pieces of about N words (0: whole)"
    )
    p.add_argument(
        "--per-class", type=int, default=None, help="examples per class (default: the smaller class's count)"
    )
    p.add_argument("--seed", type=int, default=0)


def add_arguments(sub) -> None:
    """`thresher classifier`'s actions, added to the CLI's subparsers."""
    t = sub.add_parser("train", help="train a binary fastText classifier and report held-out figures")
    _data_args(t)
    t.add_argument(
        "--output",
        dest="out",
        required=True,
        help="model file to write (.bin); its report goes beside it, suffix .json",
    )
    t.add_argument("--label", default="positive", help="the positive class's name in the model (__label__NAME)")
    t.add_argument("--test-fraction", type=float, default=0.1, help="share of rows held out (default: 0.1)")
    t.add_argument("--seed", type=int, default=0, help="seed of the split and of fastText (default: 0)")
    # fastText's supervised defaults, as DCLM's training script; word bigrams as DCLM's and dolma's models
    t.add_argument("--epoch", type=int, default=5)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--word-ngrams", type=int, default=2)
    t.add_argument("--dim", type=int, default=100)
    t.add_argument("--min-count", type=int, default=1)
    # word n-grams hash into `bucket` rows of `dim` floats: 2M x 100 x 4 B = 800 MB on disk
    t.add_argument("--bucket", type=int, default=2_000_000)
    t.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    t.add_argument("--verbose", type=int, default=2, help="fastText's progress output: 0 none, 2 progress (default)")
    t.set_defaults(run=train)

    e = sub.add_parser("eval", help="score labelled data with a model: precision, recall, F1, ROC AUC")
    _data_args(e)
    e.add_argument("--model", required=True, help="a local path or a URL (https, gs://, s3://)")
    e.add_argument(
        "--sha256",
        default=None,
        help="the model file's sha256, checked at every load; a URL needs it, or `skip` to trust the first download",
    )
    e.add_argument("--label", default=None, help="the model's positive label (default: X where it has X and not_X)")
    e.set_defaults(run=evaluate_command)

    q = sub.add_parser("prepare-quality", help="reference corpus (label 1) vs random crawl text (label 0) -> JSONL")
    _prepare_args(q, "positives", "negatives")
    q.set_defaults(run=lambda a: _prepare_command(a.positives, a.negatives, a))

    d = sub.add_parser("prepare-domain", help="in-domain text (label 1) vs general text (label 0) -> JSONL")
    _prepare_args(d, "domain", "general")
    d.set_defaults(run=lambda a: _prepare_command(a.domain, a.general, a))
