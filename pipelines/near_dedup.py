"""Near-duplicate removal on Beam: MinHash LSH buckets -> edges -> connected components.

    per range and partition: its documents' band keys    filters/dedup.py MinHashDedup.band_keys,
      as packed arrays (key, row), partition = key % P   computed per range (ProcessRanges)
      | WithoutDropped                                   less the documents exact dedup dropped
      | Partitions: GroupByKey                           one partition's keys, from every range
      | PartitionEdges                                   sorted; each run of equal keys (a bucket)
                                                         a star around its smallest node
      | rounds x (LargeStar, SmallStar)                  Kiveris et al. 2014, "Connected Components
                                                         in MapReduce and Beyond": each round
                                                         shrinks the components' diameter
      | Labels                                           label(u) = min(u, neighbours of u)
      | Converge                                         edges whose two ends still carry different
                                                         labels, joined in one union-find (none
                                                         once converged)
    -> verdicts with this stage's decision; cluster sizes on the survivors

A node is `(doc id, source offset, range key)`: ids order the nodes, so the survivor of a component
is its smallest id, on any runner and any number of workers (the offset and range key only tell
apart copies of one record read twice).

What crosses Beam: band keys packed per (range, partition), 12 bytes a key (no Python object per
key: the 14 keys of a document as tuples were most of a run's shuffle), then edges, only between
documents that share a bucket. A partition worker holds 1/P of all keys, P = the number of input
ranges up to MAX_PARTITIONS, so about one range's worth; it reads the ids of the documents of its
shared buckets from their ranges' kept files. The keys of documents exact dedup dropped are taken
out per range first (a join on the range key with the drops). No step holds more than one
partition, one bucket or one node's neighbours, but for the last: the edges the rounds did not settle, joined in
one process, and their mapping sent to every worker (empty once the rounds converged). On
near-duplicate clusters (stars from buckets, chains from documents edited step by step) a few
rounds settle every edge; tests/test_near_dedup.py checks long chains, where they do not and the
union-find finishes the work, give the same components.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from thresher.filters.minhash import NO_SHINGLES
from thresher.pipelines.runs import RANGES, RunFolder

# Partitions of the band keys: as many as input ranges (a partition then holds about one range's
# keys), at most this many: each range sends one packed array per partition, so ranges x
# partitions elements cross Beam. At 256, a partition of a billion documents' keys is ~0.7 GB.
MAX_PARTITIONS = 256

# Rounds of large-star + small-star before the union-find takes what is left: each round at
# least halves a path's length in practice; 4 settle chains of 16 documents.
DEFAULT_ROUNDS = 4


def star_edges(item):
    """A bucket's nodes -> an edge from its smallest node to every other one."""
    _, nodes = item
    nodes = sorted(set(nodes))
    for node in nodes[1:]:
        yield nodes[0], node


def _both_ways(edge):
    a, b = edge
    yield a, b
    yield b, a


def large_star(item):
    """A node and its neighbours -> its larger neighbours linked to the smallest of them all."""
    u, neighbours = item
    neighbours = set(neighbours)
    m = min(neighbours | {u})
    for v in neighbours:
        if v > u:
            yield v, m


def small_star(item):
    """A node and its neighbours -> it and its smaller neighbours linked to the smallest of them."""
    u, neighbours = item
    smaller = {v for v in neighbours if v < u}
    if not smaller:
        return
    m = min(smaller)
    for v in smaller | {u}:
        if v != m:
            yield v, m


def _normalise(edge):
    a, b = edge
    return (a, b) if a < b else (b, a)


class _Round(beam.PTransform):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def expand(self, edges):
        return (
            edges
            | "BothWays" >> beam.FlatMap(_both_ways)
            | "Neighbours" >> beam.GroupByKey()
            | "Star" >> beam.FlatMap(self.step)
            | "Normalise" >> beam.Map(_normalise)
            | "Distinct" >> beam.Distinct()
        )


class _UnionFind(beam.CombineFn):
    """Edges -> {node: the smallest node of its component}, for the nodes of those edges."""

    def create_accumulator(self):
        return []

    def add_input(self, edges, edge):
        edges.append(edge)
        return edges

    def merge_accumulators(self, parts):
        return [edge for part in parts for edge in part]

    def extract_output(self, edges):
        parent: dict = {}

        def root(x):
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in edges:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)  # the smaller node is the root: the component's min
        return {x: root(x) for x in parent}


