"""Training throughput of thresher's trainer against a plain nanoGPT-style loop, in one process.

    python benchmarks/bench_trainer.py                     # one GPU: 124m, 16 x 1024 tokens a step, bf16, compiled
    python benchmarks/bench_trainer.py --model 350m --batch-size 8
    python benchmarks/bench_trainer.py --device cpu --model tiny --seq-len 128 --steps 5 --no-compile   # CPU smoke test

The reference is the loop that people measure GPU training against: nanoGPT's GPT (learned
positions, LayerNorm, GELU MLP 4x wide, tied embedding, no biases) with what makes it fast on a GPU
today: bf16 autocast, `F.scaled_dot_product_attention` (flash attention), fused AdamW and
`torch.compile`, fed with random rows of the same memory-mapped shards (nanoGPT's get_batch, pinned
and copied asynchronously). Its size is thresher's size of the same name: the same depth, width
and heads, and an MLP with as many weights (4 x d_model GELU next to SwiGLU's 8/3 x d_model).

thresher's side is `thresher pretrain` itself (trainer/train.py's main), on the same shards, batch,
sequence length, precision and compile setting, with evaluation and checkpoints left out of its
clock as they are in every run; its tokens/s is read back from its metrics.jsonl.

Both run `--warmup-steps` untimed steps (compilation, allocator warm-up), then `--steps` timed ones.
MFU = tokens/s x training FLOPs per token (6N + 12·L·H·Q·T, PaLM appendix B, each model's own N) /
peak dense bf16 FLOP/s of the GPU (989 TFLOP/s for an H100 SXM or H200, NVIDIA's datasheets). The
ratio thresher / reference is the figure to watch: near 1 means the trainer adds no overhead to the
loop everyone compares with, above 1 that Llama's block is no slower than GPT-2's in practice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn as nn
import torch.nn.functional as F

from thresher.cli import main as cli
from thresher.trainer import train as train_mod
from thresher.trainer.data import TokenShards
from thresher.trainer.model import SIZES, padded_vocab_size

GPT2_VOCAB = 50257  # the tokenizer nanoGPT trains with, padded to 50304 by both models


def write_random_shards(
    out: Path, vocab_size: int, seq_len: int, rows: int, val_rows: int, shards: int = 1, seed: int = 0
) -> Path:
    """A shard set of uniformly random tokens, as contracts.md (5) lays it out: throughput does not
    depend on what the tokens say, and random ids need no tokenizer or corpus."""
    row_length = seq_len + 1
    rng = np.random.default_rng(seed)
    dtype, arrow_type = (np.uint16, pa.uint16()) if vocab_size <= 1 << 16 else (np.uint32, pa.uint32())
    schema = pa.schema([("tokens", pa.list_(arrow_type, row_length))])
    manifest = {
        "format": "thresher-shards",
        "format_version": 1,
        "tokenizer": {
            "sha256": hashlib.sha256(b"random").hexdigest(),
            "vocab_size": vocab_size,
            "eos_id": 0,
            "path": "random",
        },
        "sequence_length": seq_len,
        "row_length": row_length,
        "dtype": np.dtype(dtype).name,
        "shuffle_seed": seed,
        "val_fraction": val_rows / (rows + val_rows),
        "source": "random",
        "splits": {},
    }
    for split, n, count in (("train", rows, shards), ("val", val_rows, 1)):
        (out / split).mkdir(parents=True, exist_ok=True)
        entries = []
        for k, part in enumerate(np.array_split(np.arange(n), count)):
            tokens = rng.integers(0, vocab_size, size=(len(part), row_length), dtype=dtype)
            rel = f"{split}/shard-{k:05d}.arrow"
            with pa.OSFile(str(out / rel), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                writer.write_batch(
                    pa.record_batch(
                        [pa.FixedSizeListArray.from_arrays(pa.array(tokens.reshape(-1)), row_length)], schema=schema
                    )
                )
            entries.append(
                {
                    "path": rel,
                    "rows": len(part),
                    "tokens": int(tokens.size),
                    "sha256": hashlib.sha256((out / rel).read_bytes()).hexdigest(),
                }
            )
        manifest["splits"][split] = {
            "documents": n,
            "rows": n,
            "tokens": n * row_length,
            "dropped_tail_tokens": 0,
            "shards": entries,
        }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


# --- the reference: nanoGPT's model (karpathy/nanoGPT model.py), bias=False, dropout 0 ----------


class CausalSelfAttention(nn.Module):
    def __init__(self, n_head, d_model):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(d_model, 3 * d_model, bias=False)
        self.c_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.c_fc = nn.Linear(d_model, 4 * d_model, bias=False)
        self.c_proj = nn.Linear(4 * d_model, d_model, bias=False)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class GPTBlock(nn.Module):
    def __init__(self, n_head, d_model):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model, bias=False)
        self.attn = CausalSelfAttention(n_head, d_model)
        self.ln_2 = nn.LayerNorm(d_model, bias=False)
        self.mlp = MLP(d_model)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, d_model):
        super().__init__()
        self.n_layer, self.n_head, self.d_model, self.block_size = n_layer, n_head, d_model, block_size
        self.wte = nn.Embedding(vocab_size, d_model)
        self.wpe = nn.Embedding(block_size, d_model)
        self.h = nn.ModuleList(GPTBlock(n_head, d_model) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model, bias=False)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight
        self.apply(lambda m: nn.init.normal_(m.weight, 0.0, 0.02) if isinstance(m, (nn.Linear, nn.Embedding)) else None)

    def forward(self, idx, targets):
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    def flops_per_token(self):
        # nanoGPT's estimate_mfu: 6N + 12·L·H·Q·T, N without the position embedding.
        n = sum(p.numel() for p in self.parameters()) - self.wpe.weight.numel()
        return 6 * n + 12 * self.n_layer * self.n_head * (self.d_model // self.n_head) * self.block_size


def reference_tokens_per_s(args, shards: Path, device: torch.device) -> tuple[float, float]:
    """(tokens/s, FLOPs per token) of nanoGPT's loop on the same data."""
    torch.manual_seed(1337)
    size = SIZES[args.model]
    model = GPT(padded_vocab_size(GPT2_VOCAB), args.seq_len, size["n_layer"], size["n_head"], size["d_model"]).to(
        device
    )
    cuda = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=cuda)
    step_fn = torch.compile(model) if args.compile else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16")
    train = TokenShards(shards, "train")
    rng = np.random.default_rng(0)

    def get_batch():
        rows = torch.from_numpy(train.rows(rng.integers(0, len(train), args.batch_size)))
        x, y = rows[:, :-1], rows[:, 1:]
        if cuda:
            return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        return x.contiguous(), y.contiguous()

    def step():
        x, y = get_batch()
        with autocast:
            loss = step_fn(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(args.warmup_steps):
        step()
    loss = None
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss.item()  # waits for the GPU
    elapsed = time.perf_counter() - start
    return args.steps * args.batch_size * args.seq_len / elapsed, model.flops_per_token()


def thresher_tokens_per_s(args, shards: Path, out: Path, device: torch.device) -> tuple[float, float]:
    """(tokens/s, FLOPs per token) of `thresher pretrain` on the same data, from its metrics.jsonl:
    the interval logged after the warm-up steps."""
    from thresher.trainer.model import Transformer, model_config

    total = args.warmup_steps + args.steps
    argv = [
        "--input",
        str(shards),
        "--output",
        str(out),
        "--model",
        args.model,
        "--steps",
        str(total),
        "--batch-size",
        str(args.batch_size),
        "--grad-accum",
        "1",
        "--warmup",
        "1",
        "--lr",
        "6e-4",
        "--log-interval",
        str(args.steps),
        "--eval-interval",
        str(total),
        "--eval-steps",
        "1",
        "--ckpt-interval",
        str(total),
        "--keep-last",
        "1",
        "--device",
        device.type,
        "--dtype",
        args.dtype,
    ]
    if args.compile:
        argv.append("--compile")
    if args.warmup_steps % args.steps:
        raise SystemExit("--warmup-steps must be a multiple of --steps: the trainer logs tokens/s every --steps steps")
    assert cli(["pretrain", *argv]) == 0
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in logged if r["split"] == "train" and r["step"] > args.warmup_steps]
    with torch.device("meta"):
        flops = Transformer(model_config(args.model, GPT2_VOCAB, args.seq_len)).flops_per_token()
    return timed[-1]["tokens_per_s"], flops


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="124m", choices=list(SIZES), help="size on both sides (default 124m)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="rows per step (default 16: 16k tokens, fits a 124m in 80 GB without checkpointing)",
    )
    p.add_argument("--seq-len", type=int, default=1024, help="tokens per row (default 1024, GPT-2's)")
    p.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    p.add_argument(
        "--warmup-steps",
        type=int,
        default=20,
        help="untimed steps first, for compilation; a multiple of --steps (default 20)",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    p.add_argument("--dtype", choices=["bf16", "fp32"], default=None, help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="torch.compile both models (default: yes; --no-compile for a quick CPU smoke test)",
    )
    args = p.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.dtype = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # as the trainer does on CPU, so both sides run alike
    peak = train_mod.peak_flops(device)

    with tempfile.TemporaryDirectory() as tmp:
        rows = (args.warmup_steps + args.steps + 1) * args.batch_size
        shards = write_random_shards(Path(tmp) / "shards", GPT2_VOCAB, args.seq_len, rows, args.batch_size)
        ref_tps, ref_flops = reference_tokens_per_s(args, shards, device)
        if device.type == "cuda":
            torch.cuda.empty_cache()  # the reference's memory back to the device before the trainer's run
        ours_tps, ours_flops = thresher_tokens_per_s(args, shards, Path(tmp) / "run", device)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"\n{args.model}, {args.batch_size} x {args.seq_len} tokens a step, {args.dtype}, compile {'on' if args.compile else 'off'}, {name}"
        + (f" (MFU against {peak / 1e12:.0f} TFLOP/s)" if peak else "")
    )
    print(f"{'':24}{'tokens/s':>14}{'GFLOP/token':>13}{'MFU':>8}")
    for label, tps, flops in (
        ("nanoGPT-style reference", ref_tps, ref_flops),
        ("thresher pretrain", ours_tps, ours_flops),
    ):
        mfu = f"{tps * flops / peak:.1%}" if peak else "n/a"
        print(f"{label:24}{tps:>14,.0f}{flops / 1e9:>13.3f}{mfu:>8}")
    print(
        f"ratio thresher / reference: {ours_tps / ref_tps:.2f} in tokens/s, {ours_tps * ours_flops / (ref_tps * ref_flops):.2f} in FLOP/s"
    )
    return 0 if math.isfinite(ours_tps) else 1


if __name__ == "__main__":
    sys.exit(main())
