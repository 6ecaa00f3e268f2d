"""The Beam side of a run (runs.py describes the folder it writes), shared by every pipeline:

    ranges | ProcessRanges(processor)      each input range read and processed once (its
                                           attributes written), or taken from its completion
                                           marker when a relaunch finds one
           | ExactDedup (when the recipe has it)   a join on small tuples (dedup key, id, sizes)
           | WriteRun                      curated parts, exclusions, then stats.json, last

A processor turns one input range into `Outcome`s (contracts/schema.py): curate's runs the recipe's
chain on the range's records, refilter's re-decides stored scores. Counters are named
`<stage>.<kept|dropped|errored>[.<reason>]` in the pipeline's namespace (contract 4), live on
Dataflow; stats.json holds the same numbers.
"""

from __future__ import annotations

import heapq
import io
import json
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.runners.runner import PipelineState

from thresher import __version__
from thresher.contracts.funnel import Funnel, stats_document, summarize
from thresher.contracts.schema import (
    ATTRIBUTES_SCHEMA,
    DOCUMENT_FIELDS,
    DOCUMENT_SCHEMA,
    Outcome,
    scores_dict,
    text_size,
    to_row,
)
from thresher.filters.dedup import LineDedup, MinHashDedup, dedup_key
from thresher.pipelines.datacard import write_card
from thresher.pipelines.near_dedup import LineRemovals, NearDedup, partition_keys, partitions_for
from thresher.pipelines.options import pipeline_options
from thresher.pipelines.runs import (
    RANGES,
    STATS_FILE,
    InputRange,
    Progress,
    RunFolder,
    match_inputs,
    plan,
    range_bytes_for,
    read_json,
)

# What a range keeps of each kept document besides its row: the raw bytes it came from, the
# text sizes entering each stage (the funnel's trace), flattened: chars, words, chars, words, ...,
# and its MinHash band keys and line hashes when the recipe has minhash_dedup / line_dedup (a
# relaunch reads them back).
WORK_SCHEMA = (
    DOCUMENT_SCHEMA.append(pa.field("payload_bytes", pa.int64()))
    .append(pa.field("trace", pa.list_(pa.int64())))
    .append(pa.field("minhash_bands", pa.list_(pa.uint64())))
    .append(pa.field("line_hashes", pa.list_(pa.uint64())))
)
_PUBLIC = set(DOCUMENT_FIELDS) | {"error_detail"}


