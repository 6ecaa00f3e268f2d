"""Beam options shared by every thresher pipeline."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions


def pipeline_options(beam_args: list[str] | None) -> PipelineOptions:
    """Beam's own options, passed through unchanged, with one local default.

    Without `--runner` (or with `--runner DirectRunner`) Beam 2.6x+ first tries the Prism runner,
    which downloads a binary from GitHub at start-up (no network at run time, DESIGN.md) and
    ignores --direct_num_workers. The FnApiRunner is what the DirectRunner falls back to for batch
    pipelines; it honours --direct_running_mode=multi_processing and --direct_num_workers.
    """
    options = PipelineOptions(beam_args or [])
    standard = options.view_as(StandardOptions)
    if standard.runner in (None, "DirectRunner"):
        standard.runner = "FnApiRunner"
    return options


def local_workers(workers: int | None, beam_args: list[str]) -> list[str]:
    """Beam options for `--workers N` on a local runner: N worker processes (N = 1: in this process).
    Nothing when N is not given, when the user set Beam's own options, or on a remote runner
    (Dataflow sizes its pool with --num_workers / --max_num_workers)."""
    if workers is None or any(a.startswith(("--direct_num_workers", "--direct_running_mode")) for a in beam_args):
        return []
    if PipelineOptions(beam_args).view_as(StandardOptions).runner not in (None, "DirectRunner", "FnApiRunner"):
        return []
    if workers <= 1:
        return ["--direct_num_workers=1"]
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
