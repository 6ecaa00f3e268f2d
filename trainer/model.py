"""A decoder-only transformer in one file: RMSNorm, rotary positions, SwiGLU, no biases.

The block is the Llama recipe (pre-norm RMSNorm, RoPE, SwiGLU MLP, no bias terms) with GPT-2's
initialisation and GPT-2's tied input/output embedding:

    x = tok_emb(idx)
    for each block:  x = x + attn(norm(x));  x = x + mlp(norm(x))
    logits = norm(x) @ tok_emb.weight.T

Attention is full multi-head (no grouped-query attention): GQA mainly shrinks the KV cache at
inference, and one projection shape keeps this file easy to hold in one's head. (A GQA checkpoint
still imports exactly: hf.py repeats its shared key/value heads.)

Activation checkpointing (`model.activation_checkpointing = True`) recomputes each block's
activations in the backward pass instead of keeping them: about a third more compute for memory
that no longer grows with depth, for batches or models that do not fit otherwise.

Sizes (`SIZES`) go from `tiny` (a CPU test model) to `1b`; `vocab_size` and `seq_len` are not part
of a size, they come from the shard manifest (contracts.md, 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


@dataclass
class ModelConfig:
    vocab_size: int  # padded, see padded_vocab_size
    seq_len: int  # longest context the rotary table covers (the manifest's sequence_length)
    n_layer: int
    n_head: int
    d_model: int
    d_mlp: int  # SwiGLU hidden width
    rope_theta: float = 10000.0  # RoFormer (Su et al. 2021) and Llama 1/2
    norm_eps: float = 1e-5  # Llama 1/2
    # Our sizes tie the output projection to the embedding (see Transformer); an untied one exists
    # only so that an imported base model that has one (Llama 2, TinyLlama, Mistral) loads as it is.
    tie_embeddings: bool = True

    def __post_init__(self):
        assert self.d_model % self.n_head == 0, "d_model must be a multiple of n_head"
        assert (self.d_model // self.n_head) % 2 == 0, "rotary positions need an even head size"


# Shapes, without vocab_size and seq_len. The GPT-3 rows keep GPT-3's depth, width and heads (Brown
# et al. 2020, Table 2.1); SwiGLU's hidden width is 8/3 * d_model rounded up to a multiple of 256, which
# keeps the MLP at the 8 * d_model^2 weights of GPT-3's 4x GELU MLP (Shazeer 2020; Llama's rounding).
# The parameter count in each name excludes the embedding, whose size depends on the tokenizer.
SIZES = {
    # CPU test model: about 2 s per hundred steps of 8 x 64 tokens on two cores.
    "tiny": dict(n_layer=2, n_head=4, d_model=128, d_mlp=384),
    # GPT-3 Small (= GPT-2 small's shape): 85M non-embedding weights.
    "124m": dict(n_layer=12, n_head=12, d_model=768, d_mlp=2048),
    # GPT-3 Medium (= GPT-2 medium's shape): 308M.
    "350m": dict(n_layer=24, n_head=16, d_model=1024, d_mlp=2816),
    # GPT-3 Large: 679M.
    "760m": dict(n_layer=24, n_head=16, d_model=1536, d_mlp=4096),
    # Llama 3.2 1B's shape (16 layers, 2048 wide, 32 heads, MLP 8192) with full multi-head attention
    # instead of its 8 KV heads: 1.07B.
    "1b": dict(n_layer=16, n_head=32, d_model=2048, d_mlp=8192),
}


def padded_vocab_size(vocab_size: int, multiple: int = 64) -> int:
    """Round the embedding up to a multiple of 64 so its matmuls hit fast kernel shapes (nanoGPT
    pads GPT-2's 50257 to 50304 for the same reason). The extra rows are never a target."""
    return (vocab_size + multiple - 1) // multiple * multiple


def model_config(size: str, vocab_size: int, seq_len: int) -> ModelConfig:
    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; known: {', '.join(SIZES)}")
    return ModelConfig(vocab_size=padded_vocab_size(vocab_size), seq_len=seq_len, **SIZES[size])


class RMSNorm(nn.Module):
    """Zhang & Sennrich 2019: scale by the root mean square, no centring, no bias. Computed in
    float32 so that it stays exact under bf16 autocast."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def rotary_tables(head_dim: int, seq_len: int, theta: float):
    """cos and sin of position * frequency, shape (seq_len, head_dim / 2), in float32."""
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), freqs)
    return angles.cos(), angles.sin()


def apply_rotary(x, cos, sin):
    """Rotate pairs (x[i], x[i + d/2]) by the position's angle (the GPT-NeoX / Llama-HF "rotate half"
    layout). x: (B, T, H, D); cos, sin: (T, D/2). Done in float32, returned in x's dtype."""
    x1, x2 = x.float().chunk(2, dim=-1)
    cos, sin = cos[:, None, :], sin[:, None, :]  # broadcast over heads
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.head_dim = cfg.d_model // cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)  # one matmul for q, k and v
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).unbind(dim=2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        # (B, H, T, D); flash / memory-efficient kernels where the device has them
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        return self.out(y.transpose(1, 2).reshape(B, T, C))


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)) (Shazeer 2020, as in PaLM and Llama)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_up = nn.Linear(cfg.d_model, 2 * cfg.d_mlp, bias=False)  # gate and up in one matmul
        self.down = nn.Linear(cfg.d_mlp, cfg.d_model, bias=False)

    def forward(self, x):
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        # Tied embeddings (GPT-2, and Llama 3.2 at 1B and 3B): at these sizes an untied output matrix
        # is 5-25% of all weights (50k x 768 next to 85M) for little gain in loss; one matrix also
        # gets a gradient from both ends, which helps rare tokens at small data scales.
        if cfg.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight
        self.activation_checkpointing = False
        cos, sin = rotary_tables(cfg.d_model // cfg.n_head, cfg.seq_len, cfg.rope_theta)
        # Not persistent: derived from the config, so a checkpoint holds only learned weights.
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2 (Radford et al. 2019, section 2.3): each block adds two residual branches, so scale
        # the branch output projections by 1/sqrt(2 * n_layer) to keep the residual stream's
        # variance about constant in depth at initialisation.
        for block in self.blocks:
            for proj in (block.attn.out, block.mlp.down):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module):
        # GPT-2's N(0, 0.02) for every matrix, including the (tied) embedding; RMSNorm starts at 1.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        """idx: (B, T) token ids. Returns (logits (B, T, vocab), mean cross-entropy or None)."""
        T = idx.shape[1]
        assert T <= self.cfg.seq_len, f"sequence of {T} tokens, model built for {self.cfg.seq_len}"
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.tok_emb(idx)
        for block in self.blocks:
            if self.activation_checkpointing and torch.is_grad_enabled():
                # use_reentrant=False: the variant PyTorch recommends; it works with torch.compile
                # and FSDP, and with inputs that do not require grad.
                x = checkpoint(block, x, cos, sin, use_reentrant=False)
            else:
                x = block(x, cos, sin)
        logits = self.lm_head(self.norm(x))
        if targets is None:
            return logits, None
        # Cross-entropy in float32: a bf16 log-softmax over the vocabulary loses precision.
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    def num_params(self, non_embedding: bool = False) -> int:
        """Unique weights (the tied embedding counts once); `non_embedding` leaves out the embedding
        and an untied output projection."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.tok_emb.weight.numel() * (1 if self.cfg.tie_embeddings else 2)
        return n

    def flops_per_token(self) -> int:
        """Training FLOPs per token, forward and backward: 6N + 12·L·H·Q·T (PaLM, Chowdhery et al.
        2022, appendix B). N counts the output projection's matmul and not the input lookup, which
        costs no FLOPs (tied: the one matrix, once); 12·L·H·Q·T is attention's score and value
        matmuls at context T."""
        cfg = self.cfg
        matmul_params = self.num_params(non_embedding=True) + self.lm_head.weight.numel()
        return 6 * matmul_params + 12 * cfg.n_layer * cfg.n_head * (cfg.d_model // cfg.n_head) * cfg.seq_len
