"""Stage kinds and recipes: which filter class a recipe's `kind` names, and the recipes that ship.

Every key of a stage other than `name` and `kind` is a constructor argument of that kind's class,
checked against its signature and annotations when the recipe loads (contracts/recipe.py), so a
typo or a wrong type fails before the run starts.

Built-in recipes live in `filters/recipes/`: `fineweb` (the default) and `c4` at the top, and one
family per subfolder, named `<folder>/<file>`: `fineweb2/deu_Latn` is FineWeb-2's filtering with its
German thresholds and stop words (one file per language, generated from FineWeb-2's published
configs; each says where its values come from).
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path

import yaml

from thresher.contracts.recipe import Recipe, RecipeError, StageSpec, parse_recipe_data, validate_options

# kind -> "module:Class". Imported lazily: a recipe only pays for the stages it uses.
STAGE_KINDS = {
    "extract": "thresher.filters.extract:Extractor",
    "url_blocklist": "thresher.filters.url:URLBlocklistFilter",
    "fasttext_langid": "thresher.filters.langid:LanguageFilter",
    "gopher_repetition": "thresher.filters.gopher:GopherRepetitionFilter",
    "gopher_quality": "thresher.filters.gopher:GopherQualityFilter",
    "c4_quality": "thresher.filters.c4:C4QualityFilter",
    "fineweb_quality": "thresher.filters.fineweb:FineWebQualityFilter",
    "bad_words": "thresher.filters.toxicity:BadWordsFilter",
    "fasttext_toxicity": "thresher.filters.toxicity:FastTextToxicityFilter",
    "pii": "thresher.filters.pii:PIIMasker",
    "fasttext_classifier": "thresher.filters.classifier:FastTextClassifierFilter",
    "fasttext_domain": "thresher.filters.classifier:FastTextDomainFilter",
    "decontaminate": "thresher.filters.decontam:DecontaminationFilter",
    "exact_dedup": None,  # a join across documents, done by the pipeline after the chain
    "minhash_dedup": "thresher.filters.dedup:MinHashDedup",  # the same, by MinHash LSH (pipelines/near_dedup.py)
    "line_dedup": "thresher.filters.dedup:LineDedup",  # TFDS C4's repeated lines (pipelines/near_dedup.py)
}
# Stages that only look at the URL may run before extraction (cheaper: no HTML parsing).
URL_ONLY_KINDS = {"url_blocklist"}
# Stages that join documents: the pipeline runs them, after every per-document stage.
CROSS_DOCUMENT_KINDS = ("exact_dedup", "minhash_dedup", "line_dedup")  # in the order they run

BUILTIN_DIR = "recipes"
DEFAULT_RECIPE = "fineweb"


def stage_class(kind: str) -> type | None:
    target = STAGE_KINDS[kind]
    if target is None:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def build_stage(spec: StageSpec):
    """The stage's filter, ready to run on documents (None for a cross-document stage)."""
    cls = stage_class(spec.kind)
    return None if cls is None else cls(**spec.options)


def build_decider(spec: StageSpec):
    """The stage's filter, built to decide on stored scores only: through the class's `for_decide`
    where it has one, so that nothing only `score` needs (a fastText model) is loaded."""
    cls = stage_class(spec.kind)
    return cls.for_decide(**spec.options) if hasattr(cls, "for_decide") else cls(**spec.options)


def builtin_recipes() -> list[str]:
    """Names of the built-in recipes: `fineweb`, and `fineweb2/deu_Latn` for those in a subfolder
    (a family of recipes, one per language)."""
    folder = resources.files("thresher.filters") / BUILTIN_DIR
    names = []
    for entry in folder.iterdir():
        if entry.is_dir():
            members = (p.name.removesuffix(".yaml") for p in entry.iterdir() if p.name.endswith(".yaml"))
            names += (f"{entry.name}/{member}" for member in members)
        elif entry.name.endswith(".yaml"):
            names.append(entry.name.removesuffix(".yaml"))
    return sorted(names)


