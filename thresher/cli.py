"""`thresher <command>`: one entry point for every stage.

    thresher curate    --input 'crawl/*.warc.gz' --output runs/r1 [--recipe fineweb] [Beam options]
    thresher stats     runs/r1
    thresher refilter  --input 'runs/r1/curated/*.parquet' --output runs/r2 --recipe strict.yaml [Beam options]
    thresher tokenizer train --input 'runs/r1/curated/*.parquet' --out runs/tok --vocab-size 32000
    thresher shard     --input 'runs/r1/curated/*.parquet' --tokenizer runs/tok --output runs/shards [Beam options]
    thresher pretrain  --data runs/shards --out runs/model --model tiny --steps 300 --warmup 30
                       [--mix finance=runs/fin:0.5,general=runs/gen:0.5] [--init-from CKPT_OR_HF_DIR] [--parallel ddp|fsdp]
    thresher generate  --checkpoint runs/model --prompt "The Federal Reserve" --max-new-tokens 50 [--top-p 0.9 --seed 0]
    thresher export    --checkpoint runs/model --out runs/model-hf   (Hugging Face Llama: safetensors + config.json)
    thresher demo      [--out demo-out]
    thresher recipes   (list the built-in recipes, or print one: thresher recipes fineweb, thresher recipes fineweb2/deu_Latn)
    thresher classifier train|eval|prepare-quality|prepare-domain   (fastText quality, toxicity, domain classifiers)
"""

from __future__ import annotations

import sys


def _stats(argv: list[str]) -> int:
    import argparse

    from thresher.stats import check_accounting, format_funnel, load_stats

    parser = argparse.ArgumentParser(prog="thresher stats", description="Print a run's funnel (its stats.json) as a table.")
    parser.add_argument("run_dir", help="a curate output directory, or a stats.json path")
    parser.add_argument("--json", action="store_true", help="print the raw stats.json")
    args = parser.parse_args(argv)
    stats = load_stats(args.run_dir)
    if args.json:
        import json

        print(json.dumps(stats, indent=2))
        return 0
    print(f"recipe {stats['recipe']['name']}  inputs {', '.join(stats['inputs'])}")
    print(format_funnel(stats))
    problems = check_accounting(stats)
    for problem in problems:
        print(f"ACCOUNTING ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _recipes(argv: list[str]) -> int:
    import yaml

    from thresher.recipe import RecipeError, grouped_builtin_recipes, load_recipe

    if not argv:
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
        recipe = load_recipe(argv[0])
    except RecipeError as e:
        print(e, file=sys.stderr)
        return 2
    print(yaml.safe_dump(recipe.to_dict(), sort_keys=False, allow_unicode=True))
    return 0


def _tokenizer(argv: list[str]) -> int:
    if not argv or argv[0] != "train":
        print("usage: thresher tokenizer train --input GLOB --out DIR [--vocab-size N]", file=sys.stderr)
        return 2
    from thresher.tokenizer.train import main

    return main(argv[1:])


def _lazy(module: str):
    def run(argv: list[str]) -> int:
        import importlib

        return importlib.import_module(module).main(argv)

    return run


COMMANDS = {
    "curate": _lazy("thresher.pipelines.curate"),
    "stats": _stats,
    "refilter": _lazy("thresher.pipelines.refilter"),
    "tokenizer": _tokenizer,
    "shard": _lazy("thresher.pipelines.shard"),
    "pretrain": _lazy("thresher.trainer.train"),
    "generate": _lazy("thresher.trainer.generate"),
    "export": _lazy("thresher.trainer.hf"),
    "demo": _lazy("thresher.demo"),
    "recipes": _recipes,
    "classifier": _lazy("thresher.classifier"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return COMMANDS[argv[0]](argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
