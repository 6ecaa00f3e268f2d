"""`thresher <verb>`: one command tree for every stage; `thresher <verb> --help` says the rest.

    thresher scrape    --input urls.txt --output scraped --user-agent 'thresher (+mailto:you@example.org)' [Beam options]
    thresher curate    --input 'crawl/*.warc.gz' --output runs/r1 [--recipe fineweb] [--workers N] [Beam options]
    thresher curate    --crawl CC-MAIN-2024-22 --segments 1 --output runs/cc [--wet] [Beam options]
    thresher cc fetch  --crawl CC-MAIN-2024-22 --url '*.sec.gov' --output runs/sec [--limit N] [Beam options]
    thresher stats     runs/r1 [--compare runs/r2]
    thresher report    runs/r1 [-o report.html] [--tokenizer runs/tok] [--compare runs/r2]
    thresher card      runs/r1                (re)writes runs/r1/README.md, the run's data card
    thresher refilter  --input 'runs/r1/attributes/*.parquet' --output runs/r2 --recipe looser.yaml [Beam options]
    thresher dedup     --input 'runs/*/curated/*.parquet' --output runs/all [--recipe fineweb] [Beam options]
    thresher tokenizer train --input 'runs/r1/curated/*.parquet' --output runs/tok --vocab-size 32000
    thresher shard     --input 'runs/r1/curated/*.parquet' --tokenizer runs/tok --output runs/shards [Beam options]
    thresher pretrain  --input runs/shards --output runs/model --model tiny --steps 300 --warmup 30
    thresher generate  --checkpoint runs/model --prompt "The Federal Reserve" --max-new-tokens 50
    thresher export    --checkpoint runs/model --output runs/model-hf
    thresher demo      [--output demo-out]
    thresher recipes   [NAME]
    thresher classifier train|eval|prepare-quality|prepare-domain

The same names everywhere: `--input` (one or more paths or globs, repeatable), `--output`,
`--recipe`, `--workers`. Options a Beam verb (scrape, curate, refilter, shard) does not know are Beam
PipelineOptions, passed through unchanged (`--runner DataflowRunner --project P ...`).

Errors are one line on stderr: exit 2 for a mistake in what was asked (a path, a recipe, an
option), 1 for anything else. `--debug` anywhere on the line (or THRESHER_DEBUG=1) adds the
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import traceback

# Flags renamed for consistency; still accepted, with a warning, for one release.
RENAMED_FLAGS = {"--out": "--output", "--data": "--input"}
BEAM_VERBS = ("dedup", "scrape", "curate", "refilter", "shard", "cc")
# How a UsageError (or a subclass) raised in a Beam worker reads in the launcher's exception.
_WORKER_USAGE_ERROR = re.compile(
    r"^\S*(?:UsageError|ChecksumError|RecipeError|ShardSetError|TokenizerError): (.+)$", re.M
)


def _inputs(p: argparse.ArgumentParser, help: str, required: bool = True) -> None:
    p.add_argument("--input", action="extend", nargs="+", required=required, metavar="PATH", help=help)


def _workers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="local worker processes (DirectRunner; default: one per core, %(default)s here; 1 runs in this "
        "process); on Dataflow Beam's --num_workers / --max_num_workers size the pool",
    )


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace what the output folder holds (another run's files are refused without it)",
    )
    p.add_argument(
        "--range-bytes",
        type=_range_bytes,
        default=None,
        help="split inputs into ranges of this many bytes, at least 65536 (default: the input's size / 64, "
        "1 to 16 MiB): the unit of work, of resume and of progress",
    )
    p.add_argument(
        "--keep-work",
        action="store_true",
        help="keep _work/ranges after the run completes: each range's documents, marker and worker",
    )


def _range_bytes(value: str) -> int:
    n = int(value)
    if n < 1 << 16:  # smaller ranges cost more in per-range files than they save in balance
        raise argparse.ArgumentTypeError(f"at least 65536 bytes, not {n}")
    return n


def _lazy(module: str, function: str):
    """A verb's implementation, imported only when that verb runs (Beam and torch load slowly)."""
    return lambda args: getattr(importlib.import_module(module), function)(args)


