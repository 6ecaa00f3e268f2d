"""Train a byte-level BPE tokenizer (GPT-2 style, HF `tokenizers`) on a sample of curated Parquet.

    thresher tokenizer train --input 'runs/x/curated/part-*.parquet' --output runs/x/tokenizer \\
        --vocab-size 32000

Writes into `--output`:
- `tokenizer.json`: the `tokenizers` model (ByteLevel pre-tokenizer and decoder, BPE), loadable
  with `tokenizers.Tokenizer.from_file` and by `thresher shard`;
- `tokenizer_config.json` and `special_tokens_map.json`: what
  `transformers.PreTrainedTokenizerFast.from_pretrained(out)` needs to know EOS and padding
  (written here by hand, so transformers is not needed at run time).

The sample is deterministic and independent of how the corpus is split into files or ordered:
documents are ranked by blake2b(id) and the sample is the longest prefix of that ranking within
`max_documents` and `max_characters` (a bottom-k sample, taken in one streaming pass).

Special tokens get ids 0, 1, ... in the order given; the first is EOS (appended after every
document by `thresher shard`), the second, if any, is padding.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow.parquet as pq
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from tqdm import tqdm

from thresher.contracts.files import exists, match_files, open_file
from thresher.contracts.layout import check_complete
from thresher.tokenizer.encode import EOS_TOKEN, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE

# Llama (1 and 2) uses 32,000 tokens: a common size for a monolingual model, and ids fit uint16.
DEFAULT_VOCAB_SIZE = 32_000
# EOS as in GPT-2; a distinct padding token so that padding is never mistaken for end-of-text.
PAD_TOKEN = "<|pad|>"
DEFAULT_SPECIAL_TOKENS = (EOS_TOKEN, PAD_TOKEN)
# nanochat's speedrun trains its tokenizer on ~2B characters; BPE merges are stable well before.
DEFAULT_MAX_CHARACTERS = 2_000_000_000
# A pair must occur at least twice to be merged: the default of tokenizers' ByteLevelBPETokenizer.
DEFAULT_MIN_FREQUENCY = 2
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
# Rows read from Parquet at a time: bounds memory when a file is large.
READ_BATCH_ROWS = 4096


def _rank(doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big")


def _documents(files: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(id, text) of every document of the files (local or remote), with a progress bar over
    their rows on a terminal."""
    files = list(files)
    rows = 0
    for path in files:  # the footers only: how many rows there are to read
        with open_file(path) as fh:
            rows += pq.ParquetFile(fh).metadata.num_rows
    with tqdm(total=rows, unit=" docs", desc="tokenizer: reading", file=sys.stderr, disable=None) as bar:
        for path in files:
            with open_file(path) as fh:
                for batch in pq.ParquetFile(fh).iter_batches(batch_size=READ_BATCH_ROWS, columns=["id", "text"]):
                    bar.update(batch.num_rows)
                    for doc_id, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
                        if doc_id is not None and text:
                            yield doc_id, text


def sample_documents(files: Iterable[str], max_documents: int | None, max_characters: int | None) -> list[str]:
    """Texts of the documents with the smallest blake2b(id), in rank order: the longest prefix of
    the ranking that fits both limits (None: no limit), whatever order the files are read in."""
    # Max-heap on rank (negated): the root is the kept document ranked last, the one to evict.
    heap: list[tuple[int, str, str]] = []
    characters = 0
    # Rank of the last document evicted (each eviction lowers it): nothing ranked at or after it
    # may enter later, or the sample would depend on the order documents are read in.
    cutoff = math.inf
    for doc_id, text in _documents(files):
        rank = _rank(doc_id)
        if rank >= cutoff:
            continue
        heapq.heappush(heap, (-rank, doc_id, text))
        characters += len(text)
        while (max_documents is not None and len(heap) > max_documents) or (
            max_characters is not None and characters > max_characters
        ):
            negative_rank, _, evicted = heapq.heappop(heap)
            characters -= len(evicted)
            cutoff = -negative_rank
    return [text for _, _, text in sorted(heap, reverse=True)]


