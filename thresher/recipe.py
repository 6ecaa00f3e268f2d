"""Recipes: which stages run, in which order, with which thresholds. One YAML file says it all.

```yaml
name: fineweb-v1
max_record_bytes: 20000000        # records above this are errors (trafilatura's MAX_FILE_SIZE)
exclusion_samples: 100            # dropped documents kept per reason for inspection
stages:
  - {name: url_filter, kind: url_blocklist}
  - {name: extract, kind: extract, method: trafilatura}
  - {name: language, kind: fasttext_langid, languages: [en], threshold: 0.65}
  - {name: exact_dedup, kind: exact_dedup}
```

Every key of a stage other than `name` and `kind` is a constructor argument of that kind's class,
checked against its signature when the recipe loads, so a typo fails before the run starts.

Built-in recipes live in `thresher/recipes/`: `fineweb` (the default) and `c4` at the top, and one
family per subfolder, named `<folder>/<file>`: `fineweb2/deu_Latn` is FineWeb-2's filtering with its
German thresholds and stop words (one file per language, generated from FineWeb-2's published
configs; each says where its values come from).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from thresher.filters.extract import MAX_HTML_BYTES

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
    "exact_dedup": None,  # a Beam join, not a per-document filter (pipelines/dedup.py)
}
# Stages that only look at the URL may run before extraction (cheaper: no HTML parsing).
URL_ONLY_KINDS = {"url_blocklist"}

BUILTIN_DIR = "recipes"
DEFAULT_RECIPE = "fineweb"


@dataclass
class StageSpec:
    name: str
    kind: str
    options: dict = field(default_factory=dict)

    def build(self):
        target = STAGE_KINDS[self.kind]
        if target is None:
            return None
        module, _, cls = target.partition(":")
        return getattr(importlib.import_module(module), cls)(**self.options)


@dataclass
class Recipe:
    name: str
    stages: list[StageSpec]
    max_record_bytes: int = MAX_HTML_BYTES
    exclusion_samples: int = 100
    source: str = ""

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "max_record_bytes": self.max_record_bytes,
            "exclusion_samples": self.exclusion_samples,
            "stages": [{"name": s.name, "kind": s.kind, **s.options} for s in self.stages],
        }


class RecipeError(ValueError):
    pass


def builtin_recipes() -> list[str]:
    """Names of the built-in recipes: `fineweb`, and `fineweb2/deu_Latn` for those in a subfolder
    (a family of recipes, one per language)."""
    folder = resources.files("thresher") / BUILTIN_DIR
    names = []
    for entry in folder.iterdir():
        if entry.is_dir():
            members = (p.name.removesuffix(".yaml") for p in entry.iterdir() if p.name.endswith(".yaml"))
            names += (f"{entry.name}/{member}" for member in members)
        elif entry.name.endswith(".yaml"):
            names.append(entry.name.removesuffix(".yaml"))
    return sorted(names)


def _builtin_file(name: str):
    """The built-in recipe `name` ("fineweb", "fineweb2/deu_Latn"), or None."""
    parts = name.split("/")
    if not 1 <= len(parts) <= 2 or not all(parts) or any(p in (".", "..") or "\\" in p for p in parts):
        return None
    res = resources.files("thresher").joinpath(BUILTIN_DIR, *parts[:-1], f"{parts[-1]}.yaml")
    return res if res.is_file() else None


def load_recipe(name_or_path: str | None = None) -> Recipe:
    """A built-in recipe by name (`fineweb`) or a YAML file by path."""
    name_or_path = name_or_path or DEFAULT_RECIPE
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():  # a folder named like a recipe is not one
        if not path.is_file():
            raise RecipeError(f"no recipe file {name_or_path!r}")
        text, source = path.read_text(), str(path)
    else:
        res = _builtin_file(name_or_path)
        if res is None:
            raise RecipeError(
                f"no recipe {name_or_path!r}: built-in ones are {_summary()}, or give a .yaml path"
            )
        text, source = res.read_text(), f"builtin:{name_or_path}"
    return parse_recipe(yaml.safe_load(text), source)


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


def _summary() -> str:
    """Built-in names, each family once: "c4, fineweb, fineweb2/<lang> (56)"."""
    top, families = grouped_builtin_recipes()
    return ", ".join(top + [f"{family}/<lang> ({len(members)})" for family, members in families.items()])


def parse_recipe(data: dict, source: str = "") -> Recipe:
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list) or not data["stages"]:
        raise RecipeError(f"{source}: a recipe needs a non-empty `stages` list")
    unknown = set(data) - {"name", "stages", "max_record_bytes", "exclusion_samples"}
    if unknown:
        raise RecipeError(f"{source}: unknown recipe keys {sorted(unknown)}")
    stages: list[StageSpec] = []
    for raw in data["stages"]:
        raw = dict(raw)
        name, kind = raw.pop("name", None), raw.pop("kind", None)
        if kind not in STAGE_KINDS:
            raise RecipeError(f"{source}: stage {name!r} has unknown kind {kind!r}; known: {sorted(STAGE_KINDS)}")
        if not name or name == "read" or name in {s.name for s in stages}:
            raise RecipeError(f"{source}: stage names must be unique, non-empty and not 'read' ({name!r})")
        spec = StageSpec(name, kind, raw)
        _check_options(spec, source)
        stages.append(spec)
    kinds = [s.kind for s in stages]
    if kinds.count("extract") != 1:
        raise RecipeError(f"{source}: exactly one `extract` stage is needed")
    for s in stages[: kinds.index("extract")]:
        if s.kind not in URL_ONLY_KINDS:
            raise RecipeError(f"{source}: stage {s.name!r} needs text, so it must come after `extract`")
    if "exact_dedup" in kinds and kinds.index("exact_dedup") != len(kinds) - 1:
        raise RecipeError(f"{source}: `exact_dedup` must be the last stage")
    return Recipe(
        name=data.get("name") or Path(source.removeprefix("builtin:")).stem,
        stages=stages,
        max_record_bytes=int(data.get("max_record_bytes", MAX_HTML_BYTES)),
        exclusion_samples=int(data.get("exclusion_samples", 100)),
        source=source,
    )


def _check_options(spec: StageSpec, source: str) -> None:
    target = STAGE_KINDS[spec.kind]
    if target is None:
        if spec.options:
            raise RecipeError(f"{source}: stage {spec.name!r} ({spec.kind}) takes no options")
        return
    module, _, cls = target.partition(":")
    params = inspect.signature(getattr(importlib.import_module(module), cls)).parameters
    bad = [k for k in spec.options if k not in params]
    if bad:
        raise RecipeError(f"{source}: stage {spec.name!r} ({spec.kind}) has no options {bad}; it takes {list(params)}")
