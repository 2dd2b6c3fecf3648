"""The similarity filter with the real embedder: a paraphrase of the query, a product or its type
scores above the threshold, an intention that adds something below it; each distinct text is
embedded once."""

from __future__ import annotations

import pytest

from cosmo.config import FilterSettings, Settings
from cosmo.models import embedding_model_path
from cosmo.refinement.similarity import SimilarityScorer

pytestmark = pytest.mark.slow  # real models

LIMIT = FilterSettings().max_similarity


@pytest.fixture(scope="module")
def scorer():
    return SimilarityScorer(str(embedding_model_path(Settings())))


@pytest.mark.parametrize(("tail", "head", "product", "types"), [
    ("birthday parties", "birthday party", "Oakpeak Assorted Birthday Party Favors", ["party favors"]),  # query
    ("winter camping", "cold weather camping", "Trailnest Backpacking 4-Person Tent", ["tent"]),        # query
    ("gift wrapping", "gift ideas", "Mapleworks Kraft Holiday Gift Wrap Deluxe", ["gift wrap"]),          # type
    ("insulated water bottles", "Terrawave Stainless 32Oz Insulated Water Bottle", "Non-Slip Yoga Mat",
     ["yoga mat", "insulated water bottle"]),                                       # co-buy: the first product
])
def test_a_paraphrase_is_above_the_threshold(scorer, tail, head, product, types):
    assert scorer.score([tail], [head], [product], [types])[0] > LIMIT


@pytest.mark.parametrize(("tail", "head", "product", "types"), [
    ("birthday parties", "camping tent", "Coleman 4 Person Dome Tent", ["tent"]),
    ("family camping trips", "camping tent", "Coleman 4 Person Dome Tent", ["tent"]),
    ("hiking trips", "hiking gear", "Ironhaven Waterproof Mid-Cut Hiking Boots", ["hiking boots"]),
    ("staying hydrated during workouts", "Terrawave Stainless 32Oz Insulated Water Bottle", "Non-Slip Yoga Mat",
     ["yoga mat", "insulated water bottle"]),
])
def test_an_intention_is_below_the_threshold(scorer, tail, head, product, types):
    assert scorer.score([tail], [head], [product], [types])[0] < LIMIT


def test_types_catch_what_a_long_title_dilutes(scorer):
    args = (["insulated water bottles"], ["hydration"], ["Terrawave Stainless 32Oz Insulated Water Bottle"])
    assert scorer.score(*args)[0] < LIMIT < scorer.score(*args, [["insulated water bottle"]])[0]


def test_distinct_texts_once_across_batches_and_missing_tails(scorer):
    before = scorer.embedded
    tails = ["kayaking", None, "kayaking", "river trips"]
    values = scorer.score(tails, ["paddles"] * 4, ["Carbon Kayak Paddle"] * 4)
    assert values[1] is None and values[0] == values[2]
    assert scorer.embedded - before == 4  # kayaking, river trips, paddles, Carbon Kayak Paddle
    assert all(-1 <= v <= 1 for v in values if v is not None)
    again = scorer.score(["kayaking", "lake trips"], ["paddles"] * 2, ["Carbon Kayak Paddle"] * 2)
    assert again[0] == pytest.approx(values[0]) and scorer.embedded - before == 5  # a later batch: only the new tail
    assert scorer.score([None], ["q"], ["p"]) == [None]
    # rows with and without types in one batch; a missing type is no reference
    mixed = scorer.score(["kayaking"] * 2, ["paddles"] * 2, ["Carbon Kayak Paddle"] * 2, [[], ["kayaking"]])
    assert mixed[0] == pytest.approx(values[0]) and mixed[1] == pytest.approx(1.0, abs=1e-5)
