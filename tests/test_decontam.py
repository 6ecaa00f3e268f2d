"""Decontamination: a document sharing a 13-gram with an eval set is dropped, with the n-gram named;
paraphrases are not; case and punctuation do not hide a match; short eval items match whole; a
missing eval set stops the run; end to end through `thresher curate`."""

import gzip
import json
import pickle
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from thresher.contracts.errors import UsageError
from thresher.contracts.recipe import RecipeError
from thresher.contracts.schema import scores_dict
from thresher.filters.decontam import DecontaminationFilter, normalized_words
from thresher.filters.registry import build_decider, parse_recipe

from conftest import need_data, run_cli

QUESTIONS = [
    {"question": "What is the boiling point of water at sea level in degrees Celsius?", "answer": "100"},
    {
        "question": "Which organelle of a eukaryotic cell produces most of the chemical energy needed to power"
        " the biochemical reactions of the cell?",
        "answer": "the mitochondrion",
    },
    {"question": "Who wrote the novel Pride and Prejudice in eighteen thirteen?", "answer": "Jane Austen"},
]
LONG_QUESTION = QUESTIONS[1]["question"]  # 21 words
SHORT_QUESTION = QUESTIONS[2]["question"]  # 10 words
PASSAGE = (
    "The committee judges that the risks to the attainment of both sustainable growth and price stability"
    " for the foreseeable future are balanced, and it will act as needed to keep them so."
)


