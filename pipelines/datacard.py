"""A run's data card: `RUN/README.md`, a Hugging Face dataset card (YAML front matter, then
Markdown) written from the run's stats.json and recipe.

What it says: where the documents came from (input patterns and files, crawls of the kept
documents), every stage of the recipe with its thresholds and where each value comes from (the
comment beside it in the recipe file for a built-in recipe, else the comment beside the default in
the filter's constructor, which is where the project cites its sources), the share of documents,
bytes, characters and words each stage kept and dropped, and the limits of what the stages can
promise. Every count and share is stats.json's, printed as `format_funnel` prints them.

`data_card(stats, sources)` is a pure function; `run_sources(run)` reads what stats.json does not
hold (input files with their sizes from `_work/run.json`, kept documents per crawl and per file
from `curated/`, streamed); `write_card(run)` does both and writes `RUN/README.md` atomically.
`thresher card RUN` calls it on any finished run.
"""

from __future__ import annotations

import inspect
import io
import json
import tokenize
from collections import Counter
from functools import cache

import pyarrow.parquet as pq
import yaml
from apache_beam.io.filesystems import FileSystems

from thresher.contracts.funnel import stage_reasons
from thresher.contracts.layout import CARD_FILE, RUN_FILE
from thresher.contracts.schema import SCHEMA_VERSION
from thresher.filters.registry import STAGE_KINDS, load_recipe, stage_class
from thresher.pipelines.runs import RunFolder, load_stats, read_json

# Hugging Face's size buckets (the Hub's `size_categories` values), by number of rows.
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)
# Kept documents listed per crawl and per input file; the rest are summed in one line.
TOP_SOURCES = 20
# A list option longer than this (a stop-word list) is shown by its length and first items.
LIST_SHOWN = 8
LANGID_KINDS = ("fasttext_langid",)
HEURISTIC_KINDS = ("gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality")
DEDUP_KINDS = ("exact_dedup", "minhash_dedup", "line_dedup")


def size_category(rows: int) -> str:
    return next((label for bound, label in SIZE_CATEGORIES if rows < bound), "n>1T")


def _int(n: int) -> str:
    return f"{n:,}"


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _comments_by_parameter(cls) -> dict[str, str]:
    """{parameter: its comment} in `cls.__init__`'s signature: the comment ending the parameter's
    line, else the comment lines just above it (the project writes a default's source there)."""
    try:
        source = inspect.getsource(cls.__init__)
    except (OSError, TypeError):
        return {}
    names = set(inspect.signature(cls).parameters)
    found: dict[str, str] = {}
    above: list[str] = []
    depth, last_name, last_line = 0, None, -1
    tokens = tokenize.generate_tokens(io.StringIO(inspect.cleandoc("\n" + source) + "\n").readline)
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
            if depth == 0:
                break  # the end of the signature
        elif tok.type == tokenize.NAME and depth == 1 and tok.string in names and tok.string not in found:
            last_name, last_line = tok.string, tok.start[0]
            if above:
                found[last_name] = " ".join(above)
                above = []
        elif tok.type == tokenize.COMMENT and depth >= 1:
            text = tok.string.lstrip("#").strip()
            if tok.start[0] == last_line and last_name and last_name not in found:
                found[last_name] = text
            elif tok.line.strip().startswith("#"):
                above.append(text)
    return found


