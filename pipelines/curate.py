"""`thresher curate`: web crawl files -> curated Parquet, with stats, exclusions and errors.

    thresher curate --input 'crawl/*.warc.gz' --output runs/r1 [--recipe fineweb] [Beam options]

Locally on the DirectRunner (add `--direct_running_mode=multi_processing --direct_num_workers=2`
to use two cores); on Dataflow with `--runner DataflowRunner --project P --region R
--temp_location gs://...`: every option this command does not know goes to Beam unchanged.

Outputs under --output:
  curated/part-*.parquet   kept documents (thresher.contracts.schema.DOCUMENT_SCHEMA)
  stats.json               the funnel (contract 4); `thresher stats DIR` prints it
  exclusions/<stage>__<reason>.jsonl   up to `exclusion_samples` dropped documents per reason
  errors/errors-*.jsonl    every record that could not be processed, with its reason

The document logic lives in `thresher.filters` (DocumentChain); this module only wires it.
"""

from __future__ import annotations

import apache_beam as beam

from thresher import __version__
from thresher.contracts.recipe import Recipe
from thresher.contracts.schema import READ_STAGE
from thresher.filters.registry import CROSS_DOCUMENT_KINDS, load_recipe
from thresher.pipelines.transforms import ExactDedup, ReadRecords, RunChain, WriteRun, run_pipeline

NAMESPACE = "thresher.curate"


def build_pipeline(p: beam.Pipeline, inputs: list[str], output: str, recipe: Recipe) -> None:
    recipe_dict = recipe.to_dict()
    chain_names = [READ_STAGE] + [s.name for s in recipe.stages if s.kind not in CROSS_DOCUMENT_KINDS]
    dedup = next((s.name for s in recipe.stages if s.kind == "exact_dedup"), None)
    stage_names = chain_names + ([dedup] if dedup else [])

    records, non_document = p | "Read" >> ReadRecords(inputs, recipe.max_record_bytes)
    outcomes = records | "Chain" >> RunChain(recipe_dict, NAMESPACE)
    if dedup:
        kept = outcomes | "Kept" >> beam.Filter(lambda o: o.status == "kept")
        ended = outcomes | "Ended" >> beam.Filter(lambda o: o.status != "kept")
        deduped = kept | "Dedup" >> ExactDedup(dedup, NAMESPACE)
        outcomes = (ended, deduped) | "AllOutcomes" >> beam.Flatten()
    header = {"pipeline": "curate", "thresher_version": __version__, "inputs": inputs, "recipe": recipe_dict}
    extra = non_document | "NonDocument" >> beam.Map(lambda n: {"non_document_records": n})
    outcomes | "Write" >> WriteRun(output, stage_names, header, extra, recipe.exclusion_samples)


def run(
    inputs: list[str], output: str, recipe: Recipe | str | None = None, beam_args: list[str] | None = None
) -> dict | None:
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    return run_pipeline(lambda p: build_pipeline(p, inputs, output, recipe), output, beam_args)
