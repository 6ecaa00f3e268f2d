"""`thresher report`: a run as one self-contained HTML page, and two runs side by side.

    thresher report runs/r1 [-o report.html] [--tokenizer runs/tok] [--compare runs/r2]
    thresher stats  runs/r1 --compare runs/r2          (the comparison, in the terminal)

The page (RUN/report.html by default) needs nothing at view time: no script, no font, no network
(its Content-Security-Policy forbids all three); the charts are SVG written by matplotlib, inline.
Every text that comes from the run (URLs, document text, reasons, paths) is HTML-escaped.

What it reads from the run folder (contract 4; a local folder):
  stats.json             the funnel, the recipe, the inputs, the version: every funnel number shown
  attributes/*.parquet   one row per document that reached the document stages, kept or dropped:
                         its scores and `reason` (null when kept). Score histograms, the "what if"
                         shares and the breakdowns come from here. A run without them (made before
                         they were written) falls back to the kept documents' scores, and says so.
  curated/*.parquet      the kept documents: samples, token counts, and the ids a comparison joins on
  exclusions/*.jsonl     the dropped documents' samples, per reason; errors/*.jsonl, every errored record
  _work/run.json         the input files and their sizes

Tokens: with `--tokenizer`, the kept documents' texts are encoded and counted, which gives the
tokens per word of this tokenizer on this text; a stage's tokens are its words times that ratio
(an estimate for every stage but the last, and marked so). Without one, tokens are estimated as
words x 4/3 ("100 tokens ~= 75 words" for English, OpenAI's "What are tokens and how to count them").

Memory does not grow with the number of documents: every file is read in record batches, samples
are the k of smallest id (k held at a time), score histograms are counted in two passes (range, then bins),
and a comparison merge-joins the two runs' curated ids, each file sorted by id (runs.py). What
grows is the breakdown tables: one counter per distinct domain, language and input file.

Same run, same options: same bytes (no clock is read; matplotlib's SVG ids come from a fixed salt).
"""

from __future__ import annotations

import heapq
import html
import inspect
import io
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thresher import __version__
from thresher.contracts.errors import UsageError
from thresher.contracts.funnel import stage_reasons
from thresher.contracts.layout import RUN_FILE, STATS_FILE
from thresher.contracts.schema import text_size

REPORT_FILE = "report.html"
ATTRIBUTES = "attributes"
SAMPLES_KEPT = 5  # kept documents shown, and documents kept by one run only
SAMPLES_PER_REASON = 3  # dropped or errored documents shown per reason
EXCERPT_CHARS = 300
TOP = 15  # rows of each breakdown table
BINS = 30  # histogram bins, over the observed range of each score
WHATIF_POINTS = 8  # thresholds tried per bounded score, evenly over its observed range
# OpenAI, "What are tokens and how to count them": "100 tokens ~= 75 words" (English text).
TOKENS_PER_WORD_ESTIMATE = 4 / 3
TOKENS_ESTIMATE_SOURCE = 'words x 4/3 (OpenAI: "100 tokens ~= 75 words" for English text)'
KEPT, DROPPED = "#3b7dd8", "#d8583b"
METRICS = ("docs", "bytes", "chars", "words", "tokens")


# -- the run folder ------------------------------------------------------------------------------


@dataclass
class Run:
    path: Path
    stats: dict
    curated: list[Path]
    attributes: list[Path]
    exclusions: list[Path]
    errors: list[Path]
    files: list[tuple[str, int]]  # the input files and sizes (_work/run.json), when kept


def open_run(path: str) -> Run:
    """A complete local run folder (or its stats.json path); UsageError otherwise."""
    if "://" in str(path):
        raise UsageError(f"{path}: the report reads local run folders; copy the run here first")
    folder = Path(path)
    if folder.name == STATS_FILE:
        folder = folder.parent
    stats_path = folder / STATS_FILE
    if not stats_path.is_file():
        state = "an incomplete run (stopped before it finished)" if (folder / RUN_FILE).is_file() else "no run"
        raise UsageError(f"{path} holds {state}: no {STATS_FILE}")
    stats = json.loads(stats_path.read_text())
    run_file = folder / RUN_FILE
    files = [tuple(f) for f in json.loads(run_file.read_text()).get("files", [])] if run_file.is_file() else []
    return Run(
        folder,
        stats,
        sorted(folder.glob("curated/*.parquet")),
        sorted(folder.glob(f"{ATTRIBUTES}/*.parquet")),
        sorted(folder.glob("exclusions/*.jsonl")),
        sorted(folder.glob("errors/*.jsonl")),
        files,
    )


def _batches(files: Iterable[Path], columns: list[str]):
    for path in files:
        pf = pq.ParquetFile(path)
        present = [c for c in columns if c in pf.schema_arrow.names]
        yield from pf.iter_batches(columns=present, batch_size=8192)


