"""`thresher curate`: web crawl files -> curated Parquet, with stats, exclusions and errors.

    thresher curate --input 'crawl/*.warc.gz' --output runs/r1 [--recipe fineweb] [Beam options]

Locally on the DirectRunner (add `--direct_running_mode=multi_processing --direct_num_workers=2`
to use two cores); on Dataflow with `--runner DataflowRunner --project P --region R
--temp_location gs://...`: every option this command does not know goes to Beam unchanged.

Outputs under --output:
  curated/part-*.parquet   kept documents (thresher.schema.DOCUMENT_SCHEMA)
  stats.json               the funnel (contract 4); `thresher stats DIR` prints it
  exclusions/<stage>__<reason>.jsonl   up to `exclusion_samples` dropped documents per reason
  errors/errors-*.jsonl    every record that could not be processed, with its reason

The document logic lives in `thresher.filters` (DocumentChain); this module only wires it.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.runners.runner import PipelineState

from thresher import __version__
from thresher.filters.chain import READ_STAGE, DocumentChain, Outcome
from thresher.pipelines.options import pipeline_options
from thresher.pipelines.readers import read_records
from thresher.recipe import Recipe, load_recipe, parse_recipe
from thresher.schema import DOCUMENT_SCHEMA, to_row
from thresher.stats import Funnel, check_accounting, format_funnel, load_stats, summarize

NAMESPACE = "thresher.curate"
DEDUP_REASON = "duplicate"


def _counter(cache: dict, name: str, namespace: str = NAMESPACE):
    counter = cache.get(name)
    if counter is None:
        counter = cache[name] = Metrics.counter(namespace, name)
    return counter


def count_outcome(counters: dict, stage_names: list[str], outcome: Outcome, namespace: str = NAMESPACE) -> None:
    """Live counters for Dataflow's UI: `<stage>.in` for every stage reached, then how it ended."""
    for name in stage_names[: len(outcome.trace) - (outcome.status == "kept")]:
        _counter(counters, f"{name}.in", namespace).inc()
    if outcome.status != "kept":
        _counter(counters, f"{outcome.stage}.{outcome.status}.{outcome.reason}", namespace).inc()


class ReadRecords(beam.DoFn):
    """A matched file -> one raw record per input document (errors included)."""

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


class RunChain(beam.DoFn):
    """Raw record -> kept (doc, trace) on the main output; dropped / errored on tagged outputs."""

    def __init__(self, recipe: dict):
        self.recipe_dict = recipe

    def setup(self):
        self.chain = DocumentChain(parse_recipe(self.recipe_dict))
        self.counters = {}

    def process(self, record):
        outcome = self.chain.process(record)
        count_outcome(self.counters, self.chain.stage_names, outcome)
        if outcome.status == "kept":
            yield outcome.doc, outcome.trace
        else:
            yield beam.pvalue.TaggedOutput(outcome.status, outcome)


class ExactDedup(beam.DoFn):
    """(dedup_key, [(doc, trace)]) -> the survivor (smallest id) kept, the others dropped."""

    def __init__(self, stage: str):
        self.stage = stage

    def setup(self):
        self.counters = {}

    def process(self, keyed):
        _, group = keyed
        # Two passes over the (re-iterable) group so that a huge cluster is never held in memory.
        survivor, size = None, 0
        for doc, _ in group:
            size += 1
            if survivor is None or doc["id"] < survivor:
                survivor = doc["id"]
        _counter(self.counters, f"{self.stage}.in").inc(size)
        for doc, trace in group:
            if doc["id"] == survivor:
                doc["dedup_cluster_size"] = size
                yield doc, list(trace) + [trace[-1]]
            else:
                _counter(self.counters, f"{self.stage}.dropped.{DEDUP_REASON}").inc()
                yield beam.pvalue.TaggedOutput("dropped", Outcome("dropped", self.stage, DEDUP_REASON, doc, list(trace)))


class FunnelCombineFn(beam.CombineFn):
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


def _stats_json(funnel: Funnel, non_document: int, stage_names: list[str], recipe: dict, inputs: list[str],
                pipeline: str = "curate", extra: dict | None = None) -> str:
    stats = {
        "pipeline": pipeline,
        "thresher_version": __version__,
        "inputs": inputs,
        "recipe": recipe,
        "non_document_records": non_document,
        **(extra or {}),
        **funnel.to_dict(stage_names),
    }
    stats["accounting_ok"] = not check_accounting(stats)
    return json.dumps(stats, indent=2)


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "payload_bytes"}


def _error_json(outcome: Outcome) -> str:
    doc = outcome.doc
    return json.dumps({
        "stage": outcome.stage, "reason": outcome.reason, "id": doc["id"], "url": doc["url"],
        "source_file": doc["source_file"], "source_offset": doc["source_offset"],
        "payload_bytes": doc.get("payload_bytes"), "detail": doc.get("error_detail"),
        "text_head": (doc.get("text") or "")[:500] or None,
    }, ensure_ascii=False)


class WriteExclusions(beam.DoFn):
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


