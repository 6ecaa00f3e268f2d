"""`thresher demo` end to end: the embedded crawl through every stage to a model that learns."""

import json
import shutil

import pyarrow.parquet as pq
import pytest

from thresher.contracts.funnel import check_accounting
from thresher.contracts.schema import scores_dict
from thresher.contracts.shards import split_of
from thresher.demo import pretrain_argv, run_demo, val_fraction_for

from conftest import run_cli, write_curated


def _losses(model_dir, split):
    rows = [json.loads(line) for line in (model_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r["split"] == split and "source" not in r}


@pytest.mark.parametrize("docs, val", [(3, 1), (33, 3), (200, 20)])
def test_the_demo_val_fraction_always_selects_a_tenth_of_the_documents(tmp_path, docs, val):
    # Ids hash the input's absolute path, so a fixed fraction may select no document at all.
    for run in range(5):
        ids = [f"{run}-{i}" for i in range(docs)]
        (tmp_path / str(run)).mkdir()
        write_curated(tmp_path / str(run) / "part.parquet", ids, ["text"] * docs)
        fraction = val_fraction_for(tmp_path / str(run), 0.1)
        assert sum(split_of(i, fraction) == "val" for i in ids) == val


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("demo"), steps=300)


@pytest.mark.slow
def test_every_filter_fires_and_every_record_is_accounted_for(demo):
    stats = demo["stats"]
    assert check_accounting(stats) == []
    quiet = [s["name"] for s in stats["stages"] if not s["dropped"] and not s["errored"]]
    assert quiet == ["pii"]  # it masks, never drops
    # ... and it did mask: the demo's one contact e-mail address.
    kept = pq.read_table(demo["shard_dir"].parent / "curated-run" / "curated")
    emails = sum(scores_dict(s).get("pii.emails", 0) for s in kept.column("scores").to_pylist())
    assert emails == 1
    assert not any("woodland-notes.example.org" in t for t in kept.column("text").to_pylist())
    # The demo's 32 good articles survive, nothing else: its near duplicate goes at minhash_dedup.
    assert stats["retained"]["docs"] == 32
    minhash = next(s for s in stats["stages"] if s["name"] == "minhash_dedup")
    assert minhash["dropped"]["duplicate"]["docs"] == 1


@pytest.mark.slow
def test_pretraining_on_the_demo_shards_lowers_validation_loss(demo):
    val = _losses(demo["model_dir"], "val")
    first, last = val[min(val)], val[max(val)]
    assert max(val) == 300
    assert last < 0.75 * first, val


@pytest.mark.slow
def test_resuming_from_a_checkpoint_gives_the_same_losses(demo, tmp_path):
    """Resume from the step-150 checkpoint in a fresh folder; steps 151..300 log the same losses."""
    src = demo["model_dir"]
    resumed = tmp_path / "resumed"
    shutil.copytree(src, resumed)
    ckpts = resumed / "checkpoints"
    shutil.rmtree(ckpts / "step-0000300")
    (ckpts / "latest").write_text("step-0000150\n")
    argv = pretrain_argv(demo["shard_dir"], resumed, 300) + ["--resume"]
    assert run_cli("pretrain", argv) == 0
    original, again = _losses(src, "train"), _losses(resumed, "train")
    after = [s for s in original if s > 150]
    assert after and all(again[s] == original[s] for s in after)
