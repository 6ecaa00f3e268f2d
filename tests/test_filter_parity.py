"""thresher's heuristic filters against datatrove's (the reference FineWeb ran), on the same real
documents: decisions must agree on >= 99.5% of documents per filter, and so must the reasons of
the documents both drop.

Corpus: the 900-odd trafilatura evaluation pages (many languages, mostly German and English; text
extracted with resiliparse's main-content extractor), the 780 DCLM human-annotated documents and
the 10 CCNet documents of ../shared/data; a fixed half of it (every other document, ~850) keeps the
datatrove side, which tokenizes with spaCy, within about a minute on two cores.

Needs datatrove's English word tokenizer, i.e. spaCy (`pip install spacy`; `spacy.blank("en")`
needs no model download), and for the URL filter tldextract and pyahocorasick.
"""

import gzip
import json
import tarfile

import pytest

from conftest import need_data

datatrove = pytest.importorskip("datatrove")
pytest.importorskip("spacy", reason="datatrove's English word tokenizer is spaCy: pip install spacy")

from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import (  # noqa: E402
    C4QualityFilter as DatatroveC4,
    FineWebQualityFilter as DatatroveFineWeb,
    GopherQualityFilter as DatatroveGopherQuality,
    GopherRepetitionFilter as DatatroveGopherRepetition,
)

from thresher.filters import spacy_words as T  # noqa: E402
from thresher.filters.c4 import C4QualityFilter  # noqa: E402
from thresher.filters.fineweb import FineWebQualityFilter  # noqa: E402
from thresher.filters.gopher import GopherQualityFilter, GopherRepetitionFilter  # noqa: E402
from thresher.filters.url import URLBlocklistFilter  # noqa: E402

pytestmark = pytest.mark.slow  # ~40 s: datatrove tokenizes with spaCy

MIN_AGREEMENT = 0.995

# name -> (datatrove filter, thresher filter) configured alike
PAIRS = {
    "gopher_repetition": (DatatroveGopherRepetition(), GopherRepetitionFilter()),
    "gopher_quality": (DatatroveGopherQuality(), GopherQualityFilter()),
    "fineweb_quality": (DatatroveFineWeb(), FineWebQualityFilter()),
    # TFDS's constants; datatrove also takes "'" as an end mark
    "c4_tfds": (
        DatatroveC4(min_words_per_line=5, min_num_sentences=3),
        C4QualityFilter(end_marks=(".", "?", "!", '"', "'")),
    ),
    # what FineWeb ran
    "c4_fineweb": (
        DatatroveC4(filter_no_terminal_punct=False),
        C4QualityFilter(min_words_per_line=3, min_num_sentences=5, filter_no_terminal_punct=False),
    ),
}


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    texts = []
    for path in sorted(need_data("trafilatura-eval", "eval").glob("*.html.gz")):
        raw = gzip.decompress(path.read_bytes())
        texts.append(extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=True))
    for name in ("majority_data.jsonl", "agreement_data.jsonl"):
        with open(need_data("dclm-human-quality-annotations", name), encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh]
    with open(need_data("commoncrawl-records", "ccnet-jsonl", "cc_en_head-0091.jsonl"), encoding="utf-8") as fh:
        texts += [json.loads(line)["text"] for line in fh]
    return [t for t in texts if t.strip()][::2]


@pytest.fixture(scope="module")
def datatrove_decisions(corpus) -> dict[str, list[tuple[bool, str | None, str]]]:
    """(keep, reason, text after the filter) per document, for every filter, in one pass: the
    Gopher and FineWeb filters then share datatrove's cached tokenization of each document."""
    out = {name: [] for name in PAIRS}
    for i, text in enumerate(corpus):
        for name, (reference, _) in PAIRS.items():
            doc = Document(text=text, id=str(i), metadata={})  # C4 rewrites doc.text
            result = reference.filter(doc)
            keep, reason = (True, None) if result is True else result
            out[name].append((keep, reason, doc.text))
    return out


def agreement(pairs) -> float:
    pairs = list(pairs)
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else 1.0


def test_corpus_is_large_enough(corpus):
    assert len(corpus) > 800


def test_exception_table_is_spacys():
    from spacy.lang.en import English
    from spacy.symbols import ORTH

    spacy_table = {k: tuple(t[ORTH] for t in v) for k, v in English.Defaults.tokenizer_exceptions.items()}
    assert T.ENGLISH_EXCEPTIONS == spacy_table


def test_character_tables_are_the_references():
    from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION
    from spacy.pipeline import Sentencizer

    assert T.PUNCTUATION == PUNCTUATION_SET
    assert set(T.TERMINAL_PUNCTUATION) == TERMINAL_PUNCTUATION
    assert T._SENTENCE_ENDS == set(Sentencizer.default_punct_chars)


def test_chunks_are_tokenized_as_spacy_does():
    """Random chunks built from the characters and pieces the rules care about (affixes, quotes,
    abbreviations, emoticons, URLs, units, scripts without case) against spaCy itself."""
    import random

    import spacy

    nlp = spacy.blank("en")
    pieces = list("aAbBzZeE19.,;:!?'\"()[]{}<>-–—~/\\$£€%&*+^#@_…·°’äÉß中কা😀🫠©xD") + [
        "...",
        "..",
        "n't",
        "'s",
        "'ll",
        "Mr.",
        "e.g.",
        "U.S.",
        ":)",
        "(:",
        "http://",
        "www.",
        ".com",
        "km",
        "US$",
        "don't",
        "z.",
        "am",
        "pm",
        "co",
        "St.",
        "’s",
    ]
    rng = random.Random(0)
    chunks = {"".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(20_000)}
    differ = [c for c in chunks if tuple(t.text for t in nlp(c)) != T._ENGLISH.tokenize(c)]
    assert not differ, differ[:10]


