"""Nothing lost, nothing hangs, nothing half-written (issue 10): `thresher shard`, `pretrain` and
`generate` against kills, broken shard sets, empty inputs, wrong tokenizers and changed arguments.

Inputs are generated here: documents of random words, a small BPE trained on them, shards written
by the real `thresher shard`, a tiny model trained for a few steps. Kills are SIGKILLs of a
`thresher shard` subprocess. Every refusal must be one line on stderr and exit 2, no traceback.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import torch
from test_trainer import pretrain_args

from thresher.trainer.checkpoint import latest_checkpoint, read_meta
from thresher.trainer.data import TokenShards

from conftest import run_cli, write_curated

torch.set_num_threads(2)

REPO = Path(__file__).resolve().parents[1]
SEQ_LEN = 32
WORDS = "the of and to in a is that for it as was with be by on not he this are or his from at which".split()


def documents(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 200))) for _ in range(n)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """600 generated documents as curated Parquet (~4,000 rows of 33 tokens), and two 300-token
    BPEs: the one the shards are made with, and another trained on other text."""
    from thresher.tokenizer.train import train_tokenizer

    root = tmp_path_factory.mktemp("corpus")
    texts = documents(600, seed=0)
    parquet = write_curated(root / "curated.parquet", [f"doc-{i}" for i in range(len(texts))], texts)
    train_tokenizer(str(parquet), root / "tokenizer", vocab_size=300)
    reversed_texts = ["".join(reversed(t)) for t in texts[:100]]
    other = write_curated(root / "other.parquet", [f"other-{i}" for i in range(100)], reversed_texts)
    train_tokenizer(str(other), root / "other-tokenizer", vocab_size=300)
    return {"input": str(parquet), "tokenizer": root / "tokenizer", "other_tokenizer": root / "other-tokenizer"}


def shard_argv(corpus: dict, out: Path, seed: int, rows_per_shard: int = 20, tokenizer=None) -> list[str]:
    return [
        "--input",
        corpus["input"],
        "--tokenizer",
        str(tokenizer or corpus["tokenizer"]),
        "--output",
        str(out),
        "--sequence-length",
        str(SEQ_LEN),
        "--val-fraction",
        "0.2",
        "--seed",
        str(seed),
        "--rows-per-shard",
        str(rows_per_shard),
        "--workers",
        "1",
    ]


def shard(corpus: dict, out: Path, seed: int, rows_per_shard: int = 20) -> dict:
    assert run_cli("shard", shard_argv(corpus, out, seed, rows_per_shard)) == 0
    return json.loads((out / "manifest.json").read_text())


def one_line_refusal(capsys, rc: int, *expected: str) -> str:
    """What the command wrote to stderr, checked: exit 2, one line, saying each `expected`."""
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, err
    return err


def assert_intact(out: Path, manifest: dict) -> None:
    """`out` holds the shard set `manifest` describes, every shard checked against its sha256."""
    assert json.loads((out / "manifest.json").read_text()) == manifest
    for split, stats in manifest["splits"].items():
        assert len(TokenShards(out, split, verify=True)) == stats["rows"] > 0


def shard_files(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.glob("*/shard-*.arrow")}


def listed(manifest: dict) -> set[str]:
    return {s["path"] for split in manifest["splits"].values() for s in split["shards"]}


def thresher(*argv: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, *argv], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


# --- 10: a shard set is published whole, or not at all -----------------------------------------


def test_a_rerun_killed_while_writing_shards_leaves_the_old_set_in_force(corpus, tmp_path):
    out = tmp_path / "shards"
    old = shard(corpus, out, seed=1)
    # Another seed, one row per shard: thousands of files to write, a wide window to kill in.
    proc = thresher("-m", "thresher", "shard", *shard_argv(corpus, out, seed=2, rows_per_shard=1))
    staged = out / "_work" / "staged"
    deadline = time.monotonic() + 120
    while not any(staged.glob("*/shard-*.arrow")):
        assert proc.poll() is None, f"the rerun ended before writing a shard: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "no shard written in 120 s"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed midway, not finished
    assert any(staged.glob("*/shard-*.arrow"))

    assert_intact(out, old)  # the old manifest, over its own shards
    assert shard_files(out) == listed(old)

    new = shard(corpus, out, seed=2, rows_per_shard=200)  # the next run clears the debris and publishes
    assert new["shuffle_seed"] == 2 and len(listed(new)) < len(listed(old))
    assert_intact(out, new)
    assert shard_files(out) == listed(new)  # the old set's extra shards are gone
    assert not (out / "_work").exists()


# Runs `thresher ARGV...` in this process and SIGKILLs it right after the first of the new shards
# is moved into the output folder: its old manifest is gone, the new one not yet there.
KILL_WHILE_PUBLISHING = """
import os, signal, sys
from thresher.cli import main
out, real_rename = sys.argv[1], os.rename
def rename(src, dst, *args, **kwargs):
    real_rename(src, dst, *args, **kwargs)
    if os.path.dirname(os.path.dirname(dst)) == out and dst.endswith(".arrow"):
        os.kill(os.getpid(), signal.SIGKILL)
