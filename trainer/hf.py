"""To and from the Hugging Face Llama format (config.json + safetensors), both ways exact.

    thresher export --checkpoint runs/x/pretrain --output runs/x/hf
    # then, with transformers installed:
    #   model = transformers.LlamaForCausalLM.from_pretrained("runs/x/hf")
    #   tokenizer = transformers.AutoTokenizer.from_pretrained("runs/x/hf")
    thresher pretrain --init-from runs/x/hf --mix ...      # import: continued pretraining

model.py *is* a Llama: pre-norm RMSNorm, rotary positions in the "rotate half" layout that
transformers' Llama uses (so no permutation of q and k), SwiGLU, no biases. The export renames
and splits weights:

    tok_emb.weight            model.embed_tokens.weight
    blocks.i.attn_norm        model.layers.i.input_layernorm
    blocks.i.attn.qkv         model.layers.i.self_attn.{q,k,v}_proj   (rows [q; k; v], head-major)
    blocks.i.attn.out         model.layers.i.self_attn.o_proj
    blocks.i.mlp_norm         model.layers.i.post_attention_layernorm
    blocks.i.mlp.gate_up      model.layers.i.mlp.{gate,up}_proj        (rows [gate; up])
    blocks.i.mlp.down         model.layers.i.mlp.down_proj
    norm.weight               model.norm.weight
    lm_head.weight            lm_head.weight (untied only; tied, transformers ties it on load)

Import takes any Llama-architecture checkpoint that this model can represent exactly:
- tied or untied output projection (Llama 3.2 1B/3B are tied, Llama 2 and TinyLlama untied): an
  untied one is kept untied (`ModelConfig.tie_embeddings = False`);
- grouped-query attention: each shared key/value head is repeated for the query heads that use
  it, which is what transformers' `repeat_kv` computes, so the logits are unchanged; the model then
  trains (and exports) as full multi-head attention;
- refused with a message: biases, another activation than SiLU, rotary scaling (Llama 3.1's
  "llama3" rope type), a head size other than hidden_size / heads, weights not in safetensors.

bos_token_id and eos_token_id are both our EOS: like GPT-2, one token ends a document and starts
the next, and generate.py starts every prompt with it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from thresher.contracts.errors import UsageError
from thresher.trainer.checkpoint import load_checkpoint, resolve_checkpoint, tokenizer_folder
from thresher.trainer.model import ModelConfig

WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"  # a model sharded over several files (7B and up)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def is_hf_folder(path) -> bool:
    return (Path(path) / "config.json").is_file()


def hf_config(cfg: ModelConfig, eos_id: int) -> dict:
    """config.json for transformers' LlamaConfig. The rotary base is written both as `rope_theta`
    (transformers 4) and as `rope_parameters` (transformers 5)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.d_mlp,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.n_head,
        "head_dim": cfg.d_model // cfg.n_head,
        "max_position_embeddings": cfg.seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
    }


def to_hf(state: dict, cfg: ModelConfig) -> dict:
    """Our state dict as transformers' Llama names, contiguous tensors (safetensors needs them)."""
    out = {"model.embed_tokens.weight": state["tok_emb.weight"], "model.norm.weight": state["norm.weight"]}
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = state["lm_head.weight"]
    for i in range(cfg.n_layer):
        ours, theirs = f"blocks.{i}.", f"model.layers.{i}."
        q, k, v = state[ours + "attn.qkv.weight"].chunk(3, dim=0)
        gate, up = state[ours + "mlp.gate_up.weight"].chunk(2, dim=0)
        out |= {
            theirs + "input_layernorm.weight": state[ours + "attn_norm.weight"],
            theirs + "self_attn.q_proj.weight": q,
            theirs + "self_attn.k_proj.weight": k,
            theirs + "self_attn.v_proj.weight": v,
            theirs + "self_attn.o_proj.weight": state[ours + "attn.out.weight"],
            theirs + "post_attention_layernorm.weight": state[ours + "mlp_norm.weight"],
            theirs + "mlp.gate_proj.weight": gate,
            theirs + "mlp.up_proj.weight": up,
            theirs + "mlp.down_proj.weight": state[ours + "mlp.down.weight"],
        }
    # clone: chunks are views into one storage, which safetensors refuses to write.
    return {name: t.detach().to("cpu").clone() for name, t in out.items()}