def _jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _excerpt(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + " ..."


# -- thresholds: which recipe option bounds which stored score -----------------------------------


@dataclass(frozen=True)
class Rule:
    """One comparison a stage's `decide` drops on: `score <drop_if> value` drops the document."""

    score: str  # the stage's signal, unprefixed ("stop_words")
    option: str  # the recipe option that sets `value` ("min_stop_words")
    value: float | None  # None: the rule is off
    drop_if: str  # "<", ">" or ">="

    def keeps(self, x):
        if self.value is None:
            return np.ones_like(x, dtype=bool)
        return {"<": x >= self.value, ">": x <= self.value, ">=": x < self.value}[self.drop_if]

    def describe(self) -> str:
        if self.value is None:
            return f"{self.option}: off"
        return f"drop if {self.score} {self.drop_if} {_num(self.value)} ({self.option})"


def stage_rules(kind: str, options: dict) -> list[Rule]:
    """The thresholds a stage's `decide` applies to its stored scores, as read off each filter's
    `decide` (filters/*.py); tests/test_report.py checks every one against `decide` itself.
    `options`: the stage's effective options (recipe over class defaults). Kinds not here (extract,
    pii, the dedup stages) decide on nothing a threshold moves; signals not here (a URL on a list,
    C4's lorem ipsum line) are yes/no rules with no option."""
    o = options

    def rules(*specs):
        return [Rule(score, option, o.get(option), drop_if) for score, option, drop_if in specs]

    if kind == "fasttext_langid":
        return rules(("score", "threshold", "<"))
    if kind == "gopher_quality":
        return rules(
            ("non_symbol_words", "min_doc_words", "<"),
            ("non_symbol_words", "max_doc_words", ">"),
            ("avg_word_length", "min_avg_word_length", "<"),
            ("avg_word_length", "max_avg_word_length", ">"),
            ("hash_word_ratio", "max_symbol_word_ratio", ">"),
            ("ellipsis_word_ratio", "max_symbol_word_ratio", ">"),
            ("bullet_lines_ratio", "max_bullet_lines_ratio", ">"),
            ("end_ellipsis_lines_ratio", "max_ellipsis_lines_ratio", ">"),
            ("alpha_words_ratio", "min_alpha_words_ratio", "<"),
            ("stop_words", "min_stop_words", "<"),
        )
    if kind == "gopher_repetition":
        fracs = ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac")
        out = rules(*((name, name, ">") for name in fracs))
        for option, score in (("top_n_grams", "top_{}_gram"), ("dup_n_grams", "duplicated_{}_n_grams")):
            out += [Rule(score.format(int(n)), f"{option}[{int(n)}]", float(v), ">") for n, v in o.get(option) or ()]
        return out
    if kind == "c4_quality":
        return rules(("sentences", "min_num_sentences", "<"))
    if kind == "fineweb_quality":
        return rules(
            ("line_punct_ratio", "line_punct_thr", "<"),
            ("short_line_ratio", "short_line_thr", ">"),
            ("char_dup_ratio", "char_duplicates_ratio", ">"),
            ("list_ratio", "new_line_ratio", ">"),
        )
    if kind == "bad_words":
        return rules(("bad_words", "max_bad_words", ">"), ("bad_word_ratio", "max_bad_word_ratio", ">"))
    if kind == "fasttext_toxicity":
        return rules(("probability", "threshold", ">="))
    if kind == "fasttext_classifier":
        return rules(("score", "threshold", "<" if o.get("keep_above", True) else ">="))
    if kind == "fasttext_domain" and not o.get("keep_other_domains"):
        return rules(("score", "threshold", "<"))
    if kind == "url_blocklist":
        return rules(("soft_banned_words", "soft_word_threshold", ">="))
    if kind == "decontaminate" and o.get("action", "drop") == "drop":
        return rules(("contaminated_ngrams", "min_matches", ">="))
    return []


def _stage_class(kind: str):
    from thresher.filters.registry import STAGE_KINDS, stage_class

    return stage_class(kind) if STAGE_KINDS.get(kind) else None


def effective_options(stage: dict) -> dict:
    """A recipe stage's options, with the class defaults it did not set."""
    cls = _stage_class(stage["kind"])
    options = {}
    if cls is not None:
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if name != "self" and p.default is not inspect.Parameter.empty:
                options[name] = p.default
    options.update({k: v for k, v in stage.items() if k not in ("name", "kind")})
    return options


# -- where each option's value comes from --------------------------------------------------------


def _yaml_comments(text: str) -> dict[tuple[str | None, str], str]:
    """{(stage name or None for the top level, key): comment} of a recipe YAML: a key's comment at
    the end of its line, and the comment lines just above it. `kind`'s comment speaks for the stage."""
    comments: dict[tuple[str | None, str], str] = {}
    stage, above = None, []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        m = re.match(r"^\s*(-\s+)?([A-Za-z_][\w]*)\s*:\s*(.*)$", line)
        if not m:
            above = []
            continue
        key, rest = m.group(2), m.group(3)
        if m.group(1) and key == "name":
            stage = rest.split("#")[0].strip().strip("'\"")
        elif not line.startswith(" ") and not m.group(1):
            stage = None
        inline = rest.split(" #", 1)[1].strip() if " #" in rest else ""
        said = " ".join([*above, inline]).strip()
        if said:
            comments[(stage, key)] = said
        above = []
    return comments


def _builtin_yaml(recipe: dict) -> str | None:
    """The built-in recipe file's text when stats.json's recipe is that built-in one, unchanged."""
    from thresher.contracts.recipe import RecipeError
    from thresher.filters.registry import BUILTIN_DIR, load_recipe

    name = recipe.get("name", "")
    try:
        builtin = load_recipe(name)
    except (RecipeError, OSError):
        return None
    if not builtin.source.startswith("builtin:") or json.loads(json.dumps(builtin.to_dict())) != recipe:
        return None
    *folders, last = name.split("/")
    return resources.files("thresher.filters").joinpath(BUILTIN_DIR, *folders, f"{last}.yaml").read_text()


@cache
def _parameter_comments(cls) -> dict[str, str]:
    """{parameter: its comment in the class's __init__}: the published default and its source."""
    try:
        lines = inspect.getsource(cls.__init__).splitlines()
    except (OSError, TypeError):
        return {}
    out, above = {}, []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        m = re.match(r"^\s*(\w+)\s*:", line)
        if m and "=" in line:
            inline = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            said = " ".join([*above, inline]).strip()
            if said:
                out[m.group(1)] = said
        above = []
    return out


def option_sources(recipe: dict) -> tuple[list[dict], str]:
    """Per stage: every option with its value and where the value came from; and a line on where
    the recipe's own comments came from."""
    text = _builtin_yaml(recipe)
    comments = _yaml_comments(text) if text else {}
    origin = (
        f"built-in recipe `{recipe.get('name')}` (filters/recipes/): the comments quoted are its own"
        if text
        else "a recipe file not shipped with thresher (or changed since): values as stats.json records them"
    )
    stages = []
    for stage in recipe["stages"]:
        cls = _stage_class(stage["kind"])
        params = _parameter_comments(cls) if cls else {}
        rows = []
        for option, value in effective_options(stage).items():
            if option in stage:
                source = "recipe" + (
                    f": {comments[(stage['name'], option)]}" if (stage["name"], option) in comments else ""
                )
            else:
                source = f"default of {cls.__name__}" + (f": {params[option]}" if option in params else "")
            rows.append({"option": option, "value": value, "source": source})
        stages.append(
            {
                "name": stage["name"],
                "kind": stage["kind"],
                "note": comments.get((stage["name"], "kind"), ""),
                "rows": rows,
            }
        )
    return stages, origin


# -- score distributions (two streaming passes) --------------------------------------------------


@dataclass
class ScoreHist:
    key: str  # "<stage>.<signal>"
    count: int = 0
    low: float = math.inf
    high: float = -math.inf
    edges: np.ndarray | None = None
    passed: np.ndarray | None = None  # per bin, documents not dropped by this score's stage
    dropped: np.ndarray | None = None  # per bin, documents this score's stage dropped
    rules: tuple = ()
    whatif: dict | None = None  # {rule index: [(threshold, documents kept)]}


def _score_entries(batch):
    """(keys, values, row of each entry) of a batch's `scores` map column, NaNs left out."""
    col = batch.column(batch.schema.get_field_index("scores"))
    offsets = col.offsets.to_numpy()
    # schema version 4: list<struct<key, value>>; version 3: map<string, double> (the same pairs)
    entries = col.values if not hasattr(col, "keys") else None
    keys = (entries.field("key") if entries is not None else col.keys).slice(offsets[0], offsets[-1] - offsets[0])
    values = (entries.field("value") if entries is not None else col.items).slice(offsets[0], offsets[-1] - offsets[0])
    values = values.to_numpy(zero_copy_only=False)
    rows = np.repeat(np.arange(len(col)), np.diff(offsets))
    return keys, np.asarray(values, dtype=float), rows


def _by_key(batch):
    keys, values, rows = _score_entries(batch)
    for key in pc.unique(keys).to_pylist():
        mask = pc.equal(keys, key).to_numpy(zero_copy_only=False)
        vals, where = values[mask], rows[mask]
        ok = ~np.isnan(vals)
        yield key, vals[ok], where[ok]


def score_histograms(files: list[Path], recipe: dict) -> list[ScoreHist]:
    """A histogram per stored score over `files` (attributes, or curated), split by whether the
    score's stage dropped the document, and per threshold rule the documents kept at
    WHATIF_POINTS other thresholds (that rule alone, among the documents that have the score)."""
    stages = {s["name"]: s for s in recipe["stages"]}
    hists: dict[str, ScoreHist] = {}
    for batch in _batches(files, ["scores"]):
        for key, vals, _ in _by_key(batch):
            h = hists.setdefault(key, ScoreHist(key))
            if len(vals):
                h.count += len(vals)
                h.low, h.high = min(h.low, float(vals.min())), max(h.high, float(vals.max()))
    for h in hists.values():
        stage_name, _, signal = h.key.partition(".")
        stage = stages.get(stage_name)
        rules = stage_rules(stage["kind"], effective_options(stage)) if stage else []
        h.rules = tuple(r for r in rules if r.score == signal)
        if h.count and h.high > h.low:
            h.edges = np.linspace(h.low, h.high, BINS + 1)
            h.passed, h.dropped = np.zeros(BINS, dtype=np.int64), np.zeros(BINS, dtype=np.int64)
        h.whatif = {i: [(t, 0) for t in _whatif_thresholds(h, r)] for i, r in enumerate(h.rules) if r.value is not None}
    for batch in _batches(files, ["scores", "reason"]):
        names = batch.schema.names
        reasons = batch.column(names.index("reason")).to_pylist() if "reason" in names else [None] * batch.num_rows
        # the stage that dropped each row ("" when kept)
        dropped_by = np.array([(r or "").partition(":")[0] for r in reasons], dtype=object)
        for key, vals, rows in _by_key(batch):
            h = hists[key]
            here = dropped_by[rows] == key.partition(".")[0]
            if h.edges is not None:
                h.passed += np.histogram(vals[~here], bins=h.edges)[0]
                h.dropped += np.histogram(vals[here], bins=h.edges)[0]
            for i, points in h.whatif.items():
                rule = h.rules[i]
                h.whatif[i] = [
                    (t, n + int(np.count_nonzero(Rule(rule.score, rule.option, t, rule.drop_if).keeps(vals))))
                    for t, n in points
                ]
    order = {name: i for i, name in enumerate(stages)}
    return sorted(hists.values(), key=lambda h: (order.get(h.key.partition(".")[0], len(order)), h.key))


def _whatif_thresholds(h: ScoreHist, rule: Rule) -> list[float]:
    """The thresholds tried: evenly from the lowest to the highest of the values seen and the
    threshold in force, rounded to 3 significant digits, and the one in force."""
    if not h.count:
        return [float(rule.value)]
    low, high = min(h.low, rule.value), max(h.high, rule.value)
    return sorted({float(f"{t:.3g}") for t in np.linspace(low, high, WHATIF_POINTS)} | {float(rule.value)})


# -- breakdowns, samples, tokens -----------------------------------------------------------------


@lru_cache(maxsize=1)
def _tld_extractor():
    import tldextract

    # the bundled Public Suffix List snapshot only: no download, no cache directory (as filters/url.py)
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registered_domain(url: str | None) -> str:
    """The registered domain (public suffix + one label, `example.co.uk`), the host where there is
    none (an IP address), `(no url)` without a URL."""
    if not url:
        return "(no url)"
    parts = _tld_extractor()(url)
    if parts.domain and parts.suffix:
        return f"{parts.domain}.{parts.suffix}".lower()
    return (parts.domain or url).lower()


def breakdowns(run: Run) -> tuple[dict[str, dict[str, Counter]], str]:
    """{by: {"kept"|"dropped": Counter}} by registered domain, language and input file, and what
    the documents counted are."""
    if run.attributes:
        files, scope = run.attributes, "every document that reached the document stages (attributes/)"
    else:
        files, scope = (
            run.curated,
            "kept documents only: this run has no attributes/, so dropped documents are not counted",
        )
    out = {by: {"kept": Counter(), "dropped": Counter()} for by in ("domain", "lang", "source_file")}
    names = ("url", "lang", "source_file", "reason")
    for batch in _batches(files, list(names)):
        cols = {name: batch.column(i).to_pylist() for i, name in enumerate(batch.schema.names)}
        for url, lang, source, reason in zip(*(cols.get(c, [None] * batch.num_rows) for c in names)):
            side = "kept" if reason is None else "dropped"
            out["domain"][side][registered_domain(url)] += 1
            out["lang"][side][lang or "(none)"] += 1
            out["source_file"][side][source or "(none)"] += 1
    return out, scope


def kept_samples_and_tokens(run: Run, tokenizer_path: str | None) -> tuple[list[dict], dict | None]:
    """The SAMPLES_KEPT kept documents of smallest id, and with a tokenizer the kept documents'
    tokens and words (whitespace words, the funnel's unit)."""
    tokenizer = _load_tokenizer(tokenizer_path) if tokenizer_path else None
    best: list[dict] = []  # the k of smallest id so far
    tokens = words = 0
    for batch in _batches(run.curated, ["id", "url", "text"]):
        docs = batch.to_pylist()
        best = _smallest(best + docs, SAMPLES_KEPT)
        if tokenizer is not None:
            texts = [d["text"] or "" for d in docs]
            tokens += sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))
            words += sum(text_size(t)[1] for t in texts)
    samples = [{"id": d["id"], "url": d["url"], "excerpt": _excerpt(d["text"])} for d in best]
    measured = {"tokens": tokens, "words": words, "tokenizer": str(tokenizer_path)} if tokenizer is not None else None
    return samples, measured


