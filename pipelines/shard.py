"""`thresher shard`: curated Parquet -> shuffled Arrow token shards + manifest.json (contract 5).

    thresher shard --input 'runs/x/curated/part-*.parquet' --tokenizer runs/x/tokenizer \\
        --output runs/x/shards --sequence-length 1024 --val-fraction 0.01 --seed 1234
    # on 8 local processes: add --workers 8
    # on Dataflow: add --runner DataflowRunner --project P --region R --temp_location gs://b/tmp
    #     (and the worker image), with gs:// paths for --input/--tokenizer/--output

Shape of the pipeline (every step is keyed by hashes of document ids, never by arrival order, so
the output is the same bytes whatever the runner, the number of workers or the bundle sizes):

1. read `id`, `text` by input ranges (whole Parquet row groups, so one large file keeps every
   worker busy; runs.py); tokenize in batches (the tokenizer is loaded once per DoFn instance),
   each document followed by EOS;
2. split by document: `val` if blake2b(id) mod 10,000 < val_fraction * 10,000 (`split_of`);
3. pack: documents go to one of `packing_buckets` buckets per split by another hash of their id;
   in a bucket they are sorted by id, concatenated and cut into rows of sequence_length + 1
   tokens; each bucket drops its tail (< one row), so at most `packing_buckets` rows' worth of
   tokens per split are lost;
4. shuffle: every row gets a key, a blake2b of (split, bucket, row index) keyed with the seed;
   a split with R rows gets ceil(R / rows_per_shard) shards, a row goes to shard key mod that
   number and shards hold their rows in key order: a seeded permutation of all rows, with shards
   of about (not exactly) rows_per_shard rows;
5. write each shard as an uncompressed Arrow IPC stream (one record batch, so a reader's memory
   map gives one contiguous `(rows, row_length)` array), then manifest.json from the shards'
   metadata, all under `_work/staged/`: a shard is written in one piece by one worker and
   retries rewrite the same bytes; the staged manifest is written last, atomically.
6. publish (`publish`, on the launcher, once the pipeline is done): remove the folder's old
   manifest, move the staged shards into place, remove the old set's shards the new one does
   not have, move the manifest into place. Until the old manifest goes, the old shard set is
   whole and in force (a run stopped before then leaves it as it was); from then until the new
   one arrives there is no manifest, so no reader takes a mixture of two sets for one. A shard
   set with no rows at all is never published: `thresher shard` refuses it (UsageError).

Paths go through Beam's FileSystems, so gs:// works where apache-beam[gcp] is installed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.runners.runner import PipelineState

from thresher.contracts.errors import UsageError
from thresher.contracts.shards import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_FILE,
    SPLITS,
    shard_glob,
    shard_path,
    shard_schema,
    split_of,
)
from thresher.pipelines.options import pipeline_options
from thresher.pipelines.readers import row_groups_in
from thresher.pipelines.runs import (
    RANGES,
    TMP,
    WORK,
    Progress,
    RunFolder,
    make_folder,
    match_inputs,
    plan,
    range_bytes_for,
    read_json,
)
from thresher.tokenizer.encode import (
    EOS_TOKEN,
    DocumentEncoder,
    TokenizerError,
    eos_token_from_config,
    not_a_tokenizer,
    pack_sequences,
    tokenizer_paths,
)

NAMESPACE = "thresher.shard"
# Where the pipeline writes the new shard set (`<split>/shard-NNNNN.arrow` and manifest.json, as
# in the output folder) before `publish` moves it into place.
STAGED = f"{WORK}/staged"

# GPT-2's context length (nanoGPT's block_size).
DEFAULT_SEQUENCE_LENGTH = 1024
# 1% of documents held out, the example of docs/contracts.md.
DEFAULT_VAL_FRACTION = 0.01
# Any fixed seed will do; this is the one of docs/contracts.md's example.
DEFAULT_SEED = 1234
# llm.c's fineweb.py writes shards of 10**8 tokens (200 MB in uint16): big enough that per-file
# overhead vanishes, small enough to write from one worker's memory.
SHARD_TOKENS = 10**8
# Packing groups per split: enough parallel groups for a few dozen workers. Each bucket is held
# in one worker's memory (1/64 of a 10B-token corpus is 300 MB of uint16) and drops < one row.
DEFAULT_PACKING_BUCKETS = 64
# Documents per encode_batch call: enough for the Rust encoder to use every core of a worker.
TOKENIZE_BATCH = 1024


def packing_bucket(doc_id: str, packing_buckets: int) -> int:
    # A hash independent of the split hash (personalised), so buckets are uniform within a split.
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8, person=b"thresher.pack").digest()
    return int.from_bytes(digest, "big") % packing_buckets


def shuffle_key(seed: int, split: str, bucket: int, row_index: int) -> int:
    """The row's position in the seeded global shuffle (rows are written in key order)."""
    digest = hashlib.blake2b(f"{split}/{bucket}/{row_index}".encode(), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "big")