def config_from_hf(config: dict, seq_len: int | None = None) -> ModelConfig:
    """Our ModelConfig for a transformers Llama config.json, or ValueError naming what does not fit.
    `seq_len` (the rotary table's length, not a weight) defaults to max_position_embeddings."""
    if config.get("model_type") != "llama":
        raise UsageError(f"model_type {config.get('model_type')!r}: only Llama checkpoints import")
    if config.get("hidden_act", "silu") != "silu":
        raise UsageError(f"hidden_act {config['hidden_act']!r}: the model's MLP is SwiGLU (silu)")
    if config.get("attention_bias") or config.get("mlp_bias"):
        raise UsageError("the checkpoint has bias terms; the model has none")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        raise UsageError(f"rotary scaling {rope}: only plain rotary positions (rope_type 'default') import")
    d_model, n_head = config["hidden_size"], config["num_attention_heads"]
    if config.get("head_dim", d_model // n_head) != d_model // n_head:
        raise UsageError(f"head_dim {config['head_dim']} != hidden_size / num_attention_heads ({d_model // n_head})")
    return ModelConfig(
        vocab_size=config["vocab_size"],
        seq_len=seq_len or config.get("max_position_embeddings", 2048),
        n_layer=config["num_hidden_layers"],
        n_head=n_head,
        d_model=d_model,
        d_mlp=config["intermediate_size"],
        rope_theta=float(rope.get("rope_theta", config.get("rope_theta", 10000.0))),
        norm_eps=float(config.get("rms_norm_eps", 1e-6)),  # LlamaConfig's default
        # LlamaConfig's default is untied: a config.json without the key means an untied model.
        tie_embeddings=bool(config.get("tie_word_embeddings", False)),
    )


def from_hf(hf_state: dict, config: dict, cfg: ModelConfig) -> dict:
    """transformers' Llama state dict as ours (key/value heads repeated under GQA)."""
    n_kv = config.get("num_key_value_heads") or cfg.n_head
    if cfg.n_head % n_kv:
        raise UsageError(f"{cfg.n_head} query heads do not share {n_kv} key/value heads evenly")
    head_dim = cfg.d_model // cfg.n_head

    def repeat_kv(w):
        # Query head h reads key/value head h // (n_head / n_kv), as transformers' repeat_kv.
        return (
            w.view(n_kv, head_dim, cfg.d_model)
            .repeat_interleave(cfg.n_head // n_kv, dim=0)
            .reshape(cfg.d_model, cfg.d_model)
        )

    state = {"tok_emb.weight": hf_state["model.embed_tokens.weight"], "norm.weight": hf_state["model.norm.weight"]}
    if cfg.tie_embeddings:
        state["lm_head.weight"] = state["tok_emb.weight"]
    elif "lm_head.weight" in hf_state:
        state["lm_head.weight"] = hf_state["lm_head.weight"]
    else:
        raise UsageError("tie_word_embeddings is false but the checkpoint has no lm_head.weight")
    for i in range(cfg.n_layer):
        ours, theirs = f"blocks.{i}.", f"model.layers.{i}."
        q = hf_state[theirs + "self_attn.q_proj.weight"]
        k, v = (repeat_kv(hf_state[theirs + f"self_attn.{n}_proj.weight"]) for n in "kv")
        state |= {
            ours + "attn_norm.weight": hf_state[theirs + "input_layernorm.weight"],
            ours + "attn.qkv.weight": torch.cat([q, k, v], dim=0),
            ours + "attn.out.weight": hf_state[theirs + "self_attn.o_proj.weight"],
            ours + "mlp_norm.weight": hf_state[theirs + "post_attention_layernorm.weight"],
            ours + "mlp.gate_up.weight": torch.cat(
                [hf_state[theirs + "mlp.gate_proj.weight"], hf_state[theirs + "mlp.up_proj.weight"]], dim=0
            ),
            ours + "mlp.down.weight": hf_state[theirs + "mlp.down_proj.weight"],
        }
    return {name: t.float() for name, t in state.items()}  # training keeps fp32 master weights


def load_hf(folder, seq_len: int | None = None) -> tuple[ModelConfig, dict]:
    """(ModelConfig, our state dict) from a transformers Llama folder, one safetensors file or an
    index of several."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    cfg = config_from_hf(config, seq_len)
    if (folder / INDEX_FILE).is_file():
        files = sorted(set(json.loads((folder / INDEX_FILE).read_text())["weight_map"].values()))
    elif (folder / WEIGHTS_FILE).is_file():
        files = [WEIGHTS_FILE]
    else:
        raise FileNotFoundError(
            f"{folder}: no {WEIGHTS_FILE} or {INDEX_FILE} (only safetensors weights import: they cannot run code when read)"
        )
    hf_state = {}
    for name in files:
        hf_state |= load_file(folder / name)
    return cfg, from_hf(hf_state, config, cfg)


def export(checkpoint, out, tokenizer=None) -> Path:
    """Write a thresher checkpoint as a transformers Llama folder: config.json, model.safetensors,
    generation_config.json and, when the training tokenizer is found, its files."""
    from safetensors.torch import save_file

    path = resolve_checkpoint(checkpoint)
    ckpt = load_checkpoint(path, optimizer=False)
    cfg = ModelConfig(**ckpt["meta"]["model_config"])
    record = ckpt["meta"]["tokenizer"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(hf_config(cfg, record["eos_id"]), indent=2) + "\n")
    generation = {"bos_token_id": record["eos_id"], "eos_token_id": record["eos_id"]}
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    save_file(
        to_hf(ckpt["model"], cfg), out / WEIGHTS_FILE, metadata={"format": "pt"}
    )  # "pt": what transformers expects
    try:
        folder = Path(tokenizer) if tokenizer else tokenizer_folder(record)
    except (FileNotFoundError, ValueError) as e:  # the weights are still worth writing
        print(f"not shipping a tokenizer: {e} (pass --tokenizer)")
        folder = None
    for name in TOKENIZER_FILES if folder else ():
        if (folder / name).is_file():
            shutil.copyfile(folder / name, out / name)
    print(f"exported {path} ({cfg.n_layer} layers, d_model {cfg.d_model}, vocab {cfg.vocab_size}) as a Llama to {out}")
    return out


def add_arguments(p) -> None:
    """`thresher export`'s options."""
    p.add_argument(
        "--checkpoint",
        required=True,
        help="a checkpoint folder, a checkpoints folder or a run's --output (latest checkpoint)",
    )
    p.add_argument("--output", required=True, help="folder to write")
    p.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer folder to ship beside the weights (default: the one the checkpoint was trained with)",
    )


def run(args) -> int:
    export(args.checkpoint, args.output, args.tokenizer)
    return 0