def build_pipeline(p: beam.Pipeline, inputs: list[str], output: str, recipe: Recipe) -> None:
    recipe_dict = recipe.to_dict()
    chain_names = [READ_STAGE] + [s.name for s in recipe.stages if s.kind != "exact_dedup"]
    dedup = next((s.name for s in recipe.stages if s.kind == "exact_dedup"), None)
    stage_names = chain_names + ([dedup] if dedup else [])
    stage_index = {name: i for i, name in enumerate(stage_names)}

    files = (
        p
        | "Patterns" >> beam.Create(inputs)
        | "Match" >> fileio.MatchAll()
        | "ReadMatches" >> fileio.ReadMatches()
    )
    read = files | "ReadRecords" >> beam.ParDo(ReadRecords(recipe.max_record_bytes)).with_outputs(
        ReadRecords.NON_DOCUMENT, main="records"
    )
    # Files are the unit of reading; spread their records over all workers.
    records = read.records | "Spread" >> beam.Reshuffle()
    chained = records | "Filters" >> beam.ParDo(RunChain(recipe_dict)).with_outputs("dropped", "errored", main="kept")

    dropped = [chained.dropped]
    kept = chained.kept
    if dedup:
        deduped = (
            kept
            | "KeyByText" >> beam.Map(lambda dt: (dt[0]["dedup_key"], dt))
            | "GroupByText" >> beam.GroupByKey()
            | "ExactDedup" >> beam.ParDo(ExactDedup(dedup)).with_outputs("dropped", main="kept")
        )
        kept = deduped.kept
        dropped.append(deduped.dropped)
    all_dropped = dropped | "AllDropped" >> beam.Flatten()

    kept_summaries = kept | "KeptSummary" >> beam.Map(
        lambda dt: (len(dt[1]) - 1, "kept", None, int(dt[0].get("payload_bytes") or 0), tuple(dt[1]))
    )
    other_summaries = (all_dropped, chained.errored) | "Ended" >> beam.Flatten() | "EndSummary" >> beam.Map(
        summarize, stage_index
    )
    non_document = read[ReadRecords.NON_DOCUMENT] | "CountNonDocument" >> beam.CombineGlobally(sum)
    (
        (kept_summaries, other_summaries)
        | "AllSummaries" >> beam.Flatten()
        | "Funnel" >> beam.CombineGlobally(FunnelCombineFn())
        | "StatsJson" >> beam.Map(_stats_json, beam.pvalue.AsSingleton(non_document), stage_names, recipe_dict, inputs)
        | "WriteStats" >> beam.io.WriteToText(
            FileSystems.join(output, "stats"), file_name_suffix=".json", num_shards=1, shard_name_template=""
        )
    )

    write_outputs(kept | "ToRow" >> beam.Map(lambda dt: to_row(dt[0])), chained.errored, all_dropped, output,
                  recipe.exclusion_samples)


def write_outputs(rows, errored, dropped, output: str, exclusion_samples: int) -> None:
    """A run's files besides stats.json: curated Parquet, every error, sampled exclusions per reason."""
    rows | "WriteCurated" >> beam.io.WriteToParquet(
        FileSystems.join(output, "curated", "part"), DOCUMENT_SCHEMA, file_name_suffix=".parquet", codec="zstd"
    )
    (
        errored
        | "ErrorJson" >> beam.Map(_error_json)
        | "WriteErrors" >> beam.io.WriteToText(FileSystems.join(output, "errors", "errors"), file_name_suffix=".jsonl")
    )
    # Deterministic sample: the documents with the smallest ids per reason.
    (
        dropped
        | "ByReason" >> beam.Map(lambda o: (o.label, (o.doc["id"], json.dumps(_public(o.doc), ensure_ascii=False))))
        | "SamplePerReason" >> beam.combiners.Top.SmallestPerKey(exclusion_samples)
        | "WriteExclusions" >> beam.ParDo(WriteExclusions(output))
    )


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
    print(f"stats: {FileSystems.join(output, 'stats.json')}  exclusions: {FileSystems.join(output, 'exclusions')}/  "
          f"errors: {FileSystems.join(output, 'errors')}/")
    return 1 if problems else 0


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="thresher curate",
        description="Extract, filter and deduplicate web documents into curated Parquet. "
        "Unknown options are Beam PipelineOptions (--runner, --project, --direct_num_workers, ...).",
    )
    parser.add_argument("--input", action="append", required=True,
                        help="file, glob or any Beam FileSystems path (gs://, s3://); repeat for several")
    parser.add_argument("--output", required=True, help="run directory (local or gs://)")
    parser.add_argument("--recipe", default=None, help="built-in recipe name or a recipe .yaml (default: fineweb)")
    return parser.parse_known_args(argv)


def run(inputs: list[str], output: str, recipe: Recipe | str | None = None, beam_args: list[str] | None = None) -> dict | None:
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    return run_pipeline(lambda p: build_pipeline(p, inputs, output, recipe), output, beam_args)


def main(argv: list[str] | None = None) -> int:
    args, beam_args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    stats = run(args.input, args.output, args.recipe, beam_args)
    return 0 if stats is None else report(stats, args.output)
