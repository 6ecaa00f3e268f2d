"""`thresher report` and `thresher stats --compare`: every number on the page is the run's, the page
is the same bytes every time, and a hostile document shows as text in a real browser.

Two real runs are made once: a WARC of real academic home pages from ../shared/data plus one JSONL
document whose text and URL are HTML that would run script if pasted into a page. Run A blocks
that document's URL, run B does not, so the comparison has one document kept by B only.
"""

import ast
import html.parser
import json
import math
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher import report
from thresher.filters.registry import build_decider, load_recipe

from conftest import need_data, run_cli

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
# Sets the title if it ever runs: what the browser tests look for.
HOSTILE_TITLE = "<img src=x onerror=\"document.title='ran'\"><script>document.title='ran'</script>"
HOSTILE_URL = "https://evil.example.org/<script>alert(3)</script>?a=1&b=<b>"
PROSE = (
    "The old harbour town sits at the mouth of a wide river, and its market has traded fish, salt and timber for "
    "as long as anyone can remember. Every morning the boats come in before dawn, and the traders set out their "
    "stalls along the quay while the gulls wait on the roofs.\n"
    "Visitors who arrive early can watch the whole catch change hands in less than an hour, and then walk up the "
    "hill to the church for a view of the estuary. In the afternoon the square is quiet again, and the cafes fill "
    "with people who have finished their work for the day."
)
RECIPE = """
name: report-test-{name}
exclusion_samples: 10
stages:
  - name: url_filter
    kind: url_blocklist
    extra_urls: {blocked}
  - name: extract
    kind: extract
  - name: language
    kind: fasttext_langid
    languages: [en]
    threshold: 0.65           # FineWeb: LanguageFilter() defaults
  - name: gopher_repetition
    kind: gopher_repetition
  - name: gopher_quality
    kind: gopher_quality
  - name: fineweb_quality
    kind: fineweb_quality
  - name: exact_dedup
    kind: exact_dedup
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    warc = need_data("web-warc-samples", "dolma-wget-sample-0000.warc.gz")
    root = tmp_path_factory.mktemp("report")
    hostile = root / "hostile.jsonl"
    doc = {"id": "hostile-1", "url": HOSTILE_URL, "text": f"{HOSTILE}{HOSTILE_TITLE}\n{PROSE}"}
    hostile.write_text(json.dumps(doc) + "\n")
    out = {}
    for name, blocked in (("a", [HOSTILE_URL]), ("b", [])):
        recipe = root / f"{name}.yaml"
        recipe.write_text(RECIPE.format(name=name, blocked=json.dumps(blocked)))
        run = root / f"run-{name}"
        assert run_cli("curate", ["--input", warc, hostile, "--output", run, "--recipe", recipe, "--workers", 1]) == 0
        out[name] = run
    return out


@pytest.fixture(scope="module")
def page_ab(runs, tmp_path_factory) -> Path:
    """The report of run A compared with run B, written once for the tests that only read it."""
    return report.write_report(str(runs["a"]), str(tmp_path_factory.mktemp("page") / "a.html"), compare=str(runs["b"]))


class Cells(html.parser.HTMLParser):
    """Every `data-key` cell of a page: {key: (data-value, shown text)}; and every tag seen."""

    def __init__(self, text: str):
        super().__init__()
        self.cells: dict[str, tuple] = {}
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []
        self._open = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        a = dict(attrs)
        if "data-key" in a:
            assert a["data-key"] not in self.cells, f"two cells named {a['data-key']}"
            self._open = a["data-key"]
            self.cells[self._open] = (ast.literal_eval(a["data-value"]) if "data-value" in a else None, "")

    def handle_data(self, data):
        self.text.append(data)
        if self._open:
            value, shown = self.cells[self._open]
            self.cells[self._open] = (value, shown + data)

    def handle_endtag(self, tag):
        self._open = None


def rows(files) -> list[dict]:
    """Every row of the Parquet files, `scores` as a dict (stored as key/value structs, or as a map:
    pairs)."""
    out = []
    for path in files:
        out += pq.read_table(path).to_pylist()
    for row in out:
        pairs = row["scores"] or []
        row["scores"] = dict((e["key"], e["value"]) if isinstance(e, dict) else e for e in pairs)
    return out


def expected_numbers(run_dir: Path, tokens_per_word: float = report.TOKENS_PER_WORD_ESTIMATE) -> dict:
    """Every number the page may show, from the run's own files."""
    stats = json.loads((run_dir / "stats.json").read_text())
    want = {f"input|{m}": stats["input"][m] for m in ("docs", "bytes", "chars", "words")}
    want["input|tokens"] = round(stats["input"]["words"] * tokens_per_word)
    for s in stats["stages"]:
        for m in ("docs", "bytes", "chars", "words"):
            want[f"funnel|{s['name']}|{m}"] = s["kept"][m]
        want[f"funnel|{s['name']}|tokens"] = round(s["kept"]["words"] * tokens_per_word)
        for status in ("dropped", "errored"):
            for reason, part in s[status].items():
                for m in ("docs", "chars", "words"):
                    want[f"{status}|{s['name']}|{reason}|{m}"] = part[m]
                want[f"{status}|{s['name']}|{reason}|share"] = part["share"]["docs"]
    attributes = sorted(run_dir.glob("attributes/*.parquet"))
    docs = rows(attributes or sorted(run_dir.glob("curated/*.parquet")))
    for key, n in Counter(k for d in docs for k, v in d["scores"].items() if not math.isnan(v)).items():
        want[f"score|{key}"] = n
    stages = {s["name"]: s for s in stats["recipe"]["stages"]}
    for key in {k for d in docs for k in d["scores"]}:
        stage, _, signal = key.partition(".")
        for rule in report.stage_rules(stages[stage]["kind"], report.effective_options(stages[stage])):
            if rule.score == signal and rule.value is not None:
                values = [d["scores"][key] for d in docs if key in d["scores"]]
                keeps = {"<": lambda x, t: x >= t, ">": lambda x, t: x <= t, ">=": lambda x, t: x < t}[rule.drop_if]
                want[("whatif", key, rule.option)] = lambda t, values=values, keeps=keeps: sum(
                    keeps(x, t) for x in values
                )
    for by, of in (("domain", lambda d: report.registered_domain(d["url"])), ("lang", lambda d: d["lang"] or "(none)")):
        counts = Counter((of(d), d.get("reason") is None) for d in docs)
        for (key, kept), n in counts.items():
            want[f"{by}|{key}|{'kept' if kept else 'dropped'}"] = n
    for d in docs:
        want.setdefault(f"source_file|{d['source_file']}|kept", 0)
        want.setdefault(f"source_file|{d['source_file']}|dropped", 0)
        want[f"source_file|{d['source_file']}|{'kept' if d.get('reason') is None else 'dropped'}"] += 1
    for path, size in json.loads((run_dir / "_work" / "run.json").read_text())["files"]:
        want[f"file|{path}"] = size
    for entry in run_dir.iterdir():
        if not entry.name.startswith("_") and entry.suffix != ".html":
            files = [p for p in entry.rglob("*") if p.is_file()] if entry.is_dir() else [entry]
            want[f"out|{entry.name}|files"] = len(files)
            want[f"out|{entry.name}|bytes"] = sum(p.stat().st_size for p in files)
    return want