class OutcomeCounters:
    """Live counters for Dataflow's UI: `<stage>.in` for every stage reached, then how it ended."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.counters: dict = {}

    def inc(self, name: str, n: int = 1) -> None:
        counter = self.counters.get(name)
        if counter is None:
            counter = self.counters[name] = Metrics.counter(self.namespace, name)
        counter.inc(n)

    def count(self, stage_names: list[str], outcome: Outcome) -> None:
        for name in stage_names[: len(outcome.trace) - (outcome.status == "kept")]:
            self.inc(f"{name}.in")
        if outcome.status != "kept":
            self.inc(f"{outcome.stage}.{outcome.status}.{outcome.reason}")

    def count_cells(self, stage_names: list[str], cells: list[list]) -> None:
        """The same counts for a range read back from its marker (its funnel's cells)."""
        for index, status, reason, docs, *_ in cells:
            if status == "in":
                self.inc(f"{stage_names[index]}.in", docs)
            elif status != "kept":
                self.inc(f"{stage_names[index]}.{status}.{reason}", docs)


def document_json(doc: dict, **extra) -> str:
    return json.dumps({k: v for k, v in doc.items() if k in _PUBLIC} | extra, ensure_ascii=False)


def _error_json(outcome: Outcome) -> str:
    doc = outcome.doc
    fields = ("id", "url", "source_file", "source_offset", "source_length", "source_record_id", "payload_bytes")
    return json.dumps(
        {
            "stage": outcome.stage,
            "reason": outcome.reason,
            **{k: doc.get(k) for k in fields},
            "detail": doc.get("error_detail"),
            "text_head": (doc.get("text") or "")[:500] or None,
        },
        ensure_ascii=False,
    )


class Samples:
    """The `n` documents with the smallest ids per reason, in bounded memory."""

    def __init__(self, n: int):
        self.n = n
        self.by_label: dict[str, list[tuple[str, str]]] = {}

    def add(self, label: str, doc_id: str, line: str) -> None:
        kept = self.by_label.setdefault(label, [])
        kept.append((doc_id, line))
        if len(kept) > 4 * self.n + 16:
            kept[:] = heapq.nsmallest(self.n, kept)

    def items(self) -> dict[str, list[tuple[str, str]]]:
        return {label: heapq.nsmallest(self.n, kept) for label, kept in sorted(self.by_label.items())}


def _hold(folder: RunFolder, relative: str, samples: Samples) -> dict[str, list[str]]:
    """Write the samples' JSON lines to `relative` in the folder (when there are any); their ids
    per reason, which is all a reference needs."""
    items = samples.items()
    if items:
        folder.write(relative, json.dumps({"samples": items}).encode())
    return {label: [doc_id for doc_id, _ in lines] for label, lines in items.items()}


def _references(ids: dict[str, list[str]], path: str, tag: str):
    """Samples cross processes as references (id, the file that holds their JSON, its place
    there): the choice per reason is made on small tuples, and only the chosen lines are read."""
    for label, doc_ids in ids.items():
        for i, doc_id in enumerate(doc_ids):
            yield beam.pvalue.TaggedOutput(tag, (label, (doc_id, path, i)))


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def attribute_row(outcome: Outcome, keep_dropped: bool) -> dict:
    """A kept or dropped document's attributes row (ATTRIBUTES_SCHEMA): the document as every stage
    scored it, its decision, and its text when kept, or when dropped and `keep_dropped`."""
    doc = outcome.scored or outcome.doc
    row = to_row(doc)
    row["reason"] = outcome.label
    row["payload_bytes"] = int(doc.get("payload_bytes") or 0)
    row["error_after_drop"] = doc.get("error_after_drop")
    if outcome.status != "kept" and not keep_dropped:
        row["text"] = None
    return row


def _parquet(rows: list[dict], schema: pa.Schema) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink, compression="zstd")
    return sink.getvalue()