def _load_tokenizer(path: str):
    from tokenizers import Tokenizer

    file = Path(path)
    if file.is_dir():
        file = file / "tokenizer.json"
    if not file.is_file():
        raise UsageError(f"--tokenizer {path}: no tokenizer.json there")
    return Tokenizer.from_file(str(file))


def _smallest(items: Iterable[dict], k: int) -> list[dict]:
    return heapq.nsmallest(k, items, key=lambda d: str(d.get("id")))


def dropped_samples(run: Run) -> dict[str, list[dict]]:
    """{"stage:reason": the SAMPLES_PER_REASON exclusion samples of smallest id}."""
    out = {}
    for path in run.exclusions:
        stage, _, reason = path.stem.partition("__")
        docs = _smallest(_jsonl(path), SAMPLES_PER_REASON)
        out[f"{stage}:{reason}"] = [
            {"id": d.get("id"), "url": d.get("url"), "excerpt": _excerpt(d.get("text"))} for d in docs
        ]
    return out


def errored_samples(run: Run) -> dict[str, list[dict]]:
    """{"stage:reason": the SAMPLES_PER_REASON errored records of smallest id}, over every errors file."""
    heaps: dict[str, list] = {}
    for path in run.errors:
        for rec in _jsonl(path):
            key = f"{rec.get('stage')}:{rec.get('reason')}"
            heaps[key] = _smallest([*heaps.get(key, []), rec], SAMPLES_PER_REASON)
    return {
        key: [
            {"id": d.get("id"), "url": d.get("url"), "excerpt": _excerpt(d.get("text_head") or d.get("detail"))}
            for d in docs
        ]
        for key, docs in sorted(heaps.items())
    }