def check_cells(cells: dict, want: dict) -> None:
    for key, (value, shown) in cells.items():
        parts = key.split("|")
        if parts[0] == "whatif":
            count = want[("whatif", parts[1], parts[2])](float(parts[3]))
            assert value == count, key
            continue
        if parts[0] in ("domain", "lang", "source_file"):  # a breakdown's row, in its top-kept or top-dropped table
            key = "|".join(parts[:3])
        if parts[0] in ("domain", "lang") and value == 0:
            assert key not in want, key  # shown as 0: none of that side
            continue
        assert key in want, f"{key} is on the page but is no number of the run"
        assert value == want[key], key
        if isinstance(value, int):
            assert shown == f"{value:,}", key
        elif isinstance(value, float):
            assert shown == f"{100 * value:.1f}%", key


def page(path: Path) -> Cells:
    return Cells(path.read_text(encoding="utf-8"))


def test_every_number_on_the_page_is_the_runs(runs, page_ab):
    cells = {k: v for k, v in page(page_ab).cells.items() if not k.startswith(("cmp|", "kept|"))}
    want = expected_numbers(runs["a"])
    check_cells(cells, want)
    # the funnel and every reason are shown, whole
    for key in (k for k in want if isinstance(k, str)):  # (tuples: what-if functions)
        if key.startswith(("input|", "funnel|", "dropped|", "errored|", "score|", "file|", "out|")):
            assert key in cells, f"{key} missing from the page"
    assert any(k.startswith("whatif|") for k in cells)
    # breakdowns: the top kept of each table, in order of count
    for by in ("domain", "lang", "source_file"):
        kept = sorted(
            (-v, k.split("|")[1])
            for k, v in want.items()
            # a file whose documents were all dropped has none kept: not in the top-kept table
            if isinstance(k, str) and k.startswith(f"{by}|") and k.endswith("|kept") and v
        )
        for _, key in kept[: report.TOP]:
            assert f"{by}|{key}|kept|top-kept" in cells


