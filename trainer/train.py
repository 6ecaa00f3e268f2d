"""Pretrain the transformer of model.py on thresher token shards (contracts.md, 5 in, 6 out).

Usage
  One process (CPU, or one GPU):
    thresher pretrain --data runs/x/shards --out runs/x/pretrain --model 124m --steps 10000
  One node, 8 GPUs (DDP, one process per GPU):
    torchrun --standalone --nproc_per_node=8 -m thresher.trainer.train \\
        --data runs/x/shards --out runs/x/pretrain --model 350m --steps 20000
  Two nodes (run on each, with node_rank 0 and 1; OUT must be on storage both nodes see):
    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 --rdzv_backend=c10d \\
        --rdzv_endpoint=10.0.0.1:29500 --rdzv_id=pretrain -m thresher.trainer.train ...
  Preemptible machines: put --resume on the same command line; it continues from
  OUT/checkpoints/latest, or starts at step 0 when there is none yet.

Batch: --batch-size is the GLOBAL micro-batch, in rows (sequences), summed over all ranks; each of
W ranks takes batch_size / W rows of it (data.py). An optimizer step is --grad-accum micro-batches,
so a step is batch_size * grad_accum * sequence_length tokens whatever W is, and a run sees the same
batches in the same order on 1 GPU or 64.

Writes OUT/metrics.jsonl (one JSON object per logged step, {"split": "train", ...}, and per
evaluation, {"split": "val", ...}) and OUT/checkpoints/ (checkpoint.py). Step n means "after n
optimizer updates": the validation loss at step 0 is the untrained model's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from thresher.trainer.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, set_rng_state
from thresher.trainer.data import BatchLoader, TokenShards, sha256_file
from thresher.trainer.model import SIZES, Transformer, model_config

# Optimizer and schedule constants: GPT-3 (Brown et al. 2020, appendix B) unless said otherwise.
BETAS = (0.9, 0.95)
WEIGHT_DECAY = 0.1      # on 2-D weights (matmuls, embedding) only; norms' gains are not decayed
GRAD_CLIP = 1.0         # global gradient norm
MIN_LR_RATIO = 0.1      # cosine decays to max_lr / 10 (Chinchilla, Hoffmann et al. 2022)

# Dense bf16 peak FLOP/s of one GPU (NVIDIA datasheets), for MFU; matched on torch's device name,
# most specific first. A GPU not listed gets no MFU in the log rather than a wrong one.
PEAK_BF16_FLOPS = [("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12), ("A100", 312e12)]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="thresher pretrain", description="Pretrain a decoder-only transformer on token shards.")
    p.add_argument("--data", required=True, help="shard folder with manifest.json (contracts.md, 5)")
    p.add_argument("--out", required=True, help="output folder: metrics.jsonl and checkpoints/")
    p.add_argument("--model", default="124m", choices=list(SIZES), help="model size (model.py: SIZES); default 124m, GPT-2 small's shape as in nanoGPT")
    p.add_argument("--steps", type=int, required=True, help="optimizer steps; the cosine schedule ends here")
    p.add_argument("--batch-size", type=int, default=32, help="global micro-batch in rows, over all ranks (default 32: with --grad-accum 16 and sequence length 1024, 0.5M tokens per step, GPT-3 Small's batch)")
    p.add_argument("--grad-accum", type=int, default=16, help="micro-batches per optimizer step (default 16, see --batch-size)")
    p.add_argument("--lr", type=float, default=6e-4, help="peak learning rate (default 6e-4, GPT-3 Small)")
    p.add_argument("--warmup", type=int, default=715, help="linear warmup steps (default 715: GPT-3's 375M warmup tokens at 0.5M tokens per step)")
    p.add_argument("--eval-interval", type=int, default=2000, help="steps between validation losses (default 2000, nanoGPT)")
    p.add_argument("--eval-steps", type=int, default=200, help="validation micro-batches per evaluation (default 200, nanoGPT's eval_iters)")
    p.add_argument("--log-interval", type=int, default=10, help="steps between log lines; each costs a host-device sync (default 10)")
    p.add_argument("--ckpt-interval", type=int, default=1000, help="steps between checkpoints, and one at the end (default 1000: half nanoGPT's, which saves at each eval, so a preempted run loses less)")
    p.add_argument("--keep-last", type=int, default=3, help="checkpoints to keep (default 3: two to fall back on if the newest is bad)")
    p.add_argument("--seed", type=int, default=1337, help="model init and data order (default 1337, nanoGPT)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/latest when there is one")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--dtype", choices=["bf16", "fp32"], default=None, help="bf16 autocast or plain fp32 (default: bf16 on CUDA, fp32 on CPU)")
    p.add_argument("--verify-data", action="store_true", help="check every shard's sha256 against the manifest before training")
    args = p.parse_args(argv)
    if not 0 <= args.warmup < args.steps:
        p.error(f"--warmup ({args.warmup}) must be at least 0 and below --steps ({args.steps}); a short run needs a smaller --warmup")
    for name in ("batch_size", "grad_accum", "eval_interval", "eval_steps", "log_interval", "ckpt_interval", "keep_last"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def lr_at(step: int, max_lr: float, warmup: int, steps: int) -> float:
    """Linear warmup from max_lr / warmup to max_lr, then cosine decay to max_lr * MIN_LR_RATIO at `steps`."""
    if step < warmup:
        return max_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    min_lr = max_lr * MIN_LR_RATIO
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def make_optimizer(model: torch.nn.Module, lr: float, device_type: str) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # The fused CUDA kernel updates every tensor in one launch; the CPU keeps the default loop.
    return torch.optim.AdamW(groups, lr=lr, betas=BETAS, fused=device_type == "cuda")


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS if key in name), None)


@torch.no_grad()
def evaluate(model, shards: TokenShards, args, rank: int, world: int, device, autocast) -> float:
    """Mean loss over the first eval_steps global batches of the validation split: the same
    batches at every evaluation, so the numbers compare across steps and across runs."""
    loader = BatchLoader(shards, args.batch_size, args.seed, rank, world)
    model.eval()
    total = torch.zeros((), device=device)
    for _ in range(args.eval_steps):
        x, y = (t.to(device, non_blocking=True) for t in loader.next())
        with autocast:
            _, loss = model(x, y)
        total += loss
    model.train()
    if world > 1:
        dist.all_reduce(total)  # sum (gloo has no average); every rank had the same number of rows
    return total.item() / (args.eval_steps * world)


def truncate_metrics(path: Path, step: int) -> None:
    """Drop records logged after the step the run starts from: they are about to be redone (a
    resumed run), or belong to an attempt that died before its first checkpoint (a fresh run)."""
    if not path.exists():
        return
    kept = [] if step == 0 else [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)

    # torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; a plain process is rank 0 of 1.
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device_type = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device_type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1:
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    master = rank == 0
    dtype = args.dtype or ("bf16" if device_type == "cuda" else "fp32")
    autocast = torch.autocast(device_type, dtype=torch.bfloat16) if dtype == "bf16" else nullcontext()

    # Every rank draws the same initial weights (DDP also broadcasts rank 0's); nothing else in the
    # loop draws random numbers today (no dropout), and the data order comes from the seed in data.py.
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)

    out = Path(args.out)
    ckpt_dir = out / "checkpoints"
    metrics_path = out / "metrics.jsonl"
    out.mkdir(parents=True, exist_ok=True)

    train_shards = TokenShards(args.data, "train", verify=args.verify_data)
    val_shards = TokenShards(args.data, "val", verify=args.verify_data)
    manifest = train_shards.manifest
    manifest_sha256 = sha256_file(Path(args.data) / "manifest.json")
    cfg = model_config(args.model, manifest["tokenizer"]["vocab_size"], manifest["sequence_length"])

    raw_model = Transformer(cfg).to(device)  # built on the CPU from the seed: the same init on any device
    optimizer = make_optimizer(raw_model, args.lr, device_type)
    train_loader = BatchLoader(train_shards, args.batch_size, args.seed, rank, world)

    step = 0
    resume_from = latest_checkpoint(ckpt_dir)
    if resume_from is not None and not args.resume:
        raise SystemExit(f"{out} already holds a run (checkpoint {resume_from.name}): pass --resume to continue it, or another --out")
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from, map_location=device)
        meta = ckpt["meta"]
        if meta["model_config"] != dataclasses.asdict(cfg):
            raise SystemExit(f"{resume_from}: model config {meta['model_config']} differs from --model {args.model} on this data: {dataclasses.asdict(cfg)}")
        if meta["data_manifest_sha256"] != manifest_sha256:
            raise SystemExit(f"{resume_from}: trained on another shard set (manifest sha256 differs); its data position means nothing here")
        raw_model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        train_loader.load_state_dict(meta["data"]["train"])
        step = meta["step"]
        del ckpt
    if master:
        truncate_metrics(metrics_path, step)

    model = torch.compile(raw_model) if args.compile else raw_model
    if world > 1:
        model = DDP(model, device_ids=[local_rank] if device_type == "cuda" else None)

    seq_len = cfg.seq_len
    tokens_per_step = args.batch_size * args.grad_accum * seq_len
    flops_per_token = raw_model.flops_per_token()
    peak = peak_flops(device)
    if master:
        print(f"data: {args.data}: train {len(train_shards):,} rows, val {len(val_shards):,} rows of {seq_len} tokens (+1), vocab {manifest['tokenizer']['vocab_size']} (padded to {cfg.vocab_size})")
        print(f"model: {args.model}: {raw_model.num_params():,} parameters ({raw_model.num_params(non_embedding=True):,} without the embedding), {flops_per_token / 1e9:.2f} GFLOP per token")
        print(f"run: {world} rank(s) on {device_type}, {dtype}, {tokens_per_step:,} tokens per step "
              f"({args.batch_size} rows x {args.grad_accum} micro-batches), steps {step} -> {args.steps}"
              + (f", resumed from {resume_from}" if resume_from else ""))
    if step >= args.steps:
        if master:
            print(f"nothing to do: the checkpoint is at step {step}, --steps is {args.steps}")
        if world > 1:
            dist.destroy_process_group()
        return 0

    metrics = open(metrics_path, "a") if master else None

    def record(entry: dict) -> None:
        metrics.write(json.dumps(entry) + "\n")
        metrics.flush()  # a crash keeps every line written so far

    def run_eval() -> None:
        val_loss = evaluate(model, val_shards, args, rank, world, device, autocast)
        if master:
            print(f"step {step}: val loss {val_loss:.4f}")
            record({"step": step, "split": "val", "loss": val_loss, "tokens": step * tokens_per_step})

    if step == 0:
        run_eval()
    interval_start, interval_steps = time.perf_counter(), 0
    while step < args.steps:
        lr = lr_at(step, args.lr, args.warmup, args.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        step_loss = torch.zeros((), device=device)
        for micro in range(args.grad_accum):
            x, y = train_loader.next()
            if device_type == "cuda":
                x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
            if world > 1:
                # DDP all-reduces gradients in backward; only the last micro-batch's need it.
                model.require_backward_grad_sync = micro == args.grad_accum - 1
            with autocast:
                _, loss = model(x, y)
            (loss / args.grad_accum).backward()
            step_loss += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), GRAD_CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        interval_steps += 1

        if step % args.log_interval == 0 or step == args.steps:
            if world > 1:
                dist.all_reduce(step_loss)
            train_loss = step_loss.item() / (args.grad_accum * world)  # .item() waits for the GPU
            elapsed = time.perf_counter() - interval_start
            tokens_per_s = interval_steps * tokens_per_step / elapsed
            if master:
                entry = {"step": step, "split": "train", "loss": train_loss, "lr": lr, "grad_norm": grad_norm.item(),
                         "tokens_per_s": tokens_per_s, "tokens": step * tokens_per_step}
                line = f"step {step}/{args.steps} | loss {train_loss:.4f} | lr {lr:.3e} | grad norm {entry['grad_norm']:.3f} | {tokens_per_s:,.0f} tok/s"
                if peak:
                    entry["mfu"] = flops_per_token * tokens_per_s / (peak * world)
                    line += f" | mfu {entry['mfu']:.1%}"
                print(line, flush=True)
                record(entry)
            interval_start, interval_steps = time.perf_counter(), 0

        paused = False  # evaluation and checkpoints are left out of tokens/s
        if step % args.eval_interval == 0 or step == args.steps:
            run_eval()
            paused = True
        if step % args.ckpt_interval == 0 or step == args.steps:
            if master:
                meta = {"data": {"train": train_loader.state_dict()},  # val restarts at its beginning each evaluation
                        "model_config": dataclasses.asdict(cfg), "train_args": vars(args),
                        "data_manifest_sha256": manifest_sha256}
                path = save_checkpoint(ckpt_dir, step, raw_model.state_dict(), optimizer.state_dict(), meta, args.keep_last)
                print(f"step {step}: saved {path}", flush=True)
            paused = True
        if paused:
            interval_start, interval_steps = time.perf_counter(), 0

    if master:
        metrics.close()
    if world > 1:
        dist.barrier()  # no rank leaves before rank 0 has written the last checkpoint
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