# -- comparison ---------------------------------------------------------------------------------


def _sorted_ids(files: list[Path]) -> Iterator[str]:
    """Every curated id of a run, ascending, each once: a merge of the files, each sorted by id."""

    def one(path):
        last = None
        for batch in _batches([path], ["id"]):
            for doc_id in batch.column(0).to_pylist():
                if last is not None and doc_id < last:
                    raise UsageError(f"{path}: ids are not sorted ({doc_id} after {last}): not a thresher run's file")
                last = doc_id
                yield doc_id

    last = None
    for doc_id in heapq.merge(*(one(p) for p in files)):
        if doc_id != last:
            yield doc_id
        last = doc_id


def kept_difference(a: Run, b: Run) -> dict:
    """Documents (by id) kept by both, by A only, by B only; the SAMPLES_KEPT of smallest id of each side."""
    both = 0
    only = {"a": [], "b": []}
    counts = {"a": 0, "b": 0}
    ia, ib = _sorted_ids(a.curated), _sorted_ids(b.curated)
    x, y = next(ia, None), next(ib, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x < y):
            counts["a"] += 1
            if len(only["a"]) < SAMPLES_KEPT:
                only["a"].append(x)
            x = next(ia, None)
        elif x is None or y < x:
            counts["b"] += 1
            if len(only["b"]) < SAMPLES_KEPT:
                only["b"].append(y)
            y = next(ib, None)
        else:
            both += 1
            x, y = next(ia, None), next(ib, None)
    return {
        "both": both,
        "only_a": counts["a"],
        "only_b": counts["b"],
        "samples_a": _documents(a.curated, only["a"]),
        "samples_b": _documents(b.curated, only["b"]),
    }


def _documents(files: list[Path], ids: list[str]) -> list[dict]:
    if not ids:
        return []
    found = {}
    for path in files:
        table = pq.read_table(path, columns=["id", "url", "text"], filters=pc.field("id").isin(ids))
        for row in table.to_pylist():
            found[row["id"]] = {"id": row["id"], "url": row["url"], "excerpt": _excerpt(row["text"])}
    return [found[i] for i in ids if i in found]


