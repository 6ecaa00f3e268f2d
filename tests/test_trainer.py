"""trainer/: the shard loader, the training loop, checkpoints and resume, on real text (CPU only).

The shards are written here by a small helper that follows contracts.md (5) to the letter, from
tiny-shakespeare's bytes (byte-level tokens 0-255, EOS = 256; one speech per document), so these
tests do not depend on the real shard writer in pipelines/.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from thresher.trainer import checkpoint as ckpt_mod, train as train_mod
from thresher.trainer.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from thresher.trainer.data import BatchLoader, TokenShards, read_manifest
from thresher.trainer.log import Progress
from thresher.trainer.model import ModelConfig, Transformer

from conftest import DATA, run_cli

torch.set_num_threads(2)

SHAKESPEARE = DATA / "tiny-shakespeare" / "input.txt"
REPO = Path(__file__).resolve().parents[1]
EOS = 256
SEQ_LEN = 64
VAL_FRACTION = 0.1


def write_shards(
    out: Path,
    text: str,
    seq_len: int,
    val_fraction: float,
    shuffle_seed: int = 1234,
    train_shards: int = 3,
    batches_per_shard: int = 2,
    source: str = "tiny-shakespeare",
) -> dict:
    """contracts.md (5): documents + EOS, concatenated per split, cut into rows of seq_len + 1
    (tail dropped and counted), rows shuffled with a seed, uncompressed Arrow IPC files: format_version
    1, which the loader still reads (pipelines/shard.py writes version 2, IPC streams: pipeline_run)."""
    row_length = seq_len + 1
    docs = [d for d in text.split("\n\n") if d]
    splits = {"train": [], "val": []}
    for i, doc in enumerate(docs):
        doc_id = f"{source}#{i}"
        h = int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big")
        splits["val" if h % 10_000 < val_fraction * 10_000 else "train"].append(doc)
    manifest = {
        "format": "thresher-shards",
        "format_version": 1,
        "tokenizer": {
            "sha256": hashlib.sha256(b"bytes+eos").hexdigest(),
            "vocab_size": 257,
            "eos_id": EOS,
            "path": "byte-level",
        },
        "sequence_length": seq_len,
        "row_length": row_length,
        "dtype": "uint16",
        "shuffle_seed": shuffle_seed,
        "val_fraction": val_fraction,
        "source": source,
        "splits": {},
    }
    for split, split_docs in splits.items():
        tokens = np.concatenate(
            [np.append(np.frombuffer(d.encode(), dtype=np.uint8).astype(np.uint16), EOS) for d in split_docs]
        )
        n_rows = len(tokens) // row_length
        rows = tokens[: n_rows * row_length].reshape(n_rows, row_length)
        rows = rows[np.random.default_rng(shuffle_seed).permutation(n_rows)]
        (out / split).mkdir(parents=True)
        shards = []
        for k, part in enumerate(np.array_split(rows, train_shards if split == "train" else 1)):
            rel = f"{split}/shard-{k:05d}.arrow"
            schema = pa.schema([("tokens", pa.list_(pa.uint16(), row_length))])
            with pa.OSFile(str(out / rel), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                for chunk in np.array_split(part, batches_per_shard):  # several record batches per file
                    column = pa.FixedSizeListArray.from_arrays(pa.array(chunk.reshape(-1)), row_length)
                    writer.write_batch(pa.record_batch([column], schema=schema))
            shards.append(
                {
                    "path": rel,
                    "rows": len(part),
                    "tokens": int(part.size),
                    "bytes": (out / rel).stat().st_size,
                    "sha256": hashlib.sha256((out / rel).read_bytes()).hexdigest(),
                }
            )
        manifest["splits"][split] = {
            "documents": len(split_docs),
            "rows": n_rows,
            "tokens": int(rows.size),
            "dropped_tail_tokens": len(tokens) - n_rows * row_length,
            "shards": shards,
        }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    if not SHAKESPEARE.exists():
        pytest.skip(f"real-data test: {SHAKESPEARE} is absent (the shared data folder holds tiny-shakespeare)")
    out = tmp_path_factory.mktemp("shards")
    write_shards(out, SHAKESPEARE.read_text(), SEQ_LEN, VAL_FRACTION)
    return out


_PIPELINE_RUN = {}


def pipeline_run(tmp_path_factory) -> dict:
    """The real stages end to end, once per session: tiny-shakespeare as curated Parquet
    (DOCUMENT_SCHEMA), a 512-token BPE (`train_tokenizer`), shards (`pipelines/shard.py`), and the
    tiny model trained 30 steps on them. {"tokenizer", "shards", "run"}: folders."""
    if not _PIPELINE_RUN:
        import pyarrow.parquet as pq

        from thresher.contracts.schema import DOCUMENT_SCHEMA, to_row
        from thresher.pipelines import shard
        from thresher.tokenizer.train import train_tokenizer

        if not SHAKESPEARE.exists():
            pytest.skip(f"real-data test: {SHAKESPEARE} is absent")
        root = tmp_path_factory.mktemp("pipeline")
        docs = [d for d in SHAKESPEARE.read_text().split("\n\n") if d]
        rows = [to_row({"id": f"tiny-shakespeare#{i}", "text": d}) for i, d in enumerate(docs)]
        pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), root / "curated.parquet")
        train_tokenizer(str(root / "curated.parquet"), root / "tokenizer", vocab_size=512)
        shard.run(
            str(root / "curated.parquet"),
            str(root / "tokenizer"),
            str(root / "shards"),
            [],
            sequence_length=SEQ_LEN,
            val_fraction=VAL_FRACTION,
            source="tiny-shakespeare",
        )
        args = pretrain_args(root / "shards", root / "run", steps=30, **{"eval-interval": 30, "ckpt-interval": 30})
        assert run_cli("pretrain", args) == 0
        _PIPELINE_RUN.update(tokenizer=root / "tokenizer", shards=root / "shards", run=root / "run")
    return _PIPELINE_RUN


def pretrain_args(data: Path, out: Path, steps: int, **overrides) -> list[str]:
    opts = {
        "model": "tiny",
        "steps": steps,
        "batch-size": 8,
        "grad-accum": 1,
        "lr": 3e-3,
        "warmup": 10,
        "eval-interval": 50,
        "eval-steps": 10,
        "log-interval": 1,
        "ckpt-interval": 100,
        "keep-last": 3,
        "seed": 1337,
        "device": "cpu",
        "dtype": "fp32",
    }
    opts.update(overrides)
    return ["--input", str(data), "--output", str(out)] + [f"--{k}={v}" for k, v in opts.items()]


def read_metrics(out: Path, split: str) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def losses(out: Path, split: str) -> list[tuple]:
    """What must match between two runs: everything but wall-clock throughput."""
    return [(r["step"], r["loss"], r.get("lr"), r.get("grad_norm")) for r in read_metrics(out, split)]


# --- training ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_model_learns_shakespeare_beyond_byte_frequencies(shards, tmp_path):
    out = tmp_path / "run"
    assert run_cli("pretrain", pretrain_args(shards, out, steps=300)) == 0
    val = read_metrics(out, "val")
    assert [r["step"] for r in val] == [0, 50, 100, 150, 200, 250, 300]
    initial, final = val[0]["loss"], val[-1]["loss"]
    # The untrained model is near uniform over the 320 (padded) ids.
    assert abs(initial - math.log(320)) < 0.1
    # A model of byte frequencies alone reaches the unigram entropy of the text; beating it by a
    # clear margin means the model uses context, not only that the loss went down.
    counts = np.bincount(np.frombuffer(SHAKESPEARE.read_bytes(), dtype=np.uint8), minlength=256)
    p = counts[counts > 0] / counts.sum()
    unigram_entropy = float(-(p * np.log(p)).sum())  # ~3.3 nats
    print(f"val loss: initial {initial:.4f}, final {final:.4f}, unigram entropy {unigram_entropy:.4f}")
    assert final < 0.8 * initial
    assert final < unigram_entropy - 0.6
    assert all(math.isfinite(r["loss"]) and r["grad_norm"] > 0 for r in read_metrics(out, "train"))


@pytest.mark.slow
def test_resume_after_a_kill_reproduces_the_uninterrupted_run_bitwise(shards, tmp_path, monkeypatch):
    args = dict(steps=40, **{"ckpt-interval": 20, "eval-interval": 20})
    reference = tmp_path / "reference"
    assert run_cli("pretrain", pretrain_args(shards, reference, **args)) == 0

    class Killed(Exception):
        pass

    real_lr_at = train_mod.lr_at

    def lr_then_die(step, *a):
        if step == 27:  # 27 updates done: past the checkpoint at 20, with steps 21-27 logged
            raise Killed(step)
        return real_lr_at(step, *a)

    interrupted = tmp_path / "interrupted"
    monkeypatch.setattr(train_mod, "lr_at", lr_then_die)
    with pytest.raises(Killed):
        run_cli("pretrain", pretrain_args(shards, interrupted, **args))
    monkeypatch.undo()
    assert latest_checkpoint(interrupted / "checkpoints").name == "step-0000020"
    assert losses(interrupted, "train")[-1][0] == 27

    # A fresh process: nothing in memory survives, everything comes from the checkpoint.
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, "-m", "thresher", "pretrain", *pretrain_args(shards, interrupted, **args), "--resume"]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "resumed from" in result.stdout

    expected = losses(reference, "train")
    assert [s for s, *_ in expected] == list(range(1, 41))
    assert losses(interrupted, "train") == expected  # exact float equality, steps 1-40, each once
    assert losses(interrupted, "val") == losses(reference, "val")


def test_an_out_folder_holding_a_run_needs_resume(shards, tmp_path, capsys):
    out = tmp_path / "run"
    args = pretrain_args(shards, out, steps=4, warmup=1, **{"ckpt-interval": 4, "eval-interval": 4, "eval-steps": 1})
    assert run_cli("pretrain", args + ["--resume"]) == 0  # nothing to resume from yet: starts at step 0
    assert [r["step"] for r in read_metrics(out, "train")] == [1, 2, 3, 4]
    assert run_cli("pretrain", args) == 2  # would mix two runs' checkpoints and metrics
    assert "already holds a run" in capsys.readouterr().err
    assert run_cli("pretrain", args + ["--resume"]) == 0  # already at --steps: nothing to do
    assert [r["step"] for r in read_metrics(out, "train")] == [1, 2, 3, 4]


def assert_same_curves(a: Path, b: Path, rel: float = 1e-5) -> None:
    for split in ("train", "val"):
        ra, rb = read_metrics(a, split), read_metrics(b, split)
        assert [r["step"] for r in ra] == [r["step"] for r in rb]
        for x, y in zip(ra, rb):
            assert y["loss"] == pytest.approx(x["loss"], rel=rel)
            if split == "train":
                assert y["grad_norm"] == pytest.approx(x["grad_norm"], rel=rel)


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_ranks_match_one_process(shards, tmp_path, parallel):
    """torchrun, 2 CPU ranks over gloo, same global batch: the same losses as one process, up to
    the order of floating-point sums in the gradient all-reduce (DDP) or reduce-scatter (FSDP)."""
    args = dict(steps=6, warmup=2, **{"grad-accum": 2, "eval-interval": 3, "eval-steps": 4, "ckpt-interval": 6})
    single = tmp_path / "single"
    assert run_cli("pretrain", pretrain_args(shards, single, **args)) == 0
    multi = tmp_path / parallel
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "thresher",
        "pretrain",
        *pretrain_args(shards, multi, **args),
        f"--parallel={parallel}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"2 rank(s) ({parallel})" in result.stdout
    assert_same_curves(single, multi)
    assert list_checkpoints(multi / "checkpoints")[-1].name == "step-0000006"
    if parallel == "fsdp":
        # The sharded run's checkpoint holds full state dicts: one process resumes it and goes on
        # exactly as the one-process run does from its own checkpoint.
        for out in (single, multi):
            extended = pretrain_args(shards, out, **{**args, "steps": 8}) + ["--resume", "--override", "steps"]
            assert run_cli("pretrain", extended) == 0
        assert_same_curves(single, multi)


# --- the shard loader -------------------------------------------------------------------------


def test_shards_are_memory_mapped_views_not_copies(shards):
    before = pa.total_allocated_bytes()
    train = TokenShards(shards, "train")
    assert pa.total_allocated_bytes() == before  # nothing read into Arrow's memory pool
    manifest = read_manifest(shards)
    assert len(train) == manifest["splits"]["train"]["rows"]
    view = train._views[0]
    assert view.shape[1] == SEQ_LEN + 1 and view.dtype == np.uint16
    assert not view.flags.owndata and not view.flags.writeable
    # Row 0 of the split is the first row written to shard 0.
    first = pa.ipc.open_file(str(shards / manifest["splits"]["train"]["shards"][0]["path"])).get_batch(0)
    assert train.rows([0])[0].tolist() == first.column("tokens")[0].as_py()


def test_loader_shifts_rows_into_inputs_and_targets(shards):
    train = TokenShards(shards, "train")
    loader = BatchLoader(train, global_batch_size=4, seed=0)
    rows = train.rows(BatchLoader(train, 4, seed=0).next_rows())
    x, y = loader.next()
    assert x.dtype == y.dtype == torch.int64 and x.shape == y.shape == (4, SEQ_LEN)
    assert torch.equal(x, torch.from_numpy(rows[:, :-1])) and torch.equal(y, torch.from_numpy(rows[:, 1:]))


def test_global_batches_do_not_depend_on_world_size(shards):
    val = TokenShards(shards, "val")
    G = 600  # a few global batches per epoch, so the loop crosses epoch boundaries
    single = BatchLoader(val, G, seed=7)
    ranks = [BatchLoader(val, G, seed=7, rank=r, world_size=2) for r in (0, 1)]
    epoch_rows = {}
    for _ in range(3 * len(val) // G):
        epoch = single.epoch if single.position + G <= len(val) else single.epoch + 1
        expected = single.next_rows()
        r0, r1 = ranks[0].next_rows(), ranks[1].next_rows()
        interleaved = np.empty(G, dtype=np.int64)
        interleaved[0::2], interleaved[1::2] = r0, r1  # rank r holds rows r, r+W, r+2W, ...
        assert np.array_equal(interleaved, expected)
        epoch_rows.setdefault(epoch, []).extend(expected.tolist())
    assert len(epoch_rows) >= 3
    for rows in epoch_rows.values():
        assert len(rows) == len(set(rows)) == (len(val) // G) * G  # no row twice in an epoch
    assert epoch_rows[0] != epoch_rows[1]  # each epoch has its own order


def test_loader_state_resumes_mid_epoch_exactly(shards):
    val = TokenShards(shards, "val")
    loader = BatchLoader(val, 500, seed=3)
    for _ in range(5):
        loader.next()
    state = loader.state_dict()
    assert state["epoch"] >= 1 and state["position"] > 0  # mid-epoch, past the first epoch
    expected = [loader.next() for _ in range(4)]
    resumed = BatchLoader(val, 500, seed=3)
    resumed.load_state_dict(json.loads(json.dumps(state)))  # as it travels in meta.json
    for (x, y), (rx, ry) in zip(expected, (resumed.next() for _ in range(4))):
        assert torch.equal(x, rx) and torch.equal(y, ry)


def test_verify_catches_a_corrupted_shard_and_a_foreign_manifest(shards, tmp_path):
    copy = tmp_path / "shards"
    shutil.copytree(shards, copy)
    TokenShards(copy, "val", verify=True)
    shard = copy / "val" / "shard-00000.arrow"
    row = TokenShards(copy, "val").rows([0])[0]
    data = bytearray(shard.read_bytes())
    at = data.find(row.astype("<u2").tobytes())  # row 0's bytes inside the file
    data[at + 1] ^= 0x01  # its first token changes by 256: the file still parses
    shard.write_bytes(bytes(data))
    assert TokenShards(copy, "val").rows([0])[0, 0] == row[0] ^ 256  # unverified, the damage goes unseen
    with pytest.raises(ValueError, match="sha256"):
        TokenShards(copy, "val", verify=True)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 3  # a version from the future
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="format_version"):
        TokenShards(copy, "train")


# --- checkpoints ------------------------------------------------------------------------------


def tiny_state(seed: int):
    torch.manual_seed(seed)
    model = Transformer(ModelConfig(vocab_size=64, seq_len=16, n_layer=1, n_head=2, d_model=16, d_mlp=32))
    optimizer = train_mod.make_optimizer(model, 1e-3, "cpu")
    model(torch.randint(0, 64, (2, 16)), torch.randint(0, 64, (2, 16)))[1].backward()
    optimizer.step()
    return model, optimizer


def save(ckpt_dir, step, keep_last=3):
    model, optimizer = tiny_state(step)
    return save_checkpoint(
        ckpt_dir,
        step,
        model.state_dict(),
        optimizer.state_dict(),
        {"data": {"train": {"epoch": 0, "position": step}}},
        keep_last,
    )


def test_a_crash_while_writing_leaves_latest_on_the_last_complete_checkpoint(tmp_path, monkeypatch):
    ckpt_dir = tmp_path / "checkpoints"
    save(ckpt_dir, 1)
    real_torch_save = torch.save

    def fail_on_optimizer(obj, f, *a, **kw):
        if Path(f.name).name == "optimizer.pt":
            raise OSError("disk full")
        return real_torch_save(obj, f, *a, **kw)

    monkeypatch.setattr(ckpt_mod.torch, "save", fail_on_optimizer)
    with pytest.raises(OSError, match="disk full"):
        save(ckpt_dir, 2)
    monkeypatch.undo()
    assert (ckpt_dir / ".tmp-step-0000002" / "model.pt").exists()  # the half-written checkpoint
    assert latest_checkpoint(ckpt_dir).name == "step-0000001"
    assert load_checkpoint(latest_checkpoint(ckpt_dir))["meta"]["step"] == 1

    # Crash after the rename, before `latest` moved: the new folder exists but is not `latest`.
    monkeypatch.setattr(ckpt_mod, "_write_latest", lambda *a: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError, match="killed"):
        save(ckpt_dir, 2)
    monkeypatch.undo()
    assert (ckpt_dir / "step-0000002").is_dir()
    assert latest_checkpoint(ckpt_dir).name == "step-0000001"

    # A run resumed from step 1 reaches step 2 again: the save replaces the orphan and cleans up.
    save(ckpt_dir, 2)
    assert latest_checkpoint(ckpt_dir).name == "step-0000002"
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["latest", "step-0000001", "step-0000002"]
    assert load_checkpoint(latest_checkpoint(ckpt_dir))["meta"]["data"]["train"]["position"] == 2


def test_keep_last_prunes_older_checkpoints(tmp_path):
    ckpt_dir = tmp_path / "checkpoints"
    for step in (10, 20, 30, 40, 50):
        save(ckpt_dir, step, keep_last=2)
    assert [p.name for p in list_checkpoints(ckpt_dir)] == ["step-0000040", "step-0000050"]
    assert latest_checkpoint(ckpt_dir).name == "step-0000050"


def test_checkpoint_loads_with_weights_only_and_restores_model_and_optimizer(tmp_path):
    model, optimizer = tiny_state(0)
    path = save_checkpoint(tmp_path, 7, model.state_dict(), optimizer.state_dict(), {"note": "x"}, 1)
    for name in ("model.pt", "optimizer.pt", "rng.pt"):
        torch.load(path / name, weights_only=True)  # raises if anything but tensors and plain data
    loaded = load_checkpoint(path)
    assert loaded["meta"]["step"] == 7 and loaded["meta"]["note"] == "x"
    fresh, fresh_opt = tiny_state(1)
    fresh.load_state_dict(loaded["model"])
    fresh_opt.load_state_dict(loaded["optimizer"])
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    saved, restored = optimizer.state_dict()["state"], fresh_opt.state_dict()["state"]
    assert saved.keys() == restored.keys()
    for i in saved:
        assert all(torch.equal(saved[i][k], restored[i][k]) for k in ("step", "exp_avg", "exp_avg_sq"))


def test_rng_states_round_trip(tmp_path):
    model, optimizer = tiny_state(0)
    path = save_checkpoint(tmp_path, 1, model.state_dict(), optimizer.state_dict(), {}, 1)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    ckpt_mod.set_rng_state(load_checkpoint(path)["rng"])
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1]) and expected[2] == got[2]


# --- model and schedule -------------------------------------------------------------------------


def test_lr_schedule_warms_up_then_decays_to_a_tenth():
    lr = [train_mod.lr_at(s, 1.0, 10, 100) for s in range(100)]
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lr[9:], lr[10:]))
    assert train_mod.lr_at(100, 1.0, 10, 100) == pytest.approx(0.1)


def test_model_is_causal_and_weight_decay_skips_norms():
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=64, seq_len=16, n_layer=2, n_head=2, d_model=32, d_mlp=64))
    idx = torch.randint(0, 64, (1, 16))
    changed = idx.clone()
    changed[0, 10] = (idx[0, 10] + 1) % 64
    a, b = model(idx)[0], model(changed)[0]
    assert torch.equal(a[0, :10], b[0, :10]) and not torch.equal(a[0, 10:], b[0, 10:])
    assert model.lm_head.weight is model.tok_emb.weight
    decayed, plain = train_mod.make_optimizer(model, 1e-3, "cpu").param_groups
    assert decayed["weight_decay"] == 0.1 and all(p.dim() == 2 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and all(p.dim() == 1 for p in plain["params"])


def test_activation_checkpointing_gives_the_same_loss_and_gradients():
    def loss_and_grads(checkpointing: bool):
        torch.manual_seed(0)
        model = Transformer(ModelConfig(vocab_size=64, seq_len=16, n_layer=2, n_head=2, d_model=32, d_mlp=64))
        model.activation_checkpointing = checkpointing
        idx = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(1))
        loss = model(idx, idx)[1]
        loss.backward()
        return loss, [p.grad for p in model.parameters()]

    (loss, grads), (loss_ac, grads_ac) = loss_and_grads(False), loss_and_grads(True)
    assert torch.equal(loss, loss_ac)
    assert all(torch.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(grads, grads_ac))


def test_an_untied_output_projection_counts_in_parameters_and_flops():
    shape = dict(vocab_size=64, seq_len=16, n_layer=1, n_head=2, d_model=32, d_mlp=64)
    tied, untied = Transformer(ModelConfig(**shape)), Transformer(ModelConfig(**shape, tie_embeddings=False))
    assert untied.lm_head.weight is not untied.tok_emb.weight
    assert untied.num_params() == tied.num_params() + 64 * 32
    assert untied.num_params(non_embedding=True) == tied.num_params(non_embedding=True)
    # The output matmul costs FLOPs either way; the input lookup never does.
    assert untied.flops_per_token() == tied.flops_per_token()


def test_activation_checkpointing_flag_trains_like_the_plain_run(shards, tmp_path):
    args = dict(steps=3, warmup=1, **{"eval-interval": 3, "eval-steps": 1, "ckpt-interval": 3})
    assert run_cli("pretrain", pretrain_args(shards, tmp_path / "plain", **args)) == 0
    assert run_cli("pretrain", pretrain_args(shards, tmp_path / "ac", **args) + ["--activation-checkpointing"]) == 0
    assert_same_curves(tmp_path / "plain", tmp_path / "ac", rel=1e-6)


# --- what a run reports -----------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_draws_a_bar_on_a_terminal_and_stays_silent_in_a_log_file(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain fallback: `import tqdm` fails
    terminal = FakeTerminal()
    progress = Progress(0, 10, stream=terminal)
    progress.update(3, "loss 4.2")
    progress.write("step 3/10 | loss 4.2")
    progress.update(4)
    progress.close()
    shown = terminal.getvalue()
    assert "\r3/10 steps (30%" in shown and "loss 4.2" in shown and "\r4/10 steps (40%" in shown
    assert "\nstep 3/10 | loss 4.2\n" not in shown and "step 3/10 | loss 4.2\n" in shown

    log_file = io.StringIO()  # not a terminal: the log lines alone, no carriage returns
    progress = Progress(0, 10, stream=log_file)
    progress.update(3, "loss 4.2")
    progress.write("step 3/10 | loss 4.2")
    progress.close()
    assert log_file.getvalue() == "step 3/10 | loss 4.2\n"


def test_progress_uses_tqdm_when_installed():
    pytest.importorskip("tqdm")
    terminal = FakeTerminal()
    progress = Progress(2, 10, stream=terminal)
    progress.update(5, "loss 4.2")
    progress.write("a log line")
    progress.close()
    assert progress.bar is not None and progress.bar.n == 5
    assert "a log line" in terminal.getvalue()


def test_tensorboard_gets_the_same_numbers_as_the_jsonl_file(shards, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert (
        run_cli(
            "pretrain",
            pretrain_args(shards, out, steps=4, warmup=1, **{"eval-interval": 2, "eval-steps": 1, "ckpt-interval": 4}),
        )
        == 0
    )
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    logged = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert logged == [(r["step"], pytest.approx(r["loss"])) for r in read_metrics(out, "train")]
    assert [e.step for e in events.Scalars("val/loss")] == [0, 2, 4]
