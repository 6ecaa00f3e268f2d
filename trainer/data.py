"""Read token shards (contracts.md, 5) and serve deterministic, resumable, rank-sliced batches.

What the loader promises:
- Zero copy. Each shard is memory-mapped (`pyarrow.memory_map` + `contracts.shards.read_shard`) and its
  `tokens` column is viewed as a read-only numpy array of shape (rows, row_length); only the rows of
  a batch are ever copied, when they become an int64 tensor.
- The same global batches whatever the number of ranks. Epoch e visits every row of the split once,
  in the order `permutation(rows)` drawn from `(seed, e)`. Global batch b of the epoch is positions
  [b*G, (b+1)*G) of that order; rank r of W takes its positions r, r+W, r+2W, ... So 1 GPU and 64
  GPUs see the same rows per optimizer step, and changing W never changes what the model learns.
- Exact resume. The state is (epoch, position): the epoch and how many rows of its order were
  consumed. A loader given that state continues with the next global batch, mid-epoch or not.
- The trainer shifts, the shards do not: a row of `sequence_length + 1` tokens gives
  x = row[:-1] and y = row[1:].
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from thresher.contracts.errors import UsageError
from thresher.contracts.files import cache_dir, fetch, file_sha256, is_remote, open_file
from thresher.contracts.shards import MANIFEST_FILE, ShardSetError, check_manifest, read_shard, tokens_type


def local_shard_set(data_dir: str) -> str:
    """A shard set's local folder: `data_dir` itself, or, for a remote one (gs://, s3://, https://),
    a copy in the cache ($THRESHER_CACHE/shards/<sha256 of its manifest>/) made once: every shard
    the manifest lists is downloaded and checked against the manifest's sha256 (a shard that does
    not match is not kept: ChecksumError), and the manifest is written last."""
    if not is_remote(data_dir):
        return data_dir
    base = data_dir.rstrip("/")
    with open_file(f"{base}/{MANIFEST_FILE}") as fh:
        raw = fh.read()
    manifest = check_manifest(json.loads(raw), f"{base}/{MANIFEST_FILE}")
    local = cache_dir() / "shards" / hashlib.sha256(raw).hexdigest()
    if not (local / MANIFEST_FILE).is_file():
        for split in manifest["splits"].values():
            for shard in split["shards"]:
                fetch(f"{base}/{shard['path']}", shard["sha256"], local / shard["path"])
        tmp = local / f".{MANIFEST_FILE}.tmp"
        tmp.write_bytes(raw)
        tmp.replace(local / MANIFEST_FILE)
    return str(local)


def read_manifest(data_dir) -> dict:
    """manifest.json of a shard set, checked against the format this reader knows; ShardSetError
    (one line for the user) when there is none: `thresher shard` publishes it last, so a folder
    without one holds no complete shard set."""
    path = Path(data_dir) / MANIFEST_FILE
    if not path.is_file():
        state = "not a folder" if not Path(data_dir).is_dir() else f"no {MANIFEST_FILE}"
        raise ShardSetError(
            f"{data_dir}: {state}, so no complete shard set (a `thresher shard` run that did not finish leaves none)"
        )
    try:
        manifest = json.loads(path.read_text())
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError alike
        raise ShardSetError(f"{path}: not JSON ({e})") from None
    return check_manifest(manifest, str(path))


class TokenShards:
    """One split of a shard set, memory-mapped: `rows(indices)` by global row number across shards.

    Every shard must be there with the size in bytes and the rows the manifest lists (a stat and a
    read of its message headers per shard): a partial copy, or a shard of another run, is refused (ShardSetError)
    before training starts. `verify=True` also hashes every shard file and compares it with the
    manifest's sha256 (a full read of the split; off by default because a training start should
    not wait on it). Manifests written before shard sizes were recorded are checked by rows only."""

    def __init__(self, data_dir, split: str, verify: bool = False):
        data_dir = Path(data_dir)
        self.manifest = read_manifest(data_dir)
        if split not in self.manifest["splits"]:
            raise ShardSetError(f"{data_dir}: no split {split!r} in manifest (has {sorted(self.manifest['splits'])})")
        self.split = split
        self.row_length = self.manifest["row_length"]
        expected_type = tokens_type(self.manifest["dtype"], self.row_length)
        self._views = []  # one (rows, row_length) numpy view per record batch
        self._starts = []  # global row number of each view's first row
        self.num_rows = 0
        for shard in self.manifest["splits"][split]["shards"]:
            path = data_dir / shard["path"]
            if not path.is_file():
                raise ShardSetError(f"{path}: missing, and {data_dir / MANIFEST_FILE} lists it")
            size = path.stat().st_size
            if "bytes" in shard and size != shard["bytes"]:
                raise ShardSetError(
                    f"{path}: {size:,} bytes, the manifest says {shard['bytes']:,}: not the shard it lists "
                    "(a partial copy, or another shard run's); copy or shard the set again"
                )
            if verify and file_sha256(path) != shard["sha256"]:
                raise ShardSetError(f"{path}: sha256 does not match the manifest")
            try:
                table = read_shard(pa.memory_map(str(path), "r"), self.manifest["format_version"])
            except pa.ArrowInvalid as e:
                raise ShardSetError(
                    f"{path}: not a shard of format_version {self.manifest['format_version']} ({e})"
                ) from None
            column_type = table.schema.field("tokens").type
            if column_type != expected_type:
                raise ShardSetError(f"{path}: tokens column is {column_type}, manifest says {expected_type}")
            shard_rows = 0
            for i, column in enumerate(table.column("tokens").chunks):
                if column.null_count:
                    raise ShardSetError(f"{path}: {column.null_count} null rows in record batch {i}")
                # flatten() honours the array's offset and length; both it and to_numpy are views
                # into the memory map (zero_copy_only raises rather than copy silently).
                view = column.flatten().to_numpy(zero_copy_only=True).reshape(-1, self.row_length)
                self._views.append(view)
                self._starts.append(self.num_rows + shard_rows)
                shard_rows += len(view)
            if shard_rows != shard["rows"]:
                raise ShardSetError(f"{path}: {shard_rows} rows, manifest says {shard['rows']}")
            self.num_rows += shard_rows
        if self.num_rows != self.manifest["splits"][split]["rows"]:
            raise ShardSetError(
                f"{data_dir}: split {split!r} has {self.num_rows} rows, manifest says {self.manifest['splits'][split]['rows']}"
            )
        self._starts = np.array(self._starts, dtype=np.int64)

    def __len__(self) -> int:
        return self.num_rows

    def rows(self, indices) -> np.ndarray:
        """The rows at these global row numbers, as one int64 (len(indices), row_length) array."""
        indices = np.asarray(indices, dtype=np.int64)
        which = np.searchsorted(self._starts, indices, side="right") - 1
        out = np.empty((len(indices), self.row_length), dtype=np.int64)
        for i, (v, row) in enumerate(zip(which, indices)):
            out[i] = self._views[v][row - self._starts[v]]
        return out


class BatchLoader:
    """This rank's share of a seeded sequence of global batches of `global_batch_size` rows.

    The rows that do not fill a last global batch of an epoch are skipped in that epoch, so that
    every optimizer step sees a full batch; the next epoch's different order reaches them."""

    def __init__(self, shards: TokenShards, global_batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if global_batch_size % world_size:
            raise UsageError(f"global batch of {global_batch_size} rows does not split over {world_size} ranks")
        if global_batch_size > len(shards):
            raise UsageError(
                f"split {shards.split!r} has {len(shards)} rows, fewer than one global batch ({global_batch_size})"
            )
        self.shards = shards
        self.global_batch_size = global_batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.position = 0
        self._order_epoch = None
        self._order = None

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's row order: the same for every rank, every world size, every resume."""
        if self._order_epoch != epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(len(self.shards))
            self._order_epoch = epoch
        return self._order

    def next_rows(self) -> np.ndarray:
        """Global row numbers of this rank's share of the next global batch; advances the state."""
        if self.position + self.global_batch_size > len(self.shards):
            self.epoch, self.position = self.epoch + 1, 0
        batch = self.order(self.epoch)[self.position : self.position + self.global_batch_size]
        self.position += self.global_batch_size
        return batch[self.rank :: self.world_size]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y), each int64 of shape (global_batch_size / world_size, sequence_length)."""
        rows = torch.from_numpy(self.shards.rows(self.next_rows()))
        return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
