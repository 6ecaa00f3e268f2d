"""trainer/mixture.py: several shard sets in fixed proportions, exact over a run, resumable.

Three byte-level shard sets (written by test_trainer.write_shards, contracts.md 5) from real text:
Shakespeare's plays, the presidential inaugural addresses, and FOMC statements (a small set, so
that its stream wraps into new epochs within a test).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_trainer import DATA, SEQ_LEN, pretrain_args, read_metrics, write_shards

from thresher.trainer import train as train_mod
from thresher.trainer.data import TokenShards
from thresher.trainer.mixture import MixtureLoader, interleave, parse_mix

from conftest import run_cli

torch.set_num_threads(2)

TEXTS = {
    "plays": lambda: (DATA / "tiny-shakespeare" / "input.txt").read_text(),
    "speeches": lambda: "\n\n".join(
        p.read_text(encoding="latin-1")
        for p in sorted((DATA / "nltk-us-presidential-addresses" / "inaugural").glob("*.txt"))
    ),
    "fomc": lambda: "\n\n".join(
        p.read_text() for p in sorted((DATA / "fomc-statements" / "statements").glob("*.txt"))[:12]
    ),
}


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    for folder in ("tiny-shakespeare", "nltk-us-presidential-addresses", "fomc-statements"):
        if not (DATA / folder).exists():
            pytest.skip(f"real-data test: {DATA / folder} is absent")
    root = tmp_path_factory.mktemp("mix")
    for name, text in TEXTS.items():
        write_shards(root / name, text(), SEQ_LEN, 0.1, source=name)
    return {name: root / name for name in TEXTS}


def loader(sets, weights: dict, batch=8, rank=0, world=1, seed=5) -> MixtureLoader:
    return MixtureLoader({n: TokenShards(sets[n], "train") for n in weights}, weights, batch, seed, rank, world)


def test_parse_mix_normalises_weights_and_keeps_colons_in_paths():
    sources = parse_mix("fin=gs://bucket/fin/shards:3, general=runs/general:1,heldout=x:0")
    assert [(s.name, s.path, s.weight) for s in sources] == [
        ("fin", "gs://bucket/fin/shards", 0.75),
        ("general", "runs/general", 0.25),
        ("heldout", "x", 0.0),
    ]
    for bad, message in [
        ("a=x", "name=path:weight"),
        ("a=x:1,a=y:1", "twice"),
        ("a=x:0", "positive"),
        ("a=x:-1", "at least 0"),
        ("a=x:half", "not a number"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_mix(bad)


@pytest.mark.parametrize(
    "weights, bound",
    [
        ({"plays": 0.7, "speeches": 0.3}, 0.5),
        ({"plays": 0.5, "speeches": 0.3, "fomc": 0.2}, 1.0),
        ({"plays": 1 / 3, "speeches": 1 / 3, "fomc": 1 / 3}, 1.0),
    ],
)
def test_every_prefix_of_the_run_holds_the_proportions_to_within_a_row(sets, weights, bound):
    mix = loader(sets, weights, batch=24)
    target = np.array(list(weights.values()))
    drawn = np.zeros(len(weights))
    for _ in range(50):
        for i in mix.next_sources():
            drawn[i] += 1
            assert np.abs(drawn - target * drawn.sum()).max() <= bound + 1e-9
    assert mix.proportions() == {n: c / drawn.sum() for n, c in zip(weights, drawn)}


@pytest.mark.parametrize("k", [4, 6, 8])
def test_k_sources_stay_within_k_over_2_rows(k):
    rng = np.random.default_rng(k)
    for _ in range(20):
        weights = rng.random(k) ** 3  # some tiny
        weights /= weights.sum()
        drawn = np.zeros(k, dtype=np.int64)
        picks = np.concatenate([interleave(weights, drawn, 50) for _ in range(40)])
        counts = np.zeros(k)
        for n, i in enumerate(picks, start=1):
            counts[i] += 1
            assert np.abs(counts - weights * n).max() < k / 2


def test_the_interleaving_does_not_depend_on_how_rows_are_batched():
    weights = np.array([0.45, 0.35, 0.2])
    one_by_one = np.zeros(3, dtype=np.int64)
    in_batches = np.zeros(3, dtype=np.int64)
    rows = np.concatenate([interleave(weights, one_by_one, 1) for _ in range(700)])
    batched = np.concatenate([interleave(weights, in_batches, b) for b in (7, 100, 1, 256, 336)])
    assert np.array_equal(rows, batched) and np.array_equal(one_by_one, in_batches)
    assert one_by_one.tolist() == [315, 245, 140]  # 700 rows: exactly 45%, 35%, 20%


def test_each_source_is_an_endless_stream_of_its_epochs(sets):
    # FOMC's few rows run out many times over: each epoch visits every row once, in its own order.
    weights = {"plays": 0.5, "fomc": 0.5}
    mix = loader(sets, weights, batch=32)
    fomc = TokenShards(sets["fomc"], "train")
    rows = []
    for _ in range(3 * len(fomc) // 16 + 1):
        before = mix.drawn.copy()
        picks = mix.next_sources()
        for k in range(int((picks == 1).sum())):
            e, p = divmod(int(before[1]) + k, len(fomc))
            rows.append((e, int(mix._order(1, e)[p])))
    by_epoch = {}
    for e, r in rows:
        by_epoch.setdefault(e, []).append(r)
    assert len(by_epoch) >= 3
    for e in range(len(by_epoch) - 1):  # every complete epoch
        assert sorted(by_epoch[e]) == list(range(len(fomc)))
    assert by_epoch[0] != by_epoch[1]


def test_batches_hold_the_rows_of_their_sources_and_split_over_ranks(sets):
    weights = {"plays": 0.6, "speeches": 0.4}
    single = loader(sets, weights)
    ranks = [loader(sets, weights, rank=r, world=2) for r in (0, 1)]
    shards = {n: TokenShards(sets[n], "train") for n in weights}
    for _ in range(6):
        probe = loader(sets, weights)
        probe.load_state_dict(single.state_dict())
        picks = probe.next_sources()
        x, y = single.next()
        assert torch.equal(x[:, 1:], y[:, :-1])  # the trainer's shift
        # Each row is a row of the source the interleaving picked for its slot.
        for row, source in zip(torch.cat([x, y[:, -1:]], dim=1).numpy(), picks):
            table = shards[list(weights)[source]]
            assert (table.rows(np.arange(len(table))) == row).all(axis=1).any()
        (x0, _), (x1, _) = ranks[0].next(), ranks[1].next()
        interleaved = torch.empty_like(x)
        interleaved[0::2], interleaved[1::2] = x0, x1  # rank r holds positions r, r+W, ...
        assert torch.equal(interleaved, x)


def test_a_source_keeps_its_row_order_whatever_it_is_mixed_with(sets):
    def plays_rows(other):
        mix = loader(sets, {"plays": 0.5, other: 0.5})
        seen = []
        for _ in range(5):
            before, picks = mix.drawn.copy(), mix.next_sources()
            seen += [int(mix._order(0, 0)[before[0] + k]) for k in range(int((picks == 0).sum()))]
        return seen

    assert plays_rows("speeches") == plays_rows("fomc")


def test_mixture_state_resumes_exactly(sets):
    weights = {"plays": 0.5, "speeches": 0.3, "fomc": 0.2}
    mix = loader(sets, weights)
    for _ in range(7):
        mix.next()
    state = json.loads(json.dumps(mix.state_dict()))  # as it travels in meta.json
    assert state["sources"]["fomc"]["epoch"] >= 0 and set(state["sources"]) == set(weights)
    expected = [mix.next() for _ in range(4)]
    resumed = loader(sets, weights)
    resumed.load_state_dict(state)
    for (x, y), (rx, ry) in zip(expected, (resumed.next() for _ in range(4))):
        assert torch.equal(x, rx) and torch.equal(y, ry)


# --- in the trainer ---------------------------------------------------------------------------


def mix_args(sets, out, steps, mix="plays={plays}:0.75,speeches={speeches}:0.25,fomc={fomc}:0", **overrides):
    args = pretrain_args(Path("unused"), out, steps, **overrides)
    return ["--mix", mix.format(**sets)] + args[2:]  # --mix in place of --input


def test_training_on_a_mixture_logs_its_proportions_and_a_val_loss_per_source(sets, tmp_path):
    out = tmp_path / "run"
    assert run_cli("pretrain", mix_args(sets, out, 4, warmup=1, **{"eval-interval": 2, "eval-steps": 2})) == 0
    val = read_metrics(out, "val")
    assert [(r["step"], r["source"]) for r in val] == [(s, n) for s in (0, 2, 4) for n in ("plays", "speeches", "fomc")]
    train = read_metrics(out, "train")
    assert train[-1]["mix"] == {"plays": 0.75, "speeches": 0.25}  # 32 rows: exactly 24 and 8
    assert all(r["mix"]["plays"] == pytest.approx(0.75, abs=1 / 8) for r in train)
    ckpt = json.loads((out / "checkpoints" / "step-0000004" / "meta.json").read_text())
    assert ckpt["data"]["train"]["sources"] == {
        "plays": {"epoch": 0, "position": 24},
        "speeches": {"epoch": 0, "position": 8},
    }
    assert ckpt["mixture"] == {"plays": 0.75, "speeches": 0.25, "fomc": 0.0}


def test_a_mixture_run_resumes_bitwise_and_refuses_other_proportions(sets, tmp_path, monkeypatch, capsys):
    args = dict(warmup=2, **{"ckpt-interval": 6, "eval-interval": 6, "eval-steps": 2})
    reference = tmp_path / "reference"
    assert run_cli("pretrain", mix_args(sets, reference, 12, **args)) == 0

    class Killed(Exception):
        pass

    real_lr_at = train_mod.lr_at
    monkeypatch.setattr(
        train_mod, "lr_at", lambda step, *a: (_ for _ in ()).throw(Killed()) if step == 9 else real_lr_at(step, *a)
    )
    interrupted = tmp_path / "interrupted"
    with pytest.raises(Killed):
        run_cli("pretrain", mix_args(sets, interrupted, 12, **args))
    monkeypatch.undo()
    assert (
        run_cli(
            "pretrain",
            mix_args(sets, interrupted, 12, mix="plays={plays}:0.5,speeches={speeches}:0.5,fomc={fomc}:0", **args)
            + ["--resume"],
        )
        == 2
    )
    assert "proportions" in capsys.readouterr().err
    assert run_cli("pretrain", mix_args(sets, interrupted, 12, **args) + ["--resume"]) == 0

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in rows]

    for split in ("train", "val"):
        assert strip(read_metrics(interrupted, split)) == strip(read_metrics(reference, split))


def test_sources_made_with_different_tokenizers_do_not_mix(sets, tmp_path, capsys):
    other = tmp_path / "other"
    write_shards(other, TEXTS["fomc"](), SEQ_LEN, 0.1, source="other")
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["tokenizer"]["sha256"] = "0" * 64
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert run_cli("pretrain", mix_args({**sets, "fomc": other}, tmp_path / "run", 2, warmup=1)) == 2
    assert "different tokenizers" in capsys.readouterr().err
