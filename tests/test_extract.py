"""The `cascade` extractor: main text of real pages, each of its rules, no exception on broken HTML, recipe wiring."""

import gzip
import json

import pytest

from thresher.contracts.recipe import RecipeError
from thresher.filters.extract import MAX_ATTRIBUTES, ExtractionError, Extractor, _Line, decode_html, parse_bounded
from thresher.filters.registry import build_stage, parse_recipe

from conftest import need_data

# trafilatura-eval pages where resiliparse alone keeps a must-not snippet (a booking hotline, a
# sidebar "Lexikon", a comment form, a byline, a "Themen:" tag line, a comment prompt) and the
# cascade's own rules drop it, without falling back to trafilatura.
PAGES = [
    "travanto.de.ferienhaus-feinen.html",
    "nalas-loewenseiten.info.m.html",
    "nextkabinett.wordpress.com.garden.html",
    "dbjr.de.bundespraesident.html",
    "piratenpartei.at.grundeinkommen.html",
    "ejwue.de.lieferketten.html",
]


def normalise(text: str) -> str:
    return " ".join(text.split())


def eval_page(file: str) -> tuple[str, dict]:
    root = need_data("trafilatura-eval")
    entry = next(e for e in json.loads((root / "evaldata.json").read_text()).values() if e["file"] == file)
    return decode_html(gzip.decompress((root / "eval" / f"{file}.gz").read_bytes())).text, entry


@pytest.mark.parametrize("file", PAGES)
def test_cascade_keeps_main_text_and_drops_boilerplate_resiliparse_keeps(file):
    html, entry = eval_page(file)
    text = normalise(Extractor("cascade")(html))
    assert all(normalise(s) in text for s in entry["with"])
    assert not any(normalise(s) in text for s in entry["without"])
    plain = normalise(Extractor("resiliparse")(html))
    assert any(normalise(s) in plain for s in entry["without"])
    # The cascade decided, not the trafilatura fallback.
    assert Extractor.cascade_text(html) is not None


PROSE = (
    "The committee met on Tuesday to discuss the budget for the coming year, and its members "
    "agreed on most of the items after a long debate. "
)


def page(body: str) -> str:
    return f"<html><head><title>t</title></head><body><nav><a href='/'>Home</a> <a href='/a'>About</a></nav>{body}</body></html>"


def test_wordpress_article_classes_do_not_skip_the_article():
    # WordPress writes tag and category slugs into the <article>'s class; "social" and "share"
    # there must not skip the article, while a real share box inside it is skipped.
    html = page(
        '<article class="post hentry category-social-media tag-share"><h1>Budget talks</h1>'
        + f"<p>{PROSE}</p>" * 3
        + '<div class="share-buttons"><p>Tell your friends about this story on every network you use.</p></div></article>'
    )
    text = Extractor.cascade_text(html)
    assert text is not None and text.count("The committee met") == 3
    assert "Tell your friends" not in text


def test_figure_captions_are_left_out():
    # WordPress's caption block (resiliparse alone keeps it; a <figcaption> it drops by itself)
    html = page(
        f"<article><p>{PROSE}</p><div class='wp-caption'><img src='a.jpg'><p class='wp-caption-text'>The "
        f"committee room on Tuesday morning, before the members arrived for the debate.</p></div>"
        f"<p>{PROSE}</p></article>"
    )
    text = Extractor.cascade_text(html)
    assert text is not None and text.count("The committee met") == 2
    assert "committee room" not in text
    assert "committee room" in Extractor("resiliparse")(html)


def test_heading_over_a_dropped_link_box_goes_with_it_and_calls_to_action_are_dropped():
    links = "".join(f"<div><a href='/p{i}'>Partner organisation number {i}</a></div>" for i in range(4))
    html = page(
        f"<article><h1>Budget talks</h1><p>{PROSE}</p><p>{PROSE}</p><h2>Our partners</h2>{links}"
        f"<p>{PROSE}</p><p>Subscribe to our newsletter!</p><p>{PROSE}</p></article>"
    )
    text = Extractor.cascade_text(html)
    assert text is not None and text.count("The committee met") == 4
    assert "Budget talks" in text  # a heading with body text under it stays
    assert "Our partners" not in text and "Partner organisation" not in text
    assert "newsletter" not in text
    # Prose that mentions a newsletter, or has "log in" / "teilen" inside other words, is not a call
    # to action.
    for line in [
        "The newsletter that the committee published on Friday listed every item of the budget in detail.",
        "The catalog in the library lists every book.",
        "Wir möchten Ihnen heute Folgendes mitteilen.",
    ]:
        html = page(f"<article><p>{PROSE}</p><p>{line}</p><p>{PROSE}</p></article>")
        assert line in Extractor.cascade_text(html)


def test_a_tail_heading_ends_the_article_but_a_sentence_starting_alike_does_not():
    body = f"<p>{PROSE}</p>" * 3
    html = page(f"<article>{body}<h2>Related articles</h2><p>{PROSE.replace('committee', 'council')}</p></article>")
    text = Extractor.cascade_text(html)
    assert text.count("The committee met") == 3 and "council" not in text
    html = page(f"<article>{body}<p>Related to this, the council voted 5 to 2.</p>{body}</article>")
    assert Extractor.cascade_text(html).count("The committee met") == 6


def test_nothing_left_after_the_rules_goes_to_trafilatura():
    links = "".join(f"<p><a href='/a{i}'>Another article about the budget, part {i}</a></p>" for i in range(30))
    html = page(f"<div>{links}</div>")
    assert Extractor.cascade_text(html) is None
    assert Extractor("cascade")(html) == Extractor("trafilatura")(html)


