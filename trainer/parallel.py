"""Data parallelism applied around an unchanged model: DDP or FSDP2, chosen with `--parallel`.

- `ddp` (DistributedDataParallel): every rank holds the whole model and optimizer state; gradients
  are all-reduced (averaged) during backward. Fastest while a model and its AdamW state fit on one
  GPU (about 16 bytes per parameter: up to ~1B parameters on an 80 GB GPU, with activations).
- `fsdp` (FSDP2, `torch.distributed.fsdp.fully_shard`, ZeRO-3): each block's parameters, gradients
  and optimizer state are split over the ranks; a block's weights are all-gathered just before its
  forward and backward and freed after, and gradients are reduce-scattered. Memory per rank falls
  about W-fold for the same arithmetic, at the cost of the gathers.

Both average gradients over ranks, so with the same global batch an update is one process's
update up to the order of floating-point sums (tests/test_trainer.py checks both on CPU).

Checkpoints hold full (unsharded) state dicts, read and written through
`torch.distributed.checkpoint.state_dict`, in one format for one process, DDP and FSDP alike: a
run may resume with another `--parallel` or another number of ranks. Under FSDP, gathering the full
state is a collective: every rank calls `full_state`, rank 0 gets the tensors.
"""

from __future__ import annotations

import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel as DDP

MODES = ("ddp", "fsdp")


def wrap(model: torch.nn.Module, mode: str, world: int, device: torch.device, compile: bool) -> torch.nn.Module:
    """The module to call in the loop. `model` itself stays the one to take parameters and state
    dicts from: compile and DDP return wrappers around it, FSDP changes it in place."""
    if mode == "fsdp" and world > 1:
        # torchtitan's order: compile each block, then shard each block and the root (embedding,
        # final norm, head), so that one block's all-gather overlaps the previous block's compute.
        if compile:
            for block in model.blocks:
                block.compile()
        # No MixedPrecisionPolicy: bf16 comes from the loop's autocast, as under DDP, so that FSDP
        # computes the same thing (an fp32 residual stream; torchtitan's bf16 parameters would make
        # it bf16). The price is all-gathering fp32 weights, twice the bytes of bf16 ones.
        for block in model.blocks:
            fully_shard(block)
        fully_shard(model)
        return model
    wrapped = torch.compile(model) if compile else model
    if world > 1:
        wrapped = DDP(wrapped, device_ids=[device.index] if device.type == "cuda" else None)
    return wrapped


def set_gradient_sync(model: torch.nn.Module, sync: bool) -> None:
    """Under gradient accumulation only the last micro-batch's backward needs to average gradients
    over ranks; the others accumulate locally."""
    if isinstance(model, DDP):
        model.require_backward_grad_sync = sync
    elif hasattr(model, "set_requires_gradient_sync"):  # a module that fully_shard has wrapped
        model.set_requires_gradient_sync(sync)


def local(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor from what clip_grad_norm_ returns (a replicated DTensor under FSDP)."""
    return t.full_tensor() if isinstance(t, DTensor) else t


FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def full_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Full model and optimizer state dicts on the CPU (rank 0's are complete; call on every rank).
    Optimizer state is keyed by parameter name, so it does not depend on how the model is wrapped."""
    return get_model_state_dict(model, options=FULL), get_optimizer_state_dict(model, optimizer, options=FULL)


def load_full_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, model_state: dict, optimizer_state: dict | None
) -> None:
    """Load full state dicts (as `full_state` returns them) on every rank; FSDP keeps its shard."""
    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, model_state, options=options)
    if optimizer is not None:
        set_optimizer_state_dict(model, optimizer, optimizer_state, options=options)
