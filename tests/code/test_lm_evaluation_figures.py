"""COSMO-LM's planted recall divides by what the held-out prompts can reach, the same for every
model whatever it answered (a model listing nothing for a hard prompt is not let off it)."""

from __future__ import annotations

from cosmo.config import Settings
from cosmo.lm.evaluate import reachable_from_prompts
from cosmo.shopgen.generator import Shop


def prompt(product: dict, relation: str) -> dict:
    return {"behaviour": "search_buy", "relation": relation, "head": "camping", "head_text": "camping",
            "product_id": product["product_id"], "product_text": product["title"]}


def test_reachable_triples_come_from_the_prompts_asked():
    shop = Shop(products_per_type=2, seed=7)
    tents = [r for r in shop.products.to_pylist() if r["product_type"] == "tent"]
    planted, products, settings = shop.planted_intentions(), shop.products, Settings()
    # tent is planted for winter and family camping (USED_FOR_EVE): two reachable triples
    assert reachable_from_prompts([prompt(tents[0], "USED_FOR_EVE")], planted, products, settings) == 2
    # a second tent asks the same (type, relation): nothing more to reach
    assert reachable_from_prompts([prompt(t, "USED_FOR_EVE") for t in tents], planted, products, settings) == 2
    assert reachable_from_prompts([], planted, products, settings) == 0