def load_encoder(tokenizer: str) -> DocumentEncoder:
    """A tokenizer folder or tokenizer.json, local or remote (through FileSystems); TokenizerError
    (a UsageError: one line) when `tokenizer` is not one."""
    try:
        return _load_encoder(tokenizer)
    except TokenizerError as e:
        raise TokenizerError(f"--tokenizer: {e}") from None


def _load_encoder(tokenizer: str) -> DocumentEncoder:
    json_path, config_path = tokenizer_paths(tokenizer)
    if not FileSystems.exists(json_path):
        local = "://" not in tokenizer
        raise not_a_tokenizer(tokenizer, FileSystems.exists(tokenizer), local and os.path.isdir(tokenizer))
    with FileSystems.open(json_path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read()
    eos_token = EOS_TOKEN
    if FileSystems.exists(config_path):
        with FileSystems.open(config_path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            eos_token = eos_token_from_config(f.read(), config_path)
    return DocumentEncoder.from_bytes(data, eos_token, json_path)


def _write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


class TokenizeRange(beam.DoFn):
    """An input range of curated Parquet (whole row groups) -> ((split, bucket), (id, token bytes
    ending in EOS)) per document; then the range's completion marker, which progress reads."""

    def __init__(self, tokenizer: str, tokenizer_sha256: str, val_fraction: float, packing_buckets: int, output: str):
        self.tokenizer = tokenizer
        self.tokenizer_sha256 = tokenizer_sha256
        self.val_fraction = val_fraction
        self.packing_buckets = packing_buckets
        self.output = output
        self.kept = beam.metrics.Metrics.counter(NAMESPACE, "tokenize.kept")
        self.no_text = beam.metrics.Metrics.counter(NAMESPACE, "tokenize.dropped.no_text")
        self.no_id = beam.metrics.Metrics.counter(NAMESPACE, "tokenize.dropped.no_id")

    def setup(self):
        self.encoder = load_encoder(self.tokenizer)
        # The manifest names the tokenizer by hash: refuse one that changed since launch.
        if self.encoder.sha256 != self.tokenizer_sha256:
            raise RuntimeError(f"{self.tokenizer} changed while the pipeline ran")

    def process(self, rng):
        records = 0
        with FileSystems.open(rng.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            parquet = pq.ParquetFile(fh)
            groups = row_groups_in(parquet.metadata, rng.start, rng.end)
            for batch in parquet.iter_batches(TOKENIZE_BATCH, groups, columns=["id", "text"]) if groups else ():
                records += batch.num_rows
                yield from self._tokenize(batch.to_pylist())
        RunFolder(self.output).write(f"{RANGES}/{rng.key}.done.json", json.dumps({"records": records}).encode())

    def _tokenize(self, batch: list[dict]):
        docs = []
        for doc in batch:
            if doc["id"] is None:
                self.no_id.inc()
            elif doc["text"] is None:
                self.no_text.inc()
            else:
                docs.append(doc)
        self.kept.inc(len(docs))
        for doc, tokens in zip(docs, self.encoder.encode([d["text"] for d in docs]), strict=True):
            doc_id = doc["id"]
            key = (split_of(doc_id, self.val_fraction), packing_bucket(doc_id, self.packing_buckets))
            yield key, (doc_id, tokens.tobytes())


class PackBucket(beam.DoFn):
    """One bucket's documents -> (split, (shuffle key, row bytes)) rows, and its counts on the
    `stats` output as (split, (documents, tokens in rows, rows, dropped_tail_tokens))."""

    STATS = "stats"

    def __init__(self, row_length: int, seed: int, dtype: str):
        self.row_length = row_length
        self.seed = seed
        self.dtype = dtype

    def process(self, element):
        (split, bucket), docs = element
        # Sorted by id (and tokens, should an id repeat) so the stream does not depend on the
        # order the runner delivered the group in.
        docs = sorted(docs)
        token_lists = [np.frombuffer(tokens, dtype=self.dtype) for _, tokens in docs]
        rows, dropped_tail = pack_sequences(token_lists, self.row_length)
        beam.metrics.Metrics.counter(NAMESPACE, f"{split}.documents").inc(len(docs))
        beam.metrics.Metrics.counter(NAMESPACE, f"{split}.rows").inc(len(rows))
        beam.metrics.Metrics.counter(NAMESPACE, f"{split}.dropped_tail_tokens").inc(dropped_tail)
        yield beam.pvalue.TaggedOutput(self.STATS, (split, (len(docs), int(rows.size), len(rows), dropped_tail)))
        for index, row in enumerate(rows):
            yield split, (shuffle_key(self.seed, split, bucket, index), row.tobytes())


def _sum_stats(stats):
    return tuple(map(sum, zip(*stats, strict=True)))


def _assign_shard(element, rows_per_shard: int, split_rows: dict):
    split, keyed_row = element
    shards = math.ceil(split_rows[split][2] / rows_per_shard)
    return (split, keyed_row[0] % shards), keyed_row


class WriteShard(beam.DoFn):
    """((split, shard index), rows) -> one Arrow IPC stream file under `folder`; yields its manifest entry."""

    def __init__(self, folder: str, row_length: int, dtype: str, schema_metadata: dict):
        self.folder = folder
        self.row_length = row_length
        self.dtype = dtype
        self.schema_metadata = schema_metadata

    def process(self, element):
        (split, index), keyed_rows = element
        # Key order is the shuffle; the row bytes break (astronomically rare) key ties.
        rows = [row for _, row in sorted(keyed_rows)]
        tokens = np.frombuffer(b"".join(rows), dtype=self.dtype)
        column = pa.FixedSizeListArray.from_arrays(pa.array(tokens), self.row_length)
        schema = shard_schema(self.dtype, self.row_length, {**self.schema_metadata, "split": split})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, schema) as writer:
            writer.write_batch(pa.record_batch([column], schema=schema))
        data = sink.getvalue().to_pybytes()
        relative = shard_path(split, index)
        _write_bytes(FileSystems.join(self.folder, relative), data)
        yield {
            "split": split,
            "path": relative,
            "rows": len(rows),
            "tokens": len(tokens),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }


def _write_manifest(shards: list, header: dict, split_stats: dict, output: str) -> None:
    """The staged manifest, last and atomically: its presence marks the pipeline's work done."""
    splits = {}
    for split in SPLITS:
        documents, tokens, rows, dropped_tail = split_stats.get(split, (0, 0, 0, 0))
        entries = sorted((s for s in shards if s["split"] == split), key=lambda s: s["path"])
        # `tokens` counts what the shards hold (rows * row_length); with `dropped_tail_tokens` it
        # makes every token of every document, EOS included.
        splits[split] = {
            "documents": documents,
            "rows": rows,
            "tokens": tokens,
            "dropped_tail_tokens": dropped_tail,
            "shards": [{k: s[k] for k in ("path", "rows", "tokens", "bytes", "sha256")} for s in entries],
        }
    manifest = {**header, "splits": splits}
    RunFolder(output).write(f"{STAGED}/{MANIFEST_FILE}", (json.dumps(manifest, indent=2) + "\n").encode())


def build_pipeline(
    pipeline: beam.Pipeline,
    inputs: str | list[str],
    files: list[tuple[str, int]],
    range_bytes: int,
    tokenizer: str,
    output: str,
    sequence_length: int = DEFAULT_SEQUENCE_LENGTH,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = DEFAULT_SEED,
    rows_per_shard: int | None = None,
    packing_buckets: int = DEFAULT_PACKING_BUCKETS,
    source: str | None = None,
) -> None:
    """Add the shard pipeline over `ranges` of `inputs` to `pipeline`: it writes the shard set under
    `output`/_work/staged/, for `publish` to move into place. `rows_per_shard` defaults to
    SHARD_TOKENS // row length; `source` (the manifest's name for the shard set) to the inputs."""
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    if sequence_length < 1:
        raise ValueError(f"sequence_length must be >= 1, got {sequence_length}")
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    if packing_buckets < 1:
        raise ValueError(f"packing_buckets must be >= 1, got {packing_buckets}")
    row_length = sequence_length + 1
    rows_per_shard = rows_per_shard or max(1, SHARD_TOKENS // row_length)
    # Read at launch for the manifest; workers load it again and check it is the same file.
    encoder = load_encoder(tokenizer)
    dtype = encoder.dtype.name
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tokenizer": {
            "sha256": encoder.sha256,
            "vocab_size": encoder.vocab_size,
            "eos_id": encoder.eos_id,
            "path": tokenizer_paths(tokenizer)[0],
        },
        "sequence_length": sequence_length,
        "row_length": row_length,
        "dtype": dtype,
        "shuffle_seed": seed,
        "val_fraction": val_fraction,
        "source": source or ",".join(inputs),
    }
    schema_metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "row_length": str(row_length),
        "dtype": dtype,
        "tokenizer_sha256": encoder.sha256,
    }

    tokenized = (
        pipeline
        | "Files" >> beam.Create(files)
        | "Ranges" >> beam.FlatMap(lambda file, size: plan([tuple(file)], size), range_bytes)
        | "SpreadRanges" >> beam.Reshuffle()
        | "Tokenize" >> beam.ParDo(TokenizeRange(tokenizer, encoder.sha256, val_fraction, packing_buckets, output))
    )
    packed = (
        tokenized
        | "GroupBuckets" >> beam.GroupByKey()
        | "Pack" >> beam.ParDo(PackBucket(row_length, seed, dtype)).with_outputs(PackBucket.STATS, main="rows")
    )
    split_stats = packed[PackBucket.STATS] | "SumStats" >> beam.CombinePerKey(_sum_stats)
    shards = (
        packed.rows
        | "AssignShards" >> beam.Map(_assign_shard, rows_per_shard, beam.pvalue.AsDict(split_stats))
        | "GroupShards" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(WriteShard(RunFolder(output).path(STAGED), row_length, dtype, schema_metadata))
    )
    (
        shards
        | "CollectShards" >> beam.combiners.ToList()
        | "WriteManifest" >> beam.Map(_write_manifest, header, beam.pvalue.AsDict(split_stats), output)
    )


