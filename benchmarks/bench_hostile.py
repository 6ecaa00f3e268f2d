"""Hostile files: time and peak memory of thresher beside the reference on the same generated files.

    python benchmarks/bench_hostile.py [--depth 200000] [--bomb-gib 1] [--limit-s 120]

Files (tests/hostile_files.py, the generators tests/test_hostile.py uses):
- a page of `--depth` nested <div>s (200,000: 2.2 MB), and one element of 50,000 attributes;
- a WARC whose response body is gzip Content-Encoding of ~1 MB that inflates to `--bomb-gib` GiB;
- a WARC with one record of `--bomb-gib` GiB in a ~1 MB gzip member.

Each measurement runs in a process of its own: CPU seconds of that process, and its peak resident
memory (VmHWM), with a wall-clock limit (`--limit-s`) past which it is killed and reported as
such. Extraction: thresher's default extractor (cascade: the bounds, then resiliparse / trafilatura)
beside resiliparse unbounded (what thresher ran before the bounds) and trafilatura (FineWeb's, as
datatrove calls it). Reading: thresher's RangeReader beside datatrove's WarcReader (warcio, the
reader FineWeb ran), on the same file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hostile_files import deep_page, gzip_bomb, member_bomb, wide_page  # noqa: E402

from thresher.pipelines.warc_writer import WarcFileWriter  # noqa: E402

MEASURE = """
import json, sys, time
kind, path = sys.argv[1], sys.argv[2]
started = time.process_time()
if kind.startswith("extract-"):
    html = open(path, "rb").read().decode()
    method = kind.removeprefix("extract-")
    try:
        if method == "thresher":
            from thresher.filters.extract import Extractor
            out = len(Extractor("cascade")(html))
        elif method == "resiliparse":
            from resiliparse.extract.html2text import extract_plain_text
            out = len(extract_plain_text(html, main_content=True))
        else:
            import trafilatura
            out = len(trafilatura.extract(html, favor_precision=True, include_comments=False) or "")
    except Exception as e:
        out = getattr(e, "reason", type(e).__name__)
elif kind == "read-thresher":
    from thresher.pipelines.readers import RangeReader
    with open(path, "rb") as fh:
        out = [r.error or "ok" for r in RangeReader(path, fh)]
else:
    import os
    from datatrove.pipeline.readers import WarcReader
    reader = WarcReader(os.path.dirname(path))
    out = [len(d.text) for d in reader.read_file(os.path.basename(path))]
# VmHWM: this process's own peak (ru_maxrss would include the parent's, kept across exec)
peak_kib = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(json.dumps({"out": out, "cpu_s": time.process_time() - started, "peak_mib": peak_kib / 1024}))
"""


def measure(kind: str, path: Path, limit_s: float) -> dict:
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", MEASURE, kind, str(path)], capture_output=True, text=True, timeout=limit_s
        )
    except subprocess.TimeoutExpired:
        return {"out": f"killed after {limit_s:.0f} s", "cpu_s": None, "peak_mib": None, "wall_s": limit_s}
    if proc.returncode != 0:
        return {"out": proc.stderr.strip().splitlines()[-1][:80], "cpu_s": None, "peak_mib": None, "wall_s": None}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "wall_s": time.monotonic() - started}


def warc(path: Path, bodies: list[tuple[str, bytes, tuple]], extra_member: bytes | None = None) -> Path:
    counter = iter(range(10**6))
    w = WarcFileWriter(path.name, {"isPartOf": "BENCH"}, record_id=lambda: f"<urn:uuid:{next(counter):036d}>")
    for url, body, headers in bodies:
        w.fetch(url, "192.0.2.1", body, extra_headers=headers)
    if extra_member is not None:
        w.members.append(extra_member)
    path.write_bytes(w.data())
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depth", type=int, default=200_000)
    ap.add_argument("--bomb-gib", type=int, default=1)
    ap.add_argument("--limit-s", type=float, default=120.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pages = {
            f"{args.depth:,} nested divs": folder / "deep.html",
            "20,000 nested divs": folder / "deep20k.html",
            "50,000 attributes": folder / "wide.html",
        }
        pages[f"{args.depth:,} nested divs"].write_bytes(deep_page(args.depth))
        pages["20,000 nested divs"].write_bytes(deep_page(20_000))
        pages["50,000 attributes"].write_bytes(wide_page(50_000))
        n = args.bomb_gib << 30
        bombs = {
            f"HTTP gzip body, {args.bomb_gib} GiB inflated": warc(
                folder / "http-bomb.warc.gz",
                [("https://bomb.example.org/http", gzip_bomb(n), (("Content-Encoding", "gzip"),))],
            ),
            f"WARC member of {args.bomb_gib} GiB": warc(
                folder / "member-bomb.warc.gz", [], member_bomb("https://bomb.example.org/member", n)
            ),
        }
        print("| page | size | extractor | result | CPU s | peak MiB |\n|---|---|---|---|---|---|")
        for name, path in pages.items():
            for method in ("thresher", "resiliparse", "trafilatura"):
                r = measure(f"extract-{method}", path, args.limit_s)
                cpu = "-" if r["cpu_s"] is None else f"{r['cpu_s']:.2f}"
                peak = "-" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
                label = "thresher (cascade)" if method == "thresher" else method
                size = f"{path.stat().st_size / 1e6:.1f} MB"
                print(f"| {name} | {size} | {label} | {r['out']} | {cpu} | {peak} |", flush=True)
        print("\n| file | size | reader | records | CPU s | peak MiB |\n|---|---|---|---|---|---|")
        for name, path in bombs.items():
            for kind, label in (("read-thresher", "thresher RangeReader"), ("read-datatrove", "datatrove WarcReader")):
                r = measure(kind, path, args.limit_s)
                cpu = "-" if r["cpu_s"] is None else f"{r['cpu_s']:.2f}"
                peak = "-" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
                size = f"{path.stat().st_size / 1e6:.2f} MB"
                print(f"| {name} | {size} | {label} | {r['out']} | {cpu} | {peak} |", flush=True)


if __name__ == "__main__":
    main()