def _module_arguments(module: str):
    return lambda p: importlib.import_module(module).add_arguments(p)


def _curate_arguments(p: argparse.ArgumentParser) -> None:
    _inputs(
        p,
        "WARC, WET, JSONL or Parquet files or globs, local or any Beam FileSystems path (gs://, s3://), or "
        "https:// URLs (one file each: no globs); this, --crawl, or both",
        required=False,
    )
    p.add_argument("--output", required=True, help="run directory (local or gs://)")
    p.add_argument("--recipe", default=None, help="built-in recipe name or a recipe .yaml (default: fineweb)")
    p.add_argument(
        "--keep-dropped",
        action="store_true",
        help="score dropped documents on through every later stage and keep their texts in RUN/attributes/, "
        "so that `thresher refilter` with looser thresholds can bring them back (costs time and storage)",
    )
    _workers(p)
    _run_options(p)
    importlib.import_module("thresher.pipelines.commoncrawl").add_crawl_arguments(p)


def _scrape_arguments(p: argparse.ArgumentParser) -> None:
    _inputs(p, "URL lists: text (one URL a line), JSONL or Parquet with a `url` column; local or gs://")
    p.add_argument("--output", required=True, help="output folder: warc/, errors/, stats.json (local or gs://)")
    importlib.import_module("thresher.pipelines.scrape").add_arguments(p)
    _workers(p)


def _stats_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN", help="a run directory, or a stats.json path")
    p.add_argument("--json", action="store_true", help="print the raw stats.json")
    p.add_argument(
        "--compare", metavar="RUN_B", help="and compare with run RUN_B: funnels, reasons, documents kept by one only"
    )


def _report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN", help="a run directory (local)")
    p.add_argument("-o", "--output", help="the HTML file to write (default: RUN/report.html)")
    p.add_argument(
        "--tokenizer",
        help="tokenizer folder or tokenizer.json: count the kept documents' tokens with it (default: estimate them)",
    )
    p.add_argument("--compare", metavar="RUN_B", help="add a comparison with run RUN_B")


def _card_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN", help="a finished run directory (curate or refilter): local or gs://")


def _dedup_arguments(p: argparse.ArgumentParser) -> None:
    _inputs(p, "curated Parquet (RUN/curated/*.parquet; several runs' together): files or globs, local or gs://")
    p.add_argument("--output", required=True, help="new run directory (local or gs://)")
    p.add_argument(
        "--recipe",
        default=None,
        help="built-in recipe name or a recipe .yaml whose dedup stages run (default: fineweb's, exact then MinHash per crawl)",
    )
    _workers(p)
    _run_options(p)


def _refilter_arguments(p: argparse.ArgumentParser) -> None:
    _inputs(
        p,
        "a run's attributes (RUN/attributes/*.parquet: thresholds loosen or tighten) or curated Parquet "
        "(RUN/curated/*.parquet: they only tighten): files or globs, local or any Beam FileSystems path",
    )
    p.add_argument("--output", required=True, help="new run directory (local or gs://)")
    p.add_argument(
        "--recipe",
        required=True,
        help="built-in recipe name or a recipe .yaml; its stage names must match the input run's",
    )
    _workers(p)
    _run_options(p)


def _shard_arguments(p: argparse.ArgumentParser) -> None:
    _inputs(p, "curated Parquet files or globs (local or gs://)")
    p.add_argument("--tokenizer", required=True, help="tokenizer folder or tokenizer.json")
    p.add_argument("--output", required=True, help="shard folder: manifest.json, train/, val/")
    importlib.import_module("thresher.pipelines.shard").add_arguments(p)
    _workers(p)


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", default="demo-out", help="output folder (default: %(default)s)")
    p.add_argument("--steps", type=int, default=300, help="pretraining steps (default: %(default)s)")


def _recipes_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="a built-in recipe (fineweb, fineweb2/deu_Latn) or a .yaml path to print")