@pytest.fixture
def evals(tmp_path):
    """A small eval set: question/answer JSONL lines and a text file."""
    folder = tmp_path / "evals"
    (folder / "qa").mkdir(parents=True)
    (folder / "qa" / "test.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    (folder / "passage.txt").write_text(PASSAGE)
    return folder


@pytest.fixture(scope="module")
def pages():
    """Real Common Crawl pages (DCLM's human-annotated sample): 40 of at least 100 words."""
    path = need_data("dclm-human-quality-annotations", "majority_data.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows if len(r["text"].split()) >= 100][:40]


def plant(page: str, passage: str) -> str:
    """`passage` in the middle of `page`, between two of its words."""
    words = page.split(" ")
    return " ".join(words[: len(words) // 2] + [passage] + words[len(words) // 2 :])


def stage(evals, **options) -> DecontaminationFilter:
    return DecontaminationFilter(str(evals), text_field=["question", "text"], **options)


def test_a_planted_benchmark_question_drops_its_page_and_names_the_ngram(evals, pages):
    f = stage(evals)
    contaminated = plant(pages[3], LONG_QUESTION)
    decision = f({"text": contaminated})
    assert (decision.keep, decision.reason) == (False, "contaminated")
    assert decision.scores == {"contaminated_ngrams": 9.0}  # a 21-word question holds 9 distinct 13-grams
    first_13 = " ".join(normalized_words(LONG_QUESTION)[:13])
    assert decision.detail == f'13-gram "{first_13}" from qa/test.jsonl line 2 (9 distinct matches)'
    again = f.decide(f.score({"text": contaminated}))  # score, then decide: the same decision
    assert (again.keep, again.reason) == (decision.keep, decision.reason)
    for page in pages:
        kept = f({"text": page})
        assert kept.keep and kept.scores == {"contaminated_ngrams": 0.0} and kept.detail is None


def test_a_passage_from_a_text_file_eval_set_is_found_too(evals, pages):
    decision = stage(evals)({"text": plant(pages[0], PASSAGE.split(", and")[0])})
    assert not decision.keep and "from passage.txt (" in decision.detail


def test_a_paraphrase_changing_a_word_every_12_words_is_not_matched(evals, pages):
    f = DecontaminationFilter(str(evals / "passage.txt"))
    words = PASSAGE.split()  # 31 words

    def changed_every(k: int) -> str:
        return " ".join("CHANGED" if (i + 1) % k == 0 else w for i, w in enumerate(words))

    assert f({"text": plant(pages[5], changed_every(12))}).keep  # no run of 13 original words left
    assert not f({"text": plant(pages[5], changed_every(14))}).keep  # a run of 13 is left


def test_case_and_punctuation_do_not_hide_a_match(evals, pages):
    f = stage(evals)
    shouted = LONG_QUESTION.replace(" a ", ' "a" ').replace("energy", "energy,").replace("power", "power --").upper()
    assert '"A"' in shouted and "POWER --" in shouted
    assert not f({"text": plant(pages[1], shouted)}).keep
    # punctuation is deleted, not a word break, as in janitor.py: "chemi-cal" is "chemical", while
    # "chemi cal" is two other words, and its middle word changed leaves no 13 words of the question
    assert not f({"text": plant(pages[1], LONG_QUESTION.replace("chemical", "chemi-cal"))}).keep
    assert f({"text": plant(pages[1], LONG_QUESTION.replace("chemical", "chemi cal"))}).keep


def test_an_eval_item_shorter_than_13_words_is_matched_whole(evals, pages):
    f = stage(evals)
    decision = f({"text": plant(pages[2], SHORT_QUESTION.lower().rstrip("?"))})
    assert not decision.keep
    whole = " ".join(normalized_words(SHORT_QUESTION))
    assert decision.detail == f'whole 10-word item "{whole}" from qa/test.jsonl line 3 (1 distinct match)'
    missing_a_word = SHORT_QUESTION.replace("novel ", "")
    assert f({"text": plant(pages[2], missing_a_word)}).keep


def test_eval_items_under_min_item_words_are_left_out(evals, pages):
    # "the mitochondrion" (2 words) as an item would drop every page that names the organelle
    f = DecontaminationFilter(str(evals / "qa"), text_field=["question", "answer"])
    assert f({"text": plant(pages[4], "the mitochondrion")}).keep
    assert not f({"text": plant(pages[4], LONG_QUESTION)}).keep
    with pytest.raises(UsageError, match="hold no item of 8 words or more in answer"):
        DecontaminationFilter(str(evals / "qa"), text_field="answer")


def test_min_item_words_lowers_the_floor_and_ngram_sets_the_length(evals, pages):
    answers = DecontaminationFilter(str(evals / "qa"), text_field="answer", min_item_words=2)
    assert not answers({"text": plant(pages[4], "The Mitochondrion")}).keep
    assert answers({"text": plant(pages[4], "one mitochondrion")}).keep
    eights = stage(evals, ngram=8)
    decision = eights({"text": plant(pages[4], " ".join(LONG_QUESTION.split()[5:13]))})
    assert not decision.keep and decision.detail.startswith("8-gram ")


def test_flag_mode_keeps_the_document_with_its_score(evals, pages):
    f = stage(evals, action="flag")
    decision = f({"text": plant(pages[6], LONG_QUESTION)})
    assert decision.keep and decision.scores == {"contaminated_ngrams": 9.0}
    at_least_ten = stage(evals, min_matches=10)
    assert at_least_ten({"text": plant(pages[6], LONG_QUESTION)}).keep
    assert not at_least_ten({"text": plant(pages[6], LONG_QUESTION + " " + PASSAGE)}).keep


def test_counts_agree_with_a_plain_set_of_ngram_strings(tmp_path):
    """Parity with janitor.py's way (n-grams as strings in a set) on real text: FOMC statements
    share much boilerplate, so statements of 1994-2005 as eval sets find many 13-grams in later ones."""
    statements = sorted(need_data("fomc-statements", "statements").glob("*.txt"))
    old = [p for p in statements if p.name < "2006"]
    new = [p for p in statements if p.name >= "2006"]
    folder = tmp_path / "old"
    folder.mkdir()
    for p in old:
        (folder / p.name).write_bytes(p.read_bytes())

    def grams(text: str) -> set[str]:
        words = normalized_words(text)
        return {" ".join(words[i : i + 13]) for i in range(len(words) - 12)}

    reference = set().union(*(grams(p.read_text(encoding="utf-8")) for p in old))
    f = DecontaminationFilter(str(folder))
    counts = [
        (f.matches(p.read_text(encoding="utf-8"))[0], len(grams(p.read_text(encoding="utf-8")) & reference))
        for p in new
    ]
    assert all(ours == theirs for ours, theirs in counts), counts
    assert sum(c > 0 for c, _ in counts) >= 10


@pytest.mark.parametrize("name", ["missing", "empty", "only_readme", "missing/*.jsonl"])
def test_a_missing_or_empty_eval_set_stops_the_stage_at_build(tmp_path, name):
    (tmp_path / "empty").mkdir()
    (tmp_path / "only_readme").mkdir()
    (tmp_path / "only_readme" / "README.md").write_text("questions go here")
    path = str(tmp_path / name)
    with pytest.raises(UsageError, match=re.escape(repr(path))):
        DecontaminationFilter(path)


def test_an_eval_line_without_the_text_field_is_refused_with_its_place(evals):
    with pytest.raises(UsageError, match=r"qa/test.jsonl line 1 has no 'text' field: \['answer', 'question'\]"):
        DecontaminationFilter(str(evals / "qa"))


def test_parquet_gzipped_jsonl_and_lists_of_strings_are_read(tmp_path, pages):
    folder = tmp_path / "evals"
    folder.mkdir()
    pq.write_table(pa.table({"question": [QUESTIONS[0]["question"], None]}), folder / "a.parquet")
    with gzip.open(folder / "b.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"question": "short", "choices": [LONG_QUESTION, "no"]}) + "\n")
    f = DecontaminationFilter([str(folder / "a.parquet"), str(folder / "*.gz")], text_field=["question", "choices"])
    boiling = f({"text": plant(pages[7], QUESTIONS[0]["question"])})
    assert not boiling.keep and f"from {folder / 'a.parquet'} row 1 " in boiling.detail
    organelle = f({"text": plant(pages[7], LONG_QUESTION)})
    assert not organelle.keep and "b.jsonl.gz line 1 " in organelle.detail


def test_it_pickles_small_and_decides_without_reading_the_eval_sets(evals, pages):
    f = stage(evals)
    copy = pickle.loads(pickle.dumps(f))
    assert len(pickle.dumps(f)) < 1000
    assert not copy({"text": plant(pages[8], LONG_QUESTION)}).keep
    spec = parse_recipe(
        {"stages": [{"name": "extract", "kind": "extract"}, _spec(evals / "gone", action="drop")]}
    ).stages[1]
    decider = build_decider(spec)  # `thresher refilter`: stored scores only, the folder is not read
    assert decider.decide({"contaminated_ngrams": 1.0}).reason == "contaminated"


def _spec(path, **options) -> dict:
    return {"name": "decontaminate", "kind": "decontaminate", "eval_sets": str(path), **options}


def test_a_recipe_with_the_stage_loads_and_wrong_options_are_refused(evals):
    recipe = parse_recipe(
        {"stages": [{"name": "extract", "kind": "extract"}, _spec(evals, text_field=["question", "text"], ngram=13)]},
        "r.yaml",
    )
    assert recipe.stages[1].kind == "decontaminate"
    for options, message in [
        ({"ngram": 0}, "ngram: Input should be greater than or equal to 1"),
        ({"action": "remove"}, "action: Input should be 'drop' or 'flag'"),
        ({"eval_set": "x"}, "eval_set: Extra inputs are not permitted"),
    ]:
        with pytest.raises(RecipeError, match=re.escape(message)):
            parse_recipe({"stages": [{"name": "extract", "kind": "extract"}, _spec(evals, **options)]}, "r.yaml")


def _curate(tmp_path, pages, eval_sets, planted_at: int = 5, **options):
    docs = tmp_path / "docs.jsonl"
    texts = [plant(p, LONG_QUESTION) if i == planted_at else p for i, p in enumerate(pages[:12])]
    docs.write_text(
        "".join(json.dumps({"text": t, "url": f"https://example.org/{i}"}) + "\n" for i, t in enumerate(texts))
    )
    recipe = tmp_path / "recipe.yaml"
    stages = [{"name": "extract", "kind": "extract"}, _spec(eval_sets, text_field=["question", "text"], **options)]
    recipe.write_text(yaml.safe_dump({"name": "decon", "stages": stages}))
    out = tmp_path / "run"
    return run_cli("curate", ["--input", docs, "--output", out, "--recipe", recipe]), out


def test_curate_drops_the_contaminated_page_and_shows_the_ngram_in_its_exclusion_sample(tmp_path, evals, pages):
    rc, out = _curate(tmp_path, pages, evals)
    assert rc == 0
    stats = json.loads((out / "stats.json").read_text())
    decon = next(s for s in stats["stages"] if s["name"] == "decontaminate")
    assert decon["in"]["docs"] == 12 and decon["dropped"]["contaminated"]["docs"] == 1
    (sample,) = [json.loads(line) for line in (out / "exclusions" / "decontaminate__contaminated.jsonl").open()]
    assert sample["url"] == "https://example.org/5"
    assert sample["error_detail"].startswith('13-gram "which organelle of a eukaryotic cell produces')
    assert "qa/test.jsonl line 2" in sample["error_detail"]
    scores = [scores_dict(s) for s in pq.read_table(out / "curated").column("scores").to_pylist()]
    assert len(scores) == 11 and all(s["decontaminate.contaminated_ngrams"] == 0.0 for s in scores)


def test_flagged_in_curate_then_dropped_by_refilter_without_the_eval_sets(tmp_path, evals, pages):
    rc, out = _curate(tmp_path, pages, evals, action="flag")
    assert rc == 0
    rows = pq.read_table(out / "curated").to_pylist()
    flagged = {r["url"]: scores_dict(r["scores"])["decontaminate.contaminated_ngrams"] for r in rows}
    assert len(flagged) == 12 and flagged.pop("https://example.org/5") == 9.0 and set(flagged.values()) == {0.0}
    strict = tmp_path / "strict.yaml"
    stages = [{"name": "extract", "kind": "extract"}, _spec(tmp_path / "deleted-evals", action="drop")]
    strict.write_text(yaml.safe_dump({"name": "strict", "stages": stages}))
    again = tmp_path / "again"
    assert run_cli("refilter", ["--input", out / "curated" / "*.parquet", "--output", again, "--recipe", strict]) == 0
    stats = json.loads((again / "stats.json").read_text())
    decon = next(s for s in stats["stages"] if s["name"] == "decontaminate")
    assert decon["dropped"]["contaminated"]["docs"] == 1 and decon["kept"]["docs"] == 11


def test_curate_with_a_missing_eval_set_fails_in_one_line(tmp_path, pages, capsys):
    rc, out = _curate(tmp_path, pages, tmp_path / "no-such-evals")
    assert rc == 2 and not (out / "stats.json").exists()
    assert f"'{tmp_path / 'no-such-evals'}' matches no file" in capsys.readouterr().err


def test_a_remote_eval_set_is_read_through_the_remote_filesystem(testfs, pages):
    (testfs / "evals").mkdir()
    (testfs / "evals" / "qa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    f = DecontaminationFilter("testfs://evals/*.jsonl", text_field="question")
    decision = f({"text": plant(pages[9], LONG_QUESTION)})
    assert not decision.keep and "from testfs://evals/qa.jsonl line 2 " in decision.detail
    with pytest.raises(UsageError, match="'testfs://evals/none-\\*.jsonl' matches no file"):
        DecontaminationFilter("testfs://evals/none-*.jsonl")
