"""The recipe model: types, ranges and unknown keys are refused when the recipe loads, with the
file, the stage and the key named; every built-in recipe loads."""

import pytest

from thresher.contracts.recipe import RecipeError
from thresher.filters.registry import builtin_recipes, load_recipe, parse_recipe


def _recipe(path, stage_options: dict, **top) -> str:
    import yaml

    stages = [
        {"name": "extract", "kind": "extract"},
        {"name": "gopher_quality", "kind": "gopher_quality", **stage_options},
    ]
    path.write_text(yaml.safe_dump({"name": "mine", **top, "stages": stages}))
    return str(path)


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"min_doc_words": "50"},
            "stage 'gopher_quality' (gopher_quality): min_doc_words: Input should be a valid integer (got '50')",
        ),
        ({"min_doc_words": -1}, "min_doc_words: Input should be greater than or equal to 0 (got -1)"),
        ({"min_alpha_words_ratio": 1.5}, "min_alpha_words_ratio: Input should be less than or equal to 1 (got 1.5)"),
        ({"min_stop_word": 2}, "min_stop_word: Extra inputs are not permitted"),
        ({"stop_words": "the"}, "stop_words: Input should be a valid array (got 'the')"),
    ],
)
def test_a_wrong_stage_option_names_the_file_the_stage_and_the_key(tmp_path, options, message):
    path = _recipe(tmp_path / "r.yaml", options)
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


@pytest.mark.parametrize(
    "top, message",
    [
        ({"max_record_bytes": "big"}, "max_record_bytes: Input should be a valid integer (got 'big')"),
        ({"max_record_bytes": 0}, "max_record_bytes: Input should be greater than 0"),
        ({"exclusion_samples": 1.5}, "exclusion_samples: Input should be a valid integer"),
        ({"stages_extra": 1}, "stages_extra: Extra inputs are not permitted"),
    ],
)
def test_a_wrong_recipe_key_names_the_file_and_the_key(tmp_path, top, message):
    path = _recipe(tmp_path / "r.yaml", {}, **top)
    with pytest.raises(RecipeError, match="^" + str(path)) as error:
        load_recipe(path)
    assert message in str(error.value)


def test_a_stage_written_as_a_string_or_an_unknown_kind_is_refused():
    with pytest.raises(RecipeError, match="stages.0: a stage is a mapping"):
        parse_recipe({"stages": ["extract"]}, "x.yaml")
    with pytest.raises(RecipeError, match="unknown kind 'gopher'"):
        parse_recipe({"stages": [{"name": "extract", "kind": "extract"}, {"name": "g", "kind": "gopher"}]}, "x.yaml")


def test_right_values_load_with_yaml_lists_where_tuples_are_declared():
    recipe = parse_recipe(
        {
            "stages": [
                {"name": "extract", "kind": "extract"},
                {"name": "rep", "kind": "gopher_repetition", "top_n_grams": [[2, 0.25], [3, 0.2]]},
                {"name": "q", "kind": "gopher_quality", "max_avg_word_length": 12, "min_doc_words": None},
            ]
        }
    )
    assert recipe.stages[1].options == {"top_n_grams": [[2, 0.25], [3, 0.2]]}  # as written, for stats.json


def test_every_built_in_recipe_loads():
    names = builtin_recipes()
    assert len(names) > 50
    for name in names:
        load_recipe(name)
