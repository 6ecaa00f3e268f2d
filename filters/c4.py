"""C4's page cleaning (Raffel et al. 2020, section 2.2; TFDS `c4_utils.clean_page`), with TFDS's
constants as defaults, and the options that FineWeb's run of datatrove's C4QualityFilter sets.

Per line (stripped), in TFDS's order: drop it if a word is longer than 1000 characters; remove
Wikipedia-style citations ("[1]", "[edit]", "[citation needed]"); drop it unless it ends in a
terminal mark (. ? ! ") and not in an ellipsis; drop it if it has fewer than 5 words; drop the page
if it says "lorem ipsum"; drop the line if it mentions javascript; drop the page if the line has a
curly bracket; drop the line if it has a policy phrase ("terms of use", "uses cookies", ...). Then
drop the page if the kept lines hold fewer than 3 sentences. Reasons, as datatrove names them:
`lorem_ipsum`, `curly_bracket`, `too_few_sentences`.

This filter changes the text: the decision returned by `c4(doc)` carries the text made of the
kept lines in `decision.fields["text"]`, which the pipeline writes to `doc["text"]` when the
document is kept (`Decision.fields`, as language ID sets `lang`). `score` and `decide` work as for
every filter. Of the stored scores only `sentences` can be re-thresholded without recomputing:
the line rules decide which lines make up the text.

Sentences are counted as datatrove's C4QualityFilter counts them, with spaCy's sentencizer rules
(`thresher.filters.spacy_words.count_sentences`); TFDS used NLTK's Punkt, which needs a model download.

FineWeb ran datatrove's `C4QualityFilter(filter_no_terminal_punct=False)`, whose other defaults
differ from TFDS: `C4QualityFilter(min_words_per_line=3, min_num_sentences=5,
filter_no_terminal_punct=False)` is that configuration here (datatrove also accepts "'" as an end
mark, which does not matter once the end-mark rule is off). Like datatrove, and unlike TFDS, a
line's words are counted before citations are removed ("[4] see here." is three words), so that
the kept text is exactly datatrove's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from thresher.contracts.recipe import Count
from thresher.filters.base import Decision, DocumentFilter
from thresher.filters.spacy_words import count_sentences

# TFDS c4_utils constants
_MIN_WORDS_PER_LINE = 5
_MIN_NUM_SENTENCES = 3
_MAX_WORD_LENGTH = 1000
_END_MARKS = (".", "?", "!", '"')
_ELLIPSIS = "..."
_POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")  # TFDS get_clean_page_fn


class C4QualityFilter(DocumentFilter):
    name = "c4_quality"

    def __init__(
        self,
        min_words_per_line: Count = _MIN_WORDS_PER_LINE,  # TFDS _MIN_WORDS_PER_LINE (datatrove: 3)
        min_num_sentences: Count = _MIN_NUM_SENTENCES,  # TFDS _MIN_NUM_SENTENCES (datatrove: 5)
        max_word_length: Count = _MAX_WORD_LENGTH,  # TFDS _MAX_WORD_LENGTH
        end_marks: Sequence[str] = _END_MARKS,  # TFDS _END_MARKS (datatrove adds "'")
        filter_no_terminal_punct: bool = True,  # C4: on; FineWeb: off
    ):
        self.min_words_per_line = min_words_per_line
        self.min_num_sentences = min_num_sentences
        self.max_word_length = max_word_length
        self.end_marks = tuple(end_marks)
        self.filter_no_terminal_punct = filter_no_terminal_punct

    def score(self, doc: Mapping) -> dict[str, float]:
        return self._clean(doc)[1]

    def __call__(self, doc: Mapping) -> Decision:
        text, scores = self._clean(doc)
        decision = self.decide(scores)
        decision.scores = scores
        decision.fields = {"text": text}  # the kept lines, applied by the pipeline if kept
        return decision

    def _clean(self, doc: Mapping) -> tuple[str, dict[str, float]]:
        lang = doc.get("lang")
        lines = doc["text"].splitlines()
        kept: list[str] = []
        dropped = dict.fromkeys(("too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy"), 0)
        # 1-based number of the first line that drops the whole page (0: none); the earlier of the two
        # gives the reason, as the reference stops at the first such line
        lorem_ipsum_line = curly_bracket_line = 0
        sentences = 0
        for number, line in enumerate(lines, 1):
            line = line.strip()
            words = line.split()
            if len(line) > self.max_word_length and max(map(len, words)) > self.max_word_length:
                dropped["too_long_word"] += 1
                continue
            line = _CITATION.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith(self.end_marks) or line.endswith(_ELLIPSIS)):
                dropped["no_terminal_punct"] += 1
                continue
            if len(words) < self.min_words_per_line:
                dropped["too_few_words"] += 1
                continue
            lower = line.lower()
            if "lorem ipsum" in lower:
                lorem_ipsum_line = lorem_ipsum_line or number
                continue
            if "javascript" in lower:
                dropped["javascript"] += 1
                continue
            if "{" in line:
                curly_bracket_line = curly_bracket_line or number
                continue
            if any(phrase in lower for phrase in _POLICY_SUBSTRINGS):
                dropped["policy"] += 1
                continue
            sentences += count_sentences(line, lang)
            kept.append(line)
        scores = {
            "lines": float(len(lines)),
            "lines_kept": float(len(kept)),
            **{f"lines_{reason}": float(count) for reason, count in dropped.items()},
            "lorem_ipsum_line": float(lorem_ipsum_line),
            "curly_bracket_line": float(curly_bracket_line),
            "sentences": float(sentences),
        }
        return "\n".join(kept).strip(), scores

    def decide(self, scores: Mapping[str, float]) -> Decision:
        lorem, curly = scores["lorem_ipsum_line"], scores["curly_bracket_line"]
        if lorem and (not curly or lorem < curly):
            return Decision(False, "lorem_ipsum")
        if curly:
            return Decision(False, "curly_bracket")
        if scores["sentences"] < self.min_num_sentences:
            return Decision(False, "too_few_sentences")
        return Decision(True)
