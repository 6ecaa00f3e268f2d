"""Encode documents into token ids and pack them into fixed-length rows (contract 5).

Every document is followed by EOS, so that documents can be concatenated into one stream and
cut into rows of `row_length` tokens without losing where one ends and the next begins. The tail
of the stream that does not fill a row is dropped and counted, never padded.

    enc = DocumentEncoder.load("out/tokenizer")           # folder or tokenizer.json
    token_lists = enc.encode(["first document", "second"])  # each ends with enc.eos_id
    rows, dropped_tail = pack_sequences(token_lists, row_length=1025)

No Beam and no torch here: the shard pipeline wraps this in a DoFn, the trainer never needs it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from thresher.contracts.errors import UsageError

# GPT-2's end-of-text token; train.py makes it the first special token (id 0).
EOS_TOKEN = "<|endoftext|>"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
WHAT_A_TOKENIZER_IS = (
    f"a tokenizer is a folder holding {TOKENIZER_FILE} (as `thresher tokenizer train` writes) or a {TOKENIZER_FILE}"
)


class TokenizerError(UsageError):
    """A path named as a tokenizer that is not one: missing, not a `tokenizers` JSON, no EOS."""


def not_a_tokenizer(path: str, exists: bool, is_folder: bool) -> TokenizerError:
    """The error for a tokenizer path whose tokenizer.json (tokenizer_paths) is not there."""
    if not exists:
        what = "does not exist"
    elif is_folder:
        what = f"holds no {TOKENIZER_FILE}"
    else:
        what = "is not a tokenizer"
    return TokenizerError(f"{path} {what}: {WHAT_A_TOKENIZER_IS}")


def token_dtype(vocab_size: int) -> np.dtype:
    """The narrowest unsigned dtype that holds every id: uint16 halves shard size for vocabularies
    up to 65,536 (GPT-2's 50,257, Llama's 32,000), uint32 beyond."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


@dataclass(frozen=True)
class DocumentEncoder:
    """A byte-level BPE tokenizer with the facts a shard writer needs: its EOS id, its vocabulary
    size (hence the token dtype) and the sha256 of its tokenizer.json, which the manifest records
    so a trainer can refuse shards made with another tokenizer."""

    tokenizer: Tokenizer
    eos_id: int
    sha256: str

    @classmethod
    def from_bytes(cls, tokenizer_json: bytes, eos_token: str = EOS_TOKEN, where: str = "tokenizer") -> DocumentEncoder:
        """TokenizerError naming `where` (the file's path) when the bytes are not a tokenizer with
        this EOS token."""
        try:
            parsed = json.loads(tokenizer_json)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError alike
            raise TokenizerError(f"{where} is not a tokenizer, not even JSON ({e}): {WHAT_A_TOKENIZER_IS}") from None
        try:
            tokenizer = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
        except Exception as e:  # noqa: BLE001 - tokenizers raises a bare Exception for any JSON not its own
            keys = ", ".join(list(parsed)[:4]) if isinstance(parsed, dict) else type(parsed).__name__
            raise TokenizerError(
                f"{where} is JSON ({keys}), but not a `tokenizers` tokenizer.json ({str(e).splitlines()[0]}): "
                + WHAT_A_TOKENIZER_IS
            ) from None
        eos_id = tokenizer.token_to_id(eos_token)
        if eos_id is None:
            raise TokenizerError(f"{where} has no EOS token {eos_token!r}")
        return cls(tokenizer, eos_id, hashlib.sha256(tokenizer_json).hexdigest())

    @classmethod
    def load(cls, path: str | Path) -> DocumentEncoder:
        """Load a local tokenizer folder (as written by `thresher tokenizer train`) or a
        tokenizer.json. EOS is the `eos_token` of tokenizer_config.json beside it, if any."""
        json_path, config_path = tokenizer_paths(str(path))
        if not Path(json_path).is_file():
            raise not_a_tokenizer(str(path), Path(path).exists(), Path(path).is_dir())
        config = Path(config_path)
        eos_token = eos_token_from_config(config.read_bytes(), config_path) if config.exists() else EOS_TOKEN
        return cls.from_bytes(Path(json_path).read_bytes(), eos_token, json_path)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def dtype(self) -> np.dtype:
        return token_dtype(self.vocab_size)

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids of each text followed by EOS, in `self.dtype`. Special-token strings inside a
        text are encoded as the special token (the tokenizers default); curated web text does not
        contain `<|endoftext|>` in practice, and GPT-2's data pipelines behave the same way."""
        # encode_batch_fast skips offset tracking, and encodes the batch in parallel in Rust.
        encodings = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        out = []
        for encoding in encodings:
            ids = encoding.ids
            tokens = np.empty(len(ids) + 1, dtype=self.dtype)
            tokens[:-1] = ids
            tokens[-1] = self.eos_id
            out.append(tokens)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        # skip_special_tokens=False keeps EOS visible, so decoded rows show document boundaries.
        return self.tokenizer.decode(list(map(int, ids)), skip_special_tokens=False)


def tokenizer_paths(path: str) -> tuple[str, str]:
    """(tokenizer.json, tokenizer_config.json) for a folder or a tokenizer.json path. Plain string
    handling, so gs:// paths work too (the shard pipeline opens them through Beam's FileSystems)."""
    if path.endswith(".json"):
        folder = path.rsplit("/", 1)[0] if "/" in path else "."
        return path, f"{folder}/{TOKENIZER_CONFIG_FILE}"
    folder = path.rstrip("/")
    return f"{folder}/{TOKENIZER_FILE}", f"{folder}/{TOKENIZER_CONFIG_FILE}"


def eos_token_from_config(config_json: bytes, where: str = TOKENIZER_CONFIG_FILE) -> str:
    try:
        config = json.loads(config_json)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError alike
        raise TokenizerError(f"{where} is not JSON ({e})") from None
    eos = config.get("eos_token", EOS_TOKEN) if isinstance(config, dict) else None
    # transformers may write an AddedToken as a dict ({"content": "<|endoftext|>", ...}).
    eos = eos.get("content") if isinstance(eos, dict) else eos
    if not isinstance(eos, str):
        raise TokenizerError(f"{where} names no eos_token")
    return eos


def pack_sequences(token_lists: Sequence[np.ndarray], row_length: int) -> tuple[np.ndarray, int]:
    """Concatenate token arrays (each already ending in EOS) and cut them into rows.

    Returns `(rows, dropped_tail)`: `rows` is a `(n, row_length)` array holding the first
    `n * row_length` tokens in order, `dropped_tail` the number of tokens after them
    (`0 <= dropped_tail < row_length`). Rows are not padded: padding would waste compute, and a
    row may start in the middle of a document, as in GPT-2/nanoGPT/llm.c pretraining data.
    """
    if row_length < 2:
        raise ValueError(f"row_length must be >= 2 (inputs and shifted targets), got {row_length}")
    if len(token_lists) == 0:
        return np.empty((0, row_length), dtype=np.uint16), 0
    stream = np.concatenate(token_lists)
    n_rows = len(stream) // row_length
    rows = stream[: n_rows * row_length].reshape(n_rows, row_length)
    return rows, len(stream) - n_rows * row_length
