"""trainer/hf.py and --init-from: the Hugging Face Llama format, both ways, with the same logits.

The transformers models here are tiny, randomly initialised and made offline
(`LlamaConfig(...)` + `LlamaForCausalLM(config).save_pretrained(folder)`).
"""

from __future__ import annotations

import json

import pytest
import torch
from test_trainer import pipeline_run, pretrain_args, read_metrics, shards  # noqa: F401 (shards: a fixture)

from thresher.trainer import generate as gen, hf
from thresher.trainer.checkpoint import save_checkpoint
from thresher.trainer.model import ModelConfig, Transformer

from conftest import run_cli

transformers = pytest.importorskip("transformers")
torch.set_num_threads(2)


def random_llama(folder, tied: bool, kv_heads: int):
    config = transformers.LlamaConfig(
        vocab_size=96,
        hidden_size=64,
        intermediate_size=160,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=kv_heads,
        max_position_embeddings=32,
        rms_norm_eps=1e-5,
        rope_theta=500.0,
        tie_word_embeddings=tied,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():  # norms too: at their init of 1 a swapped norm would go unseen
            p.normal_(0.0, 0.2)
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("tied, kv_heads", [(True, 4), (False, 2)], ids=["tied", "untied-gqa"])
def test_a_transformers_llama_imports_with_the_same_logits(tmp_path, tied, kv_heads):
    theirs = random_llama(tmp_path, tied, kv_heads)
    cfg, state = hf.load_hf(tmp_path)
    assert cfg.tie_embeddings == tied and cfg.rope_theta == 500.0 and cfg.seq_len == 32
    ours = Transformer(cfg)
    ours.load_state_dict(state)
    idx = torch.randint(0, 96, (2, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(ours.eval()(idx)[0], theirs(idx).logits, atol=1e-5)


def test_our_model_exports_with_the_same_logits_untied_too(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(
        vocab_size=64, seq_len=32, n_layer=2, n_head=4, d_model=64, d_mlp=128, rope_theta=1000.0, tie_embeddings=False
    )
    ours = Transformer(cfg).eval()
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if "norm" in name:
                p.normal_(1.0, 0.2)
    tokenizer = {"path": str(tmp_path / "nowhere"), "sha256": "0" * 64, "vocab_size": 60, "eos_id": 0}
    save_checkpoint(
        tmp_path / "ckpt", 1, ours.state_dict(), {}, {"model_config": cfg.__dict__, "tokenizer": tokenizer}, 1
    )
    hf.export(tmp_path / "ckpt", tmp_path / "hf")  # no tokenizer to ship: says so, writes the weights
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["tie_word_embeddings"] is False and config["eos_token_id"] == 0
    theirs = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf").eval()
    idx = torch.randint(0, 64, (2, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(ours(idx)[0], theirs(idx).logits, atol=1e-5)
    cfg_back, state_back = hf.load_hf(tmp_path / "hf")
    assert cfg_back == cfg
    assert all(torch.equal(state_back[k], v) for k, v in ours.state_dict().items())


def test_an_exported_run_loads_in_transformers_with_its_tokenizer_and_generates_the_same(tmp_path_factory):
    run = pipeline_run(tmp_path_factory)
    out = tmp_path_factory.mktemp("hf")
    hf.export(run["run"], out)
    theirs = transformers.LlamaForCausalLM.from_pretrained(out).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    ours, meta = gen.load_model(run["run"])
    text = "ROMEO:\nBut soft, what light"
    ids = tokenizer(text, return_tensors="pt").input_ids
    assert (
        ids[0].tolist()
        == __import__("tokenizers").Tokenizer.from_file(str(run["tokenizer"] / "tokenizer.json")).encode(text).ids
    )
    with torch.no_grad():
        assert torch.allclose(ours(ids)[0], theirs(ids).logits, atol=1e-4)
    prompt = torch.cat([torch.tensor([[tokenizer.eos_token_id]]), ids], dim=1)
    expected = gen.generate(ours, prompt, 12, greedy=True)  # no EOS stop on either side: 12 tokens
    got = theirs.generate(
        prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12, do_sample=False, eos_token_id=None
    )
    assert got.tolist() == expected.tolist()


def test_init_from_a_checkpoint_or_its_export_starts_where_the_run_ended(tmp_path_factory):
    run = pipeline_run(tmp_path_factory)
    final_val = read_metrics(run["run"], "val")[-1]["loss"]
    exported = tmp_path_factory.mktemp("hf")
    hf.export(run["run"], exported)
    for source in (run["run"], exported):
        out = tmp_path_factory.mktemp("continued")
        args = pretrain_args(run["shards"], out, steps=2, warmup=1, **{"eval-interval": 2, "ckpt-interval": 2})
        args.remove("--model=tiny")  # the shape comes from the checkpoint
        assert run_cli("pretrain", args + ["--init-from", str(source)]) == 0
        # Same weights, same validation batches: the continued run's step 0 is the source's end.
        assert read_metrics(out, "val")[0]["loss"] == pytest.approx(final_val, rel=1e-6)
        assert read_metrics(out, "train")[0]["step"] == 1  # optimizer and schedule start afresh


def test_init_from_refuses_another_tokenizer_and_an_explicit_size(tmp_path_factory, shards, capsys):  # noqa: F811
    run = pipeline_run(tmp_path_factory)
    out = tmp_path_factory.mktemp("refused")
    args = pretrain_args(shards, out, steps=2, warmup=1)  # byte-level shards, not the run's BPE
    with pytest.raises(SystemExit):
        run_cli("pretrain", args + ["--init-from", str(run["run"])])  # --model=tiny and --init-from
    args.remove("--model=tiny")
    assert run_cli("pretrain", args + ["--init-from", str(run["run"])]) == 2
    assert "another tokenizer" in capsys.readouterr().err


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0}}, "rotary scaling"),
        ({"attention_bias": True}, "bias"),
        ({"hidden_act": "gelu"}, "silu"),
        ({"model_type": "mistral"}, "only Llama"),
    ],
)
def test_import_refuses_what_the_model_cannot_represent(change, message):
    config = {
        "model_type": "llama",
        "vocab_size": 96,
        "hidden_size": 64,
        "intermediate_size": 160,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "tie_word_embeddings": True,
    }
    hf.config_from_hf(config)
    with pytest.raises(ValueError, match=message):
        hf.config_from_hf({**config, **change})


def test_import_reads_safetensors_only(tmp_path):
    random_llama(tmp_path, True, 4)
    (tmp_path / hf.WEIGHTS_FILE).rename(tmp_path / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="only safetensors"):
        hf.load_hf(tmp_path)
