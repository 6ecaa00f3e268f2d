"""Recipes as data: which stages run, in which order, with which options. One validated model.

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

`Recipe` checks the recipe's own keys; `validate_options` checks a stage's options against a
model made from its filter's constructor (types from the annotations, ranges from `Count` /
`Share`, defaults from the signature, which carry their sources in comments). Both are strict
(`"50"` is not an int, `1` is not a bool) and reject unknown keys, before any work starts, with
the file, the stage and the key named. An option typed `PinnedFile` (a model's path or URL) that
names a remote file needs the stage's `sha256` (a `Sha256`: 64 hex digits, or `skip` to trust the
first download), the policy of `contracts/files.py`. Which kinds exist is the filters layer's
business (`thresher.filters.registry`); this module imports nothing of the project but contracts.
"""

from __future__ import annotations

import inspect
import json
import os
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, TypeVar

from annotated_types import Ge, Interval
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    create_model,
)

from thresher.contracts.errors import UsageError
from thresher.contracts.files import SKIP, is_sha256, unpinned

# Trafilatura's published input bound (trafilatura/settings.cfg: MAX_FILE_SIZE).
MAX_RECORD_BYTES = 20_000_000
# Dropped documents kept per reason: enough to judge a threshold by eye.
EXCLUSION_SAMPLES = 100

# Option types with ranges, for filter constructors' annotations.
Count = Annotated[int, Ge(0)]
Share = Annotated[float, Interval(ge=0, le=1)]
NonNegative = Annotated[float, Ge(0)]


def _sha256(value: str) -> str:
    if value != SKIP and not is_sha256(value):
        raise ValueError(f"a sha256 is 64 hex digits, or {SKIP!r} to trust a remote file's first download")
    return value


# A file's sha256, or `skip`: a remote file is then trusted at its first download (and its sha256 logged).
Sha256 = Annotated[str, AfterValidator(_sha256)]


@dataclass(frozen=True)
class PinnedBy:
    """Marks an option that names a file by path or URL: a URL needs the option `checksum` too."""

    checksum: str = "sha256"


# A model's local path or URL (https, gs://, s3://); a URL needs the stage's `sha256` (a `Sha256`).
PinnedFile = Annotated[str | os.PathLike, PinnedBy()]

_STRICT = ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=True)


M = TypeVar("M", bound=BaseModel)


class RecipeError(UsageError):
    pass


class StageSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    options: dict[str, Any] = Field(default_factory=dict)


class Recipe(BaseModel):
    model_config = _STRICT

    name: str
    stages: list[StageSpec] = Field(min_length=1)
    max_record_bytes: PositiveInt = MAX_RECORD_BYTES
    exclusion_samples: Annotated[int, Ge(0)] = EXCLUSION_SAMPLES
    _source: str = PrivateAttr("")

    @property
    def source(self) -> str:
        """Where the recipe was read from (a path, or `builtin:<name>`), for messages."""
        return self._source

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def to_dict(self) -> dict:
        """The recipe as its YAML says it (stats.json records this)."""
        return {
            "name": self.name,
            "max_record_bytes": self.max_record_bytes,
            "exclusion_samples": self.exclusion_samples,
            "stages": [{"name": s.name, "kind": s.kind, **s.options} for s in self.stages],
        }


def _problems(error: ValidationError, where: str) -> str:
    lines = []
    for e in error.errors():
        key = ".".join(map(str, e["loc"])) or "(recipe)"
        got = "" if e["type"] == "missing" else f" (got {e['input']!r})"
        lines.append(f"{where}: {key}: {e['msg']}{got}")
    return "\n".join(lines)


def _validate(model: type[M], data: dict, where: str) -> M:
    # JSON mode: strict, yet YAML lists are accepted where a tuple is declared.
    try:
        return model.model_validate_json(json.dumps(data, default=str))
    except ValidationError as e:
        raise RecipeError(_problems(e, where)) from None


def parse_recipe_data(data: Any, source: str = "") -> Recipe:
    """The recipe's own keys and the stage list, checked; stage options are not checked here."""
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: a recipe is a mapping with a `stages` list, got {type(data).__name__}")
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages:
        raise RecipeError(f"{source}: a recipe needs a non-empty `stages` list")
    specs = []
    for i, raw in enumerate(stages):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("kind"), str):
            raise RecipeError(f"{source}: stages.{i}: a stage is a mapping with a `name` and a `kind` ({raw!r})")
        options = {k: v for k, v in raw.items() if k not in ("name", "kind")}
        specs.append({"name": raw["name"], "kind": raw["kind"], "options": options})
    fields = {k: v for k, v in data.items() if k != "stages"}
    fields["name"] = data.get("name") or Path(source.removeprefix("builtin:")).stem
    recipe = _validate(Recipe, {**fields, "stages": specs}, source)
    recipe._source = source
    return recipe


@cache
def options_model(cls: type) -> type[BaseModel]:
    """A strict model of `cls`'s constructor: one field per parameter, typed by its annotation."""
    fields: dict[str, Any] = {}
    hints = inspect.get_annotations(cls.__init__, eval_str=True)  # type: ignore[misc]
    for name, param in inspect.signature(cls).parameters.items():
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (hints.get(name, Any), default)
    return create_model(f"{cls.__name__}Options", __config__=_STRICT, **fields)


@cache
def pinned_options(cls: type) -> dict[str, str]:
    """{option: its checksum option} for `cls`'s constructor parameters typed `PinnedFile`."""
    hints = inspect.get_annotations(cls.__init__, eval_str=True)  # type: ignore[misc]
    found = {}
    for name, hint in hints.items():
        for part in (hint, *typing.get_args(hint)):  # `PinnedFile | None` too
            marks = [m for m in getattr(part, "__metadata__", ()) if isinstance(m, PinnedBy)]
            if marks:
                found[name] = marks[0].checksum
    return found


def validate_options(cls: type, spec: StageSpec, source: str) -> None:
    """RecipeError naming the file, the stage and the key when `spec.options` do not fit `cls`, or
    name a remote file without its checksum."""
    where = f"{source}: stage {spec.name!r} ({spec.kind})"
    _validate(options_model(cls), spec.options, where)
    for option, checksum in pinned_options(cls).items():
        location = spec.options.get(option)
        if location is not None and unpinned(location, spec.options.get(checksum)):
            raise RecipeError(
                f"{where}: {option} {location!r} is downloaded, so it needs a checksum: add `{checksum}: <its sha256, 64 hex digits>`"
                f" to the stage, or `{checksum}: {SKIP}` to trust the first download (its sha256 is then logged)"
            )