def _union(a: list[str], b: list[str]) -> list[str]:
    """A's names in A's order, each of B's others right after the name it follows in B."""
    out = list(a)
    for i, name in enumerate(b):
        if name not in out:
            out.insert(out.index(b[i - 1]) + 1 if i and b[i - 1] in out else len(out), name)
    return out


def funnel_comparison(a: dict, b: dict) -> dict:
    """Stage by stage and reason by reason, A's and B's documents; None where a run has no such row."""
    sa, sb = ({s["name"]: s for s in st["stages"]} for st in (a, b))
    stages = _union(list(sa), list(sb))
    rows = []
    for name in stages:
        pa_, pb_ = sa.get(name), sb.get(name)
        rows.append(
            {
                "stage": name,
                "in": [p["in"]["docs"] if p else None for p in (pa_, pb_)],
                "kept": [p["kept"]["docs"] if p else None for p in (pa_, pb_)],
                "share": [p["kept"]["share"]["docs"] if p else None for p in (pa_, pb_)],
            }
        )
    reasons = []
    for name in stages:
        for status in ("dropped", "errored"):
            keys = _union(*(list((s.get(name) or {}).get(status, {})) for s in (sa, sb)))
            for reason in keys:
                docs = [
                    (s.get(name) or {}).get(status, {}).get(reason, {}).get("docs", 0) if name in s else None
                    for s in (sa, sb)
                ]
                reasons.append({"stage": name, "status": status, "reason": reason, "docs": docs})
    return {"stages": rows, "reasons": reasons, "retained": [a["retained"]["docs"], b["retained"]["docs"]]}


def _delta(a, b) -> str:
    return "" if a is None or b is None else f"{b - a:+,}"


def format_comparison(a: Run, b: Run) -> str:
    """The comparison as terminal text (`thresher stats A --compare B`)."""
    cmp = funnel_comparison(a.stats, b.stats)
    diff = kept_difference(a, b)

    def cell(v, share=None):
        return "-" if v is None else f"{v:,}" + (f" ({100 * share:.1f}%)" if share is not None else "")

    rows = [("stage", "A in", "A kept", "B in", "B kept", "B-A kept")]
    for r in cmp["stages"]:
        rows.append(
            (
                r["stage"],
                cell(r["in"][0]),
                cell(r["kept"][0], r["share"][0]),
                cell(r["in"][1]),
                cell(r["kept"][1], r["share"][1]),
                _delta(*r["kept"]),
            )
        )
    rows.append(("", "", "", "", "", ""))
    rows.append(("stage:reason", "", "A docs", "", "B docs", "B-A"))
    for r in cmp["reasons"]:
        label = f"{r['stage']}:{r['reason']}" + (" (errored)" if r["status"] == "errored" else "")
        rows.append((label, "", cell(r["docs"][0]), "", cell(r["docs"][1]), _delta(*r["docs"])))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = [f"A: {a.path}  (recipe {a.stats['recipe']['name']})", f"B: {b.path}  (recipe {b.stats['recipe']['name']})"]
    for row in rows:
        lines.append(
            "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip()
        )
    lines.append(
        f"\nkept documents (by id): both {diff['both']:,}, A only {diff['only_a']:,}, B only {diff['only_b']:,}"
    )
    for side, name in (("a", "A"), ("b", "B")):
        for d in diff[f"samples_{side}"]:
            line = f"  {name} only: {d['id']}  {d['url']}  {d['excerpt'][:100]}"
            lines.append("".join(c if c.isprintable() else "?" for c in line))  # a document's escape codes stay inert
    return "\n".join(lines)


# -- charts (matplotlib, SVG) -------------------------------------------------------------------


def _svg(fig, name: str) -> str:
    """The figure as inline SVG: text kept as text, ids salted by `name` (unique on the page, the
    same on every run), no date."""
    import matplotlib

    buf = io.StringIO()
    # text.parse_math off: a `$` in a stage name is a character, not TeX
    rc = {"svg.hashsalt": f"thresher-{name}", "svg.fonttype": "none", "svg.id": name, "text.parse_math": False}
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def _figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def funnel_chart(stats: dict) -> str:
    stages = stats["stages"]
    names = [s["name"] for s in stages]
    fig = _figure(11, 0.32 * len(stages) + 1.6)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.2])
    y = np.arange(len(stages))[::-1]
    docs = [s["kept"]["docs"] for s in stages]
    left.barh(y, docs, color=KEPT)
    for yi, d in zip(y, docs):
        left.text(d, yi, f" {d:,}", va="center", fontsize=8)
    left.set_yticks(y, names, fontsize=8)
    left.set_xlabel("documents kept after the stage")
    left.set_xlim(0, max(docs + [1]) * 1.18)
    # Text exists from extraction on: before it, chars and words count only inputs that came as text.
    kinds = {s["name"]: s["kind"] for s in stats["recipe"]["stages"]}
    first_text = next((i for i, s in enumerate(stages) if kinds.get(s["name"]) == "extract"), 0)
    for metric, style in (("docs", "o-"), ("bytes", "s-"), ("chars", "^-"), ("words", "d-")):
        start = first_text if metric in ("chars", "words") else 0
        label = {"chars": "chars (from extraction)", "words": "words, tokens (from extraction)"}.get(metric, metric)
        shares = [100 * s["kept"]["share"][metric] for s in stages[start:]]
        right.plot(shares, y[start:], style, label=label, markersize=4)
    right.set_yticks(y, [""] * len(y))
    right.set_xlabel("% of the input kept after the stage")
    right.set_xlim(-2, 102)
    right.legend(fontsize=8, loc="lower left")
    right.grid(axis="x", alpha=0.3)
    return _svg(fig, "funnel")