class _ProcessRange(beam.DoFn):
    SUMMARY, SAMPLES, BANDS, LINES = "summary", "samples", "bands", "lines"

    def __init__(
        self,
        processor,
        output: str,
        namespace: str,
        exclusion_samples: int,
        minhash: dict | None = None,
        lines: bool = False,
        partitions: int = 1,
    ):
        self.processor = processor
        self.output = output
        self.namespace = namespace
        self.exclusion_samples = exclusion_samples
        self.minhash = minhash  # the minhash_dedup stage's options, when the recipe has one
        self.lines = lines  # whether the recipe has line_dedup
        self.partitions = partitions  # of the MinHash band keys (near_dedup.partition_keys)

    def setup(self):
        self.processor.setup()
        # whether dropped documents' texts go into the attributes (curate --keep-dropped)
        self.keep_dropped = getattr(self.processor, "keep_dropped", False)
        self.counters = OutcomeCounters(self.namespace)
        self.folder = RunFolder(self.output)
        self.hasher = None if self.minhash is None else MinHashDedup(**self.minhash)

    def process(self, rng: InputRange):
        done = f"{RANGES}/{rng.key}.done.json"
        kept_path = f"{RANGES}/{rng.key}.kept.parquet"
        samples_path = f"{RANGES}/{rng.key}.samples.json"
        if FileSystems.exists(self.folder.path(done)):  # processed before a crash: read back, not redone
            summary, kept = read_json(self.folder.path(done)), []
            if summary["kept"]:
                with _open(self.folder.path(kept_path)) as fh:
                    columns = [
                        "id",
                        "source_offset",
                        "dedup_key",
                        "payload_bytes",
                        "trace",
                        "minhash_bands",
                        "line_hashes",
                    ]
                    kept = pq.read_table(fh, columns=columns).to_pylist()
            self.counters.count_cells(self.processor.stage_names, summary["funnel"])
        else:
            summary, kept = self._process(rng, kept_path, samples_path)
            self.folder.write(done, json.dumps(summary).encode())  # the range's completion marker, last
        for row in kept:
            trace = row["trace"]
            yield (
                row["dedup_key"],
                (row["id"], row["source_offset"], rng.key, row["payload_bytes"], trace[-2], trace[-1]),
            )
            node = (row["id"], row["source_offset"], rng.key)
            if self.lines:
                yield beam.pvalue.TaggedOutput(self.LINES, (node, row["line_hashes"]))
        if self.hasher is not None and kept:  # the range's band keys, packed per partition
            keys = np.array([row["minhash_bands"] for row in kept], dtype=np.uint64)
            for part in partition_keys(rng.key, keys, self.partitions):
                yield beam.pvalue.TaggedOutput(self.BANDS, part)
        yield from _references(summary.pop("samples"), self.folder.path(samples_path), self.SAMPLES)
        yield beam.pvalue.TaggedOutput(self.SUMMARY, summary)

    def _process(self, rng: InputRange, kept_path: str, samples_path: str) -> tuple[dict, list[dict]]:
        stage_names = self.processor.stage_names
        stage_index = {name: i for i, name in enumerate(stage_names)}
        funnel, samples, counts = Funnel(), Samples(self.exclusion_samples), Counter()
        kept, errors, attributes = [], [], []
        with _open(rng.path) as fh:
            for outcome in self.processor.outcomes(rng, fh, counts):
                self.counters.count(stage_names, outcome)
                counts["records"] += 1
                funnel.add(summarize(outcome, stage_index))
                if outcome.status != "errored":  # errored records are in errors/, with their reason
                    attributes.append(attribute_row(outcome, self.keep_dropped))
                if outcome.status == "kept":
                    row = to_row(outcome.doc)
                    row["payload_bytes"] = int(outcome.doc.get("payload_bytes") or 0)
                    row["trace"] = [n for size in outcome.trace for n in size]
                    kept.append(row)
                elif outcome.status == "dropped":
                    samples.add(outcome.label, outcome.doc["id"], document_json(outcome.doc))
                else:
                    errors.append(_error_json(outcome))
        if kept and self.hasher is not None:  # one batch per range: the signatures are vectorised
            keys = self.hasher.band_keys([r["text"] for r in kept], [r["crawl"] for r in kept])
            for row, row_keys in zip(kept, keys.tolist()):
                row["minhash_bands"] = row_keys
        if self.lines:
            for row in kept:
                row["line_hashes"] = LineDedup.line_hashes(row["text"])
        if kept:
            self.folder.write(kept_path, _parquet(kept, WORK_SCHEMA))
        if errors:
            self.folder.write(f"errors/part-{rng.key}.jsonl", "".join(line + "\n" for line in errors).encode("utf-8"))
        if attributes:  # in place at once, before the marker: a relaunch finds them with it
            attributes.sort(key=lambda r: (r["id"], r["source_offset"]))
            self.folder.write(f"attributes/part-{rng.key}.parquet", _parquet(attributes, ATTRIBUTES_SCHEMA))
        records = counts.pop("records", 0)
        summary = {
            "range": [rng.path, rng.start, rng.end],
            "worker": os.getpid(),
            "records": records,
            "kept": len(kept),
            "counts": dict(counts),
            "funnel": funnel.to_cells(),
            # The samples' ids only: the marker stays small, since progress reads every marker.
            "samples": _hold(self.folder, samples_path, samples),
        }
        return summary, kept


