"""Pretrain the transformer of model.py on thresher token shards (contracts.md, 5 in, 6 out).

Usage
  One process (CPU, or one GPU):
    thresher pretrain --input runs/x/shards --output runs/x/pretrain --model 124m --steps 10000
  One node, 8 GPUs (DDP, one process per GPU):
    torchrun --standalone --nproc_per_node=8 -m thresher pretrain \\
        --input runs/x/shards --output runs/x/pretrain --model 350m --steps 20000
  Two nodes (run on each, with node_rank 0 and 1; OUT must be on storage both nodes see):
    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 --rdzv_backend=c10d \\
        --rdzv_endpoint=10.0.0.1:29500 --rdzv_id=pretrain -m thresher pretrain ...
  Preemptible machines: put --resume on the same command line; it continues from
  OUT/checkpoints/latest, or starts at step 0 when there is none yet. A resume refuses training
  arguments other than the checkpoint's (RESUME_KEEPS) unless --override names them:
    thresher pretrain ... --resume --steps 20000 --override steps
  A model too big for DDP (its weights, gradients and AdamW state on every GPU): shard them with
  FSDP2, and recompute activations when those do not fit either (parallel.py, model.py):
    torchrun --standalone --nproc_per_node=8 -m thresher pretrain --parallel fsdp \\
        --activation-checkpointing --input ... --output ... --model 1b --steps 20000
  Domain adaptation: continue from a base model (a thresher run or a Hugging Face Llama folder)
  on a mixture; a weight of 0 evaluates a source without training on it (mixture.py, hf.py):
    thresher pretrain --init-from runs/base/pretrain --output runs/fin --steps 2000 \\
        --mix finance=runs/fin/shards:0.7,general=runs/x/shards:0.3,fomc=runs/fomc/shards:0

Batch: --batch-size is the GLOBAL micro-batch, in rows (sequences), summed over all ranks; each of
W ranks takes batch_size / W rows of it (data.py). An optimizer step is --grad-accum micro-batches,
so a step is batch_size * grad_accum * sequence_length tokens whatever W is, and a run sees the same
batches in the same order on 1 GPU or 64.

Writes OUT/metrics.jsonl (one JSON object per logged step, {"split": "train", ...}, and per
evaluation, {"split": "val", ...}, one per source of a mixture, {"split": "val", "source": ...}),
OUT/tensorboard/ when TensorBoard is installed (log.py), and OUT/checkpoints/ (checkpoint.py).
Step n means "after n optimizer updates": the validation loss at step 0 is the starting model's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from thresher.contracts.errors import UsageError
from thresher.contracts.files import file_sha256, is_remote
from thresher.trainer import parallel
from thresher.trainer.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    read_meta,
    resolve_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from thresher.trainer.data import BatchLoader, TokenShards, local_shard_set
from thresher.trainer.hf import config_from_hf, is_hf_folder, load_hf
from thresher.trainer.log import MetricsLog, Progress
from thresher.trainer.mixture import (
    MixtureLoader,
    check_compatible,
    manifest_digests,
    open_sources,
    parse_mix,
    read_manifests,
)
from thresher.trainer.model import SIZES, ModelConfig, Transformer, model_config

# Optimizer and schedule constants: GPT-3 (Brown et al. 2020, appendix B) unless said otherwise.
BETAS = (0.9, 0.95)
WEIGHT_DECAY = 0.1  # on 2-D weights (matmuls, embedding) only; norms' gains are not decayed
GRAD_CLIP = 1.0  # global gradient norm
MIN_LR_RATIO = 0.1  # cosine decays to max_lr / 10 (Chinchilla, Hoffmann et al. 2022)

# Dense bf16 peak FLOP/s of one GPU (NVIDIA datasheets), for MFU; matched on torch's device name,
# most specific first. A GPU not listed gets no MFU in the log rather than a wrong one.
PEAK_BF16_FLOPS = [("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12), ("A100", 312e12)]
DEFAULT_MODEL = "124m"  # GPT-2 small's shape, as nanoGPT
# Training arguments a resumed run keeps: each changes what the run learns from the checkpoint on
# (the batch, the learning-rate schedule, the data order), so a resume with another value is
# refused unless --override names it. The model's shape and the data are checked on their own;
# how the run executes (device, dtype, parallelism, intervals) may change freely.
RESUME_KEEPS = ("batch_size", "grad_accum", "lr", "warmup", "steps", "seed")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _override_names(value: str) -> list[str]:
    """`--override batch-size,lr` -> ["batch_size", "lr"]; an unknown name is an argparse error."""
    names = [part.strip().lstrip("-").replace("-", "_") for part in value.split(",") if part.strip()]
    unknown = [n for n in names if n not in RESUME_KEEPS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or 'nothing'}: name some of {','.join(_flag(n)[2:] for n in RESUME_KEEPS)}"
        )
    return names


def add_arguments(p) -> None:
    """`thresher pretrain`'s options."""
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--input", dest="data", help="shard folder with manifest.json (contracts.md, 5)")
    data.add_argument(
        "--mix",
        help="several shard sets in fixed proportions, name=PATH:WEIGHT,... e.g. finance=runs/fin/shards:0.7,general=runs/x/shards:0.3; "
        "a weight of 0 evaluates a source without training on it; validation loss is logged per source (mixture.py)",
    )
    p.add_argument("--output", dest="out", required=True, help="output folder: metrics.jsonl and checkpoints/")
    p.add_argument(
        "--model",
        default=None,
        choices=list(SIZES),
        help=f"model size (model.py: SIZES); default {DEFAULT_MODEL}, GPT-2 small's shape as in nanoGPT",
    )
    p.add_argument(
        "--init-from",
        default=None,
        help="start from these weights instead of a random init: a thresher checkpoint (folder, checkpoints folder or run --output) "
        "or a Hugging Face Llama folder; the shape comes from it; optimizer, schedule and data position start afresh",
    )
    p.add_argument(
        "--parallel",
        choices=parallel.MODES,
        default="ddp",
        help="how torchrun ranks share the work: ddp, a whole model per rank (default), or fsdp, FSDP2 sharding (parallel.py)",
    )
    p.add_argument(
        "--activation-checkpointing",
        action="store_true",
        help="recompute each block's activations in backward: ~1/3 more compute, much less memory",
    )
    p.add_argument("--steps", type=int, required=True, help="optimizer steps; the cosine schedule ends here")
    p.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="global micro-batch in rows, over all ranks (default 32: with --grad-accum 16 and sequence length 1024, 0.5M tokens per step, GPT-3 Small's batch)",
    )
    p.add_argument(
        "--grad-accum", type=int, default=16, help="micro-batches per optimizer step (default 16, see --batch-size)"
    )
    p.add_argument("--lr", type=float, default=6e-4, help="peak learning rate (default 6e-4, GPT-3 Small)")
    p.add_argument(
        "--warmup",
        type=int,
        default=715,
        help="linear warmup steps (default 715: GPT-3's 375M warmup tokens at 0.5M tokens per step)",
    )
    p.add_argument(
        "--eval-interval", type=int, default=2000, help="steps between validation losses (default 2000, nanoGPT)"
    )
    p.add_argument(
        "--eval-steps",
        type=int,
        default=200,
        help="validation micro-batches per evaluation and source (default 200, nanoGPT's eval_iters)",
    )
    p.add_argument(
        "--log-interval",
        type=int,
        default=10,
        help="steps between log lines; each costs a host-device sync (default 10)",
    )
    p.add_argument(
        "--ckpt-interval",
        type=int,
        default=1000,
        help="steps between checkpoints, and one at the end (default 1000: half nanoGPT's, which saves at each eval, so a preempted run loses less)",
    )
    p.add_argument(
        "--keep-last",
        type=int,
        default=3,
        help="checkpoints to keep (default 3: two to fall back on if the newest is bad)",
    )
    p.add_argument("--seed", type=int, default=1337, help="model init and data order (default 1337, nanoGPT)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/latest when there is one")
    p.add_argument(
        "--override",
        type=_override_names,
        default=[],
        metavar="NAMES",
        help="with --resume: training arguments that may differ from the checkpoint's, comma-separated "
        f"(of {','.join(_flag(n)[2:] for n in RESUME_KEEPS)}); without it a resume with other values is refused. "
        "The change is printed and recorded in the checkpoints' meta.json (overrides)",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument(
        "--dtype",
        choices=["bf16", "fp32"],
        default=None,
        help="bf16 autocast or plain fp32 (default: bf16 on CUDA, fp32 on CPU)",
    )
    p.add_argument(
        "--verify-data", action="store_true", help="check every shard's sha256 against the manifest before training"
    )
    p.set_defaults(check=check_arguments)


def check_arguments(args) -> str | None:
    if args.init_from and args.model:
        return "--model and --init-from: the model's shape comes from the --init-from checkpoint"
    if args.override and not args.resume:
        return "--override applies to a resumed run: add --resume"
    if args.mix:
        try:
            parse_mix(args.mix)
        except ValueError as e:
            return f"--mix: {e}"
    if not 0 <= args.warmup < args.steps:
        return f"--warmup ({args.warmup}) must be at least 0 and below --steps ({args.steps}); a short run needs a smaller --warmup"
    for name in (
        "batch_size",
        "grad_accum",
        "eval_interval",
        "eval_steps",
        "log_interval",
        "ckpt_interval",
        "keep_last",
    ):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be at least 1"
    return None


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
    """Mean loss over the first eval_steps global batches of a validation split: the same
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


def open_data(args):
    """(train loader's sources, {source name: val split}, manifest, digest) for --data or --mix.
    With --data the one val split's name is None; `digest` identifies the shard set(s) for resume."""
    if args.data:
        data = local_shard_set(args.data)
        train = TokenShards(data, "train", verify=args.verify_data)
        val = {None: TokenShards(data, "val", verify=args.verify_data)}
        return train, val, train.manifest, file_sha256(Path(data) / "manifest.json")
    sources = [dataclasses.replace(s, path=local_shard_set(s.path)) for s in parse_mix(args.mix)]
    manifests = read_manifests(sources)
    check_compatible(manifests)
    train = open_sources([s for s in sources if s.weight > 0], "train", args.verify_data)
    val = open_sources(sources, "val", args.verify_data)
    return train, val, next(iter(manifests.values())), manifest_digests(sources)


def init_config(args, manifest: dict) -> ModelConfig:
    """The model's shape: a named size, or the --init-from checkpoint's (its rotary table sized for
    this data's sequence length). Refuses weights trained with another tokenizer."""
    vocab_size, seq_len = manifest["tokenizer"]["vocab_size"], manifest["sequence_length"]
    if not args.init_from:
        return model_config(args.model or DEFAULT_MODEL, vocab_size, seq_len)
    tokenizer = manifest["tokenizer"]
    if is_hf_folder(args.init_from):
        cfg = config_from_hf(json.loads((Path(args.init_from) / "config.json").read_text()), seq_len)
        hf_tokenizer = Path(args.init_from) / "tokenizer.json"
        if not hf_tokenizer.is_file():
            print(
                f"note: {args.init_from} has no tokenizer.json: nothing shows that these shards were tokenized for this model"
            )
        elif file_sha256(hf_tokenizer) != tokenizer["sha256"]:
            raise UsageError(
                f"{args.init_from}: its tokenizer.json is not the one these shards were made with; shard the data with it (thresher shard --tokenizer {args.init_from})"
            )
    else:
        meta = read_meta(resolve_checkpoint(args.init_from))
        if meta["tokenizer"]["sha256"] != tokenizer["sha256"]:
            raise UsageError(
                f"{args.init_from}: trained with another tokenizer than these shards'; token ids would mean other things"
            )
        cfg = ModelConfig(**{**meta["model_config"], "seq_len": seq_len})
    if vocab_size > cfg.vocab_size:
        raise UsageError(f"the shards' tokenizer has {vocab_size} tokens, the --init-from model only {cfg.vocab_size}")
    return cfg


def init_weights(path) -> dict:
    """The --init-from model's weights as our state dict."""
    if is_hf_folder(path):
        return load_hf(path)[1]
    return load_checkpoint(resolve_checkpoint(path), optimizer=False)["model"]


def resume_changes(meta: dict, args, checkpoint: Path) -> dict[str, list]:
    """{name: [checkpoint's value, this run's]} for the RESUME_KEEPS arguments that differ, all of
    them named in --override; UsageError naming every one that is not (one line)."""
    recorded = meta["train_args"]
    changed = {
        name: [recorded[name], getattr(args, name)]
        for name in RESUME_KEEPS
        if name in recorded and recorded[name] != getattr(args, name)
    }
    refused = [name for name in changed if name not in args.override]
    if refused:
        raise UsageError(
            f"{checkpoint} was trained with other arguments: "
            + ", ".join(f"{_flag(n)} {changed[n][0]} (now {changed[n][1]})" for n in refused)
            + f"; resume with the checkpoint's values, or pass --override {','.join(_flag(n)[2:] for n in refused)}"
            " to change them from here on"
        )
    return changed


def truncate_metrics(path: Path, step: int) -> None:
    """Drop records logged after the step the run starts from: they are about to be redone (a
    resumed run), or belong to an attempt that died before its first checkpoint (a fresh run)."""
    if not path.exists():
        return
    kept = [] if step == 0 else [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)


def run(args) -> int:

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
        # x86 CPUs handle subnormal floats in microcode, 10-100x slower than normal ones, and early
        # training makes many (tiny gradients, their squares in AdamW): flushing them to zero made
        # the tiny model's first hundred CPU steps over 10x faster. GPUs never pay this.
        torch.set_flush_denormal(True)
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

    # A remote shard set is copied into the node's cache once: by local rank 0, the others waiting.
    paths = [s.path for s in parse_mix(args.mix)] if args.mix else [args.data]
    copier = world > 1 and any(is_remote(path) for path in paths)
    if copier and local_rank != 0:
        dist.barrier()
    train_data, val_sets, manifest, data_digest = open_data(args)
    if copier and local_rank == 0:
        dist.barrier()
    for name, val in val_sets.items():
        if len(val) < args.batch_size:
            raise UsageError(
                f"{name or args.data}: the val split has {len(val)} rows, fewer than one batch ({args.batch_size}); evaluation needs one"
            )
    mixture = {s.name: s.weight for s in parse_mix(args.mix)} if args.mix else None
    resume_from = latest_checkpoint(ckpt_dir)
    if resume_from is not None and not args.resume:
        raise UsageError(
            f"{out} already holds a run (checkpoint {resume_from.name}): pass --resume to continue it, or another --output"
        )
    overrides = []  # every resume that changed training arguments, for meta.json
    if resume_from is not None:
        resume_meta = read_meta(resume_from)
        changed = resume_changes(resume_meta, args, resume_from)
        overrides = resume_meta.get("overrides", [])
        if changed:
            overrides = overrides + [{"step": resume_meta["step"], "changed": changed}]
            if master:
                print(
                    "resume: --override: "
                    + ", ".join(f"{_flag(n)} {old} -> {new}" for n, (old, new) in changed.items())
                    + f" from step {resume_meta['step']} on"
                )
    if resume_from is not None and args.init_from:
        # Resuming a continued run: its own checkpoint has the shape (the --init-from source may
        # have moved on or been pruned since).
        cfg = ModelConfig(**read_meta(resume_from)["model_config"])
    else:
        cfg = init_config(args, manifest)

    raw_model = Transformer(cfg)  # built on the CPU from the seed: the same init on any device
    if args.init_from and resume_from is None:
        raw_model.load_state_dict(init_weights(args.init_from))
    raw_model.to(device)
    raw_model.activation_checkpointing = args.activation_checkpointing
    flops_per_token = raw_model.flops_per_token()
    num_params, num_params_body = raw_model.num_params(), raw_model.num_params(non_embedding=True)
    model = parallel.wrap(raw_model, args.parallel, world, device, args.compile)
    optimizer = make_optimizer(raw_model, args.lr, device_type)  # after FSDP: it optimizes the shards
    if mixture:
        train_loader = MixtureLoader(
            train_data, {n: w for n, w in mixture.items() if w > 0}, args.batch_size, args.seed, rank, world
        )
    else:
        train_loader = BatchLoader(train_data, args.batch_size, args.seed, rank, world)

    step = 0
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from)
        meta = ckpt["meta"]
        if meta["model_config"] != dataclasses.asdict(cfg):
            raise UsageError(
                f"{resume_from}: model config {meta['model_config']} differs from this run's: {dataclasses.asdict(cfg)}"
            )
        if meta["data_manifest_sha256"] != data_digest or meta.get("mixture") != mixture:
            raise UsageError(
                f"{resume_from}: trained on other shard sets or proportions; its data position means nothing here"
            )
        parallel.load_full_state(raw_model, optimizer, ckpt["model"], ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        train_loader.load_state_dict(meta["data"]["train"])
        step = meta["step"]
        del ckpt
    if master:
        truncate_metrics(metrics_path, step)

    seq_len = cfg.seq_len
    tokens_per_step = args.batch_size * args.grad_accum * seq_len
    peak = peak_flops(device)
    if master:
        if mixture:
            for name, val in val_sets.items():
                rows = len(train_data[name]) if name in train_data else 0
                print(
                    f"data: {name}: train {rows:,} rows, val {len(val):,} rows, weight {mixture[name]:.1%}"
                    + ("" if rows else " (evaluated, not trained on)")
                )
        else:
            print(f"data: {args.data}: train {len(train_data):,} rows, val {len(val_sets[None]):,} rows")
        print(
            f"tokens: {seq_len} per row (+1), vocab {manifest['tokenizer']['vocab_size']} (padded to {cfg.vocab_size})"
        )
        print(
            f"model: {args.init_from or args.model or DEFAULT_MODEL}: {num_params:,} parameters ({num_params_body:,} without the embedding), {flops_per_token / 1e9:.2f} GFLOP per token"
        )
        print(
            f"run: {world} rank(s) ({args.parallel if world > 1 else 'one process'}) on {device_type}, {dtype}, {tokens_per_step:,} tokens per step "
            f"({args.batch_size} rows x {args.grad_accum} micro-batches), steps {step} -> {args.steps}"
            + (f", resumed from {resume_from}" if resume_from else "")
        )
    if step >= args.steps:
        if master:
            print(f"nothing to do: the checkpoint is at step {step}, --steps is {args.steps}")
        if world > 1:
            dist.destroy_process_group()
        return 0

    metrics = MetricsLog(metrics_path, out / "tensorboard", step) if master else None
    progress = Progress(step, args.steps) if master else None

    def run_eval() -> None:
        losses = {name: evaluate(model, val, args, rank, world, device, autocast) for name, val in val_sets.items()}
        if master:
            progress.write(
                f"step {step}: val loss "
                + " | ".join(f"{name + ' ' if name else ''}{loss:.4f}" for name, loss in losses.items())
            )
            for name, loss in losses.items():
                metrics.write(
                    {
                        "step": step,
                        "split": "val",
                        **({"source": name} if name else {}),
                        "loss": loss,
                        "tokens": step * tokens_per_step,
                    }
                )

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
                parallel.set_gradient_sync(model, micro == args.grad_accum - 1)
            with autocast:
                _, loss = model(x, y)
            (loss / args.grad_accum).backward()
            step_loss += loss.detach()
        grad_norm = parallel.local(torch.nn.utils.clip_grad_norm_(raw_model.parameters(), GRAD_CLIP))
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
                entry = {
                    "step": step,
                    "split": "train",
                    "loss": train_loss,
                    "lr": lr,
                    "grad_norm": grad_norm.item(),
                    "tokens_per_s": tokens_per_s,
                    "tokens": step * tokens_per_step,
                }
                status = f"loss {train_loss:.4f} | lr {lr:.3e} | grad norm {entry['grad_norm']:.3f} | {tokens_per_s:,.0f} tok/s"
                if peak:
                    entry["mfu"] = flops_per_token * tokens_per_s / (peak * world)
                    status += f" | mfu {entry['mfu']:.1%}"
                if mixture:
                    entry["mix"] = train_loader.proportions()  # realised so far: the target, to a row or two
                progress.write(f"step {step}/{args.steps} | {status}")
                progress.update(step, status)
                metrics.write(entry)
            interval_start, interval_steps = time.perf_counter(), 0
        elif master:
            progress.update(step)

        paused = False  # evaluation and checkpoints are left out of tokens/s
        if step % args.eval_interval == 0 or step == args.steps:
            run_eval()
            paused = True
        if step % args.ckpt_interval == 0 or step == args.steps:
            model_state, optimizer_state = parallel.full_state(
                raw_model, optimizer
            )  # every rank: a collective under FSDP
            if master:
                meta = {
                    "data": {"train": train_loader.state_dict()},  # val restarts at its beginning each evaluation
                    "model_config": dataclasses.asdict(cfg),
                    "train_args": vars(args),
                    "tokenizer": manifest["tokenizer"],
                    "data_manifest_sha256": data_digest,
                    "mixture": mixture,
                    "overrides": overrides,
                }
                path = save_checkpoint(ckpt_dir, step, model_state, optimizer_state, meta, args.keep_last)
                progress.write(f"step {step}: saved {path}")
            del model_state, optimizer_state
            paused = True
        if paused:
            interval_start, interval_steps = time.perf_counter(), 0

    if master:
        progress.close()
        metrics.close()
        if mixture:
            drawn = ", ".join(f"{n} {share:.2%}" for n, share in train_loader.proportions().items())
            print(
                f"mixture over the run: {drawn} of {int(train_loader.drawn.sum()):,} rows (target "
                + ", ".join(f"{n} {w:.2%}" for n, w in mixture.items() if w > 0)
                + ")"
            )
    if world > 1:
        dist.barrier()  # no rank leaves before rank 0 has written the last checkpoint
        dist.destroy_process_group()
    return 0
