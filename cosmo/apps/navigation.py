"""Multi-turn navigation measured (paper 4.3): the walk the knowledge API offers (query -> intentions ->
product types -> attribute refinements) taken for each broad query of a day, against what the shoppers
who searched that query went on to buy in the same session.

A broad query is one that names no product type of the catalogue ("camping", not "mummy sleeping
bag"): those are the searches navigation is for. For each, the walk takes the query's top intention;
the product types offered at the second turn are compared with the types bought in sessions that
searched the query (precision of the offered types, recall of the bought ones), beside offering the
day's most bought types to everyone. The figures need only behaviour logs, so they hold for a shop's
own data as well as the generated one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from cosmo.apps.knowledge import Knowledge
from cosmo.apps.report import Section, figure_png, pyplot
from cosmo.catalog import query_key

OFFERED_TYPES = 5


@dataclass(frozen=True)
class Walk:
    query: str
    searches: int
    intention: str | None
    product_types: tuple[str, ...]
    refinements: tuple[str, ...]  # of the first offered type
    bought_types: tuple[str, ...]  # most bought first


@dataclass
class NavigationResult:
    walks: list[Walk] = field(default_factory=list)
    popular_types: tuple[str, ...] = ()

    def figures(self) -> dict[str, float]:
        """Search-weighted shares of broad queries reaching each turn, and the offered types' quality."""
        total = sum(w.searches for w in self.walks)
        if not total:
            return {"broad_queries": 0}

        def share(reached) -> float:
            return sum(w.searches for w in self.walks if reached(w)) / total

        judged = [w for w in self.walks if w.bought_types]
        return {
            "broad_queries": len(self.walks),
            "searches": total,
            "with_intention": share(lambda w: w.intention is not None),
            "with_product_types": share(lambda w: bool(w.product_types)),
            "with_refinements": share(lambda w: bool(w.refinements)),
            "type_precision": _mean([_precision(w.product_types, w.bought_types) for w in judged if w.product_types]),
            "type_recall": _mean([_recall(w.product_types, w.bought_types) for w in judged if w.product_types]),
            "popular_precision": _mean([_precision(self.popular_types, w.bought_types) for w in judged
                                        if w.product_types]),
            "popular_recall": _mean([_recall(self.popular_types, w.bought_types) for w in judged if w.product_types]),
        }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _precision(offered, bought) -> float:
    return len(set(offered) & set(bought)) / len(offered) if offered else 0.0


def _recall(offered, bought) -> float:
    top = bought[:OFFERED_TYPES]
    return len(set(offered) & set(top)) / len(top) if top else 0.0


def _type_names(products: pa.Table) -> dict[str, str]:
    return {p: t for p, t in zip(products.column("product_id").to_pylist(),
                                 products.column("product_type").to_pylist(), strict=True) if t}


def broad_queries(events: pa.Table, product_types: set[str]) -> Counter:
    """query key -> searches, for the day's searches that name no product type."""
    searches = events.filter(pc.equal(events.column("event_type"), "search"))
    counts: Counter = Counter()
    for text in searches.column("query").to_pylist():
        if text:
            counts[query_key(text)] += 1
    return Counter({q: n for q, n in counts.items()
                    if not any(t == q or q.endswith(f" {t}") or f" {t} " in f" {q} " for t in product_types)})


def bought_after(events: pa.Table, type_of: dict[str, str], queries: set[str]) -> dict[str, Counter]:
    """query key -> product types purchased in the sessions that searched it."""
    searched: dict[str, set[str]] = defaultdict(set)
    bought: dict[str, Counter] = defaultdict(Counter)
    columns = events.select(["session_id", "event_type", "query", "product_id"]).to_pydict()
    for session, kind, text, product in zip(columns["session_id"], columns["event_type"], columns["query"],
                                            columns["product_id"], strict=True):
        if kind == "search" and text and query_key(text) in queries:
            searched[session].add(query_key(text))
        elif kind == "purchase" and product in type_of:
            bought[session][type_of[product]] += 1
    result: dict[str, Counter] = defaultdict(Counter)
    for session, keys in searched.items():
        for key in keys:
            result[key].update(bought.get(session, {}))
    return result


def walk_query(knowledge: Knowledge, query: str) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """The walk the API offers: the top intention, its product types, the first type's refinements."""
    intents = [i for i in knowledge.for_query(query) if i.intention_id in knowledge.intentions]
    if not intents:
        return None, (), ()
    node = knowledge.intentions[intents[0].intention_id]
    types = tuple(t for t, _ in node.product_types[:OFFERED_TYPES])
    refinements = node.refinements.get(types[0], ()) if types else ()
    return node.name, types, tuple(refinements)


def evaluate_navigation(events: pa.Table, products: pa.Table, knowledge: Knowledge) -> NavigationResult:
    type_of = _type_names(products)
    queries = broad_queries(events, set(type_of.values()))
    bought = bought_after(events, type_of, set(queries))
    everything: Counter = Counter()
    for counts in bought.values():
        everything.update(counts)
    result = NavigationResult(popular_types=tuple(t for t, _ in everything.most_common(OFFERED_TYPES)))
    for query, searches in queries.most_common():
        intention, types, refinements = walk_query(knowledge, query)
        ranked = tuple(t for t, _ in sorted(bought.get(query, Counter()).items(), key=lambda tn: (-tn[1], tn[0])))
        result.walks.append(Walk(query, searches, intention, types, refinements, ranked))
    return result


def navigation_section(result: NavigationResult, *, shown: int = 15) -> Section:
    figures = result.figures()
    rows = [{"query": w.query, "searches": w.searches, "intention": w.intention or "",
             "product types offered": ", ".join(w.product_types), "refinements": ", ".join(w.refinements),
             "bought after the query": ", ".join(w.bought_types[:OFFERED_TYPES])} for w in result.walks[:shown]]
    quality = [{"offered": "the query's intention (knowledge)", "precision": figures.get("type_precision", 0.0),
                "recall of bought types": figures.get("type_recall", 0.0)},
               {"offered": "the day's most bought types", "precision": figures.get("popular_precision", 0.0),
                "recall of bought types": figures.get("popular_recall", 0.0)}]
    reach = [{"turn": turn, "share of broad searches": figures.get(key, 0.0)} for turn, key in
             (("intentions", "with_intention"), ("product types", "with_product_types"),
              ("refinements", "with_refinements"))]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar([r["turn"] for r in reach], [r["share of broad searches"] for r in reach], color="#4C72B0")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of broad searches")
    ax.set_title("Navigation: how far the walk goes")
    return Section("navigation", "Multi-turn navigation (paper 4.3)",
                   "The walk the knowledge API offers for each broad query of the day (one naming no product "
                   "type): its top intention, that intention's product types and the first type's refinements; "
                   f"the offered types (up to {OFFERED_TYPES}) are compared with what shoppers who searched the "
                   "query bought in the same session, beside offering the day's most bought types.",
                   tables={"reach": reach, "offered_types": quality, "walks": rows},
                   figures={"navigation.png": figure_png(fig)}, summary=figures)
