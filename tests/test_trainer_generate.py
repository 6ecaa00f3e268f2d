"""trainer/generate.py: greedy and sampled generation, reproducible with a seed, top-k and top-p exact."""

from __future__ import annotations

import math

import pytest
import torch
from test_trainer import pipeline_run

from thresher.cli import build_parser
from thresher.tokenizer.encode import DocumentEncoder
from thresher.trainer import generate as gen
from thresher.trainer.model import ModelConfig, Transformer

from conftest import run_cli

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=64, seq_len=16, n_layer=2, n_head=2, d_model=32, d_mlp=64)).eval()


PROMPT = torch.tensor([[3, 14, 15, 9]])


def test_top_p_keeps_the_smallest_set_that_reaches_p_and_renormalises():
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])  # ranked: 0.5, 0.3, 0.15, 0.05
    logits = probs.log()
    for top_p, kept in [
        (0.4, [1]),
        (0.5, [1]),
        (0.75, [1, 3]),
        (0.85, [1, 3, 2]),
        (0.97, [0, 1, 2, 3]),
        (1.0, [0, 1, 2, 3]),
    ]:
        filtered = gen.filter_logits(logits, top_p=top_p).softmax(-1)
        expected = torch.zeros(4)
        expected[kept] = probs[kept] / probs[kept].sum()
        assert torch.allclose(filtered, expected, atol=1e-6), top_p


def test_top_k_keeps_the_k_most_likely_and_top_p_applies_after_it():
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0, 0.0]])
    assert torch.isfinite(gen.filter_logits(logits, top_k=2)).tolist() == [[False, True, True, False, False]]
    # top-k 3 leaves p = softmax(4, 3, 2) = 0.665, 0.245, 0.090; top-p 0.8 then drops the last.
    assert torch.isfinite(gen.filter_logits(logits, top_k=3, top_p=0.8)).tolist() == [[False, True, True, False, False]]


def test_greedy_is_deterministic_and_follows_the_argmax(tiny):
    a = gen.generate(tiny, PROMPT, 10, greedy=True)
    assert torch.equal(a, gen.generate(tiny, PROMPT, 10, greedy=True))
    assert a.shape == (1, 14) and torch.equal(a[:, :4], PROMPT)
    logits, _ = tiny(a[:, :-1])
    assert torch.equal(logits[0, 3:].argmax(-1), a[0, 4:])  # each new token is the argmax after its prefix


def test_top_k_1_samples_the_greedy_sequence(tiny):
    greedy = gen.generate(tiny, PROMPT, 10, greedy=True)
    for seed in range(3):
        sampled = gen.generate(
            tiny, PROMPT, 10, temperature=1.5, top_k=1, generator=torch.Generator().manual_seed(seed)
        )
        assert torch.equal(sampled, greedy)


def test_a_seed_reproduces_a_sample_and_another_seed_differs(tiny):
    def draw(seed, **kw):
        return gen.generate(tiny, PROMPT, 12, generator=torch.Generator().manual_seed(seed), **kw)

    assert torch.equal(draw(1), draw(1))
    assert torch.equal(draw(1, top_p=0.9, temperature=0.8), draw(1, top_p=0.9, temperature=0.8))
    assert not torch.equal(draw(1), draw(2))


def test_sampling_follows_the_model_distribution(tiny):
    # 2000 one-token samples: the frequency of each token matches softmax(logits / T) to 4 sigma.
    logits = tiny(PROMPT)[0][0, -1]
    probs = (logits / 0.7).softmax(-1)
    g = torch.Generator().manual_seed(0)
    draws = torch.cat([gen.next_token(logits[None], False, 0.7, None, None, g) for _ in range(2000)]).flatten()
    freq = torch.bincount(draws, minlength=64).float() / 2000
    assert torch.all((freq - probs).abs() <= 4 * (probs * (1 - probs) / 2000).sqrt() + 1e-3)


def test_generation_stops_at_eos(tiny):
    first = gen.generate(tiny, PROMPT, 1, greedy=True)[0, -1].item()  # make the first greedy token "EOS"
    out = gen.generate(tiny, PROMPT, 10, greedy=True, eos_id=first)
    assert out.shape == (1, 5) and out[0, -1].item() == first


def test_the_cli_finds_the_tokenizer_through_the_checkpoint(tmp_path_factory, capsys):
    run = pipeline_run(tmp_path_factory)
    capsys.readouterr()  # what building the run printed
    argv = ["--checkpoint", str(run["run"]), "--prompt", "ROMEO:", "--max-new-tokens", "20", "--device", "cpu"]
    assert run_cli("generate", argv + ["--greedy"]) == 0
    greedy = capsys.readouterr().out
    assert greedy.startswith("ROMEO:") and len(greedy) > len("ROMEO:\n")
    assert run_cli("generate", argv + ["--greedy", "--tokenizer", str(run["tokenizer"])]) == 0
    assert capsys.readouterr().out == greedy
    assert run_cli("generate", argv + ["--top-k", "1", "--seed", "3"]) == 0
    assert capsys.readouterr().out == greedy
    sampled = []
    for seed in (7, 7, 8):
        assert run_cli("generate", argv + ["--temperature", "1.2", "--top-p", "0.95", "--seed", str(seed)]) == 0
        sampled.append(capsys.readouterr().out)
    assert sampled[0] == sampled[1] != sampled[2]

    # What the CLI printed is the model's greedy continuation, decoded.
    model, _ = gen.load_model(run["run"])
    encoder = DocumentEncoder.load(run["tokenizer"])
    prompt = [encoder.eos_id] + encoder.tokenizer.encode("ROMEO:").ids
    out = gen.generate(model, torch.tensor([prompt]), 20, greedy=True, eos_id=encoder.eos_id)
    assert (
        greedy == "ROMEO:" + encoder.tokenizer.decode(out[0, len(prompt) :].tolist(), skip_special_tokens=False) + "\n"
    )


def test_the_cli_refuses_contradictory_options(tmp_path):
    for bad in (["--greedy", "--top-k", "5"], ["--temperature", "0"], ["--top-p", "1.5"]):
        with pytest.raises(SystemExit):
            run_cli("generate", ["--checkpoint", str(tmp_path)] + bad)
    args = build_parser("generate").parse_args(["generate", "--checkpoint", str(tmp_path)])
    assert math.isclose(args.temperature, 1.0) and args.check(args) is None
