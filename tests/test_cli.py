"""One command tree: --help on every verb, the same flag names everywhere, old names still work."""

import pytest

from thresher.cli import VERBS, build_parser, main

ACTIONS = {"tokenizer": ["train"], "classifier": ["train", "eval", "prepare-quality", "prepare-domain"]}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_help(verb, capsys):
    for argv in [[verb, "--help"]] + [[verb, action, "--help"] for action in ACTIONS.get(verb, [])]:
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0
        assert "usage: thresher " + " ".join(argv[:-1]) in capsys.readouterr().out


def test_verbs_that_read_and_write_say_input_and_output():
    parser = build_parser()
    for argv in (["curate"], ["refilter"], ["shard"], ["tokenizer", "train"], ["pretrain"], ["classifier", "train"]):
        sub = parser
        for word in argv:
            sub = next(a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction").choices[word]
        flags = {s for a in sub._actions for s in a.option_strings}
        assert {"--input", "--output"} <= flags, argv
        assert not {"--out", "--data"} & flags, argv


def test_renamed_flags_still_work_with_a_warning(tmp_path, capsys):
    with pytest.raises(SystemExit):  # parsed as --output: the missing --input is what fails
        main(["tokenizer", "train", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert "--out is now --output" in err and "--input" in err and "--out " not in err.split("\n", 1)[1]


def test_recipes_help_is_help_not_a_recipe_name(capsys):
    with pytest.raises(SystemExit) as done:
        main(["recipes", "--help"])
    assert done.value.code == 0 and "no recipe" not in capsys.readouterr().err
