"""Contract 4's run folder, as far as its readers need it: the names that mark a run, and whether a
path lies in a run that did not finish.

A run is complete when, and only when, its stats.json is there (written last, atomically); until
then its curated/ files may be a killed run's half or an earlier run's leftovers. The readers of a
run's outputs (refilter, shard, tokenizer training, the classifier tools, stats) refuse an
incomplete one: a file in a `curated/`, `errors/`, `exclusions/` or `attributes/` folder beside `_work/run.json`
and no stats.json.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from thresher.contracts.errors import UsageError

WORK = "_work"
RUN_FILE = f"{WORK}/run.json"
STATS_FILE = "stats.json"
# The run's data card (pipelines/datacard.py), beside stats.json.
CARD_FILE = "README.md"
# The folders of a run that hold documents: a path in one of them is a run's output.
OUTPUT_FOLDERS = ("curated", "errors", "exclusions", "attributes")


def run_of(path: str) -> str | None:
    """The run folder an output file would belong to (`run/curated/part-0.parquet` -> `run`)."""
    parts = path.rstrip("/").rsplit("/", 2)
    if len(parts) == 2 and parts[0] in OUTPUT_FOLDERS:  # `curated/part-0.parquet`, from inside the run
        return "."
    return parts[0] if len(parts) == 3 and parts[1] in OUTPUT_FOLDERS and parts[0] else None


def check_complete(paths: Iterable[str], exists: Callable[[str], bool]) -> None:
    """UsageError when one of `paths` lies in a run folder (one with `_work/run.json`) that has no
    stats.json: a run still going, or one that was stopped."""
    seen = set()
    for path in paths:
        run = run_of(path)
        if run is None or run in seen:
            continue
        seen.add(run)
        if exists(f"{run}/{RUN_FILE}") and not exists(f"{run}/{STATS_FILE}"):
            raise UsageError(
                f"{path} belongs to an incomplete run ({run} has no {STATS_FILE}: it is running, or it "
                "stopped before it finished); rerun the command that makes it, then read it"
            )
