"""A quality classifier trained the GPT-3 / DCLM way, judged against human quality labels.

    python benchmarks/quality_classifier.py [--negatives-extract full] [--threads 2]

Training set (what `thresher classifier prepare-quality` builds, with the same code):
- positives, the reference corpus: the embedded demo's good articles (`thresher.demo.data`) and
  the US presidential addresses (nltk: State of the Union 1945-2006, inaugurals 1789-2021), in
  pieces of about 200 words;
- negatives, random crawl text: every HTML page of the real crawls in ../shared/data (the Common
  Crawl and wget WARCs of commoncrawl-records and web-warc-samples, and the trafilatura evaluation
  pages), text extracted with resiliparse keeping boilerplate (`--negatives-extract full`), as
  unfiltered crawl text is; `trafilatura` or `resiliparse` gives main text only;
- balanced by sampling the larger class down to the smaller (seed 0).
The classifier is `thresher classifier train`'s default: fastText supervised with word bigrams.

Evaluation: DCLM's human annotations (mlfoundations/dclm `data/majority_data.jsonl`, 499 Common
Crawl documents with the annotators' majority 0/1 label, and `agreement_data.jsonl`, 281 on which
they agreed): ROC AUC of the classifier's probability, accuracy at 0.5, the best accuracy over all
thresholds (optimistic: chosen on the labels themselves), and precision of the top 10% (DCLM's
cut). For reference, the heuristic filters' keep/drop decisions (Gopher quality, C4 as FineWeb ran
it, FineWeb quality) scored the same way: they give no score, so accuracy only.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import time
from pathlib import Path

import numpy as np

from thresher.classifier_training import chunk_text, evaluate, iter_documents, score_texts
from thresher.demo.data import demo_articles, plain_text
from thresher.filters.c4 import C4QualityFilter
from thresher.filters.fasttext_model import train_supervised
from thresher.filters.fineweb import FineWebQualityFilter
from thresher.filters.gopher import GopherQualityFilter

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHUNK_WORDS = 200  # about the DCLM annotations' median length (230 words)


def training_set(extract: str, seed: int) -> tuple[list[tuple[str, str]], dict]:
    positives = [plain_text(a["title"], a["text"]) for a in demo_articles()]
    addresses = [text for _, text in iter_documents([str(DATA / "nltk-us-presidential-addresses" / "*" / "*.txt")])]
    positives = [piece for text in positives + addresses for piece in chunk_text(text, CHUNK_WORDS)]
    crawl = [
        str(DATA / "commoncrawl-records" / "*.warc.gz"),
        str(DATA / "commoncrawl-records" / "whirlwind" / "*.warc.gz"),
        str(DATA / "commoncrawl-records" / "dclm-cc-html" / "*.html"),
        str(DATA / "web-warc-samples" / "*.warc.gz"),
        str(DATA / "trafilatura-eval" / "eval" / "*.html.gz"),
        str(DATA / "trafilatura-eval" / "cache" / "*.html.gz"),
    ]
    negatives = [text for _, text in iter_documents([p for p in crawl if glob.glob(p)], extract) if text.strip()]
    n = min(len(positives), len(negatives))
    rng = random.Random(seed)
    examples = [("hq", t) for t in rng.sample(positives, n)] + [("not_hq", t) for t in rng.sample(negatives, n)]
    rng.shuffle(examples)
    return examples, {"positives": len(positives), "negatives": len(negatives), "per_class": n}


def load_annotations(name: str) -> tuple[list[str], np.ndarray]:
    with open(DATA / "dclm-human-quality-annotations" / name, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return [r["text"] for r in rows], np.array([bool(r["label"]) for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--negatives-extract", choices=("full", "trafilatura", "resiliparse"), default="full")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    examples, counts = training_set(args.negatives_extract, args.seed)
    prep_s = time.perf_counter() - start
    params = {"wordNgrams": 2, "thread": args.threads, "seed": args.seed, "verbose": 0}  # the CLI's defaults
    start = time.perf_counter()
    model = train_supervised(examples, **params)
    train_s = time.perf_counter() - start
    print(
        f"training set: {counts['per_class']} per class (of {counts['positives']} reference pieces, "
        f"{counts['negatives']} crawl pages; negatives extracted with {args.negatives_extract!r}), "
        f"built in {prep_s:.1f}s; fastText {params} trained in {train_s:.1f}s"
    )

    heuristics = {
        "gopher_quality": GopherQualityFilter(),
        "c4_quality": C4QualityFilter(),
        "fineweb_quality": FineWebQualityFilter(),
    }
    print(
        "| annotations | docs (good) | ROC AUC | accuracy at 0.5 | best accuracy (threshold) | top 10% precision | "
        + " | ".join(f"{name} accuracy" for name in heuristics)
        + " |"
    )
    print("|---|---|---|---|---|---|" + "---|" * len(heuristics))
    for name in ("majority_data.jsonl", "agreement_data.jsonl"):
        texts, y = load_annotations(name)
        m = evaluate(y, score_texts(model, texts, "__label__hq"))
        kept = {h: np.array([f({"text": t}).keep for t in texts]) for h, f in heuristics.items()}
        print(
            f"| {name} | {len(y)} ({int(y.sum())}) | {m['roc_auc']:.3f} | {m['at_threshold']['accuracy']:.3f} | "
            f"{m['best_accuracy']['accuracy']:.3f} ({m['best_accuracy']['threshold']:.3g}) | {m['keep_top']['precision']:.3f} | "
            + " | ".join(f"{(k == y).mean():.3f}" for k in kept.values())
            + " |"
        )
    print(
        "majority class share: "
        + ", ".join(
            f"{n}: {max(y.mean(), 1 - y.mean()):.3f}"
            for n, (_, y) in ((n, load_annotations(n)) for n in ("majority_data.jsonl", "agreement_data.jsonl"))
        )
    )


if __name__ == "__main__":
    main()