def grouped_builtin_recipes() -> tuple[list[str], dict[str, list[str]]]:
    """The built-in recipes as (top-level names, {family: member names}): `fineweb2/deu_Latn` is
    member `deu_Latn` of family `fineweb2`."""
    top: list[str] = []
    families: dict[str, list[str]] = {}
    for name in builtin_recipes():
        family, _, member = name.rpartition("/")
        if family:
            families.setdefault(family, []).append(member)
        else:
            top.append(name)
    return top, families


def _builtin_file(name: str):
    """The built-in recipe `name` ("fineweb", "fineweb2/deu_Latn"), or None."""
    parts = name.split("/")
    if not 1 <= len(parts) <= 2 or not all(parts) or any(p in (".", "..") or "\\" in p for p in parts):
        return None
    res = resources.files("thresher.filters").joinpath(BUILTIN_DIR, *parts[:-1], f"{parts[-1]}.yaml")
    return res if res.is_file() else None


def _summary() -> str:
    """Built-in names, each family once: "c4, fineweb, fineweb2/<lang> (56)"."""
    top, families = grouped_builtin_recipes()
    return ", ".join(top + [f"{family}/<lang> ({len(members)})" for family, members in families.items()])


def load_recipe(name_or_path: str | None = None) -> Recipe:
    """A built-in recipe by name (`fineweb`) or a YAML file by path, validated."""
    name_or_path = name_or_path or DEFAULT_RECIPE
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():  # a folder named like a recipe is not one
        if not path.is_file():
            raise RecipeError(f"no recipe file {name_or_path!r}")
        text, source = path.read_text(), str(path)
    else:
        res = _builtin_file(name_or_path)
        if res is None:
            raise RecipeError(f"no recipe {name_or_path!r}: built-in ones are {_summary()}, or give a .yaml path")
        text, source = res.read_text(), f"builtin:{name_or_path}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        # One line: where, then what (PyYAML's message spans lines and quotes the text).
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RecipeError(f"{source}: not valid YAML: {where}{what}") from None
    return parse_recipe(data, source)


def parse_recipe(data: dict, source: str = "") -> Recipe:
    """A recipe from its YAML data: its keys, every stage's options and the stage order checked."""
    recipe = parse_recipe_data(data, source)
    seen: set[str] = set()
    for spec in recipe.stages:
        if spec.kind not in STAGE_KINDS:
            raise RecipeError(
                f"{source}: stage {spec.name!r} has unknown kind {spec.kind!r}; known: {sorted(STAGE_KINDS)}"
            )
        if not spec.name or spec.name == "read" or spec.name in seen:
            raise RecipeError(f"{source}: stage names must be unique, non-empty and not 'read' ({spec.name!r})")
        seen.add(spec.name)
        cls = stage_class(spec.kind)
        if cls is None:
            if spec.options:
                raise RecipeError(f"{source}: stage {spec.name!r} ({spec.kind}) takes no options")
        else:
            validate_options(cls, spec, source)
    kinds = [s.kind for s in recipe.stages]
    if kinds.count("extract") != 1:
        raise RecipeError(f"{source}: exactly one `extract` stage is needed")
    for s in recipe.stages[: kinds.index("extract")]:
        if s.kind not in URL_ONLY_KINDS:
            raise RecipeError(f"{source}: stage {s.name!r} needs text, so it must come after `extract`")
    cross = [k for k in kinds if k in CROSS_DOCUMENT_KINDS]
    order = ", ".join(f"`{k}`" for k in CROSS_DOCUMENT_KINDS)
    if cross and kinds[len(kinds) - len(cross) :] != cross:
        raise RecipeError(f"{source}: the cross-document stages ({order}) must be the last stages")
    if cross != sorted(set(cross), key=CROSS_DOCUMENT_KINDS.index):
        raise RecipeError(f"{source}: at most one of each cross-document stage, in this order: {order}")
    return recipe
