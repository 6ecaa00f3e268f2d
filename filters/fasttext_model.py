"""The one place where fastText models are loaded and run.

`fasttext` here is the module of the `fasttext-predict` package (fastText's C++ inference, no
training, no numpy). Two things every caller needs are handled once:

- fastText reads one line: everything after the first newline is silently ignored by the C++
  code, so newlines become spaces (fastText splits words on whitespace anyway; datatrove deletes
  them instead, which glues the words on either side together).
- The official `fasttext` package's `predict` calls `np.array(probs, copy=False)`, which raises on
  numpy 2. Both that package and fasttext-predict expose the underlying binding,
  `model.f.predict(line, k, threshold, on_unicode_error)` returning (probability, label) pairs,
  and calling it works with either and needs no numpy.
"""

from __future__ import annotations

import os
from functools import lru_cache

import fasttext


@lru_cache(maxsize=None)
def load_fasttext(path: str | os.PathLike):
    """Load a fastText model once per process (`.bin` or quantized `.ftz`) from a local path."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"fastText model not found: {path}")
    return fasttext.load_model(path)


def predict(model, text: str, k: int = 1) -> list[tuple[str, float]]:
    """The `k` most probable (label, probability) pairs, most probable first; k=-1 gives all labels."""
    line = text.replace("\n", " ").replace("\r", " ")
    try:
        pairs = model.f.predict(line + "\n", k, 0.0, "strict")
    except UnicodeEncodeError:
        # lone surrogates (text decoded with errors="surrogateescape") cannot be encoded as UTF-8
        pairs = model.f.predict(line.encode("utf-8", "replace").decode("utf-8") + "\n", k, 0.0, "strict")
    # fastText adds 1e-5 inside its log, so a certain prediction can come out as 1.00001
    return [(label, min(probability, 1.0)) for probability, label in pairs]
