"""Decontamination: drop (or flag) documents that share a long n-gram with an evaluation set.

```yaml
  - {name: decontaminate, kind: decontaminate, eval_sets: evals/}            # 13-grams, drop
  - {name: decontaminate, kind: decontaminate, eval_sets: "evals/*.jsonl", text_field: question,
     action: flag}                                                           # score only
```

`eval_sets` is a folder (read recursively), a glob, a file, or a list of them; local, or remote
(gs://, s3://, ... through `contracts/files.py`) when named as a glob or file. Files: `.jsonl` and
`.jsonl.gz` (one item per line: the string in `text_field`, `text` by default; a list of strings
gives one item each; several fields may be named), `.parquet` (the same, by column), `.txt` and
`.txt.gz` (a whole file is one item). They are read once per process when the stage is built; a
path that matches nothing, or eval sets without a single usable item, stop the run at start-up
(`UsageError`), never pass every document unchecked.

What is matched, and where it comes from:
- Words as GPT-3 defined them for its training-set filtering (Brown et al. 2020, "Language Models
  are Few-Shot Learners", appendix C: 13-gram overlaps, a gram being a lower-case,
  whitespace-delimited word without punctuation) and as EleutherAI's implementation of that
  procedure computes them (lm-evaluation-harness `lm_eval/decontamination/janitor.py`:
  punctuation characters deleted, ASCII lower-cased, split on whitespace; "don't" is "dont").
  Here lower-casing is Unicode (`str.lower`) and the deleted characters are every non-word
  character, not only ASCII's `string.punctuation` (so "—", "«" and "©" go too): the same words
  for English text, and non-English eval sets are matched case- and punctuation-blind as well.
- A document's score is the number of its distinct n-grams found in the eval sets; it is dropped
  as `contaminated` at `min_matches` (1) or more. GPT-3 instead cut each colliding 13-gram out with
  200 characters either side and dropped only documents split into more than 10 pieces
  (janitor.py: `window_to_remove=200`, `too_dirty_cutoff=10`); this stage removes whole
  documents, as dolma does, and does not rewrite text.
- Eval items shorter than `ngram` words are matched whole: a document is contaminated by such an
  item when it holds all of the item's words, in order. GPT-3 handled short examples by lowering
  N per benchmark to the 5th-percentile example length in words, never below 8 on
  natural-language tasks because shorter grams collide by chance (appendix C); dolma's n-gram
  deduper hashes a paragraph with too few n-grams whole (`src/deduper.rs`, `by_ngram`). Items
  under `min_item_words` (8, GPT-3's floor) are left out: a three-word answer ("the united
  states") would match every page that names the country.
- dolma (Soldaini et al. 2024) decontaminated against its Paloma evaluation suite with `dolma
  dedupe` in paragraph mode (docs/paloma_decontamination.md): eval paragraphs (the text split on
  "\\n") in a Bloom filter, and every training document with one exactly equal paragraph removed by
  the mixer. dolma's deduper also has an n-gram mode (`paragraphs.by_ngram`: n-grams of Unicode
  word tokens, case kept, a paragraph flagged when the share of its n-grams in the filter reaches
  `overlap_threshold`). This stage follows GPT-3's n-grams over the whole document instead: an
  eval question pasted into a longer paragraph of a page is caught, where an exact-paragraph match
  misses it.

How: every n-gram of the eval sets is kept as a 64-bit hash in one sorted numpy array (12 bytes per
distinct n-gram with the index of the item it came from; a Bloom filter would be smaller, but it
has false positives at its configured rate and cannot say where a match came from). Words are
hashed with blake2b (stable across processes, unlike Python's `hash()`), n-grams from their words'
hashes by a polynomial over 64-bit integers, vectorised with numpy, then mixed (splitmix64's
finaliser). Two different n-grams share a hash with a chance of about 2^-64: with a million eval
n-grams and a trillion document n-grams, about 0.05 false matches in all.

The matched n-gram is kept for inspection: a dropped document's `Decision.detail` names the first
match, its eval file and line, and the pipeline writes it as `error_detail` into the exclusion
samples (`exclusions/<stage>__contaminated.jsonl`). In `flag` mode the kept document carries only
its score (`<stage>.contaminated_ngrams`): the curated Parquet has no free-text column.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b
from typing import Annotated, Literal

import numpy as np
from annotated_types import Ge

from thresher.contracts.errors import UsageError
from thresher.contracts.files import is_remote, match_files, open_file
from thresher.filters.base import Decision, DocumentFilter

log = logging.getLogger(__name__)

Positive = Annotated[int, Ge(1)]

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet", ".txt", ".txt.gz")
# Every character that is not a letter, digit or whitespace is deleted (and "_", which `\w` counts
# as a letter, by `normalized_words`), as janitor.py deletes `string.punctuation`.
_NOT_WORD = re.compile(r"[^\w\s]+")
_DETAIL_CHARS = 500  # as the pipeline cuts an exception's text
_GRAM_CHARS = 300

# A polynomial over 2^64 (an odd multiplier: 2^64 / golden ratio) combines word hashes into an
# n-gram's; splitmix64's finaliser (Steele et al. 2014) then mixes its bits.
_P = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def normalized_words(text: str) -> list[str]:
    """GPT-3's grams: lower case, punctuation deleted, split on whitespace."""
    return _NOT_WORD.sub("", text.lower().replace("_", "")).split()


