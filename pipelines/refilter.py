"""`thresher refilter`: re-apply a recipe's thresholds to the scores stored by an earlier run.

    thresher refilter --input 'runs/r1/attributes/*.parquet' --output runs/r2 --recipe looser.yaml [Beam options]
    thresher refilter --input 'runs/r1/curated/*.parquet' --output runs/r2 --recipe strict.yaml

Score, then filter (dolma's "tag once, select many"): `thresher curate` stores every filter's
signals (`scores`, `"<stage>.<signal>"`); this pipeline reads them back and, stage by stage in the
recipe's order, calls the stage filter's `decide` on that stage's stored signals (prefix
stripped). Nothing is extracted, identified or scored again: it costs a pass over Parquet, and
filters are built with `for_decide` where they have one (LanguageFilter: no fastText model).

Two inputs:
  RUN/attributes/*.parquet   (an input folder named `attributes`) every document that reached the
                 per-document stages, kept or dropped: re-decided in both directions. Each is
                 decided afresh from its scores (its stored `reason` is not read, but for
                 extraction's drops, which stand: a page with invalid bytes has no text). One
                 that passes every stage keeps the text stored with it, and the recipe's dedup
                 stages then run as in curate (exact, MinHash from the text, line). For a run
                 curated with `--keep-dropped` (every stage scored every document; texts kept),
                 this gives what a fresh curate with the new recipe gives: the same documents
                 and texts. Without it, a document the input run dropped stops being scored at
                 its drop and its text is not kept: one that now passes cannot come back and is
                 dropped as `refilter:no_scores` (a stage it was not scored by) or
                 `refilter:no_text` (a warning says how many).
  RUN/curated/*.parquet      the kept documents: thresholds can only tighten, and the input is
                 already deduplicated (the dedup stages do not run).

Outputs under --output, as curate writes them:
  curated/part-<range>.parquet  the documents that pass (thresher.contracts.schema.DOCUMENT_SCHEMA), rows unchanged
                           but for fields a stage's `decide` sets (a domain label) and, from
                           attributes, what the dedup stages set
  attributes/part-<range>.parquet  each input document's scores and new decision (runs.py)
  stats.json               the funnel (contract 4): `read`, then the re-applied stages (from
                           attributes: every per-document stage, `refilter`, then the dedup
                           stages); plus `skipped_stages` and `refilter_input`. Its `bytes` are
                           the records' raw sizes from attributes, 0 from curated Parquet (not
                           stored). Its `chars` and `words` are those of the stored text at every
                           stage (curate's are of the text entering each stage).
  exclusions/<stage>__<reason>.jsonl   up to `exclusion_samples` dropped documents per reason
  errors/part-<range>.jsonl  documents whose stored scores `decide` could not use, and from
                           attributes, those a later stage could not process (`error_after_drop`)

Which stages are re-applied. A recipe stage reads the stored scores of the stage *with the same
name*, so keep the names of the run that made the input. Every per-document filter is re-decided,
C4 included (its `decide` reads the stored `sentences` and the lines that dropped the page). Skipped,
and listed in stats.json `skipped_stages` with the reason:
  - `no_decision`: `extract`, `pii` and the dedup stages (`exact_dedup`, `minhash_dedup`,
    `line_dedup`) from curated Parquet: masking never drops a document, the input is already
    deduplicated, and extraction drops only pages it could not decode (`invalid_bytes`): none of
    those are in the input; they are not in the funnel. From attributes, `extract` and `pii` are
    in the funnel and pass every document but the pages extraction dropped.
  - `no_stored_scores`: a stage for which a document the input run kept has no stored scores (the
    input run did not have that stage). The document passes the stage unchecked; `docs` says how
    many did. A run with such a stage also prints a warning.
A document whose stored scores for a stage lack a signal that `decide` reads errors with
`<stage>:missing_score`.

What a pass over scores cannot do:
  - Change what was measured. Only the options `decide` reads re-apply (thresholds); options that
    change a signal need a fresh curate: C4's line rules (`min_words_per_line`,
    `filter_no_terminal_punct`, ...: they choose which lines make up the text; `min_num_sentences`
    re-applies), word lists, n-gram sizes, extraction, and the language list
    (`language.kept_language` says whether the language was in the list of the input run; the
    `threshold` re-applies).
  - From curated Parquet, bring documents back (a looser threshold keeps what the input kept), or
    redo dedup: when a stricter rule drops the survivor of a group of exact copies, a fresh curate
    would keep another copy and refilter keeps none. Copies share their normalised text (case,
    punctuation, digits and spacing aside), so text filters nearly always decide alike for all of
    them; URL rules are where they differ. From attributes, dedup runs again on what now passes.

Beam options pass straight through, as for curate (`--runner DataflowRunner ...`).
"""

from __future__ import annotations

import os

import pyarrow.parquet as pq

