"""`thresher shard` end to end on real text (US presidential addresses): contract 5."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from tokenizers import Tokenizer

from thresher.contracts.schema import document_id
from thresher.contracts.shards import FORMAT_VERSION
from thresher.pipelines import shard
from thresher.tokenizer.train import train_tokenizer

from conftest import DATA, run_cli, write_curated

ADDRESSES = DATA / "nltk-us-presidential-addresses"
EOS = "<|endoftext|>"
SEQUENCE_LENGTH = 127  # rows of 128 tokens: thousands of rows from 3 MB, so shuffling shows
ROWS_PER_SHARD = 1500
VAL_FRACTION = 0.1  # ~12 of the 124 addresses
SEED = 1234


def read_text(path: Path) -> str:
    # Most addresses are UTF-8; a few older NLTK files are Latin-1.
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def contract_split(doc_id: str) -> str:
    """docs/contracts.md, restated: val if blake2b(id) mod 10,000 < val_fraction * 10,000."""
    h = int.from_bytes(hashlib.blake2b(doc_id.encode()).digest(), "big")
    return "val" if h % 10_000 < VAL_FRACTION * 10_000 else "train"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """124 addresses as curated Parquet in two files, and a 1,000-token BPE trained on them."""
    files = sorted(ADDRESSES.glob("*/*.txt"))
    if not files:
        pytest.skip(f"test data missing: {ADDRESSES} (the shared/data checkout beside the repo)")
    docs = {document_id(None, None, None, None, str(f.relative_to(ADDRESSES))): read_text(f) for f in files}
    ids = sorted(docs)
    root = tmp_path_factory.mktemp("corpus")
    (root / "curated").mkdir()
    for k in range(2):
        write_curated(root / "curated" / f"part-{k:05d}.parquet", ids[k::2], [docs[i] for i in ids[k::2]])
    train_tokenizer(str(root / "curated" / "part-*.parquet"), root / "tokenizer", vocab_size=1000)
    return {"docs": docs, "input": str(root / "curated" / "part-*.parquet"), "tokenizer": str(root / "tokenizer")}


def run_shard(corpus, output: Path, packing_buckets: int, beam_args=()) -> dict:
    return shard.run(
        corpus["input"],
        corpus["tokenizer"],
        str(output),
        list(beam_args),
        sequence_length=SEQUENCE_LENGTH,
        val_fraction=VAL_FRACTION,
        seed=SEED,
        rows_per_shard=ROWS_PER_SHARD,
        packing_buckets=packing_buckets,
    )


@pytest.fixture(scope="module")
def one_bucket(corpus, tmp_path_factory):
    """Packed in a single bucket per split: each split is one stream, easy to un-shuffle."""
    out = tmp_path_factory.mktemp("one_bucket")
    return out, run_shard(corpus, out, packing_buckets=1)


@pytest.fixture(scope="module")
def in_process(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("in_process")
    return out, run_shard(corpus, out, packing_buckets=4)


def read_rows(out: Path, entry: dict) -> np.ndarray:
    with pa.memory_map(str(out / entry["path"])) as source:
        column = pa.ipc.open_stream(source).read_all().column("tokens")
        return column.chunk(0).values.to_numpy().reshape(-1, column.type.list_size).copy()


def test_rows_unshuffle_into_the_documents_eos_separated(corpus, one_bucket):
    out, manifest = one_bucket
    tokenizer = Tokenizer.from_file(str(Path(corpus["tokenizer"]) / "tokenizer.json"))
    for split in ("train", "val"):
        stats = manifest["splits"][split]
        # Rows in manifest order; a split of R rows has ceil(R / rows_per_shard) shards, a row
        # goes to shard key mod that number, and shards hold rows in key order (shard.py).
        n_shards = math.ceil(stats["rows"] / ROWS_PER_SHARD)
        assert [e["path"] for e in stats["shards"]] == [f"{split}/shard-{i:05d}.arrow" for i in range(n_shards)]
        keys = [shard.shuffle_key(SEED, split, 0, i) for i in range(stats["rows"])]
        order = []  # stream row index of each written row, in written order
        for index in range(n_shards):
            order += sorted((i for i in range(stats["rows"]) if keys[i] % n_shards == index), key=keys.__getitem__)
        written = np.concatenate([read_rows(out, e) for e in stats["shards"]])
        assert order != sorted(order), "rows were not shuffled"
        stream = np.empty_like(written)
        stream[order] = written

        texts = [corpus["docs"][i] for i in sorted(corpus["docs"]) if contract_split(i) == split]
        assert stats["documents"] == len(texts) > 0
        assert written.shape[0] == stats["rows"]
        # The rows, in stream order, decode to the documents sorted by id, each followed by EOS,
        # up to where the dropped tail begins (possibly inside a multi-byte character)...
        expected = "".join(text + EOS for text in texts)
        decoded = tokenizer.decode(stream.reshape(-1).tolist(), skip_special_tokens=False)
        assert expected.startswith(decoded.rstrip("\ufffd"))
        # Every address is longer than a row, so a non-empty tail cuts exactly the last one.
        assert decoded.count(EOS) == len(texts) - (stats["dropped_tail_tokens"] > 0)
        # ...and the tokens of every document plus its EOS are in the rows or in the tail.
        assert stats["tokens"] + stats["dropped_tail_tokens"] == sum(len(tokenizer.encode(t).ids) + 1 for t in texts)


def test_manifest_describes_the_shards(corpus, in_process):
    out, manifest = in_process
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["format"] == "thresher-shards" and manifest["format_version"] == FORMAT_VERSION == 2
    tokenizer_json = Path(corpus["tokenizer"]) / "tokenizer.json"
    assert manifest["tokenizer"] == {
        "sha256": hashlib.sha256(tokenizer_json.read_bytes()).hexdigest(),
        "vocab_size": 1000,
        "eos_id": 0,
        "path": str(tokenizer_json),
    }
    assert (manifest["sequence_length"], manifest["row_length"], manifest["dtype"]) == (127, 128, "uint16")
    assert (manifest["shuffle_seed"], manifest["val_fraction"]) == (SEED, VAL_FRACTION)
    docs = corpus["docs"]
    for split, stats in manifest["splits"].items():
        assert stats["documents"] == sum(contract_split(i) == split for i in docs)
        # Four buckets, each dropping less than a row.
        assert 0 <= stats["dropped_tail_tokens"] < 4 * 128
        assert stats["tokens"] == stats["rows"] * 128 == sum(e["tokens"] for e in stats["shards"])
        assert stats["rows"] == sum(e["rows"] for e in stats["shards"])
        for entry in stats["shards"]:
            data = (out / entry["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
            assert table.schema.field("tokens").type == pa.list_(pa.uint16(), 128)
            assert table.num_rows == entry["rows"] and entry["tokens"] == entry["rows"] * 128
            assert table.schema.metadata[b"tokenizer_sha256"].decode() == manifest["tokenizer"]["sha256"]
    train = manifest["splits"]["train"]
    assert len(train["shards"]) == math.ceil(train["rows"] / ROWS_PER_SHARD) >= 3
    assert all(0.7 * ROWS_PER_SHARD < e["rows"] < 1.3 * ROWS_PER_SHARD for e in train["shards"][:-1])


def test_shards_memory_map_zero_copy(in_process):
    out, manifest = in_process
    entry = manifest["splits"]["train"]["shards"][0]
    path = str(out / entry["path"])
    size = Path(path).stat().st_size

    before = pa.total_allocated_bytes()
    with pa.memory_map(path) as source:
        column = pa.ipc.open_stream(source).read_all().column("tokens")
        assert column.num_chunks == 1
        rows = column.chunk(0).values.to_numpy(zero_copy_only=True).reshape(-1, 128)
        assert rows.shape == (entry["rows"], 128) and not rows.flags.owndata
        assert pa.total_allocated_bytes() - before < size // 100
        del rows, column
    # The same read through a plain file copies the shard into Arrow's memory pool: the
    # check above can fail.
    with pa.OSFile(path) as source:
        table = pa.ipc.open_stream(source).read_all()
        assert pa.total_allocated_bytes() - before >= entry["tokens"] * 2
        del table


def test_same_bytes_with_two_worker_processes(corpus, in_process, tmp_path, capsys):
    out, _ = in_process
    argv = [
        "--input",
        corpus["input"],
        "--tokenizer",
        corpus["tokenizer"],
        "--output",
        str(tmp_path),
        "--sequence-length",
        str(SEQUENCE_LENGTH),
        "--val-fraction",
        str(VAL_FRACTION),
        "--seed",
        str(SEED),
        "--rows-per-shard",
        str(ROWS_PER_SHARD),
        "--packing-buckets",
        "4",
        # Beam options pass through to PipelineOptions.
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ]
    assert run_cli("shard", argv) == 0
    assert f"wrote uint16 token shards to {tmp_path}" in capsys.readouterr().out
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(files) > 3
    for name in files:
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name
