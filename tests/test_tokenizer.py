"""Tokenizer training and encoding on real text (tiny-shakespeare, UDHR translations)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from thresher.contracts.schema import document_id
from thresher.tokenizer.encode import DocumentEncoder, pack_sequences, token_dtype
from thresher.tokenizer.train import sample_documents, train_tokenizer

from conftest import DATA, run_cli, write_curated

SHAKESPEARE = DATA / "tiny-shakespeare" / "input.txt"
VOCAB_SIZE = 1000  # small enough to train in a fraction of a second on 1 MB


@pytest.fixture(scope="module")
def speeches() -> list[tuple[str, str]]:
    """(id, text) for every speech of tiny-shakespeare (blank-line separated), ~7,000 documents."""
    if not SHAKESPEARE.exists():
        pytest.skip(f"test data missing: {SHAKESPEARE} (the shared/data checkout beside the repo)")
    texts = [t for t in SHAKESPEARE.read_text(encoding="utf-8").split("\n\n") if t.strip()]
    return [(document_id(None, None, None, None, f"tiny-shakespeare/input.txt#{i}"), t) for i, t in enumerate(texts)]


@pytest.fixture(scope="module")
def curated(speeches, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("curated") / "part-00000.parquet"
    return write_curated(path, [i for i, _ in speeches], [t for _, t in speeches])


@pytest.fixture(scope="module")
def trained(curated, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(str(curated), out, vocab_size=VOCAB_SIZE)
    return out


def sample_texts() -> list[str]:
    """Text the tokenizer never saw: other scripts, emoji, odd whitespace, the EOS string."""
    texts = ["First Citizen:\n  Before we proceed any further, hear me speak.\t\n", " leading space", ""]
    for lang in ("rus", "cmn_hans", "arb", "hin"):
        path = DATA / "udhr-multilingual" / f"{lang}.txt"
        if path.exists():
            texts.append(path.read_text(encoding="utf-8")[:300])
    texts.append("emoji 🎉🧵 and a special token <|endoftext|> in text")
    return texts


def test_train_writes_tokenizer_folder(trained):
    assert {p.name for p in trained.iterdir()} == {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
    tokenizer = Tokenizer.from_file(str(trained / "tokenizer.json"))
    assert tokenizer.get_vocab_size() == VOCAB_SIZE
    # Special tokens first, in the order given: EOS is id 0, padding id 1.
    assert tokenizer.token_to_id("<|endoftext|>") == 0
    assert tokenizer.token_to_id("<|pad|>") == 1
    config = json.loads((trained / "tokenizer_config.json").read_text())
    assert config["eos_token"] == "<|endoftext|>" and config["pad_token"] == "<|pad|>"


def test_byte_level_round_trip_on_unseen_scripts(trained):
    tokenizer = Tokenizer.from_file(str(trained / "tokenizer.json"))
    for text in sample_texts():
        assert tokenizer.decode(tokenizer.encode(text).ids, skip_special_tokens=False) == text


def test_transformers_loads_and_encodes_like_tokenizers(trained):
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast.from_pretrained(str(trained))
    tokenizer = Tokenizer.from_file(str(trained / "tokenizer.json"))
    assert (fast.eos_token, fast.eos_token_id) == ("<|endoftext|>", 0)
    assert (fast.pad_token, fast.pad_token_id) == ("<|pad|>", 1)
    assert len(fast) == VOCAB_SIZE
    for text in sample_texts():
        ids = fast(text, add_special_tokens=False)["input_ids"]
        assert ids == tokenizer.encode(text).ids
        assert fast.decode(ids) == text


def test_custom_special_tokens_and_vocab_size(curated, tmp_path):
    special = ["<|eot|>", "<|padding|>", "<|fim|>"]
    train_tokenizer(str(curated), tmp_path, vocab_size=600, special_tokens=special)
    tokenizer = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert tokenizer.get_vocab_size() == 600
    assert [tokenizer.token_to_id(t) for t in special] == [0, 1, 2]
    tokens_map = json.loads((tmp_path / "special_tokens_map.json").read_text())
    assert tokens_map == {"eos_token": "<|eot|>", "pad_token": "<|padding|>", "additional_special_tokens": ["<|fim|>"]}
    assert DocumentEncoder.load(tmp_path).eos_id == 0


def test_sample_is_the_same_whatever_files_and_order(speeches, curated, tmp_path):
    """The sample depends on the documents only, not on how they are split into files."""
    shuffled = speeches[:]
    random.Random(0).shuffle(shuffled)
    parts = [
        write_curated(tmp_path / f"part-{k}.parquet", [i for i, _ in shuffled[k::3]], [t for _, t in shuffled[k::3]])
        for k in range(3)
    ]
    one_file = sample_documents([str(curated)], max_documents=2000, max_characters=None)
    three_files = sample_documents([str(p) for p in reversed(parts)], max_documents=2000, max_characters=None)
    assert len(one_file) == 2000 and one_file == three_files
    # The character cap keeps the longest prefix of the same ranking that fits.
    capped = sample_documents([str(p) for p in parts], max_documents=None, max_characters=100_000)
    everything = sample_documents([str(curated)], max_documents=None, max_characters=None)
    assert capped == everything[: len(capped)]
    assert sum(map(len, capped)) <= 100_000 < sum(map(len, everything[: len(capped) + 1]))
    # Same sample, same tokenizer, byte for byte.
    train_tokenizer(str(curated), tmp_path / "a", vocab_size=VOCAB_SIZE, max_documents=2000)
    train_tokenizer(str(tmp_path / "part-*.parquet"), tmp_path / "b", vocab_size=VOCAB_SIZE, max_documents=2000)
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()


def test_main_trains_and_says_what_it_wrote(curated, tmp_path, capsys):
    assert (
        run_cli(
            "tokenizer train",
            ["--input", str(curated), "--output", str(tmp_path), "--vocab-size", "512", "--max-documents", "500"],
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "trained a 512-token BPE on 500 documents" in out
    assert str(tmp_path / "tokenizer.json") in out


def test_encoder_appends_eos_and_matches_tokenizers(trained, speeches):
    encoder = DocumentEncoder.load(trained)
    assert encoder.sha256 == hashlib.sha256((trained / "tokenizer.json").read_bytes()).hexdigest()
    assert DocumentEncoder.load(trained / "tokenizer.json").sha256 == encoder.sha256
    assert encoder.dtype == np.uint16 and encoder.vocab_size == VOCAB_SIZE
    tokenizer = Tokenizer.from_file(str(trained / "tokenizer.json"))
    texts = [t for _, t in speeches[:200]] + sample_texts()
    for text, tokens in zip(texts, encoder.encode(texts), strict=True):
        assert tokens.dtype == np.uint16
        assert tokens.tolist() == tokenizer.encode(text).ids + [encoder.eos_id]


def test_pack_sequences_cuts_rows_and_counts_the_tail():
    token_lists = [np.arange(n, dtype=np.uint16) for n in (5, 1, 7, 3)]  # 16 tokens
    stream = np.concatenate(token_lists)
    rows, dropped = pack_sequences(token_lists, row_length=5)
    assert rows.shape == (3, 5) and dropped == 1
    assert rows.dtype == np.uint16
    np.testing.assert_array_equal(rows.reshape(-1), stream[:15])
    rows, dropped = pack_sequences(token_lists, row_length=4)
    assert rows.shape == (4, 4) and dropped == 0
    rows, dropped = pack_sequences(token_lists, row_length=17)
    assert rows.shape == (0, 17) and dropped == 16
    with pytest.raises(ValueError):
        pack_sequences(token_lists, row_length=1)


def test_token_dtype_is_uint16_up_to_65536_ids():
    assert token_dtype(32_000) == np.uint16 and token_dtype(65_536) == np.uint16
    assert token_dtype(65_537) == np.uint32
