"""Train on several shard sets at once, in fixed proportions: `--mix finance=PATH:0.7,general=PATH:0.3`.

What the mixture promises:
- Exact proportions, by stride scheduling (Waldspurger & Weihl 1995): the j-th row (j = 0, 1, ...)
  of a source of weight w is due at `(j + 1/2) / w`, and the run takes rows in the order they fall
  due, ties to the first-named source. A deterministic interleaving in which every source's count
  stays close to `weight * n` after every n rows: within half a row for two sources, under one row
  for three, under k/2 rows for k up to eight (tests/test_trainer_mixture.py). So the proportions
  hold over the run and within every global batch, to a row or two, and since the order of the
  rows is fixed by the counts alone, a global batch's sources are found with one sort.
- The same global batches for any number of ranks, as `BatchLoader`: the mixture picks the sources
  of a whole global batch, then rank r of W takes its positions r, r+W, r+2W, ...
- Each source is an endless stream: epoch e of a source visits all its rows once, in the order
  `permutation(rows)` drawn from `(seed, blake2b(name), e)`, and the next epoch follows without a
  gap. A source's order depends on its own name only, so adding a source does not reorder others.
- Exact resume. The state is each source's (epoch, position); rows drawn = epoch * rows + position,
  and from those counts the interleaving continues where it stopped.

A weight of 0 names a source that is evaluated but never trained on (a held-out domain).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from thresher.contracts.errors import UsageError
from thresher.contracts.files import file_sha256
from thresher.trainer.data import TokenShards, read_manifest


@dataclass(frozen=True)
class Source:
    name: str
    path: str
    weight: float  # normalised: the positive weights of a mixture sum to 1


def parse_mix(spec: str) -> list[Source]:
    """`name=path:weight,name=path:weight,...` -> sources with weights normalised to sum 1.

    Weights are proportions in any unit (`0.7`/`0.3` or `7`/`3`); the path is what lies between the
    first `=` and the last `:`, so `gs://bucket/x` works (a path may not contain a comma)."""
    sources = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, rest = item.partition("=")
        path, colon, weight = rest.rpartition(":")
        if not (sep and colon and name and path):
            raise UsageError(f"mixture entry {item!r}: expected name=path:weight")
        try:
            w = float(weight)
        except ValueError:
            raise UsageError(f"mixture entry {item!r}: weight {weight!r} is not a number") from None
        if not (w >= 0 and np.isfinite(w)):
            raise UsageError(f"mixture entry {item!r}: weight must be finite and at least 0")
        sources.append(Source(name, path, w))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise UsageError(f"mixture {spec!r}: a source name appears twice")
    total = sum(s.weight for s in sources)
    if total == 0:
        raise UsageError(f"mixture {spec!r}: no source has a positive weight")
    return [Source(s.name, s.path, s.weight / total) for s in sources]


def check_compatible(manifests: dict[str, dict]) -> None:
    """Sources of one run must share the tokenizer (ids mean the same) and the row length."""
    (first, m0), *rest = manifests.items()
    for name, m in rest:
        if m["tokenizer"]["sha256"] != m0["tokenizer"]["sha256"]:
            raise UsageError(f"sources {first!r} and {name!r} were tokenized with different tokenizers")
        if m["sequence_length"] != m0["sequence_length"]:
            raise UsageError(
                f"sources {first!r} and {name!r} have sequence lengths {m0['sequence_length']} and {m['sequence_length']}"
            )


def manifest_digests(sources: list[Source]) -> dict[str, str]:
    return {s.name: file_sha256(Path(s.path) / "manifest.json") for s in sources}


def interleave(weights: np.ndarray, drawn: np.ndarray, rows: int) -> np.ndarray:
    """Sources of the next `rows` rows, given the rows `drawn` from each so far (updated in place).

    The next rows are the `rows` earliest-due among each source's next `rows` rows; a stable sort
    of the (source-major) table of due times breaks ties by source order."""
    due = (drawn[:, None] + np.arange(rows)[None, :] + 0.5) / weights[:, None]  # (sources, rows)
    picks = np.argsort(due.ravel(), kind="stable")[:rows] // rows
    drawn += np.bincount(picks, minlength=len(weights))
    return picks


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode()).digest()[:8], "big")


class MixtureLoader:
    """This rank's share of global batches of `global_batch_size` rows drawn from several sources
    in fixed proportions (see the module docstring). Same interface as `BatchLoader`."""

    def __init__(
        self,
        shards: dict[str, TokenShards],
        weights: dict[str, float],
        global_batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        if global_batch_size % world_size:
            raise UsageError(f"global batch of {global_batch_size} rows does not split over {world_size} ranks")
        if set(shards) != set(weights) or any(w <= 0 for w in weights.values()):
            raise UsageError("every training source needs a positive weight (weight-0 sources are for evaluation only)")
        self.names = list(shards)
        self.shards = [shards[n] for n in self.names]
        self.weights = np.array([weights[n] for n in self.names], dtype=np.float64)
        self.global_batch_size = global_batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drawn = np.zeros(len(self.names), dtype=np.int64)  # rows drawn from each source so far
        self._orders = [{} for _ in self.names]  # per source: epoch -> row order (the last two kept)

    def _order(self, i: int, epoch: int) -> np.ndarray:
        cache = self._orders[i]
        if epoch not in cache:
            for old in [e for e in cache if e < epoch - 1]:
                del cache[old]
            rng = np.random.default_rng([self.seed, _name_key(self.names[i]), epoch])
            cache[epoch] = rng.permutation(len(self.shards[i]))
        return cache[epoch]

    def next_sources(self) -> np.ndarray:
        """The source index of each row of the next global batch; advances the counts."""
        return interleave(self.weights, self.drawn, self.global_batch_size)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y), each int64 of shape (global_batch_size / world_size, sequence_length)."""
        before = self.drawn.copy()
        picks = self.next_sources()
        mine = np.arange(self.rank, self.global_batch_size, self.world_size)
        rows = np.empty((len(mine), self.shards[0].row_length), dtype=np.int64)
        for i, shards in enumerate(self.shards):
            slots = mine[picks[mine] == i]
            if not len(slots):
                continue
            # The k-th row this batch takes from source i is its stream's row before[i] + k.
            stream = before[i] + np.cumsum(picks == i)[slots] - 1
            epochs, positions = np.divmod(stream, len(shards))
            indices = np.empty(len(slots), dtype=np.int64)
            for e in np.unique(epochs):  # one epoch, or two where the source's stream wraps
                indices[epochs == e] = self._order(i, int(e))[positions[epochs == e]]
            rows[np.searchsorted(mine, slots)] = shards.rows(indices)
        rows = torch.from_numpy(rows)
        return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()

    def proportions(self) -> dict[str, float]:
        """The realised share of each source in the rows drawn so far."""
        total = max(1, int(self.drawn.sum()))
        return {n: int(c) / total for n, c in zip(self.names, self.drawn)}

    def state_dict(self) -> dict:
        return {
            "sources": {
                n: {"epoch": int(c) // len(s), "position": int(c) % len(s)}
                for n, s, c in zip(self.names, self.shards, self.drawn)
            }
        }

    def load_state_dict(self, state: dict) -> None:
        sources = state["sources"]
        if set(sources) != set(self.names):
            raise UsageError(f"data position is for sources {sorted(sources)}, this mixture has {sorted(self.names)}")
        self.drawn = np.array(
            [int(sources[n]["epoch"]) * len(s) + int(sources[n]["position"]) for n, s in zip(self.names, self.shards)],
            dtype=np.int64,
        )


def open_sources(sources: list[Source], split: str, verify: bool = False) -> dict[str, TokenShards]:
    return {s.name: TokenShards(s.path, split, verify=verify) for s in sources}


def read_manifests(sources: list[Source]) -> dict[str, dict]:
    return {s.name: read_manifest(s.path) for s in sources}
