"""Contract 1 (Document) and 2 (Decision, Outcome) as data: the curated Parquet schema, version 1.

One row per document. Scores of every filter are kept (`scores`, a map from
"<stage>.<signal>" to float) so that thresholds can be re-applied without recomputing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = 1
# The funnel's first stage: reading a record from its file.
READ_STAGE = "read"

DOCUMENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),  # stable: hash of source file path and record offset
        ("url", pa.string()),
        ("text", pa.string()),
        ("source_file", pa.string()),  # the input path as given
        ("source_offset", pa.int64()),  # byte offset (WARC/WET) or line/row number (JSONL/Parquet)
        ("source_format", pa.string()),  # warc | wet | jsonl | parquet
        ("crawl", pa.string()),  # e.g. CC-MAIN-2020-34 where the record says so
        ("fetch_date", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float64()),
        ("scores", pa.map_(pa.string(), pa.float64())),
        ("dedup_key", pa.string()),  # hash of the normalised text (exact dedup)
        ("dedup_cluster_size", pa.int64()),  # how many documents shared that key
        ("domain", pa.string()),  # domain label where a domain stage ran
    ],
    metadata={b"thresher.schema_version": str(SCHEMA_VERSION).encode()},
)

DOCUMENT_FIELDS = tuple(DOCUMENT_SCHEMA.names)


def document_id(source_file: str, source_offset: int) -> str:
    """Stable id: the same record in the same file gets the same id on every run and worker."""
    return hashlib.blake2b(f"{source_file}#{source_offset}".encode(), digest_size=12).hexdigest()


def to_row(doc: dict) -> dict:
    """A document dict as a Parquet row: exactly the schema's fields, scores as (key, value) pairs."""
    row = {name: doc.get(name) for name in DOCUMENT_FIELDS}
    row["scores"] = sorted((doc.get("scores") or {}).items())
    return row


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
    doc: dict
    # (chars, words) of the text entering each stage the record reached, plus one final entry
    # for the text leaving the last stage it passed; (0, 0) before text exists.
    trace: list[tuple[int, int]]

    @property
    def label(self) -> str | None:
        return f"{self.stage}:{self.reason}" if self.reason else None