def run(
    inputs: str | list[str], tokenizer: str, output: str, beam_args: list[str] | None = None, **kwargs
) -> dict | None:
    """Build and run the pipeline, then publish the shard set; the manifest (None for a Dataflow
    dry run, where nothing is listed, read or written). `kwargs` go to build_pipeline. UsageError,
    with the output folder left as it was, when the input makes no row at all."""
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    options = pipeline_options(beam_args)
    dry_run = bool(options.get_all_options().get("dry_run"))
    files = [(pattern, 0) for pattern in inputs] if dry_run else match_inputs(inputs)
    range_bytes = range_bytes_for(sum(size for _, size in files))
    folder = RunFolder(output)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, inputs, files, range_bytes, tokenizer, output, **kwargs)  # reads the tokenizer
    if not dry_run:
        # What a stopped run left: its staged shards (a whole shard set's worth, at worst) and
        # range markers, which would count as progress of this one.
        debris = [folder.path(part) for part in (STAGED, RANGES, TMP)]
        FileSystems.delete([path for path in debris if FileSystems.exists(path)])
    with Progress(folder, plan(files, range_bytes), "shard"):
        state = pipeline.run().wait_until_finish()
    if dry_run:
        return None
    if state != PipelineState.DONE:
        raise RuntimeError(f"the shard pipeline ended {state}, not DONE: {output} holds what it held before")
    staged = read_json(folder.path(STAGED, MANIFEST_FILE))
    if not any(split["rows"] for split in staged["splits"].values()):
        folder.finish(everything=True)
        raise UsageError(
            f"{nothing_to_shard(staged, inputs, kwargs.get('packing_buckets'))}; {output} is left as it was"
        )
    manifest = publish(output)
    folder.finish(everything=True)
    print(summary(manifest, output))
    return manifest