def test_tokens_are_counted_with_a_given_tokenizer(runs, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    texts = [r["text"] for r in rows(sorted(runs["a"].glob("curated/*.parquet")))]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, show_progress=False))
    tok.save(str(tmp_path / "tokenizer.json"))
    out = report.write_report(str(runs["a"]), str(tmp_path / "a.html"), tokenizer=str(tmp_path))
    cells = page(out).cells
    tokens = sum(len(tok.encode(t, add_special_tokens=False).ids) for t in texts)
    words = sum(len(t.split()) for t in texts)
    stats = json.loads((runs["a"] / "stats.json").read_text())
    assert words == stats["retained"]["words"]
    last = stats["stages"][-1]["name"]
    assert cells[f"funnel|{last}|tokens"][0] == tokens  # counted, not estimated
    check_cells(cells, expected_numbers(runs["a"], tokens / words) | {f"funnel|{last}|tokens": tokens})
    assert f"{tokens:,} tokens / {words:,} words" in out.read_text()


def test_samples_are_the_documents_of_smallest_id(runs, page_ab):
    ids = sorted(r["id"] for r in rows(sorted(runs["a"].glob("curated/*.parquet"))))
    samples, _ = report.kept_samples_and_tokens(report.open_run(str(runs["a"])), None)
    assert [d["id"] for d in samples] == ids[: report.SAMPLES_KEPT]
    shown = page_ab.read_text()
    assert all(f'<tr class="sample"><td>{i}</td>' in shown for i in ids[: report.SAMPLES_KEPT])


def test_same_run_same_bytes(runs, page_ab, tmp_path):
    again = report.write_report(str(runs["a"]), str(tmp_path / "again.html"), compare=str(runs["b"]))
    assert again.read_bytes() == page_ab.read_bytes()


def test_hostile_text_and_url_are_escaped(page_ab):
    text = page_ab.read_text()
    parsed = Cells(text)
    assert not [t for t, _ in parsed.tags if t in ("script", "img", "iframe", "object", "embed")]
    assert not [(t, a) for t, attrs in parsed.tags for a, _ in attrs if a.lower().startswith("on")]
    shown = "".join(parsed.text)
    assert HOSTILE in shown and HOSTILE_URL in shown  # as text: dropped by A's URL rule, kept by B only
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_comparison_numbers_are_both_runs(runs, page_ab):
    cells = page(page_ab).cells
    sa, sb = (json.loads((runs[n] / "stats.json").read_text()) for n in "ab")
    for side, stats in (("a", sa), ("b", sb)):
        for s in stats["stages"]:
            assert cells[f"cmp|{s['name']}|{side}"][0] == s["kept"]["docs"]
            assert cells[f"cmp|{s['name']}|{side}|share"][0] == s["kept"]["share"]["docs"]
            for status in ("dropped", "errored"):
                for reason, part in s[status].items():
                    assert cells[f"cmp|{status}|{s['name']}|{reason}|{side}"][0] == part["docs"]
    ids = [{r["id"] for r in rows(sorted(runs[n].glob("curated/*.parquet")))} for n in "ab"]
    assert cells["kept|both"][0] == len(ids[0] & ids[1])
    assert cells["kept|only_a"][0] == len(ids[0] - ids[1]) == 0
    assert cells["kept|only_b"][0] == len(ids[1] - ids[0]) == 1  # the hostile document, blocked in A only
    assert cells["cmp|dropped|url_filter|url|a"][0] == 1 and cells["cmp|dropped|url_filter|url|b"][0] == 0