def build_tokenizer() -> Tokenizer:
    """An untrained GPT-2 style byte-level BPE: every byte is a symbol, so nothing is unknown."""
    tokenizer = Tokenizer(models.BPE())
    # add_prefix_space=False as GPT-2: " the" and "the" stay different tokens, and decoding
    # gives back exactly the text that was encoded.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    # Only fixes character offsets (trim_offsets=False keeps them exact); adds no tokens.
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def write_transformers_files(out_dir: Path, special_tokens: Sequence[str]) -> None:
    """tokenizer_config.json and special_tokens_map.json for PreTrainedTokenizerFast."""
    tokens_map = {"eos_token": special_tokens[0]}
    if len(special_tokens) > 1:
        tokens_map["pad_token"] = special_tokens[1]
    if len(special_tokens) > 2:
        tokens_map["additional_special_tokens"] = list(special_tokens[2:])
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **tokens_map,
        # transformers' default True would rewrite " ." as "." on decode: byte-level BPE
        # decodes exactly, so leave the text alone.
        "clean_up_tokenization_spaces": False,
    }
    (out_dir / TOKENIZER_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    (out_dir / SPECIAL_TOKENS_MAP_FILE).write_text(json.dumps(tokens_map, indent=2) + "\n")


def train_tokenizer(
    paths: str | Sequence[str],
    out_dir: str | Path,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS,
    max_documents: int | None = None,
    max_characters: int | None = DEFAULT_MAX_CHARACTERS,
    min_frequency: int = DEFAULT_MIN_FREQUENCY,
) -> Path:
    """Train on a deterministic sample of the curated Parquet `paths` (glob, path or list) and
    write the tokenizer folder `out_dir`. Returns the path of tokenizer.json."""
    if not special_tokens:
        raise ValueError("special_tokens needs at least the EOS token")
    # The 256 byte symbols and the special tokens are part of the vocabulary.
    if vocab_size < 256 + len(special_tokens):
        raise ValueError(f"vocab_size {vocab_size} is smaller than 256 bytes + special tokens")
    files = match_files(paths)
    check_complete(files, exists)  # never a stopped run's half-written output
    texts = sample_documents(files, max_documents, max_characters)
    if not texts:
        raise ValueError(
            f"no documents sampled from {paths}: none non-empty, or the first-ranked one is longer than max_characters"
        )

    tokenizer = build_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=sys.stderr.isatty(),  # tokenizers' own bar, on a terminal
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer_path = out / TOKENIZER_FILE
    tokenizer.save(str(tokenizer_path))
    write_transformers_files(out, special_tokens)

    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(
        f"trained a {tokenizer.get_vocab_size():,}-token BPE on {len(texts):,} documents "
        f"({megabytes:,.1f} MB) -> {tokenizer_path}"
    )
    return tokenizer_path


def add_arguments(parser) -> None:
    """`thresher tokenizer train`'s options."""
    parser.add_argument(
        "--input", required=True, action="extend", nargs="+", metavar="PATH", help="curated Parquet files or globs"
    )
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument(
        "--vocab-size",
        type=int,
        default=DEFAULT_VOCAB_SIZE,
        help="including the 256 bytes and special tokens (default: %(default)s, Llama's)",
    )
    parser.add_argument(
        "--special-tokens",
        nargs="+",
        default=list(DEFAULT_SPECIAL_TOKENS),
        help="first is EOS, second padding (default: %(default)s)",
    )
    parser.add_argument(
        "--max-documents", type=int, default=None, help="sample at most this many documents (default: no limit)"
    )
    parser.add_argument(
        "--max-characters",
        type=int,
        default=DEFAULT_MAX_CHARACTERS,
        help="sample at most this many characters (default: %(default)s, nanochat's)",
    )
    parser.add_argument(
        "--min-frequency",
        type=int,
        default=DEFAULT_MIN_FREQUENCY,
        help="minimum count of a pair to merge it (default: %(default)s)",
    )


def run(args) -> int:
    train_tokenizer(
        args.input,
        args.output,
        vocab_size=args.vocab_size,
        special_tokens=args.special_tokens,
        max_documents=args.max_documents,
        max_characters=args.max_characters,
        min_frequency=args.min_frequency,
    )
    return 0
