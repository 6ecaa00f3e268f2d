"""`thresher curate`: web crawl files -> a run folder of curated Parquet, stats, exclusions, errors.

    thresher curate --input 'crawl/*.warc.gz' --output runs/r1 [--recipe fineweb] [--workers N] [Beam options]

Locally on the DirectRunner (`--workers N`: N processes; each reads its own byte ranges of the
input, so one large WARC file keeps them all busy); on Dataflow with `--runner DataflowRunner
--project P --region R --temp_location gs://...`: every option this command does not know goes to
Beam unchanged. A relaunch of the same command after a crash resumes: ranges already processed are
read back, not redone (runs.py). The run folder is described in runs.py; the document logic lives
in `thresher.filters` (DocumentChain); this module only wires it.

Every run writes attributes/ (each document's scores and decision, kept or dropped). With
`--keep-dropped` the stages after a drop score on and the dropped documents' texts are kept there
too: `thresher refilter --input 'RUN/attributes/*.parquet'` can then loosen thresholds as well as
tighten them (refilter.py). It costs the later stages' time on dropped documents and their texts'
storage (BENCHMARKS.md).
"""

from __future__ import annotations

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from thresher.contracts.errors import UsageError
from thresher.contracts.recipe import Recipe
from thresher.contracts.schema import READ_STAGE
from thresher.filters.chain import DocumentChain
from thresher.filters.registry import CROSS_DOCUMENT_KINDS, build_stage, load_recipe, parse_recipe
from thresher.pipelines.readers import RangeReader
from thresher.pipelines.transforms import RangeRun, RunOptions

NAMESPACE = "thresher.curate"
# A sidecar holds one URL: more is not read.
SIDECAR_BYTES = 65536


class CurateRanges:
    """A range's raw records through the recipe's per-document stages (ProcessRanges' processor)."""

    def __init__(self, recipe: Recipe, keep_dropped: bool = False):
        self.recipe_dict = recipe.to_dict()
        self.keep_dropped = keep_dropped
        self.max_record_bytes = recipe.max_record_bytes
        self.stage_names = [READ_STAGE] + [s.name for s in recipe.stages if s.kind not in CROSS_DOCUMENT_KINDS]

    def setup(self) -> None:
        self.chain = DocumentChain(parse_recipe(self.recipe_dict), keep_dropped=self.keep_dropped)

    def check(self) -> None:
        """Build every stage once, in the launcher: a model that is missing, unreadable or not
        what its sha256 says stops the run in one line before any work, where a worker would
        fail with Beam's tracebacks, once per bundle."""
        for spec in parse_recipe(self.recipe_dict).stages:
            try:
                build_stage(spec)
            except UsageError:
                raise
            except (OSError, ValueError) as e:
                raise UsageError(f"recipe stage {spec.name!r} ({spec.kind}): {e}") from None

    def outcomes(self, rng, fh, counts):
        reader = RangeReader(rng.path, fh, rng.start, rng.end, self.max_record_bytes, read_sidecar)
        for record in reader:
            yield self.chain.process(record)
        counts["non_document_records"] += reader.non_document_records


def read_sidecar(path: str) -> bytes | None:
    """A small file beside an input (a saved page's `.url`), None when there is none."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return fh.read(SIDECAR_BYTES)


def stats_extra(counts: dict) -> dict:
    return {"non_document_records": counts.get("non_document_records", 0)}


def curation(
    inputs: list[str], output: str, recipe: Recipe | str | None = None, run_options: RunOptions | None = None
) -> RangeRun:
    """The run that curates `inputs` into the run folder `output` (`.run(beam_args)` runs it)."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    run_options = run_options or RunOptions()
    dedup = [(s.name, s.kind, dict(s.options)) for s in recipe.stages if s.kind in CROSS_DOCUMENT_KINDS]
    return RangeRun(
        "curate",
        CurateRanges(recipe, run_options.keep_dropped),
        inputs,
        output,
        recipe.to_dict(),
        NAMESPACE,
        recipe.exclusion_samples,
        stats_extra,
        run_options,
        dedup_stages=dedup,
        settings={"keep_dropped": run_options.keep_dropped},
    )


def run(
    inputs: list[str],
    output: str,
    recipe: Recipe | str | None = None,
    beam_args: list[str] | None = None,
    run_options: RunOptions | None = None,
) -> dict | None:
    """Curate `inputs` into `output`; the stats.json it wrote (None for a Dataflow dry run)."""
    return curation(inputs, output, recipe, run_options).run(beam_args)
