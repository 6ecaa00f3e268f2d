"""Peak resident memory and speed of `thresher curate` as the input grows: the same ceiling at any size.

    python benchmarks/bench_memory.py [--sizes-mb 35,350,1100] [--workers 2] [--keep DIR]
    python benchmarks/bench_memory.py --sizes-mb 1100 --workers 1,2     # how a run scales with workers

Inputs are made at run time from ../shared/data's real HTML pages (trafilatura's evaluation pages
and Mozilla Readability's test pages): one .warc.gz per size, written as Common Crawl writes them
(one gzip member per record; the records are formatted by warcio and each member compressed at
zlib level 1, to write a gigabyte in a minute), every record with its own WARC-Record-ID and URL;
each copy of a page gets its own sentence of words, so copies are not all exact duplicates of each
other (1.1 GB is ~40,000 records, about one Common Crawl WARC file).

Each size runs `thresher curate --workers N` (the default fineweb recipe; each N of `--workers`,
in turn, on the same file) in a subprocess; the
resident memory of its whole process tree (the launcher, Beam's worker processes) is sampled every
0.1 s and the peak of the sum is reported, with the peak of the largest single process, the wall
time and the input's throughput.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

import psutil
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WORDS = "amber birch cedar delta ember fjord grove harbor islet juniper kestrel lagoon meadow".split()


def pages() -> list[bytes]:
    """The HTML of every evaluation page, as bytes."""
    evaldata = json.loads((DATA / "trafilatura-eval" / "evaldata.json").read_text())
    out = []
    for entry in evaldata.values():
        for folder in ("eval", "cache"):
            path = DATA / "trafilatura-eval" / folder / f"{entry['file']}.gz"
            if path.exists():
                out.append(gzip.decompress(path.read_bytes()))
                break
    for folder in sorted((DATA / "mozilla-readability-test-pages" / "pages").iterdir()):
        out.append(gzip.decompress((folder / "source.html.gz").read_bytes()))
    return out


def member(url: str, body: bytes, rng: random.Random) -> bytes:
    """One response record, formatted by warcio, as one gzip member."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False, warc_version="1.1")
    http = StatusAndHeaders(
        "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))], protocol="HTTP/1.1"
    )
    record = writer.create_warc_record(
        url,
        "response",
        payload=io.BytesIO(body),
        length=len(body),
        http_headers=http,
        warc_headers_dict={"WARC-Record-ID": f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}>"},
    )
    writer.write_record(record)
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
    return deflate.compress(buf.getvalue()) + deflate.flush()


def write_input(path: Path, target_bytes: int, html: list[bytes], seed: int = 0) -> int:
    """A .warc.gz of about `target_bytes` from copies of `html`; the number of records."""
    rng = random.Random(seed)
    written = records = 0
    with open(path, "wb") as fh:
        while written < target_bytes:
            body = html[records % len(html)]
            copy = records // len(html)
            words = " ".join(WORDS[(copy >> (4 * i)) % len(WORDS)] for i in range(6))
            body = body.replace(b"</body>", f"<p>This archived copy is known as {words}.</p></body>".encode(), 1)
            data = member(f"https://example.org/copy-{copy}/page-{records % len(html)}", body, rng)
            fh.write(data)
            written += len(data)
            records += 1
    return records


def measure(cmd: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS of the process tree summed, peak RSS of its largest process): the
    launcher (which runs Beam's runner and holds what crosses stages) and its worker processes."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_sum = peak_one = 0
    while proc.poll() is None:
        try:
            procs = [proc] + proc.children(recursive=True)
            rss = []
            for p in procs:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.NoSuchProcess:
                    pass
            peak_sum, peak_one = max(peak_sum, sum(rss)), max(peak_one, max(rss, default=0))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-3000:]}")
    return wall, peak_sum, peak_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mb", default="35,350,1100", help="input sizes, MB of .warc.gz")
    parser.add_argument("--workers", default="2", help="worker counts to run each input with (default: 2)")
    parser.add_argument("--keep", default=None, help="folder to keep inputs and runs in (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="thresher-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    html = pages()
    rows = []
    for mb in map(int, args.sizes_mb.split(",")):
        path = work / f"input-{mb}mb.warc.gz"
        started = time.perf_counter()
        records = write_input(path, mb * 1_000_000, html)
        took = time.perf_counter() - started
        print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB, {records:,} records) in {took:.0f} s", flush=True)
        for workers in map(int, args.workers.split(",")):
            run = work / f"run-{mb}mb-{workers}"
            cmd = [
                sys.executable,
                "-m",
                "thresher",
                "curate",
                "--input",
                str(path),
                "--output",
                str(run),
                "--workers",
                str(workers),
                "--overwrite",
            ]
            wall, peak_sum, peak_one = measure(cmd)
            kept = json.loads((run / "stats.json").read_text())["retained"]["docs"]
            rows.append((workers, path.stat().st_size, records, kept, wall, peak_sum, peak_one))
            print(
                f"  curate, {workers} workers: {wall:.0f} s, peak RSS {peak_sum / 2**30:.2f} GiB "
                f"(largest process {peak_one / 2**30:.2f} GiB)",
                flush=True,
            )
        if not args.keep:
            path.unlink()
    print(
        "\n| input .warc.gz | records | kept | workers | wall s | input MB/s | peak RSS, all processes | largest process |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for workers, size, records, kept, wall, peak_sum, peak_one in rows:
        print(
            f"| {size / 1e6:,.0f} MB | {records:,} | {kept:,} | {workers} | {wall:.0f} | {size / 1e6 / wall:.2f} "
            f"| {peak_sum / 2**30:.2f} GiB | {peak_one / 2**30:.2f} GiB |"
        )


if __name__ == "__main__":
    main()