class ProcessRanges(beam.PTransform):
    """Input ranges -> (per kept document `(dedup key, (id, offset, range key, bytes, chars, words))`,
    per range a summary (its funnel and counts), dropped samples `(label, (id, file holding the JSON,
    place))`, with `minhash` (the minhash_dedup stage's options) the range's band keys packed per
    partition (near_dedup.partition_keys), and per kept document `(node, its line hashes)` with
    `lines`; node = (id, offset, range key))."""

    def __init__(
        self,
        processor,
        output: str,
        namespace: str,
        exclusion_samples: int,
        minhash: dict | None = None,
        lines: bool = False,
        partitions: int = 1,
    ):
        super().__init__()
        self.fn = _ProcessRange(processor, output, namespace, exclusion_samples, minhash, lines, partitions)

    def expand(self, ranges):
        tags = (_ProcessRange.SUMMARY, _ProcessRange.SAMPLES, _ProcessRange.BANDS, _ProcessRange.LINES)
        done = (
            ranges
            # Ranges, not records, are shuffled: each worker reads its own.
            | "SpreadRanges" >> beam.Reshuffle()
            | "Process" >> beam.ParDo(self.fn).with_outputs(*tags, main="kept")
        )
        return (
            done.kept,
            done[_ProcessRange.SUMMARY],
            done[_ProcessRange.SAMPLES],
            done[_ProcessRange.BANDS],
            done[_ProcessRange.LINES],
        )


class _KeepSurvivor(beam.DoFn):
    """(dedup key, kept documents) -> per document its verdict, keyed by its range; the dedup
    stage's funnel items on the `funnel` output. A verdict: (id, offset, fields to set on the row,
    None or (the stage that dropped it, why, the id it duplicates or None), (bytes, chars, words))."""

    def __init__(self, stage: str, namespace: str):
        self.stage = stage
        self.namespace = namespace

    def setup(self):
        self.counters = OutcomeCounters(self.namespace)

    def process(self, keyed):
        _, group = keyed
        group = list(group)  # small tuples: the copies of one text
        survivor = min(group)
        self.counters.inc(f"{self.stage}.in", len(group))
        for doc in group:
            doc_id, offset, key, nbytes, chars, words = doc
            measure = (nbytes, chars, words)
            if doc == survivor:
                yield key, (doc_id, offset, {"dedup_cluster_size": len(group)}, None, measure)
                yield beam.pvalue.TaggedOutput("funnel", (self.stage, "kept", None, *measure))
            else:
                self.counters.inc(f"{self.stage}.dropped.duplicate")
                yield key, (doc_id, offset, {}, (self.stage, "duplicate", survivor[0]), measure)
                yield beam.pvalue.TaggedOutput("funnel", (self.stage, "dropped", "duplicate", *measure))


class ExactDedup(beam.PTransform):
    """The document with the smallest id of each group of equal normalised texts is kept (with
    the group's size), the others dropped as `<stage>:duplicate`. A join on small tuples: the
    documents stay in their ranges' files."""

    def __init__(self, stage: str, namespace: str):
        super().__init__()
        self.stage = stage
        self.namespace = namespace

    def expand(self, kept):
        decided = (
            kept
            | "GroupByText" >> beam.GroupByKey()
            | "ExactDedup"
            >> beam.ParDo(_KeepSurvivor(self.stage, self.namespace))
            .with_output_types(tuple[str, tuple])
            .with_outputs("funnel", main="verdicts")
        )
        return decided.verdicts, decided.funnel