def test_stats_compare_prints_the_comparison(runs, capsys):
    assert run_cli("stats", [runs["a"], "--compare", runs["b"]]) == 0
    out = capsys.readouterr().out
    ids = [{r["id"] for r in rows(sorted(runs[n].glob("curated/*.parquet")))} for n in "ab"]
    assert f"kept documents (by id): both {len(ids[0] & ids[1]):,}, A only 0, B only 1" in out
    line = next(line for line in out.splitlines() if line.startswith("url_filter:url"))
    assert line.split()[1:] == ["1", "0", "-1"]
    assert "B only: " in out and "evil.example.org" in out


def test_attributes_give_dropped_documents_scores(runs, tmp_path):
    """A run with attributes/ (curated columns but text, plus `reason`): dropped documents' scores
    count in the histograms, the what-if and the breakdowns."""
    run = tmp_path / "run"
    shutil.copytree(runs["a"], run)
    shutil.rmtree(run / "attributes", ignore_errors=True)  # ours, whatever curate writes
    curated = pa.concat_tables(pq.read_table(p) for p in sorted(run.glob("curated/*.parquet")))
    schema = curated.schema.remove(curated.schema.get_field_index("text")).append(pa.field("reason", pa.string()))
    kept = [row | {"reason": None} for row in curated.drop_columns(["text"]).to_pylist()]
    dropped = []
    for path in sorted(run.glob("exclusions/gopher_quality__*.jsonl")):  # the drops the samples hold whole
        for line in path.read_text().splitlines():
            d = json.loads(line)
            pairs = sorted(d["scores"].items())
            row = {k: d.get(k) for k in schema.names}
            row["scores"] = (
                pairs if pa.types.is_map(schema.field("scores").type) else [{"key": k, "value": v} for k, v in pairs]
            )
            dropped.append(row | {"reason": path.stem.replace("__", ":", 1)})
    assert dropped
    (run / "attributes").mkdir()
    pq.write_table(pa.Table.from_pylist(kept + dropped, schema=schema), run / "attributes" / "part-0.parquet")

    out = report.write_report(str(run), str(tmp_path / "r.html"))
    text = out.read_text()
    cells = page(out).cells
    check_cells(cells, expected_numbers(run))
    assert cells["score|gopher_quality.stop_words"][0] == len(kept) + len(dropped)
    assert "From attributes/" in text and "no attributes/" not in text
    # the rule in force keeps no document its stage dropped for it
    n_short = sum(1 for d in dropped if d["reason"] == "gopher_quality:gopher_short_doc")
    keep_at_50 = cells["whatif|gopher_quality.non_symbol_words|min_doc_words|50.0"][0]
    assert keep_at_50 <= len(kept) + len(dropped) - n_short


def test_without_attributes_scores_are_the_kept_documents_and_the_page_says_so(runs, tmp_path):
    run = tmp_path / "run"  # a run made before attributes were written
    shutil.copytree(runs["a"], run)
    shutil.rmtree(run / "attributes", ignore_errors=True)
    out = report.write_report(str(run), str(tmp_path / "a.html"))
    check_cells(page(out).cells, expected_numbers(run))
    assert "dropped documents&#x27; scores are absent" in out.read_text()


@pytest.mark.parametrize("recipe", ["fineweb", "c4"])
def test_threshold_rules_are_what_decide_does(recipe):
    """Each rule the report draws (score, option, direction) against the filter's own `decide`:
    scores every rule passes, with the one score set just below, at and just above the threshold."""
    checked = 0
    for spec in load_recipe(recipe).stages:
        rules = report.stage_rules(
            spec.kind, report.effective_options({"name": spec.name, "kind": spec.kind, **spec.options})
        )
        for rule in (r for r in rules if r.value is not None):
            decider = build_decider(spec)
            step = max(abs(rule.value) * 1e-6, 1e-9)
            for x in (rule.value - step, rule.value, rule.value + step):
                scores = PASSING[spec.kind] | {rule.score: x}
                assert decider.decide(scores).keep == bool(rule.keeps(x)), (spec.name, rule, x)
            checked += 1
    assert checked >= 3


