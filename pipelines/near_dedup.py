"""Near-duplicate removal on Beam: MinHash LSH buckets -> edges -> connected components.

    (node, band keys) per document              filters/dedup.py MinHashDedup.band_keys, per range
      | JoinBands: with the exact-dedup verdicts   only its survivors go on
      | Buckets: GroupByKey                        the documents sharing one band of one group
      | StarEdges                                  each bucket a star around its smallest node
      | rounds x (LargeStar, SmallStar)            Kiveris et al. 2014, "Connected Components in
                                                   MapReduce and Beyond": each round shrinks the
                                                   components' diameter, and leaves them unchanged
      | Labels                                     label(u) = min(u, neighbours of u)
      | Converge                                   edges whose two ends still carry different labels,
                                                   joined in one union-find (none once converged)
    -> (node, survivor node) for every node with a near-duplicate; cluster sizes per survivor

A node is `(doc id, source offset, range key)`: ids order the nodes, so the survivor of a component
is its smallest id, on any runner and any number of workers (the offset and range key only tell
apart copies of one record read twice). No step holds more than one bucket's or one node's
neighbours, but for the last: the edges the rounds did not settle, joined in one process, and
their mapping sent to every worker (empty once the rounds converged). On
near-duplicate clusters (stars from buckets, chains from documents edited step by step) a few
rounds settle every edge; tests/test_near_dedup.py checks long chains, where they do not and the
union-find finishes the work, give the same components.
"""

from __future__ import annotations

import apache_beam as beam

from thresher.filters.minhash import NO_SHINGLES

NO_SHINGLES_KEY = int(NO_SHINGLES)

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


def _bucket_keys(item):
    """(node, its band keys) -> (node, the keys it is bucketed by): none for a document too short
    for one shingle (NO_SHINGLES), 63 bits each (Beam's coder pickles ints past int64)."""
    node, keys = item
    return node, [key >> 1 for key in keys if key != NO_SHINGLES_KEY]


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
    """(verdicts by range, (bucket key, node) per document and band) -> (verdicts by range with this
    stage's decisions, this stage's funnel items). Verdicts: (doc id, offset, fields to set, drop
    (stage, reason, id it duplicates or None) or None, (bytes, chars, words))."""

    def __init__(self, stage: str, namespace: str, rounds: int = DEFAULT_ROUNDS):
        super().__init__()
        self.stage = stage
        self.namespace = namespace
        self.rounds = rounds

    def expand(self, inputs):
        verdicts, bands = inputs
        by_node = verdicts | "ByNode" >> beam.Map(_node_verdict)
        edges = (
            {"verdict": by_node, "keys": bands | "BucketKeys" >> beam.Map(_bucket_keys)}
            | "JoinBands" >> beam.CoGroupByKey()
            | "BucketEntries" >> beam.FlatMap(_entries_of_kept)
            | "Buckets" >> beam.GroupByKey()
            | "StarEdges" >> beam.FlatMap(star_edges)
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
