"""Checkpoints (contracts.md, 6): written atomically, resumed exactly, loaded with weights_only=True.

Layout of `{out}/checkpoints/`:

    step-0001000/
        model.pt       the model's full state dict: tensors only, enough for generation or export
        optimizer.pt   the optimizer's full state dict, keyed by parameter name (parallel.py)
        rng.pt         RNG states: torch CPU, CUDA (this process's device), numpy, python
        meta.json      step (also the learning-rate schedule's position), data position (per
                       split, or per source of a mixture), the mixture's weights, model config,
                       training args, the data's tokenizer record: plain JSON, so a person can
                       read it and torch.load never has to unpickle a class
    latest             one line: the name of the last complete checkpoint

Atomic: a checkpoint is written into a temporary folder in the same parent (`.tmp-step-...`), every
file and the folder are fsync'ed, the folder is renamed into place with `os.replace` (atomic within
a filesystem), and only then is `latest` replaced the same way (temp file, fsync, `os.replace`). A
crash at any point leaves `latest` naming a complete checkpoint; the next save removes the debris.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from thresher.contracts.errors import UsageError
from thresher.contracts.files import file_sha256

# 2: optimizer.pt keyed by parameter name (torch.distributed.checkpoint's full state dict, the
# same under DDP and FSDP) instead of by position; meta.json gains "tokenizer" and "mixture".
CHECKPOINT_FORMAT_VERSION = 2
STEP_DIR = re.compile(r"^step-(\d+)$")
TMP_PREFIX = ".tmp-"


def step_dir_name(step: int) -> str:
    return f"step-{step:07d}"


def rng_state() -> dict:
    """The process's RNG states as tensors and plain values (loadable with weights_only=True)."""
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_initialized():
        # This process's device only: get_rng_state_all() would open a context on every visible GPU.
        # Every rank seeds alike and draws alike, so rank 0's state stands for all of them.
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, write) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _write_latest(ckpt_dir: Path, name: str) -> None:
    tmp = ckpt_dir / f"{TMP_PREFIX}latest"
    _write_durably(tmp, lambda f: f.write(f"{name}\n".encode()))
    os.replace(tmp, ckpt_dir / "latest")
    _fsync_dir(ckpt_dir)


def latest_checkpoint(ckpt_dir) -> Path | None:
    """The folder `latest` names, or None when no checkpoint was completed yet."""
    latest = Path(ckpt_dir) / "latest"
    if not latest.exists():
        return None
    path = Path(ckpt_dir) / latest.read_text().strip()
    if not path.is_dir():
        raise FileNotFoundError(f"{latest} names {path.name}, which does not exist")
    return path


def list_checkpoints(ckpt_dir) -> list[Path]:
    """Complete checkpoint folders, oldest first."""
    found = [(int(m.group(1)), p) for p in Path(ckpt_dir).iterdir() if (m := STEP_DIR.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def save_checkpoint(ckpt_dir, step: int, model_state: dict, optimizer_state: dict, meta: dict, keep_last: int) -> Path:
    """Write checkpoint `step` atomically, point `latest` at it, keep the newest `keep_last`.

    `meta` is JSON-able (data position, model config, training args); the step and the format
    version are added. Call on one rank only."""
    if keep_last < 1:
        raise ValueError("keep_last must be at least 1: the checkpoint just written is kept")
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    for debris in ckpt_dir.glob(f"{TMP_PREFIX}*"):  # left by a save that crashed; this is the only writer
        if debris.is_dir():
            shutil.rmtree(debris)
        else:
            debris.unlink()

    name = step_dir_name(step)
    tmp = ckpt_dir / f"{TMP_PREFIX}{name}"
    tmp.mkdir()
    _write_durably(tmp / "model.pt", lambda f: torch.save(model_state, f))
    _write_durably(tmp / "optimizer.pt", lambda f: torch.save(optimizer_state, f))
    _write_durably(tmp / "rng.pt", lambda f: torch.save(rng_state(), f))
    meta = {"format_version": CHECKPOINT_FORMAT_VERSION, "step": step, **meta}
    _write_durably(tmp / "meta.json", lambda f: f.write(json.dumps(meta, indent=2).encode()))
    _fsync_dir(tmp)

    final = ckpt_dir / name
    if final.exists():
        # A save of this step that crashed after its rename but before `latest` moved (so it is
        # not `latest`), then a resume from an older checkpoint that reached this step again.
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(ckpt_dir)
    _write_latest(ckpt_dir, name)

    for old in list_checkpoints(ckpt_dir)[:-keep_last]:
        shutil.rmtree(old)
    return final


def read_meta(path) -> dict:
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise UsageError(
            f"{path}: checkpoint format_version {meta.get('format_version')!r}, this code knows {CHECKPOINT_FORMAT_VERSION}"
        )
    return meta


def load_checkpoint(path, map_location="cpu", optimizer: bool = True) -> dict:
    """A checkpoint folder as {"model", "optimizer", "rng", "meta"}; tensors via weights_only=True.

    On the CPU the files are memory-mapped (copy on write): the ranks of a node that each load the
    same checkpoint share one copy in the page cache instead of holding one each."""
    path = Path(path)
    meta = read_meta(path)

    def load(name, where):
        return torch.load(path / name, map_location=where, weights_only=True, mmap=torch.device(where).type == "cpu")

    # RNG states stay on the CPU: torch.set_rng_state and torch.cuda.set_rng_state take CPU byte tensors.
    return {
        "model": load("model.pt", map_location),
        "optimizer": load("optimizer.pt", map_location) if optimizer else None,
        "rng": load("rng.pt", "cpu"),
        "meta": meta,
    }


def resolve_checkpoint(path) -> Path:
    """A checkpoint folder from what a user may name: the folder itself (`.../step-0001000`), a
    checkpoints folder, or a run's output folder (both: the checkpoint `latest` names)."""
    path = Path(path)
    if (path / "meta.json").is_file():
        return path
    for ckpt_dir in (path, path / "checkpoints"):
        found = latest_checkpoint(ckpt_dir) if ckpt_dir.is_dir() else None
        if found is not None:
            return found
    raise FileNotFoundError(
        f"{path}: not a checkpoint (no meta.json), nor a folder whose `latest` or `checkpoints/latest` names one"
    )


def tokenizer_folder(record: dict) -> Path:
    """The folder of the tokenizer a checkpoint was trained with, from meta.json's "tokenizer"
    (the shard manifest's record: path, sha256, vocab_size, eos_id), checked against its sha256."""
    path = Path(record["path"])
    json_path = path if path.suffix == ".json" else path / "tokenizer.json"
    if not json_path.is_file():
        raise UsageError(f"the training tokenizer {json_path} is not there (moved?): name its folder with --tokenizer")
    if file_sha256(json_path) != record["sha256"]:
        raise UsageError(f"{json_path} is not the tokenizer the model was trained with (sha256 differs)")
    return json_path.parent