# verb -> (help, how to add its arguments, what runs it). Arguments are added only for the verb on
# the command line: some need their module's defaults, and importing torch or Beam takes seconds.
VERBS = {
    "scrape": (
        "Fetch lists of URLs into WARC files, politely (robots.txt, a rate per host) and behind an address guard.",
        _scrape_arguments,
        "_scrape",
    ),
    "curate": ("Extract, filter and deduplicate web documents into curated Parquet.", _curate_arguments, "_curate"),
    "stats": ("Print a run's funnel (its stats.json) as a table.", _stats_arguments, "_stats"),
    "report": (
        "Write a run's report: one self-contained HTML page of its funnel, scores, breakdowns and samples.",
        _report_arguments,
        "_report",
    ),
    "card": ("Write a run's data card, RUN/README.md, from its stats.json and recipe.", _card_arguments, "_card"),
    "refilter": (
        "Re-apply a recipe's thresholds to a run's stored scores (attributes or curated), without recomputing them.",
        _refilter_arguments,
        "_refilter",
    ),
    "dedup": (
        "Deduplicate curated Parquet (one run, or several together) with a recipe's dedup stages.",
        _dedup_arguments,
        "_dedup",
    ),
    "tokenizer": ("Train a byte-level BPE tokenizer: thresher tokenizer train.", None, None),
    "shard": ("Tokenize curated Parquet into shuffled Arrow token shards + manifest.json.", _shard_arguments, "_shard"),
    "pretrain": (
        "Pretrain a decoder-only transformer on token shards.",
        _module_arguments("thresher.trainer.train"),
        ("thresher.trainer.train", "run"),
    ),
    "generate": (
        "Generate text from a pretraining checkpoint.",
        _module_arguments("thresher.trainer.generate"),
        ("thresher.trainer.generate", "run"),
    ),
    "export": (
        "Export a checkpoint as a Hugging Face Llama folder (config.json + model.safetensors + tokenizer).",
        _module_arguments("thresher.trainer.hf"),
        ("thresher.trainer.hf", "run"),
    ),
    "demo": (
        "Every stage, offline, on the embedded demo crawl, in a few minutes on 2 cores.",
        _demo_arguments,
        ("thresher.demo", "run"),
    ),
    "recipes": ("List the built-in recipes, or print one.", _recipes_arguments, "_recipes"),
    "cc": ("Common Crawl: fetch a domain's records out of a crawl by its index: thresher cc fetch.", None, None),
    "classifier": ("Train, evaluate and build training sets for fastText classifiers.", None, None),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The command tree; only the `selected` verb gets its arguments (every verb when None, no verb
    when ""): `thresher --help` imports neither torch nor Beam."""
    parser = argparse.ArgumentParser(
        prog="thresher",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, (help, add_arguments, run) in VERBS.items():
        p = verbs.add_parser(name, help=help, description=help)
        if selected not in (None, name):
            continue
        if name == "tokenizer":
            train = p.add_subparsers(dest="action", required=True, metavar="ACTION").add_parser(
                "train", help="train on a sample of curated Parquet", description=help
            )
            importlib.import_module("thresher.tokenizer.train").add_arguments(train)
            train.set_defaults(run=_lazy("thresher.tokenizer.train", "run"))
        elif name == "cc":
            fetch = p.add_subparsers(dest="action", required=True, metavar="ACTION").add_parser(
                "fetch",
                help="query the crawl's CDX index, fetch the records by HTTP range requests into WARC files",
                description=help,
            )
            importlib.import_module("thresher.pipelines.commoncrawl").add_arguments(fetch)
            _workers(fetch)
            fetch.set_defaults(run=_cc_fetch)
        elif name == "classifier":
            importlib.import_module("thresher.classifier_training").add_arguments(
                p.add_subparsers(dest="action", required=True, metavar="ACTION")
            )
        else:
            add_arguments(p)
            p.set_defaults(run=globals()[run] if isinstance(run, str) else _lazy(*run))
    return parser


def _local_workers(args, beam_args: list[str]) -> list[str]:
    """Beam's arguments, with `--workers` translated; Beam's own INFO logging kept off the terminal.
    An option that is neither the verb's nor Beam's is a typo (`--recipie`), not a Beam option to
    drop with a log line: UsageError."""
    import logging

    from apache_beam.options.pipeline_options import PipelineOptions

    from thresher.contracts.errors import UsageError
    from thresher.pipelines.options import local_workers

    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    logging.getLogger("apache_beam.options.pipeline_options").setLevel(logging.ERROR)  # we say it, once
    options = PipelineOptions(beam_args)
    unknown = sorted(set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options()))
    if unknown:
        raise UsageError(
            f"unknown option{'s' * (len(unknown) > 1)} {', '.join('--' + u for u in unknown)} "
            "(neither this command's nor a Beam PipelineOption)"
        )
    return beam_args + local_workers(args.workers, beam_args)


def _options(args):
    from thresher.pipelines.transforms import RunOptions

    return RunOptions(
        overwrite=args.overwrite,
        range_bytes=args.range_bytes,
        keep_work=args.keep_work,
        keep_dropped=getattr(args, "keep_dropped", False),  # curate's
    )


def _curate(args, beam_args: list[str]) -> int:
    from thresher.pipelines import commoncrawl, curate
    from thresher.pipelines.runs import report

    inputs = commoncrawl.crawl_inputs(args)  # --input's, and the files of --crawl
    stats = curate.run(inputs, args.output, args.recipe, _local_workers(args, beam_args), _options(args))
    return 0 if stats is None else report(stats, args.output)


def _dedup(args, beam_args: list[str]) -> int:
    from thresher.pipelines import dedup
    from thresher.pipelines.runs import report

    stats = dedup.run(args.input, args.output, args.recipe, _local_workers(args, beam_args), _options(args))
    return 0 if stats is None else report(stats, args.output)


def _refilter(args, beam_args: list[str]) -> int:
    from thresher.pipelines import refilter
    from thresher.pipelines.runs import report

    stats = refilter.run(args.input, args.output, args.recipe, _local_workers(args, beam_args), _options(args))
    if stats is None:
        return 0
    for skipped in stats["skipped_stages"]:
        if skipped["reason"] == refilter.NO_SCORES_REASON:
            print(f"WARNING: stage {skipped['name']}: {skipped['detail']}", file=sys.stderr)
    lost = refilter.not_returned(stats)
    if lost:
        print(
            f"WARNING: {sum(lost.values())} documents pass this recipe but cannot come back "
            f"({', '.join(f'{refilter.REFILTER_STAGE}:{r} {n}' for r, n in lost.items())}): their run kept "
            "neither their later scores nor their text; curate with --keep-dropped to re-decide every document",
            file=sys.stderr,
        )
    return report(stats, args.output)


def _scrape(args, beam_args: list[str]) -> int:
    from thresher.pipelines import scrape

    return scrape.run(args, _local_workers(args, beam_args))


def _shard(args, beam_args: list[str]) -> int:
    from thresher.pipelines import shard

    shard.run(args.input, args.tokenizer, args.output, _local_workers(args, beam_args), **shard.options_from(args))
    return 0


def _card(args) -> int:
    from thresher.pipelines.datacard import write_card

    print(f"wrote {write_card(args.run_dir)}")
    return 0


def _cc_fetch(args, beam_args: list[str]) -> int:
    from thresher.pipelines import commoncrawl

    return commoncrawl.run(args, _local_workers(args, beam_args))


def _stats(args) -> int:
    import json

    from thresher.contracts.funnel import check_accounting, format_funnel
    from thresher.pipelines.runs import load_stats

    stats = load_stats(args.run_dir)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    # scrape and cc fetch runs have a funnel but no recipe
    recipe = (stats.get("recipe") or {}).get("name", "-")
    print(f"{stats.get('pipeline', 'curate')}  recipe {recipe}  inputs {', '.join(map(str, stats.get('inputs', [])))}")
    print(format_funnel(stats))
    problems = check_accounting(stats)
    for problem in problems:
        print(f"ACCOUNTING ERROR: {problem}", file=sys.stderr)
    if args.compare:
        from thresher.report import format_comparison, open_run

        print()
        print(format_comparison(open_run(args.run_dir), open_run(args.compare)))
    return 1 if problems else 0


def _report(args) -> int:
    from thresher.report import write_report

    print(f"wrote {write_report(args.run_dir, args.output, args.tokenizer, args.compare)}")
    return 0


def _recipes(args) -> int:
    import yaml

    from thresher.contracts.recipe import RecipeError
    from thresher.filters.registry import grouped_builtin_recipes, load_recipe

    if not args.name:
        # a family of recipes (a subfolder, one recipe per language) is one line: its members and,
        # when they all run the same stages, those
        top, families = grouped_builtin_recipes()
        for name in top:
            print(f"{name}: {' -> '.join(load_recipe(name).stage_names)}")
        for family, members in families.items():
            stages = {tuple(load_recipe(f"{family}/{m}").stage_names) for m in members}
            line = f"{family}/<lang>: {len(members)} languages ({' '.join(members)})"
            if len(stages) == 1:
                line += f": {' -> '.join(next(iter(stages)))}"
            print(line)
        example = next((f"{family}/{members[0]}" for family, members in families.items()), "fineweb")
        print(f"(print one: thresher recipes NAME, e.g. thresher recipes {example})")
        return 0
    try:
        recipe = load_recipe(args.name)
    except RecipeError as e:
        print(e, file=sys.stderr)
        return 2
    print(yaml.safe_dump(recipe.to_dict(), sort_keys=False, allow_unicode=True))
    return 0


def _renamed(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        flag, eq, value = arg.partition("=")
        if flag in RENAMED_FLAGS:
            print(f"thresher: {flag} is now {RENAMED_FLAGS[flag]}", file=sys.stderr)
            arg = RENAMED_FLAGS[flag] + eq + value
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    """`thresher ARGV...`; None: the command line's. A mistake (UsageError) is one line and exit 2
    either way; any other failure is one line and exit 1 from the command line, and raises when
    `argv` is given (tests, code calling the command tree)."""
    from_command_line = argv is None
    argv = _renamed(sys.argv[1:] if argv is None else list(map(str, argv)))
    # --debug anywhere on the line (or THRESHER_DEBUG=1): errors with their tracebacks.
    debug = "--debug" in argv or os.environ.get("THRESHER_DEBUG", "") not in ("", "0")
    argv = [arg for arg in argv if arg != "--debug"]
    selected = argv[0] if argv and argv[0] in VERBS else ""
    parser = build_parser(selected)
    args, beam_args = parser.parse_known_args(argv) if selected in BEAM_VERBS else (parser.parse_args(argv), None)
    # What the verb's code gets is its own options only (the trainer records them in checkpoints).
    tree = {name: vars(args).pop(name, None) for name in ("verb", "action", "run", "check")}
    command = " ".join(filter(None, ["thresher", tree["verb"], tree["action"]]))
    problem = tree["check"](args) if tree["check"] else None
    if problem:
        parser.error(f"{command}: {problem}")
    from thresher.contracts.errors import UsageError

    try:
        return (tree["run"](args) if beam_args is None else tree["run"](args, beam_args)) or 0
    except UsageError as e:  # a mistake in what was asked for: one line
        if debug:
            traceback.print_exc()
        print(f"{command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - anything else is a bug (or the machine's): one line, unless --debug
        if debug or not from_command_line:  # a caller in Python gets the exception itself
            raise
        # Beam re-raises a worker's failure with the worker's whole traceback in its message: a
        # mistake found there (a model's checksum) is still the user's, and still one line.
        found = _WORKER_USAGE_ERROR.findall(str(e))
        if found:
            print(f"{command}: error: {found[-1].strip()}", file=sys.stderr)
            return 2
        first = next((line for line in str(e).splitlines() if line.strip()), "")[:300]
        print(
            f"{command}: error: {type(e).__name__}: {first} (unexpected: rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