def nothing_to_shard(manifest: dict, inputs: list[str], packing_buckets: int | None) -> str:
    """Why a shard set has no rows, in words."""
    splits = manifest["splits"].values()
    documents = sum(split["documents"] for split in splits)
    where = f"--input {' '.join(inputs)}"
    if not documents:
        return f"{where} holds no document with an id and a text: no token shards to write"
    tokens = sum(split["dropped_tail_tokens"] for split in splits)
    buckets = packing_buckets or DEFAULT_PACKING_BUCKETS
    return (
        f"{where}: its {documents:,} documents make {tokens:,} tokens (EOS included), not one row of "
        f"{manifest['row_length']:,} (--sequence-length + 1) in any of the {buckets} packing buckets of a split: "
        "no token shards to write (a shorter --sequence-length or fewer --packing-buckets would make some)"
    )


def publish(output: str) -> dict:
    """Move the shard set staged under `output`/_work/staged/ into place; its manifest.

    The old manifest goes first and the new one comes last, so at no moment does a manifest.json
    describe shards that are not its own: a stop in between leaves no manifest, which readers
    refuse (trainer/data.py). Old shards that the new set does not overwrite are removed."""
    folder = RunFolder(output)
    manifest = read_json(folder.path(STAGED, MANIFEST_FILE))
    if FileSystems.exists(folder.path(MANIFEST_FILE)):
        FileSystems.delete([folder.path(MANIFEST_FILE)])
    new = [shard["path"] for split in manifest["splits"].values() for shard in split["shards"]]
    for split in SPLITS:
        make_folder(folder.path(split))
    if new:
        FileSystems.rename([folder.path(STAGED, path) for path in new], [folder.path(path) for path in new])
    kept = {folder.path(path) for path in new}
    found = FileSystems.match([folder.path(shard_glob(split)) for split in SPLITS])
    stale = [m.path for result in found for m in result.metadata_list if m.path not in kept]
    if stale:
        FileSystems.delete(stale)
    FileSystems.rename([folder.path(STAGED, MANIFEST_FILE)], [folder.path(MANIFEST_FILE)])
    return manifest