def _pair_labels(item):
    """(node, {"edge": [other ends], "label": [its label]}) -> (other end, this node's label)."""
    _, grouped = item
    (label,) = grouped["label"]
    for other in grouped["edge"]:
        yield other, label


def _unsettled(item):
    """(node, {"label": [its label], "from": [labels of its smaller neighbours]}) -> label pairs that differ."""
    _, grouped = item
    (label,) = grouped["label"]
    for other in grouped["from"]:
        if other != label:
            yield _normalise((other, label))


class ConnectedComponents(beam.PTransform):
    """Edges (a, b), a < b -> (node, the smallest node of its component) for every node of an edge."""

    def __init__(self, rounds: int = DEFAULT_ROUNDS):
        super().__init__()
        self.rounds = rounds

    def expand(self, edges):
        for i in range(self.rounds):
            edges = edges | f"LargeStar{i}" >> _Round(large_star) | f"SmallStar{i}" >> _Round(small_star)
        labels = (
            edges
            | "LabelBothWays" >> beam.FlatMap(_both_ways)
            | "LabelNeighbours" >> beam.GroupByKey()
            | "Label" >> beam.Map(lambda item: (item[0], min(min(item[1]), item[0])))
        )
        # An edge whose ends carry different labels is not settled: those label pairs are joined
        # in one union-find (an empty one when the rounds converged).
        towards_larger = edges | "KeyBySmaller" >> beam.Map(lambda edge: (edge[0], edge[1]))
        label_of_smaller = {"edge": towards_larger, "label": labels} | "JoinSmaller" >> beam.CoGroupByKey()
        from_smaller = label_of_smaller | "LabelToLarger" >> beam.FlatMap(_pair_labels)
        unsettled = (
            {"from": from_smaller, "label": labels}
            | "JoinLarger" >> beam.CoGroupByKey()
            | "Unsettled" >> beam.FlatMap(_unsettled)
        )
        roots = unsettled | "UnionFind" >> beam.CombineGlobally(_UnionFind())
        return labels | "Resolve" >> beam.Map(
            lambda item, roots: (item[0], roots.get(item[1], item[1])), beam.pvalue.AsSingleton(roots)
        )


def _node_verdict(item):
    """(range key, verdict) -> (node, verdict)."""
    key, verdict = item
    return (verdict[0], verdict[1], key), verdict


def partitions_for(ranges: int) -> int:
    return max(1, min(ranges, MAX_PARTITIONS))


def partition_keys(range_key: str, band_keys: np.ndarray, partitions: int):
    """A range's (documents x bands) keys -> (partition, (range key, keys, rows)) per partition it
    has keys in, packed as bytes (uint64 keys, uint32 row numbers in the range's kept file). A
    document too short for one shingle (NO_SHINGLES) is bucketed nowhere."""
    band_keys = np.asarray(band_keys, dtype=np.uint64)
    rows = np.repeat(np.arange(len(band_keys), dtype=np.uint32), band_keys.shape[1] if band_keys.ndim == 2 else 0)
    keys = band_keys.reshape(-1)
    real = keys != NO_SHINGLES
    keys, rows = keys[real], rows[real]
    part = keys % np.uint64(partitions)
    order = np.argsort(part, kind="stable")
    keys, rows, part = keys[order], rows[order], part[order]
    bounds = np.flatnonzero(np.diff(part)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(keys)]):
        if hi > lo:
            yield int(part[lo]), (range_key, keys[lo:hi].tobytes(), rows[lo:hi].tobytes())


def shared_buckets(keys: np.ndarray, refs: np.ndarray) -> list[np.ndarray]:
    """Keys (n,) and what holds each (n, 2: range number, row) -> the holders of every key held
    more than once (a bucket of two or more), each an array of distinct (range number, row)."""
    if not len(keys):
        return []
    order = np.lexsort((refs[:, 1], refs[:, 0], keys))
    keys, refs = keys[order], refs[order]
    starts = np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1]
    ends = np.r_[starts[1:], len(keys)]
    return [np.unique(refs[lo:hi], axis=0) for lo, hi in zip(starts, ends) if hi - lo > 1]