def test_words_are_datatroves(corpus):
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    reference = load_word_tokenizer("en")
    same = agreement((reference.word_tokenize(text), T.split_words(text)) for text in corpus)
    print(f"\nwords: identical token lists for {same:.2%} of {len(corpus)} documents")
    assert same >= MIN_AGREEMENT


def test_sentence_counts_are_datatroves(corpus):
    from datatrove.utils.text import split_into_sentences

    lines = [line.strip() for text in corpus[:300] for line in text.splitlines() if len(line.split()) >= 3]
    same = agreement((len(split_into_sentences(line, "en")), T.count_sentences(line)) for line in lines)
    print(f"\nsentences: same count for {same:.2%} of {len(lines)} lines")
    assert same >= MIN_AGREEMENT


@pytest.mark.parametrize("name", PAIRS)
def test_decisions_are_datatroves(name, corpus, datatrove_decisions):
    ours = [PAIRS[name][1]({"text": text}) for text in corpus]
    theirs = datatrove_decisions[name]
    decisions = agreement((d.keep, keep) for d, (keep, _, _) in zip(ours, theirs))
    both_dropped = [(d.reason, reason) for d, (keep, reason, _) in zip(ours, theirs) if not d.keep and not keep]
    reasons = agreement(both_dropped)
    print(
        f"\n{name}: decisions agree on {decisions:.2%} of {len(corpus)} documents, reasons on {reasons:.2%} "
        f"of {len(both_dropped)} dropped by both, {sum(d.keep for d in ours)} kept"
    )
    assert decisions >= MIN_AGREEMENT
    assert reasons >= MIN_AGREEMENT
    if name.startswith("c4"):  # the cleaned text too
        kept = [(d.fields["text"], text) for d, (keep, _, text) in zip(ours, theirs) if d.keep and keep]
        assert agreement(kept) >= MIN_AGREEMENT


@pytest.mark.filterwarnings("ignore:The 'registered_domain' property is deprecated:DeprecationWarning")
def test_url_decisions_are_datatroves():
    pytest.importorskip("tldextract")
    pytest.importorskip("ahocorasick", reason="datatrove's URLFilter needs pyahocorasick")
    from datatrove.pipeline.filters.url_filter import URLFilter, get_list, parse_list
    from datatrove.utils._import_utils import ASSETS_PATH
    from tldextract import TLDExtract

    # datatrove's URLFilter with the same lists, without its extraction to the HF cache directory
    reference = URLFilter(use_integrated_lists=False)
    reference.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)  # no network
    with tarfile.open(f"{ASSETS_PATH}/url_filterblacklistsv0_3_0.tar.gz") as tar:
        domain_lines = tar.extractfile("domains").read().decode().splitlines(keepends=True)
        url_lines = tar.extractfile("urls").read().decode().splitlines(keepends=True)
    reference.block_listed_domains = parse_list(domain_lines, do_normalize=False)
    reference.block_listed_url = parse_list(url_lines, do_normalize=False)
    reference.banned_words = get_list(ASSETS_PATH, "banned_words.txt", set())
    reference.soft_banned_words = get_list(ASSETS_PATH, "soft_banned_words.txt", set())
    reference.banned_subwords = get_list(ASSETS_PATH, "banned_subwords.txt", set())
    for word in reference.banned_subwords:
        reference.banned_subwords_automaton.add_word(word, len(reference.banned_subwords_automaton))
    reference.banned_subwords_automaton.make_automaton()

    # real URLs, and URLs on a fixed sample of the blocklists (with and without subdomains)
    urls = list(json.loads(need_data("trafilatura-eval", "evaldata.json").read_text(encoding="utf-8")))
    with open(need_data("commoncrawl-records", "ccnet-jsonl", "cc_en_head-0091.jsonl"), encoding="utf-8") as fh:
        urls += [json.loads(line)["metadata"]["url"] for line in fh]
    for line in domain_lines[::9001]:
        domain = line.strip()
        urls += [f"http://{domain}/", f"https://www.{domain}/index.html", f"http://blog.{domain}/post?id=1"]
    urls += [line.strip() for line in url_lines[::97]]
    ours = URLBlocklistFilter()
    results = []
    for url in urls:
        result = reference.filter(Document(text="", id=url, metadata={"url": url}))
        results.append(((True, None) if result is True else result, ours({"text": "", "url": url})))
    decisions = agreement((keep, d.keep) for (keep, _), d in results)
    both_dropped = [(reason, d.reason) for (keep, reason), d in results if not keep and not d.keep]
    reasons = agreement(both_dropped)
    print(
        f"\nurl_blocklist: decisions agree on {decisions:.2%} of {len(urls)} URLs, reasons on {reasons:.2%} "
        f"of {len(both_dropped)} dropped by both"
    )
    assert decisions >= MIN_AGREEMENT and reasons >= MIN_AGREEMENT
    assert len(both_dropped) > 500  # the sample did exercise the lists
