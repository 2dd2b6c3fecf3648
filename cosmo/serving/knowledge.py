"""What the serving side says about a query or a product, in one shape whatever its source: the
feature store (the graph's knowledge), the cache's frequent layer (the same, pre-loaded) or its daily
batch (COSMO-LM's answers to yesterday's misses). The API returns it and the cache stores it.
"""

from __future__ import annotations

import json
from typing import Any

from cosmo.serving.feature_sets import DS

# Feature columns that hold JSON.
_JSON_FEATURES = ("intents", "product_types", "critic_models", "children")


def from_features(row: dict[str, Any]) -> dict[str, Any]:
    """A feature-store record (query_intent or product_intent) as served knowledge."""
    parsed = {k: (json.loads(v) if k in _JSON_FEATURES and isinstance(v, str) else v) for k, v in row.items()}
    return {
        "ds": parsed.get(DS),
        "source": "graph",
        "intents": parsed.get("intents") or [],
        "strong_intent": bool(parsed.get("strong_intent")),
        "intent_cluster": parsed.get("intent_cluster"),
        "intent_cluster_name": parsed.get("intent_cluster_name"),
        "product_types": parsed.get("product_types") or [],
        **({"title": parsed["title"], "product_type": parsed.get("product_type"), "domain": parsed.get("domain")}
           if "title" in parsed else {}),
    }


def from_generation(ds: str, relation_tails: dict[str, list[str]], model: str, *,
                    intention_ids: dict[str, str]) -> dict[str, Any]:
    """COSMO-LM's tails (per relation, best first) as served knowledge: no critic has scored them, so
    they carry no typicality and never make a strong intent."""
    intents = [{"relation": relation, "intention_id": intention_ids.get(tail), "intention": tail,
                "typicality": None, "plausibility": None, "evidence": 0}
               for relation, tails in relation_tails.items() for tail in tails]
    return {"ds": ds, "source": f"cosmo-lm:{model}", "intents": intents, "strong_intent": False,
            "intent_cluster": None, "intent_cluster_name": None, "product_types": []}


def unknown(ds: str, reason: str) -> dict[str, Any]:
    """An answer for what nothing knows (e.g. a product id outside the catalogue): cached so the request
    stops waiting, and says why."""
    return {"ds": ds, "source": "none", "reason": reason, "intents": [], "strong_intent": False,
            "intent_cluster": None, "intent_cluster_name": None, "product_types": []}