class _PartitionEdges(beam.DoFn):
    """(partition, [(range key, keys, rows)]) -> star edges of its shared buckets, between nodes
    (id, offset, range key): the ids and offsets read from the ranges' kept files, for the
    documents of shared buckets only."""

    def __init__(self, output: str):
        self.output = output  # the run folder, whose _work/ranges hold the kept files

    def process(self, item):
        _, parts = item
        parts = sorted(parts)
        range_keys = [key for key, _, _ in parts]
        keys = np.concatenate([np.frombuffer(k, dtype=np.uint64) for _, k, _ in parts])
        rows = np.concatenate([np.frombuffer(r, dtype=np.uint32) for _, _, r in parts])
        numbers = np.concatenate([np.full(len(r) // 4, i, dtype=np.uint32) for i, (_, _, r) in enumerate(parts)])
        buckets = shared_buckets(keys, np.stack([numbers, rows], axis=1))
        del keys, rows, numbers
        # Only the documents of shared buckets are looked up: a range's ids are read once and
        # just those rows kept, so the worker holds as many ids as its buckets have members.
        wanted: dict[int, set[int]] = {}
        for bucket in buckets:
            for number, row in bucket.tolist():
                wanted.setdefault(number, set()).add(row)
        nodes = {}  # (range number, row) -> (id, offset)
        for number, rows_wanted in wanted.items():
            ids, offsets = _kept_nodes(self.output, range_keys[number])
            nodes.update({(number, row): (ids[row], offsets[row]) for row in rows_wanted})
        for bucket in buckets:
            members = [(*nodes[number, row], range_keys[number]) for number, row in bucket.tolist()]
            yield from star_edges((None, members))


class _WithoutDropped(beam.DoFn):
    """(range key, {"parts": [(partition, (range key, keys, rows))], "dropped": [(id, offset)]})
    -> its parts, less the rows of documents an earlier stage (exact dedup) dropped: such a copy is
    never a cluster's survivor, and left in its buckets it would link documents that resemble it
    but not each other (under `scope: crawl`, a copy of another crawl's document)."""

    def __init__(self, output: str):
        self.output = output

    def process(self, item):
        range_key, grouped = item
        parts, dropped = grouped["parts"], set(grouped["dropped"])
        if not dropped:
            yield from parts
            return
        ids, offsets = _kept_nodes(self.output, range_key)
        rows = np.array([i for i, node in enumerate(zip(ids, offsets)) if node in dropped], dtype=np.uint32)
        for partition, (key, keys, part_rows) in parts:
            part_rows = np.frombuffer(part_rows, dtype=np.uint32)
            keep = ~np.isin(part_rows, rows)
            if keep.any():
                keys = np.frombuffer(keys, dtype=np.uint64)[keep]
                yield partition, (key, keys.tobytes(), part_rows[keep].tobytes())


def _dropped_before(item):
    """(node, verdict) -> (range key, (id, offset)) for a document an earlier stage dropped."""
    node, verdict = item
    if verdict[3] is not None:
        yield node[2], (node[0], node[1])


def _kept_nodes(output: str, range_key: str) -> tuple[list, list]:
    """A range's kept documents' ids and offsets, in row order."""
    path = RunFolder(output).path(RANGES, f"{range_key}.kept.parquet")
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        table = pq.read_table(fh, columns=["id", "source_offset"])
    return table.column("id").to_pylist(), table.column("source_offset").to_pylist()


def _entries_of_kept(item):
    """(node, {"verdict": [v], "keys": [its keys]}) -> (key, node) per key, for the documents an
    earlier stage kept: a document exact dedup dropped is never the one a cluster keeps, and its
    lines are not its own to keep."""
    node, grouped = item
    (verdict,) = grouped["verdict"]
    if verdict[3] is not None:
        return
    for keys in grouped["keys"]:
        for key in keys:
            yield key, node


class _Decide(beam.DoFn):
    """(node, {"verdict": [v], "root": [survivor node]?, "size": [cluster size]?}) -> (range key,
    verdict) with this stage's decision; the stage's funnel items on `funnel`."""

    def __init__(self, stage: str, namespace: str):
        self.stage = stage
        self.namespace = namespace

    def setup(self):
        from apache_beam.metrics import Metrics

        self.metrics = {
            name: Metrics.counter(self.namespace, f"{self.stage}.{name}")
            for name in ("in", "kept", "dropped.duplicate")
        }

    def process(self, item):
        node, grouped = item
        (verdict,) = grouped["verdict"]
        doc_id, offset, fields, drop, measure = verdict
        if drop is not None:  # dropped by an earlier stage (exact dedup): not in this one's funnel
            yield node[2], verdict
            return
        self.metrics["in"].inc()
        roots, sizes = list(grouped["root"]), list(grouped["size"])
        root = roots[0] if roots else node
        if root != node:
            self.metrics["dropped.duplicate"].inc()
            yield node[2], (doc_id, offset, fields, (self.stage, "duplicate", root[0]), measure)
            yield beam.pvalue.TaggedOutput("funnel", (self.stage, "dropped", "duplicate", *measure))
        else:
            size = sizes[0] if sizes else 1
            self.metrics["kept"].inc()
            yield node[2], (doc_id, offset, {**fields, "minhash_cluster_size": size}, None, measure)
            yield beam.pvalue.TaggedOutput("funnel", (self.stage, "kept", None, *measure))


class NearDedup(beam.PTransform):
    """(verdicts by range, band keys by partition: `partition_keys`) -> (verdicts by range with
    this stage's decisions, this stage's funnel items). Verdicts: (doc id, offset, fields to set,
    drop (stage, reason, id it duplicates or None) or None, (bytes, chars, words)). `output`: the
    run folder, where the ranges' kept files are."""

    def __init__(self, stage: str, namespace: str, output: str, rounds: int = DEFAULT_ROUNDS):
        super().__init__()
        self.stage = stage
        self.namespace = namespace
        self.output = output
        self.rounds = rounds

    def expand(self, inputs):
        verdicts, band_parts = inputs
        by_node = verdicts | "ByNode" >> beam.Map(_node_verdict)
        dropped = by_node | "DroppedBefore" >> beam.FlatMap(_dropped_before)
        edges = (
            {"parts": band_parts | "ByRange" >> beam.Map(lambda part: (part[1][0], part)), "dropped": dropped}
            | "JoinDropped" >> beam.CoGroupByKey()
            | "WithoutDropped" >> beam.ParDo(_WithoutDropped(self.output))
            | "Partitions" >> beam.GroupByKey()
            | "PartitionEdges" >> beam.ParDo(_PartitionEdges(self.output))
            | "DistinctEdges" >> beam.Distinct()
        )
        roots = edges | "Components" >> ConnectedComponents(self.rounds)
        sizes = roots | "ByRoot" >> beam.Map(lambda item: (item[1], 1)) | "ClusterSizes" >> beam.CombinePerKey(sum)
        decided = (
            {"verdict": by_node, "root": roots, "size": sizes}
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "Decide"
            >> beam.ParDo(_Decide(self.stage, self.namespace))
            .with_output_types(tuple[str, tuple])
            .with_outputs("funnel", main="verdicts")
        )
        return decided.verdicts, decided.funnel


def _removals(item):
    """(line hash, nodes holding it) -> (node, line hash) for every node but the smallest."""
    for _, node in star_edges(item):
        yield node, item[0]


def _attach_removals(item):
    """(node, {"verdict": [v], "remove": [line hashes]}) -> (range key, verdict with the lines to
    remove, `_remove_lines`, for the writer, which holds the text)."""
    node, grouped = item
    (verdict,) = grouped["verdict"]
    doc_id, offset, fields, drop, measure = verdict
    if drop is None:
        fields = {**fields, "_remove_lines": sorted(grouped["remove"])}
    return node[2], (doc_id, offset, fields, drop, measure)


class LineRemovals(beam.PTransform):
    """(verdicts by range, (node, its line hashes)) -> verdicts by range, each kept document's with
    the lines it must give up (`_remove_lines`): lines another document with a smaller id also
    holds. The writer removes them and decides (filters/dedup.py LineDedup.apply): only it holds
    the text. A line common to many documents is one group of node ids, as a bucket is."""

    def expand(self, inputs):
        verdicts, lines = inputs
        by_node = verdicts | "ByNode" >> beam.Map(_node_verdict)
        removals = (
            {"verdict": by_node, "keys": lines}
            | "JoinLines" >> beam.CoGroupByKey()
            | "LineEntries" >> beam.FlatMap(_entries_of_kept)
            | "ByLine" >> beam.GroupByKey()
            | "Removals" >> beam.FlatMap(_removals)
        )
        return (
            {"verdict": by_node, "remove": removals}
            | "JoinRemovals" >> beam.CoGroupByKey()
            | "Attach" >> beam.Map(_attach_removals).with_output_types(tuple[str, tuple])
        )
