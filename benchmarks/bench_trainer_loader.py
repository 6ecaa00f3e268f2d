"""Does the shard loader keep a GPU fed? Its tokens/s on this CPU against what one GPU consumes.

    python benchmarks/bench_trainer_loader.py [--batch-size 16] [--seconds 5] [--mfu 0.46] [--model 124m]

The loader runs in the training process, between optimizer steps (data.py, mixture.py): every
millisecond it takes is a millisecond the GPU waits. The target is 50x the GPU's consumption, so
that feeding it costs under 2% of a step. Consumption is computed, not guessed:

    GPU tokens/s = MFU x peak FLOP/s / training FLOPs per token

with the 124m model at sequence length 1024 and GPT-2's vocabulary (flops_per_token from model.py,
6N + 12·L·H·Q·T), at 46% MFU (the issue's planning figure for the 124m on one H200) of 989 TFLOP/s
(dense bf16, H100 SXM and H200 datasheets).

Measured here: `BatchLoader.next()` (one shard set) and `MixtureLoader.next()` (two sources, 70/30),
each returning the (x, y) int64 tensors the loop copies to the GPU, as one GPU of one and as rank 0
of `--world` (the mixture's interleaving is computed for the whole global batch on every rank, so
its cost per row a rank consumes grows with the number of ranks), over shards of random tokens
written to a temporary folder (throughput does not depend on what the tokens are). Those files are
in the page cache, as shards are after the first epoch or on a machine with RAM to spare; a cold
read from disk adds the disk's throughput as a second bound (2 bytes a token: 1 GB/s of NVMe is
500M tokens/s, still far above any one GPU). On CUDA the loop also pins the batch and copies it
asynchronously; that copy overlaps the GPU's work and is not measured here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_trainer import GPT2_VOCAB, write_random_shards

from thresher.trainer.data import BatchLoader, TokenShards
from thresher.trainer.mixture import MixtureLoader
from thresher.trainer.model import SIZES, Transformer, model_config

H200_PEAK_BF16 = 989e12
TARGET_HEADROOM = 50


def tokens_per_s(loader, batch_size: int, seq_len: int, seconds: float) -> float:
    loader.next()  # first touch of the pages and the epoch's permutation
    batches, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        loader.next()
        batches += 1
    return batches * batch_size * seq_len / elapsed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model",
        default="124m",
        choices=list(SIZES),
        help="the model whose GPU consumption is the yardstick (default 124m)",
    )
    p.add_argument("--mfu", type=float, default=0.46, help="the GPU's model FLOP utilisation (default 0.46)")
    p.add_argument("--seq-len", type=int, default=1024, help="tokens per row (default 1024)")
    p.add_argument("--batch-size", type=int, default=16, help="rows per micro-batch on one GPU (default 16)")
    p.add_argument(
        "--rows",
        type=int,
        default=16384,
        help="rows per shard set written for the test (default 16384: 34 MB of uint16)",
    )
    p.add_argument("--seconds", type=float, default=5.0, help="time each loader this long (default 5)")
    p.add_argument(
        "--world",
        type=int,
        default=64,
        help="ranks for the many-GPU case: global batch = world x batch size (default 64)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # the loader is single-threaded: leave no doubt what was measured

    with torch.device("meta"):
        flops_per_token = Transformer(model_config(args.model, GPT2_VOCAB, args.seq_len)).flops_per_token()
    gpu = args.mfu * H200_PEAK_BF16 / flops_per_token
    print(
        f"GPU consumption: {args.model} at sequence length {args.seq_len}, {flops_per_token / 1e9:.3f} GFLOP per token, "
        f"{args.mfu:.0%} MFU of {H200_PEAK_BF16 / 1e12:.0f} TFLOP/s = {gpu:,.0f} tokens/s; target {TARGET_HEADROOM}x = {TARGET_HEADROOM * gpu:,.0f} tokens/s"
    )

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        a = write_random_shards(Path(tmp) / "a", GPT2_VOCAB, args.seq_len, args.rows, args.batch_size, shards=4, seed=1)
        b = write_random_shards(
            Path(tmp) / "b", GPT2_VOCAB, args.seq_len, args.rows // 2, args.batch_size, shards=2, seed=2
        )
        sets = {"a": TokenShards(a, "train"), "b": TokenShards(b, "train")}
        G = args.world * args.batch_size
        loaders = {
            "BatchLoader, 1 GPU": BatchLoader(sets["a"], args.batch_size, seed=0),
            f"BatchLoader, rank 0 of {args.world}": BatchLoader(sets["a"], G, seed=0, rank=0, world_size=args.world),
            "MixtureLoader 70/30, 1 GPU": MixtureLoader(sets, {"a": 0.7, "b": 0.3}, args.batch_size, seed=0),
            f"MixtureLoader 70/30, rank 0 of {args.world}": MixtureLoader(
                sets, {"a": 0.7, "b": 0.3}, G, seed=0, rank=0, world_size=args.world
            ),
        }
        for name, loader in loaders.items():
            tps = tokens_per_s(loader, args.batch_size, args.seq_len, args.seconds)
            ok &= tps >= TARGET_HEADROOM * gpu
            print(
                f"{name:34} {tps:>14,.0f} tokens/s = {tps / gpu:,.0f}x the GPU's consumption "
                f"({args.batch_size * args.seq_len / tps * 1e6:,.0f} us per {args.batch_size}-row batch)"
            )
    print("PASS" if ok else f"FAIL: below {TARGET_HEADROOM}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