@cache
def _kind_info(kind: str) -> tuple[str, dict[str, tuple[object, str]]]:
    """(what the stage does, {option: (default, where the default comes from)}) for a stage kind."""
    cls = stage_class(kind)
    if cls is None:
        return ("Exact duplicates: of the documents whose normalised text is identical, the smallest id is kept.", {})
    doc = cls.__dict__.get("__doc__") or inspect.getmodule(cls).__doc__ or ""
    summary = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())
    comments = _comments_by_parameter(cls)
    defaults = {
        name: (p.default, comments.get(name, ""))
        for name, p in inspect.signature(cls).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    return summary, defaults


def _recipe_comments(recipe: dict) -> tuple[str, dict[tuple[str, str], str]]:
    """For a built-in recipe that stats.json records unchanged: (the recipe file's header comment,
    {(stage, key): the comment beside or above the key}); key `kind` holds a stage's own note.
    Nothing for a recipe of the user's own (stats.json has its values, not its file)."""
    try:
        builtin = load_recipe(recipe["name"])
    except Exception:  # noqa: BLE001 - not a built-in name (a file of the user's)
        return "", {}
    if not builtin.source.startswith("builtin:") or builtin.to_dict() != recipe:
        return "", {}
    from importlib import resources

    text = resources.files("thresher.filters").joinpath("recipes", *f"{recipe['name']}.yaml".split("/")).read_text()
    header: list[str] = []
    found: dict[tuple[str, str], str] = {}
    above: list[str] = []
    stage = None
    for line in text.splitlines():
        body, _, comment = line.partition(" #") if not line.lstrip().startswith("#") else ("", "", line)
        comment = comment.strip().lstrip("#").strip()
        if not body.strip():
            if comment:
                (above if stage or found else header).append(comment)
            continue
        key = body.strip().removeprefix("- ").split(":", 1)[0].strip()
        if body.strip().startswith("- name:"):
            stage, key = body.split(":", 1)[1].strip(), "kind"
        note = " ".join([*above, comment]).strip()
        if note and stage is not None:
            found[(stage, key)] = (found.get((stage, key), "") + " " + note).strip()
        elif note:
            found[("", key)] = note
        above = []
    return " ".join(header), found


def _show(value) -> str:
    if isinstance(value, (list, tuple, set, frozenset)) and len(value) > LIST_SHOWN:
        items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        return f"{len(items)} items: " + ", ".join(json.dumps(v) for v in items[:LIST_SHOWN]) + ", …"
    if isinstance(value, (set, frozenset)):
        value = sorted(value)
    try:
        return json.dumps(value, default=str)
    except TypeError:
        return repr(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _funnel_table(stats: dict) -> list[str]:
    lines = [
        "| stage / reason | docs | % docs | bytes | % bytes | chars | % chars | words | % words |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]

    def row(label: str, part: dict) -> str:
        sh = part["share"]
        cells = [_int(part["docs"]), _pct(sh["docs"]), _int(part["bytes"]), _pct(sh["bytes"])]
        cells += [_int(part["chars"]), _pct(sh["chars"]), _int(part["words"]), _pct(sh["words"])]
        return f"| {label} | " + " | ".join(cells) + " |"

    for s in stats["stages"]:
        lines.append(row(f"**{s['name']}** (in)", s["in"]))
        for status, reason, part in stage_reasons(s):
            lines.append(row(f"&nbsp;&nbsp;{status} `{s['name']}:{reason}`", part))
    lines.append(row("**retained**", stats["retained"]))
    return lines


def _languages(stages: list[dict]) -> list[str]:
    """The languages a language stage keeps ([] when none ran or it keeps every language)."""
    for stage in stages:
        if stage["kind"] in LANGID_KINDS:
            default = _kind_info(stage["kind"])[1].get("languages", (None, ""))[0]
            return sorted(stage.get("languages", default) or [])
    return []


def _limits(stats: dict, stages: list[dict]) -> list[str]:
    kinds = {s["kind"]: s for s in stages}
    limits = [
        "- **License.** The text is as the crawled pages published it; each page keeps its own rights "
        "and terms (for Common Crawl data, also Common Crawl's terms of use). thresher does not decide "
        "a license, hence `license: other` above."
    ]
    if any(k in kinds for k in LANGID_KINDS):
        limits.append(
            "- **Language ID** (fastText lid.176) is unreliable on short texts (a few words), on pages "
            "mixing languages and between close languages; a page is labelled with its one most "
            "probable language."
        )
    else:
        limits.append("- **No language identification ran**: the text may be in any language.")
    if any(k in kinds for k in HEURISTIC_KINDS):
        limits.append(
            "- **Heuristic quality filters** (Gopher, C4, FineWeb rules) were written for English web "
            "prose: they drop lists, tables, code, poetry and short-line formats whatever their worth, "
            "and dialects or languages whose punctuation and stop words differ; C4-style word lists are "
            "known to remove text from and about minority groups disproportionately (Dodge et al., 2021)."
        )
    if "bad_words" in kinds or "fasttext_toxicity" in kinds:
        limits.append(
            "- **Toxicity** is judged by a word list or a classifier: it misses toxicity without listed "
            "words and drops benign uses of listed words (medical, identity terms)."
        )
    if "pii" in kinds:
        pii = kinds["pii"]
        defaults = _kind_info("pii")[1]
        masked = [
            what
            for what, option in (
                ("e-mail addresses", "remove_emails"),
                ("IP addresses", "remove_ips"),
                ("phone numbers", "remove_phones"),
            )
            if pii.get(option, defaults.get(option, (False, ""))[0])
        ]
        limits.append(
            f"- **PII**: only {' and '.join(masked) or 'nothing'} were masked, by regular expressions (stage "
            f"`{pii['name']}`); names, postal addresses and other identifiers remain as published."
        )
    else:
        limits.append("- **PII**: no PII stage ran: e-mail addresses, IPs and phone numbers remain as published.")
    dedup = [s for s in stages if s["kind"] in DEDUP_KINDS]
    if dedup:
        scopes = ", ".join(
            f"`{s['name']}` ({s['kind']}{', scope ' + s['scope'] if 'scope' in s else ''})" for s in dedup
        )
        limits.append(
            f"- **Deduplication** ({scopes}) covers this run's input only: duplicates of documents in "
            "other runs or other datasets remain."
        )
    else:
        limits.append("- **No deduplication ran**: the documents may repeat.")
    limits.append(
        "- **Extraction** (HTML to text) loses or keeps boilerplate imperfectly; records that could not "
        "be read or extracted are counted as errored in the funnel, with their reasons."
    )
    return limits


def data_card(stats: dict, sources: dict | None = None) -> str:
    """The data card of a run, from its stats.json (`stats`) and, where given, `sources`
    (run_sources: input files with sizes, kept documents per crawl and per file). Deterministic:
    the same inputs give the same bytes."""
    sources = sources or {}
    recipe = stats["recipe"]
    stages = recipe["stages"]
    retained, total = stats["retained"], stats["input"]
    languages = _languages(stages)
    front = {
        "pretty_name": f"thresher {stats['pipeline']} run, recipe {recipe['name']}",
        "license": "other",
        "license_name": "unknown",
        "language": languages or None,
        "size_categories": [size_category(retained["docs"])],
        "task_categories": ["text-generation"],
        "tags": ["thresher", "pretraining", "web-crawl", f"recipe-{recipe['name'].replace('/', '-')}"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "curated/*.parquet"}]}],
    }
    front = {k: v for k, v in front.items() if v is not None}
    out = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    out.append(f"# thresher {stats['pipeline']} run: recipe `{recipe['name']}`")
    out.append("")
    out.append(
        f"{_int(retained['docs'])} documents kept of {_int(total['docs'])} input records "
        f"({_pct(retained['share']['docs'])}): {_int(retained['chars'])} characters of "
        f"{_int(total['chars'])} ({_pct(retained['share']['chars'])}), {_int(retained['words'])} words of "
        f"{_int(total['words'])} ({_pct(retained['share']['words'])}), {_int(retained['bytes'])} input bytes of "
        f"{_int(total['bytes'])} ({_pct(retained['share']['bytes'])}). Written by thresher "
        f"{stats['thresher_version']}; the books balance (`in = kept + dropped + errored` at every stage): "
        f"{'yes' if stats.get('accounting_ok') else 'NO'}."
    )
    out.append("")
    out.append(
        f"Files: `curated/part-*.parquet` (the kept documents, schema version {SCHEMA_VERSION}: "
        "`thresher.contracts.schema`), `stats.json` (the numbers below), `exclusions/` (dropped "
        "documents sampled per reason), `errors/` (records that could not be processed, with reasons)."
    )
    out += ["", "## Sources", ""]
    out += [f"- input pattern: `{p}`" for p in stats.get("inputs", [])]
    files = sources.get("files")
    if files:
        out.append(f"- {_int(len(files))} input files, {_int(sum(size for _, size in files))} bytes in all:")
        out += [f"  - `{path}` ({_int(size)} bytes)" for path, size in files[:TOP_SOURCES]]
        if len(files) > TOP_SOURCES:
            out.append(f"  - … and {_int(len(files) - TOP_SOURCES)} more")
    for key, title in (("kept_by_crawl", "crawl"), ("kept_by_file", "input file")):
        counts = sources.get(key)
        if counts:
            out += ["", f"Kept documents by {title}:", "", f"| {title} | kept docs |", "|---|--:|"]
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            out += [f"| {_cell(name)} | {_int(n)} |" for name, n in ranked[:TOP_SOURCES]]
            if len(ranked) > TOP_SOURCES:
                rest = ranked[TOP_SOURCES:]
                out.append(f"| {_int(len(rest))} others | {_int(sum(n for _, n in rest))} |")
    out += ["", "## Recipe", ""]
    header, recipe_notes = _recipe_comments(recipe)
    out.append(f"`{recipe['name']}`" + (f" (built in): {header}" if header else " (as stats.json records it)."))
    out.append("")
    for key in ("max_record_bytes", "exclusion_samples"):
        note = recipe_notes.get(("", key), "")
        out.append(f"- `{key}`: {_show(recipe[key])}" + (f" — {note}" if note else ""))
    by_name = {s["name"]: s for s in stats["stages"]}
    for i, stage in enumerate(stages, 1):
        name, kind = stage["name"], stage["kind"]
        summary, defaults = _kind_info(kind) if kind in STAGE_KINDS else ("", {})
        out += ["", f"### {i}. `{name}` ({kind})", ""]
        if summary:
            out.append(summary)
        note = recipe_notes.get((name, "kind"), "")
        if note:
            out += ["", f"Recipe: {note}"]
        options = {k: v for k, v in stage.items() if k not in ("name", "kind")}
        names = list(options) + [k for k in defaults if k not in options]  # what the recipe sets first
        if names:
            out += ["", "| option | value | set by | source |", "|---|---|---|---|"]
            for key in names:
                given = key in options
                value = options[key] if given else defaults[key][0]
                # The recipe file's comment on a value it sets, else the comment on the default in
                # the filter's code (which says where a published value comes from).
                # A default's comment cites the default: for another value it says what was changed.
                note = recipe_notes.get((name, key), "") if given else ""
                default, default_note = defaults.get(key, (value, ""))
                code = f"code: {default_note}" if default_note else ""
                if note:
                    source = f"recipe: {note}"
                elif given and _show(value) != _show(default):  # as JSON: a YAML list equals a tuple default
                    source = f"changed from the default {_show(default)}" + (f" ({code})" if code else "")
                else:
                    source = code
                out.append(
                    f"| `{key}` | {_cell(_show(value))} | {'recipe' if given else 'default'} | {_cell(source)} |"
                )
        seen = by_name.get(name)
        if seen:
            kept, came = seen["kept"], seen["in"]
            out += [
                "",
                f"In: {_int(came['docs'])} documents; kept {_int(kept['docs'])} ({_pct(kept['docs'] / came['docs'] if came['docs'] else 0.0)} of those in).",
            ]
    for skipped in stats.get("skipped_stages", []):
        out.append(f"- not re-decided: `{skipped['name']}` ({skipped['reason']})")
    out += ["", "## Funnel", ""]
    out.append(
        "Per stage, what came in and, per reason, what was dropped or errored; shares are of the "
        "run's input (`stats.json`). Bytes are input record bytes; characters and words those of the "
        "text at that stage (words: whitespace-separated)."
    )
    out += ["", *_funnel_table(stats)]
    out += ["", "## Known limits", "", *_limits(stats, stages)]
    out += [
        "",
        "## Loading",
        "",
        "```python",
        "import datasets",
        'ds = datasets.load_dataset("parquet", data_files="curated/*.parquet", split="train")',
        "```",
        "",
        "`scores` holds every filter's signals as `{key, value}` entries (`<stage>.<signal>`); in "
        "DuckDB, `map_from_entries(scores)['gopher_quality.stop_words']` reads one.",
        "",
    ]
    return "\n".join(out)