class _WriteCurated(beam.DoFn):
    """(range key, verdicts) -> curated/part-<range>.parquet (its kept documents, sorted by id);
    samples of the dropped duplicates on the `samples` output."""

    def __init__(self, output: str, exclusion_samples: int, line_stage: tuple[str, dict] | None = None):
        self.output = output
        self.exclusion_samples = exclusion_samples
        self.line_stage = line_stage  # (name, options) of the recipe's line_dedup stage

    def setup(self):
        self.folder = RunFolder(self.output)
        self.lines = None if self.line_stage is None else LineDedup(**self.line_stage[1])

    def process(self, item):
        key, verdicts = item
        verdicts = {(doc_id, offset): (fields, drop, measure) for doc_id, offset, fields, drop, measure in verdicts}
        with _open(self.folder.path(RANGES, f"{key}.kept.parquet")) as fh:
            rows = (
                pq.read_table(fh).drop_columns(["payload_bytes", "trace", "minhash_bands", "line_hashes"]).to_pylist()
            )
        kept, samples = [], Samples(self.exclusion_samples)
        for row in rows:
            # `fields` are what the dedup stages measured (none in refilter: rows keep their run's)
            fields, drop, measure = verdicts[(row["id"], row["source_offset"])]
            if drop is None and self.lines is not None:
                fields = dict(fields)
                stage = self.line_stage[0]
                text, reason = self.lines.apply(row["text"], set(fields.pop("_remove_lines", ())), row["lang"])
                nbytes, chars, words = measure
                if reason is None:
                    yield beam.pvalue.TaggedOutput(
                        "funnel", (stage, "kept", None, nbytes, chars, words, *text_size(text))
                    )
                    fields["text"] = text
                    fields["dedup_key"] = dedup_key(text)  # the key of the text the row now holds
                else:
                    yield beam.pvalue.TaggedOutput("funnel", (stage, "dropped", reason, nbytes, chars, words))
                    drop = (stage, reason, None)
                    row = row | {"text": text} if text else row
            if drop is None:
                kept.append(row | fields)
            else:
                stage, reason, duplicate_of = drop
                extra = {"duplicate_of": duplicate_of} if duplicate_of is not None else {}
                doc = row | {"scores": scores_dict(row["scores"])}
                samples.add(f"{stage}:{reason}", row["id"], document_json(doc, **extra))
        if kept:
            kept.sort(key=lambda r: (r["id"], r["source_offset"]))
            yield self.folder.write(f"curated/part-{key}.parquet", _parquet(kept, DOCUMENT_SCHEMA))
        held = f"{RANGES}/{key}.dedup.json"  # as for a range's drops: kept in a file, referenced
        yield from _references(_hold(self.folder, held, samples), self.folder.path(held), "samples")


class _WriteExclusions(beam.DoFn):
    """(label, [(id, file holding its JSON, its place there)]) -> exclusions/<stage>__<reason>.jsonl,
    sorted by id (then by file and place: ids repeat, e.g. identical JSONL lines)."""

    def __init__(self, output: str):
        self.output = output

    def process(self, item):
        label, samples = item
        held = {path: read_json(path)["samples"][label] for path in sorted({path for _, path, _ in samples})}
        lines = [held[path][i][1] for _, path, i in sorted(samples)]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", label.replace(":", "__"))
        yield RunFolder(self.output).write(f"exclusions/{name}.jsonl", "".join(line + "\n" for line in lines).encode())


class _FunnelFn(beam.CombineFn):
    """Ranges' partial funnels (`("cells", rows)`) and the dedup stages' documents
    (`("stage", (stage, status, reason, bytes, chars, words))`) -> the run's funnel."""

    def __init__(self, stage_names: list[str]):
        self.stage_index = {name: i for i, name in enumerate(stage_names)}

    def create_accumulator(self):
        return Funnel()

    def add_input(self, funnel, item):
        kind, value = item
        if kind == "cells":
            return funnel.merge(Funnel.from_cells(value))
        stage, status, reason, nbytes, chars, words, *out = value  # out: the text's size leaving, if it changed
        return funnel.add_stage(self.stage_index[stage], status, reason, nbytes, (chars, words), tuple(out) or None)

    def merge_accumulators(self, funnels):
        funnels = iter(funnels)
        first = next(funnels)
        for other in funnels:
            first.merge(other)
        return first

    def extract_output(self, funnel):
        return funnel


def _sum_counts(counts) -> dict:
    total: Counter = Counter()
    for c in counts:
        total.update(c)
    return dict(total)


