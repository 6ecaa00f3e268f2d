"""Contract 5 as code: the token shard format, defined once for the writer (pipelines/shard.py)
and the reader (trainer/data.py). docs/contracts.md describes it in prose.

A shard set is `manifest.json` plus `<split>/shard-NNNNN.arrow`: uncompressed Arrow IPC streams with
one column `tokens: fixed_size_list<uint16|uint32>[row_length]`, `row_length = sequence_length + 1`.
The manifest lists every shard with its rows, tokens, size in bytes and sha256; it is published
last, so a folder holds a shard set when, and only when, it holds a manifest.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

from thresher.contracts.errors import UsageError

FORMAT = "thresher-shards"
# Version 2 writes the Arrow IPC *streaming* format, version 1 wrote the *file* format (the
# stream plus a footer indexing its record batches). `datasets.Dataset.from_file` memory-maps the
# streaming format only, and refused version 1; both map zero-copy (`read_shard`), and readers
# still take version 1.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
SPLITS = ("train", "val")
DTYPES = {"uint16": pa.uint16(), "uint32": pa.uint32()}
MANIFEST_FILE = "manifest.json"
# The split hash is taken modulo 10,000 (val_fraction has 1e-4 resolution).
SPLIT_MODULUS = 10_000


class ShardSetError(UsageError):
    """A folder that is not the complete shard set its manifest describes: no manifest (a shard run
    that did not finish), a manifest of another format, a shard missing or not the one listed."""


def split_bucket(doc_id: str) -> int:
    """blake2b(id) mod 10,000; blake2b is the default 64-byte digest of the UTF-8 id, read as a
    big-endian integer."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8")).digest(), "big") % SPLIT_MODULUS


def split_of(doc_id: str, val_fraction: float) -> str:
    """`val` if split_bucket(id) < val_fraction * 10,000, else `train`."""
    return "val" if split_bucket(doc_id) < val_fraction * SPLIT_MODULUS else "train"


def shard_path(split: str, index: int) -> str:
    return f"{split}/shard-{index:05d}.arrow"


def shard_glob(split: str) -> str:
    """Every name `shard_path` gives in `split`."""
    return f"{split}/shard-*.arrow"


def tokens_type(dtype: str, row_length: int) -> pa.DataType:
    """The `tokens` column's type: one fixed-size list of `row_length` ids per row."""
    return pa.list_(DTYPES[dtype], row_length)


def shard_schema(dtype: str, row_length: int, metadata: dict) -> pa.Schema:
    return pa.schema([pa.field("tokens", tokens_type(dtype, row_length), nullable=False)], metadata=metadata)


def check_manifest(manifest: dict, where: str) -> dict:
    """`manifest` if it is one this code knows how to read; ShardSetError naming `where` otherwise."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ShardSetError(f"{where}: format {found!r}, expected {FORMAT!r}")
    if manifest.get("format_version") not in READABLE_VERSIONS:
        raise ShardSetError(
            f"{where}: format_version {manifest.get('format_version')!r}, this reader knows {READABLE_VERSIONS}"
        )
    if manifest["row_length"] != manifest["sequence_length"] + 1:
        raise ShardSetError(f"{where}: row_length {manifest['row_length']} != sequence_length + 1")
    if manifest["dtype"] not in DTYPES:
        raise ShardSetError(f"{where}: dtype {manifest['dtype']!r}, expected one of {sorted(DTYPES)}")
    return manifest


def read_shard(source, format_version: int) -> pa.Table:
    """A shard's table, in the IPC format its manifest's `format_version` names. Zero-copy when
    `source` is a `pyarrow.memory_map`: every buffer is a slice of the map."""
    reader = pa.ipc.open_stream(source) if format_version >= 2 else pa.ipc.open_file(source)
    return reader.read_all()