def run_sources(run: str) -> dict:
    """What the card shows beyond stats.json: the input files and their sizes (from the run's
    `_work/run.json`, where it is still there) and kept documents per crawl and per input file
    (from `curated/`, read a record batch at a time: memory does not grow with the run)."""
    join = FileSystems.join
    sources: dict = {}
    if FileSystems.exists(join(run, RUN_FILE)):
        sources["files"] = [tuple(f) for f in read_json(join(run, RUN_FILE)).get("files", [])]
    crawls: Counter = Counter()
    files: Counter = Counter()
    (matched,) = FileSystems.match([join(run, "curated", "part-*.parquet")])
    for path in sorted(m.path for m in matched.metadata_list):
        with FileSystems.open(path) as fh:
            for batch in pq.ParquetFile(fh).iter_batches(columns=["crawl", "source_file"]):
                crawls.update(c or "(none)" for c in batch.column("crawl").to_pylist())
                files.update(batch.column("source_file").to_pylist())
    sources["kept_by_crawl"], sources["kept_by_file"] = dict(crawls), dict(files)
    return sources


def write_card(run: str) -> str:
    """RUN/README.md from the run's stats.json and sources, atomically; its path."""
    return RunFolder(run).write(CARD_FILE, data_card(load_stats(run), run_sources(run)).encode("utf-8"))
