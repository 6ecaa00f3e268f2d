"""`thresher refilter`: re-apply a recipe's thresholds to the scores stored in curated Parquet.

    thresher refilter --input 'runs/r1/curated/*.parquet' --output runs/r2 --recipe strict.yaml [Beam options]

Score, then filter (dolma's habit): `thresher curate` stores every filter's signals in the
`scores` column (`"<stage>.<signal>"`); this pipeline reads them back and, stage by stage in the
recipe's order, calls the stage filter's `decide` on that stage's stored signals (prefix
stripped). Nothing is extracted, identified or scored again: it costs a pass over Parquet, and
filters are built with `for_decide` where they have one (LanguageFilter: no fastText model).

Outputs under --output, as curate writes them:
  curated/part-*.parquet   the documents that pass (thresher.schema.DOCUMENT_SCHEMA), rows unchanged
                           but for fields a stage's `decide` sets (a domain label)
  stats.json               the funnel (contract 4): `read`, then the re-applied stages; plus
                           `skipped_stages`. Its `bytes` are 0: the input is Parquet rows, not
                           crawl records, and no raw size is stored.
  exclusions/<stage>__<reason>.jsonl   up to `exclusion_samples` dropped documents per reason
  errors/errors-*.jsonl    documents whose stored scores `decide` could not use

Which stages are re-applied. A recipe stage reads the stored scores of the stage *with the same
name*, so keep the names of the run that made the input. Every per-document filter is re-decided,
C4 included (its `decide` reads the stored `sentences` and the lines that dropped the page). Skipped,
and listed in stats.json `skipped_stages` with the reason:
  - `no_decision`: `extract`, `pii` and `exact_dedup` stages. Extraction and masking never drop a
    document, and the input is already deduplicated; they are not in the funnel.
  - `no_stored_scores`: a stage for which a document has no stored scores (the input run did not
    have that stage). The document passes the stage unchecked; `docs` says how many did. A run
    with such a stage also prints a warning.
A document whose stored scores for a stage lack a signal that `decide` reads errors with
`<stage>:missing_score`.

What a pass over scores cannot do:
  - Change what was measured. Only the options `decide` reads re-apply (thresholds); options that
    change a signal need a fresh curate: C4's line rules (`min_words_per_line`,
    `filter_no_terminal_punct`, ...: they choose which lines make up the text; `min_num_sentences`
    re-applies), word lists, n-gram sizes, and the language list (`language.kept_language` says
    whether the language was in the list of the input run; the `threshold` re-applies).
  - Bring documents back: a looser threshold keeps what the input kept; what the input run dropped
    is not in its Parquet.
Within those limits the documents kept are those a fresh curate with the new recipe keeps, but for
one case: exact dedup ran before, so when a stricter rule drops the survivor of a group of copies,
a fresh curate would keep another copy and refilter keeps none. Copies share their normalised text
(case, punctuation, digits and spacing aside), so text filters nearly always decide alike for all
of them; URL rules are where they differ.

Beam options pass straight through, as for curate (`--runner DataflowRunner ...`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from thresher.filters.base import DocumentFilter
from thresher.filters.chain import READ_STAGE, Outcome, text_size
from thresher.pipelines.curate import FunnelCombineFn, _counter, _stats_json, count_outcome, report, run_pipeline, write_outputs
from thresher.recipe import STAGE_KINDS, Recipe, StageSpec, load_recipe, parse_recipe
from thresher.schema import to_row
from thresher.stats import summarize

NAMESPACE = "thresher.refilter"
# Stage kinds with nothing to re-decide, and why.
NO_DECISION = {
    "extract": "extraction makes the text and never drops a document",
    "pii": "masking changes the text and never drops a document",
    "exact_dedup": "the input is already deduplicated",
}
NO_DECISION_REASON = "no_decision"
NO_SCORES_REASON = "no_stored_scores"
MISSING_SCORE = "missing_score"


def decider(spec: StageSpec) -> DocumentFilter:
    """The stage's filter, built to decide only: through the class's `for_decide` where it has one,
    so that nothing only `score` needs (a fastText model) is loaded."""
    module, _, name = STAGE_KINDS[spec.kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls.for_decide(**spec.options) if hasattr(cls, "for_decide") else spec.build()


class Redecider:
    """Re-applies a recipe's decisions to one stored document. Plain Python, like DocumentChain;
    the pipeline wraps it, tests call it directly."""

    def __init__(self, recipe: Recipe):
        self.stages = [(s.name, decider(s)) for s in recipe.stages if s.kind not in NO_DECISION]
        self.stage_names = [READ_STAGE] + [name for name, _ in self.stages]

    def process(self, row: dict) -> tuple[Outcome, list[str]]:
        """Where the document ends, and the stages it passed unchecked for want of stored scores."""
        doc = dict(row)
        doc["scores"] = dict(row.get("scores") or ())  # Parquet gives the map as (key, value) pairs
        # The text does not change here: every stage sees the same size (the funnel's trace).
        size = text_size(doc.get("text"))
        trace, unchecked = [size], []
        for name, stage in self.stages:
            trace.append(size)
            prefix = f"{name}."
            scores = {k[len(prefix):]: v for k, v in doc["scores"].items() if k.startswith(prefix)}
            if not scores:
                unchecked.append(name)
                continue
            try:
                decision = stage.decide(scores)
            except KeyError as exc:
                doc["error_detail"] = f"no stored score {name}.{exc.args[0]}"
                return Outcome("errored", name, MISSING_SCORE, doc, trace), unchecked
            except Exception as exc:  # noqa: BLE001 - a bad row never stops the run
                doc["error_detail"] = f"{type(exc).__name__}: {exc}"[:500]
                return Outcome("errored", name, "exception", doc, trace), unchecked
            if not decision.keep:
                return Outcome("dropped", name, decision.reason or "dropped", doc, trace), unchecked
            if decision.fields:
                doc.update(decision.fields)  # as the chain does: e.g. the label a domain filter's decide sets
        trace.append(size)
        return Outcome("kept", None, None, doc, trace), unchecked


class Redecide(beam.DoFn):
    """Parquet row -> Outcome: kept on the main output, dropped / errored / unchecked stage names tagged."""

    def __init__(self, recipe: dict):
        self.recipe_dict = recipe

    def setup(self):
        self.redecider = Redecider(parse_recipe(self.recipe_dict))
        self.counters = {}

    def process(self, row):
        outcome, unchecked = self.redecider.process(row)
        count_outcome(self.counters, self.redecider.stage_names, outcome, NAMESPACE)
        for name in unchecked:
            _counter(self.counters, f"{name}.{NO_SCORES_REASON}", NAMESPACE).inc()
            yield beam.pvalue.TaggedOutput("unchecked", name)
        if outcome.status == "kept":
            yield outcome
        else:
            yield beam.pvalue.TaggedOutput(outcome.status, outcome)


def skipped_stages(recipe: Recipe, unchecked: dict[str, int]) -> list[dict]:
    """stats.json `skipped_stages`: stages with nothing to re-decide, then those some documents
    passed unchecked (with how many), in recipe order."""
    skipped = [{"name": s.name, "kind": s.kind, "reason": NO_DECISION_REASON, "detail": NO_DECISION[s.kind]}
               for s in recipe.stages if s.kind in NO_DECISION]
    skipped += [{"name": s.name, "kind": s.kind, "reason": NO_SCORES_REASON, "docs": unchecked[s.name],
                 "detail": f"{unchecked[s.name]} documents have no stored `{s.name}.*` scores and passed unchecked"}
                for s in recipe.stages if unchecked.get(s.name)]
    return skipped


def _refilter_stats_json(funnel, unchecked: dict, stage_names: list[str], recipe_dict: dict, inputs: list[str]) -> str:
    extra = {"skipped_stages": skipped_stages(parse_recipe(recipe_dict), unchecked)}
    return _stats_json(funnel, 0, stage_names, recipe_dict, inputs, pipeline="refilter", extra=extra)


def build_pipeline(p: beam.Pipeline, inputs: list[str], output: str, recipe: Recipe) -> None:
    recipe_dict = recipe.to_dict()
    stage_names = [READ_STAGE] + [s.name for s in recipe.stages if s.kind not in NO_DECISION]
    stage_index = {name: i for i, name in enumerate(stage_names)}

    rows = p | "Patterns" >> beam.Create(inputs) | "ReadParquet" >> beam.io.ReadAllFromParquet()
    decided = rows | "Redecide" >> beam.ParDo(Redecide(recipe_dict)).with_outputs(
        "dropped", "errored", "unchecked", main="kept"
    )
    unchecked = decided.unchecked | "CountUnchecked" >> beam.combiners.Count.PerElement()
    (
        (decided.kept, decided.dropped, decided.errored)
        | "All" >> beam.Flatten()
        | "Summary" >> beam.Map(summarize, stage_index)
        | "Funnel" >> beam.CombineGlobally(FunnelCombineFn())
        | "StatsJson" >> beam.Map(_refilter_stats_json, beam.pvalue.AsDict(unchecked), stage_names, recipe_dict, inputs)
        | "WriteStats" >> beam.io.WriteToText(
            FileSystems.join(output, "stats"), file_name_suffix=".json", num_shards=1, shard_name_template=""
        )
    )
    write_outputs(decided.kept | "ToRow" >> beam.Map(lambda o: to_row(o.doc)), decided.errored, decided.dropped,
                  output, recipe.exclusion_samples)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="thresher refilter",
        description="Re-apply a recipe's thresholds to the scores stored in curated Parquet, without recomputing them. "
        "Unknown options are Beam PipelineOptions (--runner, --project, --direct_num_workers, ...).",
    )
    parser.add_argument("--input", action="append", required=True,
                        help="curated Parquet (RUN/curated/*.parquet): file, glob or any Beam FileSystems path; "
                        "repeat for several")
    parser.add_argument("--output", required=True, help="new run directory (local or gs://)")
    parser.add_argument("--recipe", required=True,
                        help="built-in recipe name or a recipe .yaml; its stage names must match the input run's")
    return parser.parse_known_args(argv)


def run(inputs: list[str], output: str, recipe: Recipe | str, beam_args: list[str] | None = None) -> dict | None:
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    return run_pipeline(lambda p: build_pipeline(p, inputs, output, recipe), output, beam_args)


def main(argv: list[str] | None = None) -> int:
    args, beam_args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    stats = run(args.input, args.output, args.recipe, beam_args)
    if stats is None:
        return 0
    for skipped in stats["skipped_stages"]:
        if skipped["reason"] == NO_SCORES_REASON:
            print(f"WARNING: stage {skipped['name']}: {skipped['detail']}", file=sys.stderr)
    return report(stats, args.output)