def drops_chart(stats: dict) -> str | None:
    bars = [
        (f"{s['name']}:{reason}", part["docs"], status)
        for s in stats["stages"]
        for status, reason, part in stage_reasons(s)
    ]
    if not bars:
        return None
    fig = _figure(11, 0.26 * len(bars) + 1.0)
    ax = fig.subplots()
    y = np.arange(len(bars))[::-1]
    ax.barh(y, [b[1] for b in bars], color=[DROPPED if b[2] == "dropped" else "#999999" for b in bars])
    for yi, (_, n, _) in zip(y, bars):
        ax.text(n, yi, f" {n:,}", va="center", fontsize=8)
    ax.set_yticks(y, [b[0] + (" (errored)" if b[2] == "errored" else "") for b in bars], fontsize=8)
    ax.set_xlabel("documents dropped (red) or errored (grey), by stage and reason")
    ax.set_xlim(0, max(b[1] for b in bars) * 1.15 or 1)
    return _svg(fig, "drops")


def histogram_chart(stage: str, hists: list[ScoreHist]) -> str | None:
    drawn = [h for h in hists if h.edges is not None]
    if not drawn:
        return None
    cols = min(4, len(drawn))
    rows = -(-len(drawn) // cols)
    # a fixed layout, not a constrained one: it costs a tenth of the time on a page of many charts
    height = 2.1 * rows + 0.3
    fig = _figure(11, height, layout=None)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.35 / height, top=1 - 0.3 / height, wspace=0.25, hspace=0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, h in zip(axes, drawn):
        # stacked: all documents in red, those that passed the stage over them in blue
        ax.stairs(h.passed + h.dropped, h.edges, fill=True, color=DROPPED, label="dropped here")
        ax.stairs(h.passed, h.edges, fill=True, color=KEPT, label="passed the stage")
        pad = 0.05 * (h.high - h.low)
        ax.set_xlim(h.low - pad, h.high + pad)
        for r in h.rules:
            if r.value is None:
                continue
            if h.low - pad <= r.value <= h.high + pad:
                ax.axvline(r.value, color="black", linestyle="--", linewidth=1)
            else:  # far off the values: said at the edge, not drawn (it would squeeze them into one bar)
                right = r.value > h.high
                ax.text(
                    0.98 if right else 0.02,
                    0.78 if right else 0.9,
                    f"{r.option} {_num(r.value)} " + ("->" if right else "<-"),
                    transform=ax.transAxes,
                    ha="right" if right else "left",
                    fontsize=7,
                )
        ax.set_title(h.key.partition(".")[2], fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(drawn) :]:
        ax.set_visible(False)
    return _svg(fig, "hist-" + re.sub(r"[^A-Za-z0-9_-]", "_", stage))


def comparison_chart(cmp: dict) -> str:
    rows = cmp["stages"]
    fig = _figure(11, 0.32 * len(rows) + 1.4)
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    for side, style, label in ((0, "o-", "A"), (1, "s--", "B")):
        pts = [(100 * r["share"][side], yi) for r, yi in zip(rows, y) if r["share"][side] is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label, markersize=4)
    ax.set_yticks(y, [r["stage"] for r in rows], fontsize=8)
    ax.set_xlabel("% of the input documents kept after the stage")
    ax.set_xlim(-2, 102)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    return _svg(fig, "compare")


# -- HTML ---------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 2em; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 7px; vertical-align: top; }
th { background: #f3f3f3; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; font-size: 13px; } table.samples { width: 100%; table-layout: fixed; }
table.samples td:nth-child(1) { width: 15em; } table.samples td:nth-child(2) { width: 22em; word-break: break-all; } .excerpt { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; word-break: break-word; }
nav a { margin-right: 12px; } svg { max-width: 100%; height: auto; }
"""
# No script, no fetch of any kind; the inline styles (matplotlib's SVG has some) are all it allows.
CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _num(v) -> str:
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    return f"{v:.4g}"


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


class Page:
    """The HTML, built in order. Every number from the run sits in a cell with `data-key` naming
    it and `data-value` holding it exactly, which is what the tests check against the run's files."""

    def __init__(self):
        self.parts: list[str] = []

    def add(self, *parts: str) -> None:
        self.parts.extend(parts)

    def text(self, tag: str, text: str, cls: str = "") -> None:
        self.add(f"<{tag}{f' class={cls!r}' if cls else ''}>{html.escape(str(text))}</{tag}>")

    def table(self, header: list[str], rows: list[list]) -> None:
        """Rows of cells: a str (text, escaped) or (key, value, shown text) for a number."""
        self.add("<table><tr>", *(f"<th>{html.escape(h)}</th>" for h in header), "</tr>")
        for row in rows:
            self.add("<tr>")
            for cell in row:
                if isinstance(cell, tuple):
                    key, value, shown = cell
                    value_attr = "" if value is None else f' data-value="{html.escape(repr(value))}"'
                    self.add(f'<td class="n" data-key="{html.escape(key)}"{value_attr}>{html.escape(shown)}</td>')
                else:
                    self.add(f"<td>{html.escape(str(cell))}</td>")
            self.add("</tr>")
        self.add("</table>")

    def html(self) -> str:
        return "".join(self.parts)


def _n(key: str, value) -> tuple:
    """A count's cell; `data-key` names it (parts joined by `|`), `data-value` holds it."""
    value = None if value is None else int(value)
    return (key, value, "-" if value is None else _num(value))


def _share(key: str, share: float | None) -> tuple:
    share = None if share is None else float(share)
    return (key, share, "-" if share is None else _pct(share))


def _samples(page: Page, docs: list[dict], what: str) -> None:
    if not docs:
        page.text("p", f"no {what}", "note")
        return
    page.add('<table class="samples"><tr><th>id</th><th>url</th><th>text (excerpt)</th></tr>')
    for d in docs:
        page.add(
            f'<tr class="sample"><td>{html.escape(str(d["id"]))}</td><td>{html.escape(str(d["url"] or ""))}</td>'
            f'<td class="excerpt">{html.escape(d["excerpt"])}</td></tr>'
        )
    page.add("</table>")


def stage_tokens(stats: dict, measured: dict | None) -> tuple[dict[str, int], str]:
    """Tokens kept per stage (words x tokens per word) and what that ratio is."""
    if measured and measured["words"]:
        ratio = measured["tokens"] / measured["words"]
        source = (
            f"tokens per word of {measured['tokenizer']} on the kept documents: {measured['tokens']:,} tokens / "
            f"{measured['words']:,} words = {ratio:.4f}; every stage's tokens but the last are words x that ratio (an estimate)"
        )
    else:
        ratio, source = TOKENS_PER_WORD_ESTIMATE, f"an estimate: {TOKENS_ESTIMATE_SOURCE}"
    out = {s["name"]: round(s["kept"]["words"] * ratio) for s in stats["stages"]}
    if measured and measured["words"]:
        out[stats["stages"][-1]["name"]] = measured["tokens"]
    out["(input)"] = round(stats["input"]["words"] * ratio)
    return out, source


def render(run: Run, tokenizer: str | None = None, compare: Run | None = None) -> str:
    """The report page for `run` (and its comparison with `compare`), as HTML text."""
    stats = run.stats
    recipe = stats["recipe"]
    kept_docs, measured = kept_samples_and_tokens(run, tokenizer)
    tokens, tokens_source = stage_tokens(stats, measured)
    page = Page()
    title = f"thresher report: {run.path}"
    page.add(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
    )
    page.text("h1", title)
    page.text(
        "p",
        f"{stats.get('pipeline', 'run')} with recipe {recipe.get('name')}, thresher {stats.get('thresher_version')} "
        f"(this report: thresher {__version__}); accounting "
        + ("balanced" if stats.get("accounting_ok") else "NOT balanced: see thresher stats"),
        "note",
    )
    nav = ["funnel", "reasons", "scores", "breakdowns", "samples", "recipe", "files"] + (["compare"] if compare else [])
    page.add("<nav>", *(f'<a href="#{s}">{s}</a>' for s in nav), "</nav>")

    # the funnel
    page.add('<h2 id="funnel">Funnel</h2>', funnel_chart(stats))
    inp = stats["input"]
    rows = [
        [
            "(input)",
            *(_n(f"input|{m}", inp[m]) for m in ("docs", "bytes", "chars", "words")),
            _n("input|tokens", tokens["(input)"]),
            "",
        ]
    ]
    header = ["after stage", "docs", "bytes", "chars", "words", "tokens", "% docs / bytes / chars / words"]
    for s in stats["stages"]:
        k, name = s["kept"], s["name"]
        rows.append(
            [
                name,
                *(_n(f"funnel|{name}|{m}", k[m]) for m in ("docs", "bytes", "chars", "words")),
                _n(f"funnel|{name}|tokens", tokens[name]),
                " / ".join(_pct(k["share"][m]) for m in ("docs", "bytes", "chars", "words")),
            ]
        )
    page.table(header, rows)
    page.text(
        "p",
        f"Tokens: {tokens_source}; their share of the input is the words' share. Shares are of the input: documents and bytes of the records read, characters and words "
        "of the most text any stage saw (text exists only after extraction).",
        "note",
    )

    # drops by reason
    page.add('<h2 id="reasons">Drops by reason</h2>')
    chart = drops_chart(stats)
    if chart:
        page.add(chart)
    rows = []
    for s in stats["stages"]:
        for status, reason, part in stage_reasons(s):
            key = f"{status}|{s['name']}|{reason}"
            rows.append(
                [
                    f"{s['name']}:{reason}",
                    status,
                    _n(f"{key}|docs", part["docs"]),
                    _share(f"{key}|share", part["share"]["docs"]),
                    _n(f"{key}|chars", part["chars"]),
                    _n(f"{key}|words", part["words"]),
                ]
            )
    page.table(["stage:reason", "", "docs", "% of input docs", "chars", "words"], rows)

    # scores
    page.add('<h2 id="scores">Scores</h2>')
    if run.attributes:
        page.text(
            "p",
            "From attributes/: every document that reached a stage, kept or dropped. Blue: passed the stage; red: "
            "dropped by it; dashed line: the threshold in force (one far off the values is written at the edge, "
            "with an arrow). 'What if': the share of the documents with the score "
            "that this one rule keeps at other thresholds (the stage's other rules and later stages aside).",
            "note",
        )
        hists = score_histograms(run.attributes, recipe)
    else:
        page.text(
            "p",
            "This run has no attributes/: the scores shown are the kept documents' only (dropped documents' scores are "
            "absent), so a looser threshold's effect cannot be read here; 'what if' shares are of kept documents. "
            "Dashed line: the threshold in force (one far off the values is written at the edge, with an arrow).",
            "note",
        )
        hists = score_histograms(run.curated, recipe)
    by_stage: dict[str, list[ScoreHist]] = {}
    for h in hists:
        by_stage.setdefault(h.key.partition(".")[0], []).append(h)
    for stage, group in by_stage.items():
        page.text("h3", stage)
        chart = histogram_chart(stage, group)
        if chart:
            page.add(chart)
        rows = []
        for h in group:
            rules = (
                "; ".join(r.describe() for r in h.rules) or "no threshold: a yes/no rule or a signal no option bounds"
            )
            shape = (
                f"{_num(h.low)} to {_num(h.high)}"
                if h.count and h.high > h.low
                else (f"all {_num(h.low)}" if h.count else "no values")
            )
            rows.append([h.key, _n(f"score|{h.key}", h.count), shape, rules])
        page.table(["score", "documents", "range", "threshold in force"], rows)
        whatif = [(h, h.rules[i], pts) for h in group for i, pts in (h.whatif or {}).items()]
        if whatif:
            width = max(len(p) for _, _, p in whatif)
            rows = []
            for h, rule, points in whatif:
                cells = [
                    (
                        f"whatif|{h.key}|{rule.option}|{t!r}",
                        n,
                        f"{'*' if t == rule.value else ''}{_num(t)}: {_pct(n / h.count) if h.count else '-'}",
                    )
                    for t, n in points
                ]
                rows.append([h.key, rule.describe(), *cells, *([""] * (width - len(cells)))])
            page.table(["score", "rule", *(["threshold: % kept (* in force)"] + [""] * (width - 1))], rows)

    # breakdowns
    page.add('<h2 id="breakdowns">Breakdowns</h2>')
    counts, scope = breakdowns(run)
    page.text(
        "p", f"Counting {scope}. Domains are registered domains (tldextract, its bundled Public Suffix List).", "note"
    )
    titles = {"domain": "registered domain", "lang": "language", "source_file": "input file"}
    for by, sides in counts.items():
        page.text("h3", f"by {titles[by]}")
        for side in ("kept", "dropped"):
            top = sorted(sides[side].items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
            rows = [
                [
                    key,
                    _n(f"{by}|{key}|kept|top-{side}", sides["kept"].get(key, 0)),
                    _n(f"{by}|{key}|dropped|top-{side}", sides["dropped"].get(key, 0)),
                ]
                for key, _ in top
            ]
            page.add(f"<p class='note'>top {TOP} by {side} documents, of {len(sides[side]):,}</p>")
            page.table([titles[by], "kept", "dropped"], rows)

    # samples
    page.add('<h2 id="samples">Samples</h2>')
    page.text("p", f"Deterministic: the documents of smallest id; text excerpts of {EXCERPT_CHARS} characters.", "note")
    page.text("h3", "kept")
    _samples(page, kept_docs, "kept documents")
    for reason, docs in dropped_samples(run).items():
        page.text("h3", f"dropped: {reason}")
        _samples(page, docs, "samples")
    for reason, docs in errored_samples(run).items():
        page.text("h3", f"errored: {reason}")
        _samples(page, docs, "samples")

    # the recipe
    page.add('<h2 id="recipe">Recipe</h2>')
    stages, origin = option_sources(recipe)
    page.text("p", f"{recipe.get('name')}: {origin}.", "note")
    page.table(["setting", "value"], [[k, json.dumps(v)] for k, v in recipe.items() if k not in ("name", "stages")])
    for stage in stages:
        page.text("h3", f"{stage['name']} ({stage['kind']})" + (f": {stage['note']}" if stage["note"] else ""))
        if stage["rows"]:
            page.table(
                ["option", "value", "from"], [[r["option"], _short(r["value"]), r["source"]] for r in stage["rows"]]
            )

    # inputs and outputs
    page.add('<h2 id="files">Inputs and outputs</h2>')
    page.text("p", "inputs: " + ", ".join(stats.get("inputs", [])))
    if run.files:
        page.table(["input file", "bytes"], [[p, _n(f"file|{p}", size)] for p, size in run.files])
    page.table(["output", "files", "bytes"], _outputs(run))

    if compare is not None:
        _render_comparison(page, run, compare)
    page.add("</body></html>\n")
    return page.html()


def _short(value) -> str:
    text = json.dumps(list(value) if isinstance(value, (tuple, frozenset, set)) else value, default=str)
    return text if len(text) <= 160 else text[:160] + " ..."


def _outputs(run: Run) -> list[list]:
    rows = []
    for entry in sorted(run.path.iterdir()):
        if entry.name.startswith("_") or entry.suffix == ".html":  # _work/; reports (this one among them)
            continue
        files = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
        rows.append(
            [
                entry.name + ("/" if entry.is_dir() else ""),
                _n(f"out|{entry.name}|files", len(files)),
                _n(f"out|{entry.name}|bytes", sum(p.stat().st_size for p in files)),
            ]
        )
    return rows


def _render_comparison(page: Page, a: Run, b: Run) -> None:
    cmp = funnel_comparison(a.stats, b.stats)
    diff = kept_difference(a, b)
    page.add('<h2 id="compare">Comparison</h2>')
    page.text(
        "p", f"A: {a.path} (recipe {a.stats['recipe']['name']}); B: {b.path} (recipe {b.stats['recipe']['name']})"
    )
    page.add(comparison_chart(cmp))
    rows = [
        [
            r["stage"],
            _n(f"cmp|{r['stage']}|a", r["kept"][0]),
            _share(f"cmp|{r['stage']}|a|share", r["share"][0]),
            _n(f"cmp|{r['stage']}|b", r["kept"][1]),
            _share(f"cmp|{r['stage']}|b|share", r["share"][1]),
            _delta(*r["kept"]),
        ]
        for r in cmp["stages"]
    ]
    page.table(["after stage", "A kept", "A %", "B kept", "B %", "B - A"], rows)
    rows = [
        [
            f"{r['stage']}:{r['reason']}",
            r["status"],
            _n(f"cmp|{r['status']}|{r['stage']}|{r['reason']}|a", r["docs"][0]),
            _n(f"cmp|{r['status']}|{r['stage']}|{r['reason']}|b", r["docs"][1]),
            _delta(*r["docs"]),
        ]
        for r in cmp["reasons"]
    ]
    page.table(["stage:reason", "", "A docs", "B docs", "B - A"], rows)
    page.table(
        ["kept documents (by id)", "count"],
        [
            ["by both", _n("kept|both", diff["both"])],
            ["by A only", _n("kept|only_a", diff["only_a"])],
            ["by B only", _n("kept|only_b", diff["only_b"])],
        ],
    )
    page.text("h3", "kept by A only")
    _samples(page, diff["samples_a"], "documents kept by A only")
    page.text("h3", "kept by B only")
    _samples(page, diff["samples_b"], "documents kept by B only")


def write_report(
    run_dir: str, output: str | None = None, tokenizer: str | None = None, compare: str | None = None
) -> Path:
    """Write the report of `run_dir` (RUN/report.html by default); its path."""
    run = open_run(run_dir)
    other = open_run(compare) if compare else None
    path = Path(output) if output else run.path / REPORT_FILE
    text = render(run, tokenizer, other)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
