"""Composite transforms every thresher pipeline shares, and the run around them.

- `ReadRecords`: file patterns -> raw records (readers.py), plus the count of records that carry
  no document (WARC requests, metadata);
- `RunChain`: raw records -> `Outcome`s of a recipe's per-document stages (filters/chain.py);
- `ExactDedup`: kept outcomes -> the survivor of each group of equal texts kept, the rest dropped;
- `WriteRun`: outcomes -> a run folder: curated Parquet, errors, sampled exclusions, stats.json.

Every element after reading is an `Outcome` (contracts/schema.py), kept or not. Counters are named
`<stage>.<kept|dropped|errored>[.<reason>]` in the pipeline's namespace (contract 4), live on
Dataflow; stats.json is the same numbers, from the same outcomes.
"""

from __future__ import annotations

import json
import re
import sys

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.runners.runner import PipelineState

from thresher.contracts.funnel import Funnel, check_accounting, format_funnel, stats_document, summarize
from thresher.contracts.schema import DOCUMENT_SCHEMA, Outcome, to_row
from thresher.filters.chain import DocumentChain
from thresher.filters.registry import parse_recipe
from thresher.pipelines.options import pipeline_options
from thresher.pipelines.readers import read_records

# Working fields of a document that are not part of what a run writes.
_PRIVATE_FIELDS = ("payload_bytes", "payload", "charset")


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


class _ReadFile(beam.DoFn):
    NON_DOCUMENT = "non_document"

    def __init__(self, max_record_bytes: int):
        self.max_record_bytes = max_record_bytes

    def process(self, readable_file):
        path = readable_file.metadata.path
        # Undecompressed bytes: the reader detects gzip itself, so it can tell a truncated
        # gzip member from a broken record.
        with readable_file.open(compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            for rec in read_records(path, fh, self.max_record_bytes):
                if "non_document_records" in rec:
                    yield beam.pvalue.TaggedOutput(self.NON_DOCUMENT, rec["non_document_records"])
                else:
                    yield rec


class ReadRecords(beam.PTransform):
    """File patterns -> (raw records, a singleton count of non-document records)."""

    def __init__(self, patterns: list[str], max_record_bytes: int):
        super().__init__()
        self.patterns = patterns
        self.max_record_bytes = max_record_bytes

    def expand(self, pbegin):
        read = (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll()
            | "ReadMatches" >> fileio.ReadMatches()
            | "ReadRecords"
            >> beam.ParDo(_ReadFile(self.max_record_bytes)).with_outputs(_ReadFile.NON_DOCUMENT, main="records")
        )
        non_document = read[_ReadFile.NON_DOCUMENT] | "CountNonDocument" >> beam.CombineGlobally(sum)
        return read.records, non_document


class _Chain(beam.DoFn):
    def __init__(self, recipe: dict, namespace: str):
        self.recipe_dict = recipe
        self.namespace = namespace

    def setup(self):
        self.chain = DocumentChain(parse_recipe(self.recipe_dict))
        self.counters = OutcomeCounters(self.namespace)

    def process(self, record):
        outcome = self.chain.process(record)
        self.counters.count(self.chain.stage_names, outcome)
        yield outcome


class RunChain(beam.PTransform):
    """Raw records -> one `Outcome` each, from the recipe's per-document stages."""

    def __init__(self, recipe: dict, namespace: str):
        super().__init__()
        self.recipe = recipe
        self.namespace = namespace

    def expand(self, records):
        return (
            records
            # Files are the unit of reading; spread their records over all workers.
            | "Spread" >> beam.Reshuffle()
            | "Filters" >> beam.ParDo(_Chain(self.recipe, self.namespace))
        )


class _KeepSurvivor(beam.DoFn):
    def __init__(self, stage: str, namespace: str):
        self.stage = stage
        self.namespace = namespace

    def setup(self):
        self.counters = OutcomeCounters(self.namespace)

    def process(self, keyed):
        _, group = keyed
        # Two passes over the (re-iterable) group so that a huge cluster is never held in memory.
        survivor, size = None, 0
        for outcome in group:
            size += 1
            if survivor is None or outcome.doc["id"] < survivor:
                survivor = outcome.doc["id"]
        self.counters.inc(f"{self.stage}.in", size)
        for outcome in group:
            trace = list(outcome.trace)
            if outcome.doc["id"] == survivor:
                outcome.doc["dedup_cluster_size"] = size
                yield Outcome("kept", None, None, outcome.doc, trace + [trace[-1]])
            else:
                self.counters.inc(f"{self.stage}.dropped.duplicate")
                yield Outcome("dropped", self.stage, "duplicate", outcome.doc, trace)


class ExactDedup(beam.PTransform):
    """Kept outcomes -> the document with the smallest id of each group of equal normalised texts
    kept (with the group's size), the others dropped as `<stage>:duplicate`. A Beam join, so no
    worker holds more than one group."""

    def __init__(self, stage: str, namespace: str):
        super().__init__()
        self.stage = stage
        self.namespace = namespace

    def expand(self, kept):
        return (
            kept
            | "KeyByText" >> beam.Map(lambda o: (o.doc["dedup_key"], o))
            | "GroupByText" >> beam.GroupByKey()
            | "ExactDedup" >> beam.ParDo(_KeepSurvivor(self.stage, self.namespace))
        )


class _FunnelCombineFn(beam.CombineFn):
    def create_accumulator(self):
        return Funnel()

    def add_input(self, funnel, summary):
        return funnel.add(summary)

    def merge_accumulators(self, funnels):
        funnels = iter(funnels)
        first = next(funnels)
        for other in funnels:
            first.merge(other)
        return first

    def extract_output(self, funnel):
        return funnel


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in _PRIVATE_FIELDS}