def summary(manifest: dict, output: str) -> str:
    parts = []
    for split, stats in manifest["splits"].items():
        parts.append(
            f"{split}: {stats['tokens']:,} tokens in {stats['rows']:,} rows "
            f"of {manifest['row_length']:,} in {len(stats['shards'])} shard(s), "
            f"from {stats['documents']:,} documents"
        )
    return f"wrote {manifest['dtype']} token shards to {output} ({'; '.join(parts)})"


def add_arguments(parser) -> None:
    """`thresher shard`'s own options (the CLI adds --input, --tokenizer, --output, --workers)."""
    parser.add_argument(
        "--sequence-length",
        type=int,
        default=DEFAULT_SEQUENCE_LENGTH,
        help="tokens per training example; rows hold one more (default: %(default)s, GPT-2's)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=DEFAULT_VAL_FRACTION,
        help="share of documents in the val split (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="shuffle seed (default: %(default)s)")
    parser.add_argument(
        "--rows-per-shard",
        type=int,
        default=None,
        help=f"target rows per shard (default: {SHARD_TOKENS:,} tokens' worth, as llm.c)",
    )
    parser.add_argument(
        "--packing-buckets",
        type=int,
        default=DEFAULT_PACKING_BUCKETS,
        help="parallel packing groups per split; each drops < 1 row (default: %(default)s)",
    )
    parser.add_argument("--source", default=None, help="name of the shard set in the manifest (default: --input)")


def options_from(args) -> dict:
    """build_pipeline's keyword arguments from parsed `add_arguments` options."""
    names = ("sequence_length", "val_fraction", "seed", "rows_per_shard", "packing_buckets", "source")
    return {name: getattr(args, name) for name in names}
