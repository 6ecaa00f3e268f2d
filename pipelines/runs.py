"""A run: input files read by byte ranges, each range processed once, every output written under a
name that depends on the input alone, so that a relaunch resumes where a crash left off and a
finished run is the same bytes whatever happened on the way.

A run folder (contracts 1 and 4):
  curated/part-<range>.parquet   the kept documents of one input range, sorted by id
  errors/part-<range>.jsonl      every errored record of the range, with its reason
  attributes/part-<range>.parquet   every other record of the range, sorted by id: one row per
                                 document that reached the per-document stages, kept or dropped
                                 by one, with every score the chain computed and `reason` (null
                                 when kept, else `stage:reason`); `text` for the kept ones, and
                                 for the dropped ones with --keep-dropped, which also has the
                                 stages after a drop score on (contracts/schema.py ATTRIBUTES_SCHEMA).
                                 What `thresher refilter` re-decides in both directions. The
                                 per-document stages' signals only: the dedup stages' decisions
                                 (exact, MinHash, line) are in curated/, exclusions/ and stats.json
  exclusions/<stage>__<reason>.jsonl   up to `exclusion_samples` dropped documents per reason
  stats.json                     the funnel; written last and atomically: the run is complete
                                 when, and only when, it is there
  _work/run.json                 what the run is: inputs and their sizes, recipe, range size, version
  _work/ranges/<range>.kept.parquet, <range>.samples.json, <range>.done.json
                                 a processed range: its kept documents, its dropped samples, and
                                 `.done.json` (counts and funnel), written last, so its presence is
                                 the range's completion marker (removed when the run completes)
  _work/tmp/                     files being written, renamed into place when complete

What crosses processes is small: a range (path, start, end) in, and per kept document its id,
dedup key and sizes out; documents stay in the range's files. Peak memory is one range's records
per worker, whatever the input's size.

Here: the launcher's side (planning ranges, checking the output folder, progress). The Beam
transforms that process and write ranges are in transforms.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import uuid
from dataclasses import dataclass

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from thresher.contracts.errors import UsageError
from thresher.contracts.funnel import check_accounting, format_funnel
from thresher.contracts.layout import CARD_FILE, RUN_FILE, STATS_FILE, WORK, check_complete
from thresher.pipelines import remote  # noqa: F401 - registers http(s):// with Beam's FileSystems, here and in workers
from thresher.pipelines.readers import URL_SIDECAR, plan_ranges, unreadable_zstd

RANGES = f"{WORK}/ranges"
TMP = f"{WORK}/tmp"
# What a run folder holds: --overwrite replaces these and refuses to touch anything else.
RUN_ENTRIES = {"curated", "errors", "exclusions", "attributes", STATS_FILE, CARD_FILE, WORK}
# Ranges: at least this many over the whole input when it is large enough (work for every worker,
# progress in steps of at most 1/64), of 1 to 16 MiB: a worker holds one range's kept documents
# and samples at a time (~0.1 GiB at 16 MiB of Common Crawl), and a Common Crawl WARC file of
# ~1.1 GB is ~70 ranges, each some seconds of work against well under one of overhead.
TARGET_RANGES = 64
MIN_RANGE_BYTES = 1 << 20
MAX_RANGE_BYTES = 16 << 20


@dataclass(frozen=True)
class InputRange:
    path: str
    start: int
    end: int

    @property
    def key(self) -> str:
        """The range's name in output files: the file's name, a hash of its path, the start."""
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(self.path.rstrip("/")))[-80:]
        digest = hashlib.blake2b(self.path.encode(), digest_size=4).hexdigest()
        return f"{name}-{digest}-{self.start:012d}"


def range_bytes_for(total: int) -> int:
    return min(MAX_RANGE_BYTES, max(MIN_RANGE_BYTES, -(-total // TARGET_RANGES)))


def match_inputs(patterns: list[str]) -> list[tuple[str, int]]:
    """Every file the patterns match, once, sorted: (path, size). UsageError for a pattern that
    matches nothing (a typo would otherwise be an empty run that succeeds), and for the outputs of
    a run that did not finish (contracts/layout.py)."""
    files = {}
    # FileSystems.match asks the first pattern's filesystem for all of them: one call per scheme
    # (local paths and https:// URLs may be mixed), in one batch each (a bucket lists in bulk, the
    # web's HEAD requests run in parallel).
    by_scheme: dict[str | None, list[str]] = {}
    for pattern in patterns:
        by_scheme.setdefault(FileSystems.get_scheme(pattern), []).append(pattern)
    for group in by_scheme.values():
        try:
            results = FileSystems.match(group)
        except UsageError:
            raise
        except Exception as e:  # noqa: BLE001 - Beam wraps every filesystem's errors its own way
            raise UsageError(f"cannot list --input {group}: {e}") from None
        for pattern, result in zip(group, results):
            found = [m for m in result.metadata_list if not m.path.endswith("/")]
            if not found:
                raise UsageError(f"--input {pattern!r} matches no files")
            zstd = [m.path for m in found if unreadable_zstd(m.path)]
            if zstd:
                raise UsageError(
                    f"--input {zstd[0]!r}: of zstd-compressed inputs, thresher reads JSONL only; decompress it first"
                )
            files.update((m.path, m.size_in_bytes) for m in found)
    # A saved page's `.url` sidecar is read with its page, not as an input of its own.
    check_complete(files, FileSystems.exists)
    sidecars = {path for path in files if path.endswith(URL_SIDECAR) and path.removesuffix(URL_SIDECAR) in files}
    return sorted((path, size) for path, size in files.items() if path not in sidecars)


def plan(files: list[tuple[str, int]], range_bytes: int) -> list[InputRange]:
    return [InputRange(path, start, end) for path, size in files for start, end in plan_ranges(path, size, range_bytes)]


def write_atomic(path: str, data: bytes, tmp_folder: str) -> None:
    """`data` at `path`, all or nothing: written in `tmp_folder` under a name of its own, then renamed
    into place (a rename replaces, locally and in a bucket). A crash leaves nothing half-written
    where a reader looks, only a file in `tmp_folder`."""
    folder, name = path.rstrip("/").rsplit("/", 1)
    tmp = FileSystems.join(tmp_folder, f"{uuid.uuid4().hex}-{name}")
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        fh.write(data)
    make_folder(folder)
    FileSystems.rename([tmp], [path])


def make_folder(path: str) -> None:
    """The folder at `path`, before a file is renamed into it: a local rename does not make the
    folder (a bucket has none, and needs none)."""
    if not FileSystems.exists(path):
        try:
            FileSystems.mkdirs(path)
        except OSError:  # another worker made it first
            pass


def read_json(path: str) -> dict:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return json.loads(fh.read().decode("utf-8"))


def load_stats(run: str) -> dict:
    """A run's stats.json (a run folder or the file's path, any Beam FileSystems path). A folder
    without one holds no complete run: UsageError, rather than numbers of an earlier run."""
    path = run if run.endswith(".json") else FileSystems.join(run, STATS_FILE)
    if not FileSystems.exists(path):
        state = (
            "an incomplete run (stopped before it finished)"
            if FileSystems.exists(FileSystems.join(run, RUN_FILE))
            else "no run"
        )
        raise UsageError(f"{run} holds {state}: no {STATS_FILE}")
    return read_json(path)


def report(stats: dict, output: str) -> int:
    """Print the funnel and where the outputs are; non-zero when the accounting does not add up."""
    print(format_funnel(stats))
    problems = check_accounting(stats)
    for problem in problems:
        print(f"ACCOUNTING ERROR: {problem}", file=sys.stderr)
    join = FileSystems.join
    print(f"\ncurated Parquet: {join(output, 'curated')}/part-*.parquet")
    print(
        f"stats: {join(output, STATS_FILE)}  exclusions: {join(output, 'exclusions')}/  errors: {join(output, 'errors')}/"
    )
    print(f"attributes (every document's scores and decision): {join(output, 'attributes')}/part-*.parquet")
    return 1 if problems else 0


class RunFolder:
    """An output folder and the one run it holds."""

    entries = RUN_ENTRIES  # what this kind of run writes (a Common Crawl fetch: warc/, errors/, ...)

    def __init__(self, output: str):
        self.output = output.rstrip("/") or output

    def path(self, *parts: str) -> str:
        return FileSystems.join(self.output, *parts)

    def write(self, relative: str, data: bytes) -> str:
        """`data` at `relative` in the folder, atomically (write_atomic, through _work/tmp)."""
        path = self.path(relative)
        write_atomic(path, data, self.path(TMP))
        return path

    def prepare(self, identity: dict, overwrite: bool) -> str:
        """`fresh`, `resume` or `complete`. UsageError when the folder cannot be written, holds
        another run (unless `overwrite`: its run entries are removed first), holds anything that is
        not a run's (never removed), or holds an input."""
        identity = json.loads(json.dumps(identity))  # as run.json will hold it: lists, not tuples
        if "://" not in self.output and os.path.exists(self.output) and not os.path.isdir(self.output):
            raise UsageError(f"--output {self.output!r} is a file, not a folder")
        inside = [path for path, _ in identity["files"] if path.startswith(self.output + "/")]
        if inside:
            raise UsageError(
                f"--input {inside[0]!r} lies inside --output {self.output!r}: choose another output folder"
            )
        existing = set(self._entries())
        foreign = sorted(existing - self.entries)
        if foreign:
            raise UsageError(
                f"--output {self.output!r} holds files that are not a thresher run's "
                f"({', '.join(foreign[:3])}); choose another folder"
            )
        if existing and not overwrite:
            try:
                recorded = read_json(self.path(RUN_FILE))
            except Exception:  # noqa: BLE001 - no readable run.json: a run's files, but not whose
                recorded = None
            if recorded != identity:
                raise UsageError(
                    f"--output {self.output!r} holds another run ({', '.join(sorted(existing))}); "
                    "choose another folder, or pass --overwrite to replace it"
                )
            return "complete" if FileSystems.exists(self.path(STATS_FILE)) else "resume"
        if existing:
            FileSystems.delete([self.path(entry) for entry in sorted(existing)])
        try:
            self.write(RUN_FILE, json.dumps(identity, indent=1).encode())
        except Exception as e:  # noqa: BLE001
            raise UsageError(f"cannot write to --output {self.output!r}: {e}") from None
        return "fresh"

    def _entries(self) -> list[str]:
        try:
            (result,) = FileSystems.match([self.path("*")])
        except Exception:  # noqa: BLE001 - a folder that does not exist yet
            return []
        return [os.path.basename(m.path.rstrip("/")) for m in result.metadata_list]

    def finish(self, everything: bool = False) -> None:
        """Remove the work files of a complete run (its outputs hold the same), and what a crash
        left half-written; with `everything`, the run's identity too (a shard set is described by
        its manifest)."""
        work = [self.path(WORK)] if everything else [self.path(RANGES), self.path(TMP)]
        FileSystems.delete([path for path in work if FileSystems.exists(path)])