def _error_json(outcome: Outcome) -> str:
    doc = outcome.doc
    return json.dumps(
        {
            "stage": outcome.stage,
            "reason": outcome.reason,
            "id": doc["id"],
            "url": doc["url"],
            "source_file": doc["source_file"],
            "source_offset": doc["source_offset"],
            "payload_bytes": doc.get("payload_bytes"),
            "detail": doc.get("error_detail"),
            "text_head": (doc.get("text") or "")[:500] or None,
        },
        ensure_ascii=False,
    )


class _WriteExclusions(beam.DoFn):
    """(label, [(id, json)]) -> <output>/exclusions/<stage>__<reason>.jsonl."""

    def __init__(self, output: str):
        self.output = output

    def process(self, item):
        label, samples = item
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", label.replace(":", "__"))
        path = FileSystems.join(self.output, "exclusions", f"{name}.jsonl")
        with FileSystems.create(path) as fh:
            for _, line in sorted(samples):
                fh.write(line.encode("utf-8") + b"\n")
        yield path


def _stats_json(funnel: Funnel, extra: dict, stage_names: list[str], header: dict) -> str:
    return json.dumps(stats_document(funnel, stage_names, {**header, **extra}), indent=2)


class WriteRun(beam.PTransform):
    """Outcomes -> a run folder (contract 1, 4):
    curated/part-*.parquet   kept documents (DOCUMENT_SCHEMA)
    stats.json               the funnel, after `header` and the singleton dict `extra`
    exclusions/<stage>__<reason>.jsonl   up to `exclusion_samples` dropped documents per reason
    errors/errors-*.jsonl    every errored record with its reason
    """

    def __init__(self, output: str, stage_names: list[str], header: dict, extra, exclusion_samples: int):
        super().__init__()
        self.output = output
        self.stage_names = stage_names
        self.header = header
        self.extra = extra
        self.exclusion_samples = exclusion_samples

    def expand(self, outcomes):
        output = self.output
        stage_index = {name: i for i, name in enumerate(self.stage_names)}
        (
            outcomes
            | "Summary" >> beam.Map(summarize, stage_index)
            | "Funnel" >> beam.CombineGlobally(_FunnelCombineFn())
            | "StatsJson" >> beam.Map(_stats_json, beam.pvalue.AsSingleton(self.extra), self.stage_names, self.header)
            | "WriteStats"
            >> beam.io.WriteToText(
                FileSystems.join(output, "stats"), file_name_suffix=".json", num_shards=1, shard_name_template=""
            )
        )
        (
            outcomes
            | "Kept" >> beam.Filter(lambda o: o.status == "kept")
            | "ToRow" >> beam.Map(lambda o: to_row(o.doc))
            | "WriteCurated"
            >> beam.io.WriteToParquet(
                FileSystems.join(output, "curated", "part"), DOCUMENT_SCHEMA, file_name_suffix=".parquet", codec="zstd"
            )
        )
        (
            outcomes
            | "Errored" >> beam.Filter(lambda o: o.status == "errored")
            | "ErrorJson" >> beam.Map(_error_json)
            | "WriteErrors"
            >> beam.io.WriteToText(FileSystems.join(output, "errors", "errors"), file_name_suffix=".jsonl")
        )
        # Deterministic sample: the documents with the smallest ids per reason.
        (
            outcomes
            | "Dropped" >> beam.Filter(lambda o: o.status == "dropped")
            | "ByReason" >> beam.Map(lambda o: (o.label, (o.doc["id"], json.dumps(_public(o.doc), ensure_ascii=False))))
            | "SamplePerReason" >> beam.combiners.Top.SmallestPerKey(self.exclusion_samples)
            | "WriteExclusions" >> beam.ParDo(_WriteExclusions(output))
        )


def load_stats(run_dir: str) -> dict:
    """A run's stats.json (a run folder or the file's path; any Beam FileSystems path)."""
    path = run_dir if run_dir.endswith(".json") else FileSystems.join(run_dir, "stats.json")
    with FileSystems.open(path) as fh:
        return json.loads(fh.read().decode("utf-8"))


def run_pipeline(build, output: str, beam_args: list[str] | None) -> dict | None:
    """Build with `build(pipeline)`, run, and return the stats.json it wrote (None when there is none yet)."""
    options = pipeline_options(beam_args)
    p = beam.Pipeline(options=options)
    build(p)
    state = p.run().wait_until_finish()
    # A Dataflow dry run (or a job left running) has no stats to read back yet.
    if options.get_all_options().get("dry_run") or state != PipelineState.DONE:
        return None
    return load_stats(output)


def report(stats: dict, output: str) -> int:
    """Print the funnel and where the outputs are; non-zero when the accounting does not add up."""
    print(format_funnel(stats))
    problems = check_accounting(stats)
    for problem in problems:
        print(f"ACCOUNTING ERROR: {problem}", file=sys.stderr)
    print(f"\ncurated Parquet: {FileSystems.join(output, 'curated')}/part-*.parquet")
    print(
        f"stats: {FileSystems.join(output, 'stats.json')}  exclusions: {FileSystems.join(output, 'exclusions')}/  "
        f"errors: {FileSystems.join(output, 'errors')}/"
    )
    return 1 if problems else 0