from thresher.contracts.errors import UsageError
from thresher.contracts.recipe import Recipe
from thresher.contracts.schema import READ_STAGE, Outcome, scores_dict, text_size
from thresher.filters.dedup import dedup_key
from thresher.filters.registry import CROSS_DOCUMENT_KINDS, build_decider, load_recipe, parse_recipe
from thresher.pipelines.readers import row_groups_in
from thresher.pipelines.transforms import RangeRun, RunOptions

NAMESPACE = "thresher.refilter"
# Stage kinds with nothing to re-decide, and why.
NO_DECISION = {
    "extract": "extraction makes the text; its one drop (invalid_bytes) is not re-decided",
    "pii": "masking changes the text and never drops a document",
    "exact_dedup": "the input is already deduplicated",
    "minhash_dedup": "the input is already deduplicated",
    "line_dedup": "the input is already deduplicated",
}
# From attributes the dedup stages run, and extraction's drops stand (there is no text to score).
NO_DECISION_FROM_ATTRIBUTES = {
    "extract": "extraction is not redone: the pages it dropped (invalid_bytes) stay dropped",
    "pii": "masking never drops a document (the stored text is already masked)",
}
NO_DECISION_REASON = "no_decision"
NO_SCORES_REASON = "no_stored_scores"
MISSING_SCORE = "missing_score"
# From attributes: the funnel's stage, after the per-document ones, where a document that now
# passes but was not kept whole by the input run is dropped.
REFILTER_STAGE = "refilter"
NO_SCORES = "no_scores"  # a stage did not score it: the input run stopped at its drop
NO_TEXT = "no_text"  # its text was not kept: the input run was curated without --keep-dropped
ATTRIBUTES = "attributes"  # the folder of a run's attributes (runs.py)


def is_attributes(inputs: list[str]) -> bool:
    """Whether the inputs are a run's attributes (files in an `attributes/` folder) rather than
    curated Parquet; UsageError for a mix of both."""
    kinds = {os.path.basename(os.path.dirname(path.rstrip("/"))) == ATTRIBUTES for path in inputs}
    if len(kinds) > 1:
        raise UsageError("--input mixes attributes/ and curated Parquet: refilter one kind at a time")
    return kinds == {True}


class Redecider:
    """Re-applies a recipe's decisions to one stored document (a curated row, or with
    `from_attributes` an attributes row). Plain Python, like DocumentChain; the pipeline wraps it,
    tests call it directly."""

    def __init__(self, recipe: Recipe, from_attributes: bool = False):
        self.from_attributes = from_attributes
        if from_attributes:  # every per-document stage, as in curate's funnel; None: passed (see above)
            self.stages = [
                (s.name, None if s.kind in NO_DECISION_FROM_ATTRIBUTES else build_decider(s))
                for s in recipe.stages
                if s.kind not in CROSS_DOCUMENT_KINDS
            ] + [(REFILTER_STAGE, None)]
        else:
            self.stages = [(s.name, build_decider(s)) for s in recipe.stages if s.kind not in NO_DECISION]
        self.stage_names = [READ_STAGE] + [name for name, _ in self.stages]

    def process(self, row: dict) -> tuple[Outcome, list[str]]:
        """Where the document ends, and the stages it passed unchecked for want of stored scores."""
        doc = dict(row)
        doc["scores"] = scores_dict(row.get("scores"))  # schema version 4, or 3 (an older run)
        # The input run's decision (attributes; a curated row was kept): read only for what cannot
        # be re-decided, extraction's drops, and to tell a stage it lacks from one it stopped before.
        source = row.get("reason")
        dropped_at, _, source_reason = (source or "").partition(":")
        error_at, _, error_reason = (row.get("error_after_drop") or "").partition(":")
        # The text does not change here: every stage sees the same size (the funnel's trace).
        size = text_size(doc.get("text"))
        trace, unchecked, unscored = [size], [], None
        for name, stage in self.stages:
            trace.append(size)
            if name == REFILTER_STAGE:
                if unscored is not None:
                    doc["error_detail"] = f"no stored `{unscored}.*` scores: the run stopped scoring at its drop"
                    return Outcome("dropped", name, NO_SCORES, doc, trace), unchecked
                if doc.get("text") is None:
                    return Outcome("dropped", name, NO_TEXT, doc, trace), unchecked
                continue
            if stage is None:
                if name == dropped_at:
                    return Outcome("dropped", name, source_reason, doc, trace), unchecked
                continue
            if name == error_at:  # scoring on after its drop, this stage failed: as it would now
                return Outcome("errored", name, error_reason, doc, trace), unchecked
            prefix = f"{name}."
            scores = {k[len(prefix) :]: v for k, v in doc["scores"].items() if k.startswith(prefix)}
            if not scores:
                if source:  # dropped before this stage, and not scored on (no --keep-dropped)
                    unscored = unscored or name
                else:
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
        if self.from_attributes:  # the exact-dedup key of the text it keeps, as the chain sets it
            doc["dedup_key"] = dedup_key(doc["text"])
        return Outcome("kept", None, None, doc, trace), unchecked