class WarcFolder(RunFolder):
    """The output folder of a pipeline that fetches WARC (scrape, cc fetch): warc/, errors/,
    stats.json and _work/; --overwrite replaces those only."""

    entries = {"warc", "errors", STATS_FILE, WORK}


class Progress:
    """Records and bytes per second, share of the input done and ETA on a terminal, from the
    ranges' completion markers (tqdm; silent when stderr is not a terminal). On Dataflow the job's
    counters are the live view; this reads the same markers from the bucket."""

    def __init__(self, folder: RunFolder, ranges: list[InputRange], label: str, interval_s: float = 1.0):
        self.folder = folder
        self.sizes = {r.key: r.end - r.start for r in ranges}
        self.label = label
        self.interval_s = interval_s
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if sys.stderr.isatty() or os.environ.get("THRESHER_PROGRESS") == "1":
            self.thread = threading.Thread(target=self._watch, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()

    def _watch(self) -> None:
        from tqdm import tqdm

        seen: set[str] = set()
        total = sum(self.sizes.values())
        bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=self.label,
            file=sys.stderr,
            dynamic_ncols=True,
            disable=False,
            mininterval=self.interval_s,
        )
        records = 0
        while True:
            stopping = self.stop.wait(self.interval_s)
            for key in self._done() - seen:
                seen.add(key)
                try:
                    records += read_json(self.folder.path(RANGES, f"{key}.done.json"))["records"]
                except Exception:  # noqa: BLE001 - being renamed into place right now: next round
                    seen.discard(key)
                    continue
                bar.update(self.sizes.get(key, 0))
            seconds = bar.format_dict.get("elapsed") or 0
            bar.set_postfix_str(f"{records:,} records, {records / seconds if seconds else 0:,.0f} rec/s")
            if stopping:
                break
        bar.close()

    def _done(self) -> set[str]:
        try:
            (result,) = FileSystems.match([self.folder.path(RANGES, "*.done.json")])
        except Exception:  # noqa: BLE001
            return set()
        return {os.path.basename(m.path).removesuffix(".done.json") for m in result.metadata_list}
