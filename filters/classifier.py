"""fastText classifier stages: score every document with a model's probability for one label,
store it, and filter on it (dolma's "score, then filter").

Three uses, one class each way round:

- quality (GPT-3, DCLM): a classifier of "reference corpus" vs "random crawl text"; keep documents
  whose probability for the reference label reaches the threshold (`keep_above: true`). DCLM keeps
  the top 10% of its pool by `__label__hq` probability of `fasttext-oh-eli5` (threshold 0.018112
  in its `fasttext_filter.yaml`); `thresher classifier eval --keep-top 0.1` finds the threshold
  that keeps a given share of your own data.
- toxicity: drop documents whose probability for the toxic label reaches it (`keep_above: false`).
- domain (`FastTextDomainFilter`): documents at or above the threshold get the document's `domain`
  field (e.g. `finance`); the others are dropped (the run's output is the domain corpus) or, with
  `keep_other_domains: true`, kept unlabelled.

```yaml
  - {name: quality, kind: fasttext_classifier, model: models/quality.bin, label: hq, threshold: 0.5}
  - {name: finance, kind: fasttext_domain, model: https://example.org/finance.bin, sha256: 9f2c...,
     label: finance, threshold: 0.5}
```

`model` is a local path or a URL (https, gs://, s3://). A URL needs `sha256`: the file's, or
`skip` to trust the first download (its sha256 is logged, to be pinned); the recipe is refused at
load otherwise. A download is kept in a local cache, and the cached copy is checked at every load
(`thresher.filters.fasttext_model.load_fasttext`); a local file is checked when `sha256` is given. The model
is loaded when the stage is built, so a missing model, a bad checksum or a label the model does
not have stops the run at start-up instead of failing every document; the filter itself holds
only the path, so it pickles small (Beam). `for_decide` builds one that only re-applies a
threshold to stored scores (`thresher refilter`) and loads nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from thresher.contracts.recipe import PinnedFile, Sha256, Share
from thresher.filters.base import Decision, DocumentFilter
from thresher.filters.fasttext_model import LABEL_PREFIX, label_probability, load_fasttext, with_prefix


class FastTextClassifierFilter(DocumentFilter):
    """Score `{"score": P(label | text)}`; keep at or above `threshold` (or below, `keep_above=False`)."""

    name = "classifier"

    def __init__(
        self,
        model: PinnedFile,
        label: str,  # `hq` or `__label__hq`
        threshold: Share,
        sha256: Sha256 | None = None,  # a URL needs it (or `skip`); a local file is checked when given
        keep_above: bool = True,
    ):
        self.model = os.fspath(model)
        self.sha256 = sha256
        self.label = with_prefix(label)
        self.threshold = float(threshold)
        self.keep_above = keep_above
        if not getattr(self, "_decide_only", False):
            labels = self._model().labels
            if self.label not in labels:
                raise ValueError(f"{self.model} has no label {self.label!r}; its labels are {labels}")

    @classmethod
    def for_decide(cls, **options) -> FastTextClassifierFilter:
        """A filter that can only `decide` on stored scores (`thresher refilter`): no model is
        loaded or downloaded."""
        self = cls.__new__(cls)
        self._decide_only = True
        self.__init__(**options)
        return self

    def _model(self):
        return load_fasttext(self.model, self.sha256)  # cached per process

    def score(self, doc: Mapping) -> dict[str, float]:
        return {"score": label_probability(self._model(), doc["text"], self.label)}

    def decide(self, scores: Mapping[str, float]) -> Decision:
        above = scores["score"] >= self.threshold
        if above == self.keep_above:
            return Decision(True)
        return Decision(False, "below_threshold" if self.keep_above else "above_threshold")


class FastTextDomainFilter(FastTextClassifierFilter):
    """Label documents at or above `threshold` with `domain`; drop the others unless
    `keep_other_domains`. `domain` defaults to the label without its `__label__` prefix."""

    name = "domain"

    def __init__(
        self,
        model: PinnedFile,
        label: str,
        threshold: Share,
        domain: str | None = None,
        sha256: Sha256 | None = None,
        keep_other_domains: bool = False,
    ):
        super().__init__(model, label, threshold, sha256=sha256, keep_above=True)
        self.domain = domain or self.label.removeprefix(LABEL_PREFIX)
        self.keep_other_domains = keep_other_domains

    def decide(self, scores: Mapping[str, float]) -> Decision:
        if scores["score"] >= self.threshold:
            return Decision(True, fields={"domain": self.domain})
        return Decision(True) if self.keep_other_domains else Decision(False, "other_domain")