def _write_stats(
    funnel: Funnel,
    counts: dict,
    curated: list,
    exclusions: list,
    output: str,
    stage_names: list[str],
    header: dict,
    extra,
) -> str:
    # `curated` and `exclusions` are side inputs to order this write after theirs: stats.json is last.
    stats = stats_document(funnel, stage_names, {**header, **extra(counts)})
    return RunFolder(output).write(STATS_FILE, (json.dumps(stats, indent=2) + "\n").encode("utf-8"))


class WriteRun(beam.PTransform):
    """(verdicts by range, range summaries, dropped samples, dedup stages' funnel items) -> curated
    parts, exclusions, and stats.json, written last."""

    def __init__(
        self,
        output: str,
        stage_names: list[str],
        header: dict,
        extra,
        exclusion_samples: int,
        line_stage: tuple[str, dict] | None = None,
    ):
        super().__init__()
        self.output = output
        self.stage_names = stage_names
        self.header = header
        self.extra = extra
        self.exclusion_samples = exclusion_samples
        self.line_stage = line_stage

    def expand(self, inputs):
        verdicts, summaries, samples, dedup_funnel = inputs
        written = (
            verdicts
            | "ByRange" >> beam.GroupByKey()
            | "WriteCurated"
            >> beam.ParDo(_WriteCurated(self.output, self.exclusion_samples, self.line_stage)).with_outputs(
                "samples", "funnel", main="paths"
            )
        )
        exclusions = (
            (samples, written.samples)
            | "AllSamples" >> beam.Flatten()
            | "SamplePerReason" >> beam.combiners.Top.SmallestPerKey(self.exclusion_samples)
            | "WriteExclusions" >> beam.ParDo(_WriteExclusions(self.output))
        )
        funnel = (
            (
                summaries | "RangeFunnels" >> beam.Map(lambda s: ("cells", s["funnel"])),
                dedup_funnel | "DedupFunnel" >> beam.Map(lambda item: ("stage", item)),
                written.funnel | "LineFunnel" >> beam.Map(lambda item: ("stage", item)),
            )
            | "FunnelParts" >> beam.Flatten()
            | "Funnel" >> beam.CombineGlobally(_FunnelFn(self.stage_names))
        )
        counts = (
            summaries | "Counts" >> beam.Map(lambda s: s["counts"]) | "SumCounts" >> beam.CombineGlobally(_sum_counts)
        )
        funnel | "WriteStats" >> beam.Map(
            _write_stats,
            beam.pvalue.AsSingleton(counts),
            beam.pvalue.AsList(written.paths),
            beam.pvalue.AsList(exclusions),
            self.output,
            self.stage_names,
            self.header,
            self.extra,
        )


@dataclass
class RunOptions:
    """How a run treats its output folder and input; the defaults are what a user wants."""

    overwrite: bool = False  # replace another run's files in the output folder instead of refusing
    range_bytes: int | None = None  # input range size; None: runs.range_bytes_for the input's size
    keep_work: bool = False  # keep _work/ranges (each range's kept documents, marker, worker) after success
    # curate: score dropped documents on through every later stage and keep their texts in the
    # attributes, so that a looser refilter can bring them back (DocumentChain, runs.py)
    keep_dropped: bool = False