# Scores every rule of a kind passes, so that only the rule under test decides.
PASSING = {
    "fasttext_langid": {"kept_language": 1.0, "score": 0.99},
    "gopher_quality": {
        "non_symbol_words": 300.0,
        "words": 300.0,
        "avg_word_length": 5.0,
        "hash_word_ratio": 0.0,
        "ellipsis_word_ratio": 0.0,
        "bullet_lines_ratio": 0.0,
        "end_ellipsis_lines_ratio": 0.0,
        "alpha_words_ratio": 0.95,
        "stop_words": 10.0,
    },
    "gopher_repetition": {
        "chars": 1000.0,
        **{k: 0.0 for k in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac")},
        **{f"top_{n}_gram": 0.0 for n in (2, 3, 4)},
        **{f"duplicated_{n}_n_grams": 0.0 for n in range(5, 11)},
    },
    "c4_quality": {"lorem_ipsum_line": 0.0, "curly_bracket_line": 0.0, "sentences": 10.0},
    "fineweb_quality": {
        "lines": 10.0,
        "line_punct_ratio": 1.0,
        "short_line_ratio": 0.0,
        "char_dup_ratio": 0.0,
        "list_ratio": 0.0,
    },
    "bad_words": {"bad_words": 0.0, "bad_word_ratio": 0.0},
    "url_blocklist": {
        **{k: 0.0 for k in ("domain", "subdomain", "url", "banned_words", "banned_subwords", "no_url")},
        "soft_banned_words": 0.0,
    },
}


# -- in a browser -------------------------------------------------------------------------------


def chromium(*args: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (Debian's chromium package; .ci/run installs it)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    return subprocess.run(
        [str(CHROMIUM), *flags, "--enable-logging=stderr", "--v=0", *args], capture_output=True, text=True, timeout=120
    )


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_the_browser_probe_sees_script_that_runs(tmp_path):
    """The checks below can fail: a page with live hostile markup sets its title and logs."""
    probe = tmp_path / "probe.html"
    probe.write_text(
        f"<html><head><title>before</title></head><body>{HOSTILE_TITLE}<script>console.error('x')</script></body></html>"
    )
    done = chromium("--dump-dom", probe.as_uri())
    assert "<title>ran</title>" in done.stdout
    assert console_messages(done.stderr)


@pytest.mark.parametrize("csp", [True, False], ids=["as-written", "without-its-content-security-policy"])
def test_in_chromium_the_page_draws_and_runs_nothing(runs, page_ab, tmp_path, csp):
    out = tmp_path / "a.html"
    text = page_ab.read_text()
    if not csp:  # the escaping alone must hold, not only the policy that forbids script
        text = text.replace(f'<meta http-equiv="Content-Security-Policy" content="{report.CSP}">', "")
        assert "Content-Security-Policy" not in text
    out.write_text(text)
    done = chromium("--dump-dom", out.resolve().as_uri())
    dom = Cells(done.stdout)
    assert not console_messages(done.stderr), console_messages(done.stderr)
    assert f"<title>thresher report: {runs['a']}</title>" in done.stdout  # the hostile title script never ran
    assert not [t for t, _ in dom.tags if t in ("script", "img")]
    assert HOSTILE in "".join(dom.text) and HOSTILE_URL in "".join(dom.text)
    assert any(t == "svg" and ("id", "funnel") in attrs for t, attrs in dom.tags)  # the funnel chart is drawn

    shot = tmp_path / "shot.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1200,3000", "--hide-scrollbars", out.resolve().as_uri())
    assert not console_messages(done.stderr)
    from matplotlib.image import imread

    pixels = imread(shot)[:, :, :3].reshape(-1, 3)
    assert len(pixels) == 1200 * 3000
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    assert len(colours) > 50  # text, bars and lines, not a blank page
    assert counts.max() < 0.97 * len(pixels)  # not one colour all over
