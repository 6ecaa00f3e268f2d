"""Generate text from a checkpoint: greedy, or sampling with temperature, top-k and top-p.

    thresher generate --checkpoint runs/x/pretrain --prompt "The Committee decided" --max-new-tokens 50
    thresher generate --checkpoint runs/x/pretrain --prompt "..." --temperature 0.8 --top-k 50 --seed 1
    thresher generate --checkpoint runs/x/pretrain --prompt "..." --top-p 0.9 --seed 1
    thresher generate --checkpoint runs/x/pretrain --prompt "..." --greedy

--checkpoint is a checkpoint folder, a checkpoints folder or a run's --output (then the latest
checkpoint). The tokenizer is the one the model was trained with: the shard manifest's tokenizer
record (path and sha256), which the checkpoint's meta.json keeps, checked against its sha256; or
--tokenizer, which must be that same tokenizer (the same tokenizer.json bytes) at another path:
token ids of another tokenizer mean other things, and the model would only produce nonsense.

The prompt starts a document: it is encoded after an EOS token, as every document but a row's
first follows one in training. Generation stops after --max-new-tokens or at EOS. The model is
run on the whole context at every token (no key/value cache), as nanoGPT does: simple, and fast
enough for the models and lengths one samples from while training; the context is cut to the
model's sequence length.

Sampling: logits / temperature, then keep the k most likely tokens (top-k, Fan et al. 2018), then
the smallest set of most likely tokens whose probability reaches p (top-p or nucleus, Holtzman et
al. 2020), renormalise and draw. The order is transformers' (temperature, top-k, top-p). A run is
reproducible with --seed; without one a seed is drawn and printed.
"""

from __future__ import annotations

import secrets
import sys

import torch

from thresher.contracts.errors import UsageError
from thresher.tokenizer.encode import DocumentEncoder
from thresher.trainer.checkpoint import load_checkpoint, resolve_checkpoint, tokenizer_folder
from thresher.trainer.model import ModelConfig, Transformer


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Logits (..., vocab) with every token outside the top-k and the top-p nucleus set to -inf."""
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already reach p; the most likely one stays.
        drop = probs.cumsum(dim=-1) - probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def next_token(
    logits: torch.Tensor,
    greedy: bool,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """(B, vocab) logits of the last position -> (B, 1) token ids."""
    if greedy:
        return logits.argmax(dim=-1, keepdim=True)
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


@torch.no_grad()
def generate(
    model: Transformer,
    idx: torch.Tensor,
    max_new_tokens: int,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    eos_id: int | None = None,
) -> torch.Tensor:
    """idx (1, T) -> (1, T + n): n <= max_new_tokens tokens appended, the last one EOS if it came."""
    model.eval()
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.cfg.seq_len :])
        token = next_token(logits[:, -1, :], greedy, temperature, top_k, top_p, generator)
        idx = torch.cat([idx, token], dim=1)
        if eos_id is not None and token.item() == eos_id:
            break
    return idx


def load_model(checkpoint, device="cpu") -> tuple[Transformer, dict]:
    """A checkpoint's model (weights only) and its meta.json."""
    ckpt = load_checkpoint(resolve_checkpoint(checkpoint), optimizer=False)
    model = Transformer(ModelConfig(**ckpt["meta"]["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt["meta"]


def add_arguments(p) -> None:
    """`thresher generate`'s options."""
    p.add_argument(
        "--checkpoint",
        required=True,
        help="a checkpoint folder, a checkpoints folder or a run's --output (latest checkpoint)",
    )
    p.add_argument("--prompt", default="", help="text to continue (default: none, a new document)")
    p.add_argument("--max-new-tokens", type=int, default=100, help="tokens to generate at most (default 100)")
    p.add_argument("--greedy", action="store_true", help="always the most likely token, no sampling")
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="divide logits by T before sampling: < 1 sharper, > 1 flatter (default 1.0, the model's distribution)",
    )
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely tokens only (default: all)")
    p.add_argument(
        "--top-p",
        type=float,
        default=None,
        help="sample within the smallest set of tokens whose probability reaches p (default: all; 0.9 is common)",
    )
    p.add_argument("--seed", type=int, default=None, help="sampling seed (default: drawn at random and printed)")
    p.add_argument(
        "--tokenizer",
        default=None,
        help="the training tokenizer's folder, when it moved (default: the path the checkpoint records); "
        "another tokenizer is refused",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    p.set_defaults(check=check_arguments)


def check_arguments(args) -> str | None:
    if args.greedy and (args.temperature != 1.0 or args.top_k or args.top_p or args.seed is not None):
        return "--greedy does not sample: --temperature, --top-k, --top-p and --seed do not apply"
    if args.max_new_tokens < 1:
        return "--max-new-tokens must be at least 1"
    if args.temperature <= 0:
        return "--temperature must be above 0 (for the most likely token, use --greedy)"
    if args.top_k is not None and args.top_k < 1:
        return "--top-k must be at least 1"
    if args.top_p is not None and not 0 < args.top_p <= 1:
        return "--top-p must be in (0, 1]"
    return None


def run(args) -> int:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, meta = load_model(args.checkpoint, device)
    encoder = DocumentEncoder.load(args.tokenizer or tokenizer_folder(meta["tokenizer"]))
    trained = meta["tokenizer"]
    if encoder.sha256 != trained["sha256"]:
        raise UsageError(
            f"--tokenizer {args.tokenizer} (sha256 {encoder.sha256[:12]}, {encoder.vocab_size} tokens) is not the "
            f"tokenizer the model was trained with (sha256 {trained['sha256'][:12]}, {trained['vocab_size']} tokens, "
            f"{trained['path']}): its token ids mean other things to the model"
        )
    if encoder.vocab_size > model.cfg.vocab_size:
        raise UsageError(
            f"the tokenizer has {encoder.vocab_size} tokens, the model only {model.cfg.vocab_size}: not the model's tokenizer"
        )
    prompt = [encoder.eos_id] + encoder.tokenizer.encode(args.prompt).ids
    generator = None
    if not args.greedy:
        seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
        if args.seed is None:
            print(f"seed: {seed}", file=sys.stderr)  # stderr: stdout stays the text alone
        generator = torch.Generator(device=device).manual_seed(seed)
    idx = torch.tensor([prompt], dtype=torch.long, device=device)
    out = generate(
        model,
        idx,
        args.max_new_tokens,
        args.greedy,
        args.temperature,
        args.top_k,
        args.top_p,
        generator,
        encoder.eos_id,
    )
    print(args.prompt + encoder.tokenizer.decode(out[0, len(prompt) :].tolist(), skip_special_tokens=False))
    return 0