def stage_names(recipe: Recipe, from_attributes: bool) -> list[str]:
    """The funnel's per-document stages (Redecider's), without building a filter."""
    if from_attributes:
        names = [s.name for s in recipe.stages if s.kind not in CROSS_DOCUMENT_KINDS] + [REFILTER_STAGE]
    else:
        names = [s.name for s in recipe.stages if s.kind not in NO_DECISION]
    return [READ_STAGE] + names


class RefilterRanges:
    """A range of curated or attributes Parquet (whole row groups) through a recipe's `decide`s
    (ProcessRanges' processor)."""

    def __init__(self, recipe: Recipe, from_attributes: bool = False):
        self.recipe_dict = recipe.to_dict()
        self.from_attributes = from_attributes
        # The attributes of this run carry the input's texts of dropped documents where it has them.
        self.keep_dropped = from_attributes
        self.stage_names = stage_names(recipe, from_attributes)

    def setup(self) -> None:
        self.redecider = Redecider(parse_recipe(self.recipe_dict), self.from_attributes)

    def outcomes(self, rng, fh, counts):
        pf = pq.ParquetFile(fh)
        if ("reason" in pf.schema_arrow.names) != self.from_attributes:
            held = "a run's attributes" if not self.from_attributes else "curated documents"
            raise UsageError(
                f"--input {rng.path} holds {held}: refilter reads attributes from a folder named "
                f"{ATTRIBUTES}/ (RUN/{ATTRIBUTES}/*.parquet) and curated Parquet from any other"
            )
        groups = row_groups_in(pf.metadata, rng.start, rng.end)
        for batch in pf.iter_batches(row_groups=groups) if groups else ():
            for row in batch.to_pylist():
                outcome, unchecked = self.redecider.process(row)
                for name in unchecked:
                    counts[f"unchecked:{name}"] += 1
                yield outcome


def skipped_stages(recipe: Recipe, unchecked: dict[str, int], from_attributes: bool = False) -> list[dict]:
    """stats.json `skipped_stages`: stages with nothing to re-decide, then those some documents
    passed unchecked (with how many), in recipe order."""
    no_decision = NO_DECISION_FROM_ATTRIBUTES if from_attributes else NO_DECISION
    skipped = [
        {"name": s.name, "kind": s.kind, "reason": NO_DECISION_REASON, "detail": no_decision[s.kind]}
        for s in recipe.stages
        if s.kind in no_decision
    ]
    skipped += [
        {
            "name": s.name,
            "kind": s.kind,
            "reason": NO_SCORES_REASON,
            "docs": unchecked[s.name],
            "detail": f"{unchecked[s.name]} documents have no stored `{s.name}.*` scores and passed unchecked",
        }
        for s in recipe.stages
        if unchecked.get(s.name)
    ]
    return skipped


class _StatsExtra:
    """stats.json's extra fields for a refilter run, from the ranges' counts."""

    def __init__(self, recipe: Recipe, from_attributes: bool):
        self.recipe = recipe
        self.from_attributes = from_attributes

    def __call__(self, counts: dict) -> dict:
        unchecked = {k.removeprefix("unchecked:"): v for k, v in counts.items() if k.startswith("unchecked:")}
        return {
            "non_document_records": 0,
            "skipped_stages": skipped_stages(self.recipe, unchecked, self.from_attributes),
        }


def not_returned(stats: dict) -> dict[str, int]:
    """{reason: documents} that passed the new recipe but could not come back (from attributes of
    a run curated without --keep-dropped)."""
    for stage in stats["stages"]:
        if stage["name"] == REFILTER_STAGE:
            return {reason: part["docs"] for reason, part in stage["dropped"].items()}
    return {}


def refiltering(
    inputs: list[str], output: str, recipe: Recipe | str, run_options: RunOptions | None = None
) -> RangeRun:
    """The run that re-decides the curated or attributes Parquet `inputs` into the run folder `output`."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    from_attributes = is_attributes(inputs)
    if from_attributes and any(s.name == REFILTER_STAGE for s in recipe.stages):
        raise UsageError(f"recipe stage name {REFILTER_STAGE!r} is refilter's own: rename the stage")
    dedup = [(s.name, s.kind, dict(s.options)) for s in recipe.stages if s.kind in CROSS_DOCUMENT_KINDS]
    return RangeRun(
        "refilter",
        RefilterRanges(recipe, from_attributes),
        inputs,
        output,
        recipe.to_dict(),
        NAMESPACE,
        recipe.exclusion_samples,
        _StatsExtra(recipe, from_attributes),
        run_options,
        dedup_stages=dedup if from_attributes else (),
        settings={"refilter_input": ATTRIBUTES if from_attributes else "curated"},
    )


def run(
    inputs: list[str],
    output: str,
    recipe: Recipe | str,
    beam_args: list[str] | None = None,
    run_options: RunOptions | None = None,
) -> dict | None:
    """Re-decide `inputs` into `output`; the stats.json it wrote (None for a Dataflow dry run)."""
    return refiltering(inputs, output, recipe, run_options).run(beam_args)