os.rename = rename
sys.exit(main(sys.argv[2:]))
"""


def test_a_rerun_killed_while_publishing_leaves_no_manifest_and_the_trainer_says_so(corpus, tmp_path, capsys):
    out = tmp_path / "shards"
    old = shard(corpus, out, seed=1)
    proc = thresher("-c", KILL_WHILE_PUBLISHING, str(out), "shard", *shard_argv(corpus, out, seed=2))
    assert proc.wait(timeout=120) == -signal.SIGKILL, proc.stderr.read()
    assert not (out / "manifest.json").exists()
    assert shard_files(out) == listed(old)  # same names, some of them already the new run's

    rc = run_cli("pretrain", pretrain_args(out, tmp_path / "run", steps=2, warmup=1))
    one_line_refusal(capsys, rc, str(out), "no manifest.json", "no complete shard set")

    new = shard(corpus, out, seed=2)  # a complete rerun publishes the new set
    assert_intact(out, new)
    assert new != old


def test_a_shard_of_another_size_than_the_manifest_says_is_refused_without_verify_data(corpus, tmp_path, capsys):
    out = tmp_path / "shards"
    manifest = shard(corpus, out, seed=1)
    entry = manifest["splits"]["train"]["shards"][3]
    path = out / entry["path"]
    assert entry["bytes"] == path.stat().st_size

    # The same rows written again with other metadata: rows and tokens as listed, other bytes.
    table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema.with_metadata({"x": "y"})) as w:
        w.write_table(table.replace_schema_metadata({"x": "y"}))
    assert pa.ipc.open_stream(pa.memory_map(str(path))).read_all().num_rows == entry["rows"]
    size = path.stat().st_size
    assert size != entry["bytes"]

    argv = pretrain_args(out, tmp_path / "run", steps=2, warmup=1)
    assert "--verify-data" not in argv
    rc = run_cli("pretrain", argv)
    one_line_refusal(capsys, rc, str(path), f"{size:,} bytes", f"the manifest says {entry['bytes']:,}")

    path.write_bytes(path.read_bytes()[: entry["bytes"] // 2])  # a copy cut short
    rc = run_cli("pretrain", argv)
    one_line_refusal(capsys, rc, str(path), f"the manifest says {entry['bytes']:,}")
    assert not (tmp_path / "run" / "checkpoints").exists()


# --- 11: empty inputs, changed arguments, another tokenizer -------------------------------------


def test_shard_refuses_an_input_that_makes_no_rows_and_leaves_the_output_as_it_was(corpus, tmp_path, capsys):
    out = tmp_path / "shards"
    manifest = shard(corpus, out, seed=1)
    capsys.readouterr()
    inputs = {
        "no rows": write_curated(tmp_path / "empty.parquet", [], []),
        "no text": write_curated(tmp_path / "null.parquet", ["a", "b"], [None, None]),
        "too short": write_curated(tmp_path / "short.parquet", ["a", "b", "c"], ["the", "", "of and"]),
    }
    for case, parquet in inputs.items():
        rc = run_cli("shard", shard_argv({**corpus, "input": str(parquet)}, out, seed=5))
        if case == "too short":
            one_line_refusal(capsys, rc, "3 documents make", "not one row of 33", "left as it was")
        else:
            one_line_refusal(capsys, rc, str(parquet), "no document with an id and a text", "left as it was")
        assert_intact(out, manifest)
        assert not (out / "_work").exists()
    # And into a new folder: nothing is made.
    rc = run_cli("shard", shard_argv({**corpus, "input": str(inputs["no rows"])}, tmp_path / "new", seed=5))
    one_line_refusal(capsys, rc, "no token shards to write")
    assert not (tmp_path / "new" / "manifest.json").exists()


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> dict:
    """Shards and a tiny model trained 2 steps on them (checkpoint at step 2)."""
    root = tmp_path_factory.mktemp("trained")
    shard(corpus, root / "shards", seed=1)
    args = pretrain_args(root / "shards", root / "run", steps=2, warmup=1, **{"ckpt-interval": 2, "eval-steps": 1})
    assert run_cli("pretrain", args) == 0
    return {"shards": root / "shards", "run": root / "run"}


def test_resume_refuses_changed_training_arguments_unless_overridden(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained["run"], run)
    base = dict(warmup=1, **{"ckpt-interval": 2, "eval-steps": 1})
    capsys.readouterr()

    changed = pretrain_args(trained["shards"], run, steps=2, lr=1e-3, **{**base, "batch-size": 4})
    rc = run_cli("pretrain", changed + ["--resume"])
    one_line_refusal(capsys, rc, "--batch-size 8 (now 4)", "--lr 0.003 (now 0.001)", "--override batch-size,lr")
    assert latest_checkpoint(run / "checkpoints").name == "step-0000002"

    longer = pretrain_args(trained["shards"], run, steps=4, **base)
    one_line_refusal(capsys, run_cli("pretrain", longer + ["--resume"]), "--steps 2 (now 4)", "--override steps")
    assert run_cli("pretrain", longer + ["--resume", "--override", "steps"]) == 0
    assert "--override: --steps 2 -> 4 from step 2 on" in capsys.readouterr().out
    meta = read_meta(latest_checkpoint(run / "checkpoints"))
    assert meta["step"] == 4 and meta["train_args"]["steps"] == 4
    assert meta["overrides"] == [{"step": 2, "changed": {"steps": [2, 4]}}]  # logged where the run is

    # 4 is now the checkpoint's own value: no override needed, and the record is kept.
    assert run_cli("pretrain", longer + ["--resume"]) == 0
    assert read_meta(latest_checkpoint(run / "checkpoints"))["overrides"] == meta["overrides"]


def test_generate_refuses_another_tokenizer_than_the_models(corpus, trained, tmp_path, capsys):
    argv = ["--checkpoint", str(trained["run"]), "--prompt", "the", "--max-new-tokens", "5", "--greedy"]
    argv += ["--device", "cpu"]
    capsys.readouterr()
    assert run_cli("generate", argv) == 0
    expected = capsys.readouterr().out

    # The same tokenizer at another path is the same tokenizer.
    moved = shutil.copytree(corpus["tokenizer"], tmp_path / "moved")
    assert run_cli("generate", argv + ["--tokenizer", str(moved)]) == 0
    assert capsys.readouterr().out == expected

    # Another tokenizer of the same vocabulary size passed every check before: refused now.
    other = corpus["other_tokenizer"]
    assert (
        json.loads((other / "tokenizer.json").read_text())["model"]["vocab"].keys()
        != json.loads((corpus["tokenizer"] / "tokenizer.json").read_text())["model"]["vocab"].keys()
    )
    rc = run_cli("generate", argv + ["--tokenizer", str(other)])
    one_line_refusal(capsys, rc, f"--tokenizer {other}", "300 tokens", "not the tokenizer the model was trained with")

    rc = run_cli("generate", argv + ["--tokenizer", str(tmp_path / "nowhere")])
    one_line_refusal(capsys, rc, f"{tmp_path / 'nowhere'} does not exist")


# --- 12: a --tokenizer that is not one ----------------------------------------------------------


def test_shard_says_what_is_wrong_with_a_tokenizer_that_is_not_one(corpus, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a tokenizer\n")
    not_json = tmp_path / "tokenizer.json"
    not_json.write_text("vocab: 300\n")
    other_json = tmp_path / "config.json"
    other_json.write_text(json.dumps({"vocab_size": 300, "model_type": "llama"}))
    no_eos = tmp_path / "no-eos" / "tokenizer.json"
    no_eos.parent.mkdir()
    data = json.loads((corpus["tokenizer"] / "tokenizer.json").read_text())
    data["added_tokens"] = []
    data["model"]["vocab"] = {k: v for k, v in data["model"]["vocab"].items() if k != "<|endoftext|>"}
    no_eos.write_text(json.dumps(data))
    cases = {
        tmp_path / "missing": "does not exist",
        notes: "is not a tokenizer",
        empty: "holds no tokenizer.json",
        not_json: "not even JSON",
        other_json: "is JSON (vocab_size, model_type), but not a `tokenizers` tokenizer.json",
        no_eos: "has no EOS token '<|endoftext|>'",
    }
    out = tmp_path / "shards"
    for path, problem in cases.items():
        rc = run_cli("shard", shard_argv(corpus, out, seed=1, tokenizer=path))
        one_line_refusal(capsys, rc, f"--tokenizer: {path}", problem)
    assert not out.exists()