class _WordHashes(dict):
    """word -> its 64-bit blake2b hash, per process. Words follow Zipf's law, so most lookups hit:
    ~40 ns a word against ~700 ns to hash it. Emptied when full, to bound memory (~30 MB)."""

    LIMIT = 1 << 18

    def __missing__(self, word: str) -> int:
        if len(self) >= self.LIMIT:
            self.clear()
        value = self[word] = int.from_bytes(blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        return value


_WORD_HASHES = _WordHashes()


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def gram_hashes(words: Sequence[str], lengths: Sequence[int]) -> dict[int, np.ndarray]:
    """{k: the hashes of every k-gram of `words`, in order} for each k in `lengths` (shorter texts
    have none). The length is mixed in: a 9-word item meets no 13-gram but by a 2^-64 chance."""
    hashes = np.fromiter(map(_WORD_HASHES.__getitem__, words), dtype=np.uint64, count=len(words))
    wanted, out = set(lengths), {}
    acc = hashes  # acc[j]: the hash of words j..j+k-1; numpy arrays wrap modulo 2^64, as wanted
    for k in range(1, min(max(wanted), len(hashes)) + 1):
        if k > 1:
            acc = acc[:-1] * _P + hashes[k - 1 :]
        if k in wanted:
            out[k] = _mix(acc + np.uint64(k))
    return out


# --- eval sets ---------------------------------------------------------------------------------


def _supported(path: str) -> bool:
    return path.lower().endswith(SUFFIXES)


def eval_files(locations: Sequence[str]) -> list[tuple[str, str]]:
    """(path, name to show) of every eval-set file: a folder's supported files (recursively), a
    glob's or a file. UsageError for a path that matches nothing or names an unsupported file."""
    found: list[tuple[str, str]] = []
    for location in locations:
        if not is_remote(location) and os.path.isdir(location):
            inside = sorted(
                p for p in glob.glob(os.path.join(location, "**", "*"), recursive=True) if os.path.isfile(p)
            )
            files = [p for p in inside if _supported(p)]
            if not files:
                raise UsageError(
                    f"decontaminate: eval_sets folder {location!r} holds no {', '.join(SUFFIXES)} file"
                    + (f" (only {len(inside)} other files)" if inside else " (it is empty)")
                )
            ignored = len(inside) - len(files)
            if ignored:
                log.warning(
                    "decontaminate: %d files of %s are not eval sets (%s): ignored", ignored, location, SUFFIXES
                )
            found += [(p, os.path.relpath(p, location)) for p in files]
            continue
        try:
            files = match_files(location)
        except UsageError:
            raise UsageError(f"decontaminate: eval_sets {location!r} matches no file") from None
        for path in files:
            if not _supported(path):
                raise UsageError(f"decontaminate: eval set {path!r} is not one of {', '.join(SUFFIXES)}")
        found += [(p, p) for p in files]
    return found


def _strings(value, where: str) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        yield from value
    elif value is not None:
        raise UsageError(f"decontaminate: {where} is a {type(value).__name__}, not a string or a list of strings")


def eval_items(path: str, fields: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(line or row number from 1, text) of every item of one eval-set file."""
    name = path.lower()
    with open_file(path) as raw:
        fh = gzip.open(raw) if name.endswith(".gz") else raw
        if name.endswith((".txt", ".txt.gz")):
            yield 0, fh.read().decode("utf-8", errors="replace")
        elif name.endswith(".parquet"):
            import pyarrow.parquet as pq  # only when a Parquet eval set is named

            table = pq.read_table(io.BytesIO(fh.read()))
            present = [f for f in fields if f in table.column_names]
            if not present:
                raise UsageError(f"decontaminate: eval set {path} has no column {fields[0]!r}: {table.column_names}")
            for field in present:
                for row, value in enumerate(table.column(field).to_pylist(), 1):
                    for text in _strings(value, f"{path} row {row} column {field!r}"):
                        yield row, text
        else:
            for number, line in enumerate(io.TextIOWrapper(fh, encoding="utf-8", errors="replace"), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise UsageError(f"decontaminate: eval set {path} line {number} is not JSON: {e}") from None
                if not isinstance(record, dict) or not any(f in record for f in fields):
                    keys = sorted(record) if isinstance(record, dict) else type(record).__name__
                    raise UsageError(f"decontaminate: eval set {path} line {number} has no {fields[0]!r} field: {keys}")
                for field in fields:
                    yield from ((number, text) for text in _strings(record.get(field), f"{path} line {number}"))


@dataclass(frozen=True)
class EvalIndex:
    """The eval sets' n-grams: `hashes` sorted and distinct, `items[i]` the item `hashes[i]` was
    first seen in; each item's file (an index into `names`) and line (0 for a text file)."""

    hashes: np.ndarray  # uint64
    items: np.ndarray  # uint32
    item_file: np.ndarray  # uint32
    item_line: np.ndarray  # uint32
    names: tuple[str, ...]
    lengths: tuple[int, ...]  # the gram lengths to look for: `ngram`, and those of shorter items

    def where(self, item: int) -> str:
        name, line = self.names[int(self.item_file[item])], int(self.item_line[item])
        if not line:  # a text file: one item
            return name
        return f"{name} {'row' if name.lower().endswith('.parquet') else 'line'} {line}"


def build_index(files: Sequence[tuple[str, str]], fields: Sequence[str], ngram: int, min_item_words: int) -> EvalIndex:
    """Every eval item's n-grams (or, for an item shorter than `ngram` words but at least
    `min_item_words` long, the item whole), hashed, deduplicated and sorted."""
    floor = max(1, min(min_item_words, ngram))
    chunks, owners, item_file, item_line = [], [], [], []
    lengths, left_out = {ngram}, 0
    for file_index, (path, _) in enumerate(files):
        for line, text in eval_items(path, fields):
            words = normalized_words(text)
            if len(words) < floor:
                left_out += bool(words)
                continue
            size = min(len(words), ngram)
            grams = gram_hashes(words, [size])[size]
            lengths.add(size)
            chunks.append(grams)
            owners.append(np.full(len(grams), len(item_file), dtype=np.uint32))
            item_file.append(file_index)
            item_line.append(line)
    names = tuple(name for _, name in files)
    if not chunks:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise UsageError(
            f"decontaminate: the eval sets ({shown}) hold no item of {floor} words or more in {', '.join(fields)}"
        )
    hashes, first = np.unique(np.concatenate(chunks), return_index=True)
    log.info(
        "decontaminate: %d distinct grams from %d items in %d files (%d items under %d words left out)",
        len(hashes),
        len(item_file),
        len(files),
        left_out,
        floor,
    )
    return EvalIndex(
        hashes=hashes,
        items=np.concatenate(owners)[first],
        item_file=np.asarray(item_file, dtype=np.uint32),
        item_line=np.asarray(item_line, dtype=np.uint32),
        names=names,
        lengths=tuple(sorted(lengths)),
    )


def _signature(path: str) -> tuple | None:
    """What tells a changed local file from the one indexed (a remote one is read once per process)."""
    if is_remote(path):
        return None
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


@lru_cache(maxsize=4)
def _cached_index(files: tuple, fields: tuple, ngram: int, min_item_words: int) -> EvalIndex:
    return build_index([(path, name) for path, name, _ in files], fields, ngram, min_item_words)


def load_index(locations: Sequence[str], fields: Sequence[str], ngram: int, min_item_words: int) -> EvalIndex:
    """The index of the eval sets at `locations`, built once per process (the launcher's check and
    an in-process worker share it) and again only when a local file changes."""
    files = tuple((path, name, _signature(path)) for path, name in eval_files(locations))
    return _cached_index(files, tuple(fields), ngram, min_item_words)


# --- the stage ---------------------------------------------------------------------------------


class DecontaminationFilter(DocumentFilter):
    """Score `{"contaminated_ngrams": distinct n-grams of the document found in the eval sets}`;
    drop at `min_matches` or more (`action: drop`), or keep every document (`action: flag`)."""

    name = "decontaminate"

    def __init__(
        self,
        eval_sets: str | os.PathLike | Sequence[str | os.PathLike],
        ngram: Positive = 13,  # GPT-3 appendix C: 13-gram overlap with any test or development set
        text_field: str | Sequence[str] = "text",
        action: Literal["drop", "flag"] = "drop",
        min_matches: Positive = 1,  # dolma: one matching paragraph removes a document (GPT-3 cut every match out)
        min_item_words: Positive = 8,  # GPT-3 appendix C: N never below 8, for spurious collisions
    ):
        locations = [eval_sets] if isinstance(eval_sets, (str, os.PathLike)) else list(eval_sets)
        self.eval_sets = [os.fspath(location) for location in locations]
        self.fields = [text_field] if isinstance(text_field, str) else list(text_field)
        self.ngram = ngram
        self.action = action
        self.min_matches = min_matches
        self.min_item_words = min_item_words
        if not self.eval_sets or not self.fields:
            raise UsageError("decontaminate: eval_sets and text_field name at least one path and one field")
        if not getattr(self, "_decide_only", False):
            self._index = load_index(self.eval_sets, self.fields, ngram, min_item_words)

    @classmethod
    def for_decide(cls, **options) -> DecontaminationFilter:
        """A filter that can only `decide` on stored scores (`thresher refilter`): the eval sets
        are not read."""
        self = cls.__new__(cls)
        self._decide_only = True
        self.__init__(**options)
        return self

    def __getstate__(self) -> dict:
        # Pickled small (Beam): the index is rebuilt, or found in the process's cache, on first use.
        return {k: v for k, v in self.__dict__.items() if k != "_index"}

    @property
    def index(self) -> EvalIndex:
        index = self.__dict__.get("_index")
        if index is None:
            index = self._index = load_index(self.eval_sets, self.fields, self.ngram, self.min_item_words)
        return index

    def matches(self, text: str) -> tuple[int, str | None]:
        """(distinct grams of `text` found in the eval sets, a note on the first one or None)."""
        index = self.index
        words = normalized_words(text)
        grams = gram_hashes(words, index.lengths)
        if not grams:
            return 0, None
        # One search for every length: sorted keys, since numpy's binary search then starts from
        # the previous key's place (2x faster than unsorted).
        keys = np.sort(np.concatenate(list(grams.values())))
        at = np.searchsorted(index.hashes, keys)
        at[at == len(index.hashes)] = 0
        hit = index.hashes[at] == keys
        if not hit.any():
            return 0, None
        matched = np.unique(keys[hit])
        count = len(matched)
        first = None
        for size in sorted(grams, reverse=True):  # at the same word, the longest gram
            positions = np.flatnonzero(np.isin(grams[size], matched))
            if positions.size and (first is None or positions[0] < first[0]):
                start = int(positions[0])
                first = (start, size, int(index.items[np.searchsorted(index.hashes, grams[size][start])]))
        start, size, item = first
        gram = " ".join(words[start : start + size])
        if len(gram) > _GRAM_CHARS:
            gram = gram[: _GRAM_CHARS - 3] + "..."
        what = f"{size}-gram" if size == self.ngram else f"whole {size}-word item"
        how_many = f"{count} distinct match{'es' if count > 1 else ''}"
        return count, f'{what} "{gram}" from {index.where(item)} ({how_many})'[:_DETAIL_CHARS]

    def score(self, doc: Mapping) -> dict[str, float]:
        return {"contaminated_ngrams": float(self.matches(doc["text"])[0])}

    def decide(self, scores: Mapping[str, float]) -> Decision:
        if self.action == "drop" and scores["contaminated_ngrams"] >= self.min_matches:
            return Decision(False, "contaminated")
        return Decision(True)

    def __call__(self, doc: Mapping) -> Decision:
        # score and decide in one pass, with the note on the first match that `score` cannot return
        count, note = self.matches(doc["text"])
        scores = {"contaminated_ngrams": float(count)}
        decision = self.decide(scores)
        decision.scores = scores
        decision.detail = note
        return decision
