"""The one interface every document filter implements: score, then decide.

A filter maps one document to a `Decision(keep, reason, scores)`. Scoring and deciding are
separate methods so that thresholds can be re-applied to stored scores without recomputing
them (dolma's "score, then filter"): `decide(score(doc)) == __call__(doc)`, always.

Documents are plain dicts with the keys of `thresher.contracts.schema.DOCUMENT_FIELDS` (at least `text`;
`url` and `lang` where known). Filters never import Beam or torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(slots=True)
class Decision:
    keep: bool
    # Short machine-readable reason, without the filter's name ("stop_words"); the pipeline
    # prefixes it with the stage name ("gopher_quality:stop_words"). None when kept.
    reason: str | None = None
    # Every signal the filter computed, unprefixed ("word_count": 312.0).
    scores: dict[str, float] = field(default_factory=dict)
    # Document fields the filter sets, applied by the pipeline (e.g. `lang` from language ID).
    fields: dict | None = None
    # A short note for people on why (decontamination: the matched n-gram and its eval file). The
    # chain writes a dropped document's note as its `error_detail`, which the exclusion samples
    # show. Not a score, so not stored for kept documents, and not part of the decision's equality:
    # `decide(score(doc))` cannot recompute it.
    detail: str | None = field(default=None, compare=False)


KEEP = Decision(True)


class StageError(Exception):
    """A document a stage cannot process; the chain counts it as errored with `reason`
    (machine-readable: `binary_body`, `empty_text`, ...)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class DocumentFilter:
    """Base class: subclasses set `name` and implement `score` and `decide`."""

    name: ClassVar[str] = "filter"

    def score(self, doc: Mapping) -> dict[str, float]:
        raise NotImplementedError

    def decide(self, scores: Mapping[str, float]) -> Decision:
        raise NotImplementedError

    def __call__(self, doc: Mapping) -> Decision:
        scores = self.score(doc)
        decision = self.decide(scores)
        decision.scores = dict(scores)
        return decision

    def apply(self, doc: Mapping) -> Decision:
        """What a chain calls: every stage kind (the extractor too) has this one entry point."""
        return self(doc)
