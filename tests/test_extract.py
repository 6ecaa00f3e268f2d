"""The `cascade` and `cascade_region` extractors: main text of real pages, no exception on broken HTML, recipe wiring."""

import gzip
import json

import pytest
from conftest import need_data
from thresher.filters.extract import Extractor, decode_html

from thresher.recipe import parse_recipe

# trafilatura-eval pages that resiliparse alone gets wrong (a must-not snippet in its output:
# a booking hotline, a sidebar "Lexikon", a comment form) and that the cascade's line rules
# handle without falling back to trafilatura.
PAGES = ["travanto.de.ferienhaus-feinen.html", "nalas-loewenseiten.info.m.html", "nextkabinett.wordpress.com.garden.html"]


def normalise(text: str) -> str:
    return " ".join(text.split())


def eval_page(file: str) -> tuple[str, dict]:
    root = need_data("trafilatura-eval")
    entry = next(e for e in json.loads((root / "evaldata.json").read_text()).values() if e["file"] == file)
    return decode_html(gzip.decompress((root / "eval" / f"{file}.gz").read_bytes())), entry


@pytest.mark.parametrize("file", PAGES)
def test_cascade_keeps_main_text_and_drops_boilerplate_resiliparse_keeps(file):
    html, entry = eval_page(file)
    text = normalise(Extractor("cascade")(html))
    assert all(normalise(s) in text for s in entry["with"])
    assert not any(normalise(s) in text for s in entry["without"])
    plain = normalise(Extractor("resiliparse")(html))
    assert any(normalise(s) in plain for s in entry["without"])
    # The rules decided, not the trafilatura fallback.
    assert Extractor._resiliparse_with_line_rules(html) is not None


# trafilatura-eval pages (dev split) where the cascade keeps a must-not snippet (a byline, a
# "Themen:" tag line, a comment prompt) and cascade_region's block skipping and densest prose
# region drop it without falling back to trafilatura.
REGION_PAGES = ["dbjr.de.bundespraesident.html", "piratenpartei.at.grundeinkommen.html", "ejwue.de.lieferketten.html"]


@pytest.mark.parametrize("file", REGION_PAGES)
def test_cascade_region_keeps_main_text_and_drops_boilerplate_cascade_keeps(file):
    html, entry = eval_page(file)
    text = normalise(Extractor("cascade_region")(html))
    assert all(normalise(s) in text for s in entry["with"])
    assert not any(normalise(s) in text for s in entry["without"])
    cascade = normalise(Extractor("cascade")(html))
    assert any(normalise(s) in cascade for s in entry["without"])
    # The region decided, not the trafilatura fallback.
    assert Extractor._resiliparse_with_line_rules(html, skip_boilerplate_blocks=True, densest_region=True) is not None


def test_densest_prose_region_drops_short_lines_around_the_article_and_keeps_its_title():
    prose = "This sentence is long enough to count as prose in the region, with twelve words or more."
    kept = [(False, "Home"), (False, "Login"), (True, "Title"), (False, prose), (False, "Image: credit"),
            (False, prose), (False, "Share"), (False, "Tags: a b")]
    assert Extractor._densest_prose_region(kept) == (2, 6)


@pytest.mark.parametrize("method", ["cascade", "cascade_region"])
@pytest.mark.parametrize("html", [
    "",
    "\x00\x01\x02\ufffd\x7f" * 200,
    "<div>" * 20_000 + "deep text" + "</div>" * 20_000,
    "<html><body><p>unclosed <b><i>tags <table><tr><td>cell",
    "<script>var x = '</p>';</script><style>p{}</style>",
    "<p>" + "<a href='/x'>link</a> " * 500 + "</p>",
])
def test_cascade_methods_never_raise_on_broken_html(method, html):
    assert isinstance(Extractor(method)(html), str)


@pytest.mark.parametrize("method", ["cascade", "cascade_region"])
def test_recipe_accepts_cascade_methods_and_rejects_unknown_ones(method):
    stage = parse_recipe({"stages": [{"name": "extract", "kind": "extract", "method": method}]}).stages[0]
    assert stage.build().method == method
    bad = parse_recipe({"stages": [{"name": "extract", "kind": "extract", "method": "cascades"}]}).stages[0]
    with pytest.raises(ValueError, match="unknown extractor"):
        bad.build()