class RangeRun:
    """One run of a range pipeline: `run(beam_args)` plans the input into ranges, checks the output
    folder, builds and runs the pipeline and returns the stats.json it wrote (None for a Dataflow
    dry run, where nothing is listed, read or written and each pattern stands for one file, or for
    a job left running). `result` is Beam's PipelineResult afterwards (counters, the translated job)."""

    def __init__(
        self,
        name: str,
        processor,
        inputs: list[str],
        output: str,
        recipe: dict,
        namespace: str,
        exclusion_samples: int,
        stats_extra,
        run_options: RunOptions | None = None,
        dedup_stages: list[tuple[str, str, dict]] = (),
        settings: dict | None = None,
    ):
        self.name = name
        self.processor = processor
        self.inputs = list(inputs)
        self.output = output
        self.recipe = recipe
        self.namespace = namespace
        self.exclusion_samples = exclusion_samples
        self.stats_extra = stats_extra
        self.options = run_options or RunOptions()
        # (name, kind, options) of the recipe's cross-document stages, in order: exact_dedup, minhash_dedup
        self.dedup_stages = list(dedup_stages)
        # what else makes this run what it is (curate's keep_dropped): in run.json and stats.json
        self.settings = dict(settings or {})
        self.result = None

    def build(self, p: beam.Pipeline, files: list[tuple[str, int]], range_bytes: int, ranges: int) -> None:
        """The pipeline over `files`, cut into `ranges` ranges of `range_bytes` (run() plans them)."""
        stage_names = self.processor.stage_names + [name for name, _, _ in self.dedup_stages]
        header = {
            "pipeline": self.name,
            "thresher_version": __version__,
            "inputs": self.inputs,
            "recipe": self.recipe,
            **self.settings,
        }
        dedup = {kind: (name, options) for name, kind, options in self.dedup_stages}
        minhash, lines = dedup.get("minhash_dedup"), dedup.get("line_dedup")
        kept, summaries, samples, bands, line_hashes = (
            p
            | "Files" >> beam.Create(files)
            # Ranges are made on the workers: a whole crawl's files fit in the job, their ranges may not.
            | "Ranges" >> beam.FlatMap(lambda file, size: plan([tuple(file)], size), range_bytes)
            | "Process"
            >> ProcessRanges(
                self.processor,
                self.output,
                self.namespace,
                self.exclusion_samples,
                minhash and minhash[1],
                lines is not None,
                partitions_for(ranges),
            )
        )
        funnels = []
        if "exact_dedup" in dedup:
            verdicts, funnel = kept | "Dedup" >> ExactDedup(dedup["exact_dedup"][0], self.namespace)
            funnels.append(funnel)
        else:
            verdicts = kept | "KeepAll" >> beam.Map(lambda kv: (kv[1][2], (kv[1][0], kv[1][1], {}, None, kv[1][3:])))
        if minhash:
            verdicts, funnel = (verdicts, bands) | "NearDedup" >> NearDedup(minhash[0], self.namespace, self.output)
            funnels.append(funnel)
        if lines:  # decided where the text is, by the writer
            verdicts = (verdicts, line_hashes) | "LineDedup" >> LineRemovals()
        dedup_funnel = funnels or [p | "NoDedup" >> beam.Create([])]
        dedup_funnel = tuple(dedup_funnel) | "DedupFunnels" >> beam.Flatten()
        (verdicts, summaries, samples, dedup_funnel) | "Write" >> WriteRun(
            self.output, stage_names, header, self.stats_extra, self.exclusion_samples, lines
        )

    def run(self, beam_args: list[str] | None = None) -> dict | None:
        options = pipeline_options(beam_args)
        dry_run = bool(options.get_all_options().get("dry_run"))
        files = [(pattern, 0) for pattern in self.inputs] if dry_run else match_inputs(self.inputs)
        range_bytes = self.options.range_bytes or range_bytes_for(sum(size for _, size in files))
        ranges = plan(files, range_bytes)
        folder = RunFolder(self.output)
        identity = {
            "pipeline": self.name,
            "thresher_version": __version__,
            "inputs": self.inputs,
            "files": files,
            "range_bytes": range_bytes,
            "recipe": self.recipe,
            **self.settings,
        }
        if not dry_run and hasattr(self.processor, "check"):
            self.processor.check()
        if not dry_run and folder.prepare(identity, self.options.overwrite) == "complete":
            print(f"{self.output} already holds this run, complete; nothing to do", file=sys.stderr)
            return read_json(folder.path(STATS_FILE))
        p = beam.Pipeline(options=options)
        self.build(p, files, range_bytes, len(ranges))
        with Progress(folder, ranges, self.name):
            self.result = p.run()
            state = self.result.wait_until_finish()
        if dry_run or state != PipelineState.DONE:
            return None
        if not self.options.keep_work:
            folder.finish()
        write_card(self.output)  # the run's data card, README.md beside stats.json
        return read_json(folder.path(STATS_FILE))