@pytest.mark.parametrize("items, cut", [(3, True), (30, False)])
def test_a_region_cut_that_removes_much_of_the_text_is_not_trusted(items, cut):
    # Short non-prose lines after the prose (a recipe's ingredients): a small block is cut as
    # boilerplate; a block large enough to be much of the page is kept, since it may be the content.
    ingredients = "".join(f"<p>{i} grams wheat flour</p>" for i in range(100, 100 + items))
    html = page(f"<article><p>{PROSE}</p><p>{PROSE}</p>{ingredients}</article>")
    text = Extractor.cascade_text(html)
    assert text is not None and text.count("The committee met") == 2
    assert ("grams wheat flour" not in text) == cut


def test_densest_prose_region_drops_short_lines_around_the_article_and_keeps_its_title():
    prose = "This sentence is long enough to count as prose in the region, with twelve words or more."
    lines = [
        _Line(False, "Home", False),
        _Line(False, "Login", False),
        _Line(True, "Title", False),
        _Line(False, prose, True),
        _Line(False, "Image: credit", False),
        _Line(False, prose, True),
        _Line(False, "Share", False),
        _Line(False, "Tags: a b", False),
    ]
    assert Extractor._densest_prose_region(lines) == (2, 6)


def test_prose_runs_are_joined_across_short_gaps_and_small_tails_are_not():
    prose = _Line(False, "This sentence is long enough to count as prose in the region, with twelve words.", True)
    table = [_Line(False, f"Row {i} of a table", False) for i in range(6)]  # -4 x 15 chars each
    # article, a table in it, more article: one region
    lines = [prose] * 4 + table + [prose] * 3
    assert Extractor._densest_prose_region(lines) == (0, len(lines))
    # after a short non-prose line: a run under 15% of the article's score is a teaser, left out;
    # a larger one is the article going on
    label = _Line(False, "Read more about the budget and the vote", False)
    lines = [prose] * 10 + [label] + [prose]
    assert Extractor._densest_prose_region(lines) == (0, 10)
    lines = [prose] * 10 + [label] + [prose] * 2
    assert Extractor._densest_prose_region(lines) == (0, 13)
    # ... and a gap more than twice as long as the runs keeps them apart
    gap = [_Line(False, "A line that is long but not prose at all x" * 3, False)] * 10
    lines = [prose] * 3 + gap + [prose] * 3
    assert Extractor._densest_prose_region(lines) == (0, 3)


@pytest.mark.parametrize("method", Extractor.METHODS)
@pytest.mark.parametrize(
    "html",
    [
        "",
        "\x00\x01\x02\ufffd\x7f" * 200,
        "<div>" * 500 + "deep text" + "</div>" * 500,
        "<html><body><p>unclosed <b><i>tags <table><tr><td>cell",
        "<script>var x = '</p>';</script><style>p{}</style>",
        "<p>" + "<a href='/x'>link</a> " * 500 + "</p>",
    ],
)
def test_extractors_never_raise_on_broken_html(method, html):
    assert isinstance(Extractor(method)(html), str)


@pytest.mark.parametrize("method", Extractor.METHODS)
def test_pages_beyond_the_parsing_bounds_are_too_complex_for_every_method(method):
    deep = "<div>" * 20_000 + "deep text" + "</div>" * 20_000
    wide = "<div " + " ".join(f"a{i}" for i in range(MAX_ATTRIBUTES + 1)) + ">text</div>"
    for html in (deep, wide):
        with pytest.raises(ExtractionError) as exc:
            Extractor(method)(html)
        assert exc.value.reason == "too_complex"


@pytest.mark.parametrize("method", Extractor.METHODS)
def test_recipe_accepts_every_method_and_rejects_unknown_ones(method):
    stage = parse_recipe({"stages": [{"name": "extract", "kind": "extract", "method": method}]}).stages[0]
    assert build_stage(stage).method == method
    with pytest.raises(
        RecipeError, match="stage 'extract' \\(extract\\): method: Input should be 'cascade', .* \\(got 'cascades'\\)"
    ):
        parse_recipe({"stages": [{"name": "extract", "kind": "extract", "method": "cascades"}]})


@pytest.mark.parametrize(
    "before",
    [
        '<div a=\u00a0">',  # a no-break space is no HTML whitespace: no quoted value starts here
        '<p title="<!--">x</p>',  # a comment opener inside a value is no comment
        '<a href="/x<script">x</a>',
    ],
)
def test_the_attribute_bound_is_not_evaded(before):
    wide = "<div " + " ".join(f"b{i}" for i in range(MAX_ATTRIBUTES + 1)) + ">x</div>"
    with pytest.raises(ExtractionError, match="too_complex"):
        parse_bounded(before + wide)


def test_long_fake_tags_in_scripts_and_comments_are_text():
    fake = '"<a ' + "x " * (MAX_ATTRIBUTES + 10) + '"'
    for html in (
        "\u0130" * 200 + f"<script>var s = {fake};</script><p>ok</p>",  # İ lower-cases to two characters
        f"<!-- {fake} --><p>ok</p>",
        f"<style>/* {fake} */</style><p>ok</p>",
    ):
        parse_bounded(html)


def test_charsets_are_read_as_browsers_read_them():
    assert decode_html(b"<meta charset=iso-8859-1><p>\x93Hi\x94</p>").text.endswith("\u201cHi\u201d</p>")
    assert decode_html(b"<meta charset=utf-16><p>hello</p>").charset == "utf-8"
    assert decode_html("<meta charset=gb2312><p>\u9555</p>".encode("gb18030")).replaced == 0  # a GBK extension
