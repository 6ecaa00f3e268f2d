"""Contract 1 (Document) and 2 (Decision, Outcome) as data: the curated Parquet schema, version 4,
and the raw record the readers hand to the chain.

One row per document. Scores of every filter are kept (`scores`: (key, value) pairs, key
"<stage>.<signal>", sorted by key) so that thresholds can be re-applied without recomputing.

Version 4 stores `scores` as `list<struct<key: string, value: double>>`, version 3 stored it as
`map<string, double>`: the same bytes in Parquet (a map is a list of key/value structs), but
Hugging Face `datasets` has no type for a map and refuses the file, while it, DuckDB and Polars
all read the list (DuckDB: `map_from_entries(scores)['gopher_quality.stop_words']`). Readers take
both through `scores_dict`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TypedDict

import pyarrow as pa

SCHEMA_VERSION = 4
# The funnel's first stage: reading a record from its file.
READ_STAGE = "read"

# "<stage>.<signal>" -> score, as (key, value) pairs sorted by key: what a Parquet map is
# physically, in a type every reader has (see the module's docstring).
SCORES_TYPE = pa.list_(pa.struct([("key", pa.string()), ("value", pa.float64())]))

DOCUMENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),  # depends on the record alone (document_id): the same on any path or machine
        ("url", pa.string()),
        ("text", pa.string()),
        ("source_file", pa.string()),  # the input path as given
        ("source_offset", pa.int64()),  # where the record starts: see RawRecord
        ("source_length", pa.int64()),
        ("source_record_id", pa.string()),  # WARC-Record-ID (WET: the response's, WARC-Refers-To)
        ("source_format", pa.string()),  # warc | wet | jsonl | parquet
        ("crawl", pa.string()),  # e.g. CC-MAIN-2020-34 where the record says so
        ("fetch_date", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float64()),
        ("scores", SCORES_TYPE),
        ("dedup_key", pa.string()),  # hash of the normalised text (exact dedup)
        ("dedup_cluster_size", pa.int64()),  # how many documents shared that key
        # how many documents the near-duplicate cluster of this one held, itself included (a kept
        # document is its cluster's survivor: the cluster's id is its own); null without minhash_dedup
        ("minhash_cluster_size", pa.int64()),
        ("domain", pa.string()),  # domain label where a domain stage ran
    ],
    metadata={b"thresher.schema_version": str(SCHEMA_VERSION).encode()},
)

DOCUMENT_FIELDS = tuple(DOCUMENT_SCHEMA.names)

# A run's attributes (runs.py: attributes/part-<range>.parquet): one row per document that reached
# the per-document stages, kept or dropped by one, with every score the chain computed: what
# `thresher refilter` re-decides in both directions and the report's histograms count (dolma's
# "tag once, select many"). `text` is the text the stages left: set for the documents they kept,
# and for the dropped ones only in a run with --keep-dropped (null otherwise).
ATTRIBUTES_SCHEMA = (
    DOCUMENT_SCHEMA.append(pa.field("reason", pa.string()))  # "<stage>:<reason>" of the drop, null when kept
    .append(pa.field("payload_bytes", pa.int64()))  # the raw record's size: the funnel's bytes
    # With --keep-dropped, a dropped document is scored on by the later stages; "<stage>:<reason>"
    # where one of them could not process it (a fresh run that kept the document would error there).
    .append(pa.field("error_after_drop", pa.string()))
    .with_metadata({b"thresher.schema_version": str(SCHEMA_VERSION).encode(), b"thresher.table": b"attributes"})
)


def document_id(
    record_id: str | None, url: str | None, crawl: str | None, content: bytes | str | None, where: str
) -> str:
    """A document's id, from the record alone, never from the path it was read from: its
    WARC-Record-ID where it has one; else a hash of its URL, crawl and content; else (a record too
    broken to have either) `where` it is: the file's name and the record's offset."""
    if record_id:
        key = f"warc-record-id:{record_id}"
    elif content is not None:
        digest = hashlib.sha1(content.encode("utf-8") if isinstance(content, str) else content).hexdigest()
        key = f"content:{url or ''}\n{crawl or ''}\n{digest}"
    else:
        key = f"at:{where}"
    return hashlib.blake2b(key.encode("utf-8"), digest_size=12).hexdigest()


@dataclass(slots=True)
class RawRecord:
    """One input document as a reader hands it over (pipelines/readers.py), or the reason it could
    not be read (`error`). `source_offset` and `source_length` address the record in its file:
    the gzip member of a .warc.gz / .wet.gz file (seek, inflate one member: the record), the
    record's bytes in an uncompressed WARC or JSONL file, the line's bytes in the inflated stream
    of a gzipped JSONL file, the row number in a Parquet file (length None)."""

    source_file: str
    source_offset: int
    source_length: int | None
    source_format: str
    id: str = ""
    record_id: str | None = None
    url: str | None = None
    crawl: str | None = None
    fetch_date: str | None = None
    payload: bytes | None = None  # HTML bytes (WARC)
    charset: str | None = None  # the HTTP header's
    text: str | None = None  # text as given (WET, JSONL, Parquet)
    payload_bytes: int = 0
    error: str | None = None
    error_detail: str | None = None


class Document(TypedDict, total=False):
    """A document as filters see it and curated Parquet stores it (DOCUMENT_SCHEMA's fields), with
    `scores` as a dict; while a chain runs, also `payload_bytes`, and the record's `payload` and
    `charset` until extraction replaces them with text (working fields, never written)."""

    id: str
    url: str | None
    text: str | None
    source_file: str
    source_offset: int
    source_length: int | None
    source_record_id: str | None
    source_format: str
    crawl: str | None
    fetch_date: str | None
    lang: str | None
    lang_score: float | None
    scores: dict[str, float]
    dedup_key: str | None
    dedup_cluster_size: int | None
    minhash_cluster_size: int | None
    domain: str | None
    payload_bytes: int
    payload: bytes | None
    charset: str | None
    error_detail: str
    error_after_drop: str


def to_row(doc: Document) -> dict:
    """A document as a Parquet row: exactly the schema's fields, scores as {key, value} entries
    sorted by key."""
    row = {name: doc.get(name) for name in DOCUMENT_FIELDS}
    row["scores"] = [{"key": k, "value": v} for k, v in sorted((doc.get("scores") or {}).items())]
    return row


def scores_dict(stored) -> dict[str, float]:
    """A row's stored `scores` as pyarrow's `to_pylist` gives them, as a dict: {key, value}
    entries (schema version 4) or (key, value) pairs (version 3's map); None gives {}."""
    return {e["key"]: e["value"] for e in stored} if stored and isinstance(stored[0], dict) else dict(stored or ())


def text_size(text: str | None) -> tuple[int, int]:
    """(characters, words) of a text; words are whitespace-separated tokens: the funnel's unit,
    cheap and language-blind."""
    return (len(text), len(text.split())) if text else (0, 0)


@dataclass(slots=True)
class Outcome:
    """Where one input record ended: the one shape kept, dropped and errored documents travel in."""

    status: str  # kept | dropped | errored
    stage: str | None  # where it ended (None when kept)
    reason: str | None
    doc: Document
    # (chars, words) of the text entering each stage the record reached, plus one final entry
    # for the text leaving the last stage it passed; (0, 0) before text exists.
    trace: list[tuple[int, int]]
    # A dropped document as every later stage went on to score and transform it (a chain with
    # keep_dropped): its attributes. `doc` stays the document as its stage dropped it.
    scored: Document | None = None

    @property
    def label(self) -> str | None:
        return f"{self.stage}:{self.reason}" if self.reason else None
