"""`thresher refilter`: re-apply a recipe's thresholds to the scores stored in curated Parquet.

    thresher refilter --input 'runs/r1/curated/*.parquet' --output runs/r2 --recipe strict.yaml [Beam options]

Score, then filter (dolma's habit): `thresher curate` stores every filter's signals in the
`scores` column (`"<stage>.<signal>"`); this pipeline reads them back and, stage by stage in the
recipe's order, calls the stage filter's `decide` on that stage's stored signals (prefix
stripped). Nothing is extracted, identified or scored again: it costs a pass over Parquet, and
filters are built with `for_decide` where they have one (LanguageFilter: no fastText model).

Outputs under --output, as curate writes them:
  curated/part-<range>.parquet  the documents that pass (thresher.contracts.schema.DOCUMENT_SCHEMA), rows unchanged
                           but for fields a stage's `decide` sets (a domain label)
  stats.json               the funnel (contract 4): `read`, then the re-applied stages; plus
                           `skipped_stages`. Its `bytes` are 0: the input is Parquet rows, not
                           crawl records, and no raw size is stored.
  exclusions/<stage>__<reason>.jsonl   up to `exclusion_samples` dropped documents per reason
  errors/part-<range>.jsonl  documents whose stored scores `decide` could not use

Which stages are re-applied. A recipe stage reads the stored scores of the stage *with the same
name*, so keep the names of the run that made the input. Every per-document filter is re-decided,
C4 included (its `decide` reads the stored `sentences` and the lines that dropped the page). Skipped,
and listed in stats.json `skipped_stages` with the reason:
  - `no_decision`: `extract`, `pii` and the dedup stages (`exact_dedup`, `minhash_dedup`, `line_dedup`). Masking never drops
    a document, the input is already deduplicated, and extraction drops only pages it could not
    decode (`invalid_bytes`): none of those are in the input; they are not in the funnel.
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

import pyarrow.parquet as pq

from thresher.contracts.recipe import Recipe
from thresher.contracts.schema import READ_STAGE, Outcome, scores_dict, text_size
from thresher.filters.registry import build_decider, load_recipe, parse_recipe
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
NO_DECISION_REASON = "no_decision"
NO_SCORES_REASON = "no_stored_scores"
MISSING_SCORE = "missing_score"


class Redecider:
    """Re-applies a recipe's decisions to one stored document. Plain Python, like DocumentChain;
    the pipeline wraps it, tests call it directly."""

    def __init__(self, recipe: Recipe):
        self.stages = [(s.name, build_decider(s)) for s in recipe.stages if s.kind not in NO_DECISION]
        self.stage_names = [READ_STAGE] + [name for name, _ in self.stages]

    def process(self, row: dict) -> tuple[Outcome, list[str]]:
        """Where the document ends, and the stages it passed unchecked for want of stored scores."""
        doc = dict(row)
        doc["scores"] = scores_dict(row.get("scores"))  # schema version 4, or 3 (an older run)
        # The text does not change here: every stage sees the same size (the funnel's trace).
        size = text_size(doc.get("text"))
        trace, unchecked = [size], []
        for name, stage in self.stages:
            trace.append(size)
            prefix = f"{name}."
            scores = {k[len(prefix) :]: v for k, v in doc["scores"].items() if k.startswith(prefix)}
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


class RefilterRanges:
    """A range of curated Parquet (whole row groups) through a recipe's `decide`s (ProcessRanges'
    processor)."""

    def __init__(self, recipe: Recipe):
        self.recipe_dict = recipe.to_dict()
        self.stage_names = [READ_STAGE] + [s.name for s in recipe.stages if s.kind not in NO_DECISION]

    def setup(self) -> None:
        self.redecider = Redecider(parse_recipe(self.recipe_dict))

    def outcomes(self, rng, fh, counts):
        pf = pq.ParquetFile(fh)
        groups = row_groups_in(pf.metadata, rng.start, rng.end)
        for batch in pf.iter_batches(row_groups=groups) if groups else ():
            for row in batch.to_pylist():
                outcome, unchecked = self.redecider.process(row)
                for name in unchecked:
                    counts[f"unchecked:{name}"] += 1
                yield outcome


def skipped_stages(recipe: Recipe, unchecked: dict[str, int]) -> list[dict]:
    """stats.json `skipped_stages`: stages with nothing to re-decide, then those some documents
    passed unchecked (with how many), in recipe order."""
    skipped = [
        {"name": s.name, "kind": s.kind, "reason": NO_DECISION_REASON, "detail": NO_DECISION[s.kind]}
        for s in recipe.stages
        if s.kind in NO_DECISION
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

    def __init__(self, recipe: Recipe):
        self.recipe = recipe

    def __call__(self, counts: dict) -> dict:
        unchecked = {k.removeprefix("unchecked:"): v for k, v in counts.items() if k.startswith("unchecked:")}
        return {"non_document_records": 0, "skipped_stages": skipped_stages(self.recipe, unchecked)}


def refiltering(
    inputs: list[str], output: str, recipe: Recipe | str, run_options: RunOptions | None = None
) -> RangeRun:
    """The run that re-decides the curated Parquet `inputs` into the run folder `output`."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    return RangeRun(
        "refilter",
        RefilterRanges(recipe),
        inputs,
        output,
        recipe.to_dict(),
        NAMESPACE,
        recipe.exclusion_samples,
        _StatsExtra(recipe),
        run_options,
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
