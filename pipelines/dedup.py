"""`thresher dedup`: curated Parquet -> the same documents, deduplicated by a recipe's dedup stages.

    thresher dedup --input 'runs/r1/curated/*.parquet' --output runs/r1-dedup [--recipe fineweb]
    thresher dedup --input 'runs/2024-*/curated/*.parquet' --output runs/all --recipe global.yaml

For runs curated without dedup, or several runs deduplicated together (say the runs of one crawl
made separately). Only the recipe's cross-document stages run (exact_dedup, minhash_dedup,
line_dedup, in curate's order and with curate's code: transforms.RangeRun), on the stored texts;
its per-document stages are not re-decided (that is `thresher refilter`) and are listed in
stats.json `skipped_stages`. The default recipe, fineweb, deduplicates as FineWeb did: exact
copies, then MinHash per crawl. The output is a run folder like curate's: curated/ (rows as
stored, with the dedup stages' cluster sizes), attributes/, exclusions/ (each drop with the id it
duplicates), stats.json. Reading the input by row groups and the survivors' rule (the smallest id)
are curate's, so the same documents are kept on any runner and number of workers.
"""

from __future__ import annotations

from thresher.contracts.errors import UsageError
from thresher.contracts.recipe import Recipe
from thresher.filters.registry import CROSS_DOCUMENT_KINDS, load_recipe, parse_recipe
from thresher.pipelines.refilter import RefilterRanges, is_attributes
from thresher.pipelines.transforms import RangeRun, RunOptions

NAMESPACE = "thresher.dedup"
DEFAULT_RECIPE = "fineweb"


def dedup_recipe(recipe: Recipe) -> tuple[Recipe, list[dict]]:
    """The recipe with its dedup stages only (and its extract stage, which every recipe has and
    which refilter's processor passes over: curated rows are extracted), and its other stages as
    stats.json `skipped_stages` entries. UsageError when it has no dedup stage."""
    if not any(s.kind in CROSS_DOCUMENT_KINDS for s in recipe.stages):
        raise UsageError(f"recipe {recipe.name!r} has no dedup stage ({', '.join(CROSS_DOCUMENT_KINDS)})")
    skipped = [
        {"name": s.name, "kind": s.kind, "reason": "not_run", "detail": "thresher dedup runs the dedup stages only"}
        for s in recipe.stages
        if s.kind not in CROSS_DOCUMENT_KINDS
    ]
    as_dict = recipe.to_dict()
    as_dict["stages"] = [s for s in as_dict["stages"] if s["kind"] in CROSS_DOCUMENT_KINDS or s["kind"] == "extract"]
    return parse_recipe(as_dict), skipped


class _StatsExtra:
    def __init__(self, skipped: list[dict]):
        self.skipped = skipped

    def __call__(self, counts: dict) -> dict:
        return {"non_document_records": 0, "skipped_stages": self.skipped}


def deduplicating(
    inputs: list[str], output: str, recipe: Recipe | str | None = None, run_options: RunOptions | None = None
) -> RangeRun:
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe or DEFAULT_RECIPE)
    if is_attributes(inputs):
        raise UsageError("thresher dedup reads curated Parquet (RUN/curated/*.parquet), not attributes")
    only, skipped = dedup_recipe(recipe)
    # A processor without per-document stages: every stored row passes to the dedup stages as kept.
    processor = RefilterRanges(only, from_attributes=False)
    dedup = [(s.name, s.kind, dict(s.options)) for s in only.stages if s.kind in CROSS_DOCUMENT_KINDS]
    return RangeRun(
        "dedup",
        processor,
        inputs,
        output,
        only.to_dict(),  # what ran: the report and the data card show these stages' options
        NAMESPACE,
        recipe.exclusion_samples,
        _StatsExtra(skipped),
        run_options,
        dedup_stages=dedup,
    )


def run(
    inputs: list[str],
    output: str,
    recipe: Recipe | str | None = None,
    beam_args: list[str] | None = None,
    run_options: RunOptions | None = None,
) -> dict | None:
    """Deduplicate curated Parquet `inputs` into the run folder `output`; the stats.json it wrote."""
    return deduplicating(inputs, output, recipe, run_options).run(beam_args)
