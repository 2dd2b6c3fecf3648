"""Session-based recommendation: sessions and cases from the behaviour log and public datasets, the three
recommenders on hand-made sessions with known answers, and the knowledge input of SR-GNN."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest

from cosmo.apps.knowledge import Intent, Knowledge
from cosmo.apps.metrics import ranking_metrics
from cosmo.apps.recommendation import (
    SRGNN,
    Cases,
    GlobalGraph,
    ItemKNNRecommender,
    PopularityRecommender,
    RecommendationParams,
    Sessions,
    Split,
    evaluate_generated,
    evaluate_real,
    recommendation_section,
    sessions_from_events,
    sessions_from_table,
    split_sessions,
)
from cosmo.catalog import BEHAVIOUR_EVENTS
from cosmo.errors import DataError
from cosmo.loaders.diginetica import load_item_views

START = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def _events(rows: list[tuple]) -> pa.Table:
    """(session, seconds after START, event type, query, product) rows as a behaviour_events table."""
    return pa.table({
        "session_id": [r[0] for r in rows],
        "user_id": [None] * len(rows),
        "ts": pa.array([START + dt.timedelta(seconds=r[1]) for r in rows], pa.timestamp("ms", tz="UTC")),
        "event_type": [r[2] for r in rows],
        "query": pa.array([r[3] for r in rows], pa.string()),
        "product_id": pa.array([r[4] for r in rows], pa.string()),
    }, schema=BEHAVIOUR_EVENTS.schema)


def _sessions(sequences: dict[str, list[str]], queries: dict[str, list[str]] | None = None) -> Sessions:
    queries = queries or {}
    return Sessions(list(sequences), list(sequences.values()), [queries.get(s, []) for s in sequences])


def test_sessions_from_events_orders_collapses_keeps_queries_and_drops_short_sessions():
    events = _events([  # out of time order on purpose
        ("s1", 5, "purchase", "tent", "C"),
        ("s1", 0, "search", "tent", None),
        ("s3", 2, "view", None, "E"),
        ("s1", 2, "view", None, "A"),
        ("s1", 1, "view", None, "A"),
        ("s2", 0, "view", None, "D"),
        ("s1", 3, "click", "tent", "B"),
        ("s1", 4, "search", "camping stove", None),
        ("s3", 0, "view", None, "E"),
        ("s3", 1, "add_to_cart", None, "F"),
        ("s2", 1, "search", "lamp", None),
        ("s1", 6, "search", "sleeping bag", None),  # after the last item: not known at its time
    ])
    sessions = sessions_from_events(events)
    assert sessions.session_ids == ["s1", "s3"]  # s2 has one item
    assert sessions.items == [["A", "B", "C"], ["E", "F", "E"]]  # A twice in a row is one step; E-F-E is not
    assert sessions.queries == [["tent", "camping stove"], []]


def test_sessions_from_events_names_a_missing_column():
    with pytest.raises(DataError) as error:
        sessions_from_events(_events([("s1", 0, "view", None, "A")]).drop_columns(["event_type"]))
    assert error.value.field == "event_type"


def test_split_makes_every_prefix_a_training_case_and_the_last_item_the_test_target():
    sessions = _sessions({"t1": ["a", "b", "c"], "t2": ["b", "c"], "x1": ["a", "z", "b"], "x2": ["c", "y"]})
    split = split_sessions(sessions, test_ids={"x1", "x2"})
    a, b, c = (split.items.index(item) for item in "abc")
    assert [list(p) for p in split.train.prefixes] == [[a], [a, b], [b]]
    assert list(split.train.targets) == [b, c, c]
    # Unseen z is dropped from the prefix; unseen target y stays, as a miss (-1).
    assert [list(p) for p in split.test.prefixes] == [[a], [c]]
    assert list(split.test.targets) == [b, -1]
    assert split.counts["unseen_targets"] == 1 and split.counts["test_cases"] == 2


def test_hashed_split_is_deterministic_and_seeded():
    sessions = _sessions({f"s{i}": ["a", "b", str(i % 7)] for i in range(400)})
    first = split_sessions(sessions, test_share=0.25, seed=0)
    again = split_sessions(sessions, test_share=0.25, seed=0)
    other = split_sessions(sessions, test_share=0.25, seed=1)
    assert first.counts == again.counts
    assert 60 <= first.counts["test_sessions"] <= 140
    assert [list(p) for p in first.test.prefixes] == [list(p) for p in again.test.prefixes]
    assert first.counts["test_sessions"] != other.counts["test_sessions"] or \
        list(first.test.targets) != list(other.test.targets)
    capped = split_sessions(sessions, test_share=0.25, max_sessions=100)
    assert capped.counts["sessions"] == 100


def _toy_split() -> Split:
    sessions = _sessions({"t1": ["a", "b"], "t2": ["a", "b"], "t3": ["a", "c"], "t4": ["d", "e"],
                          "x1": ["a", "b"], "x2": ["d", "e"], "x3": ["c", "d", "e"]})
    return split_sessions(sessions, test_ids={"x1", "x2", "x3"})


def test_popularity_recommends_the_most_frequent_training_items():
    split = _toy_split()
    ranked = PopularityRecommender().fit(split).recommend(split.test, k=3)
    names = [[split.items[i] for i in row] for row in ranked]
    assert names == [["a", "b", "c"]] * 3  # a 3 times, b 2, then c, d, e once each (first seen first)


def test_item_knn_scores_by_cosine_co_occurrence_with_the_latest_item_weighing_most():
    split = _toy_split()
    ranked = ItemKNNRecommender().fit(split).recommend(split.test, k=3)
    names = [[split.items[i] for i in row] for row in ranked]
    # After a: b shares 2 of a's 3 sessions (cos 2/sqrt(6)) beats c (1/sqrt(3)); then popularity.
    assert names[0][:2] == ["b", "c"]
    assert names[1][0] == "e"
    # After c, d: d's neighbour e (weight 1, cos 1) beats c's neighbour a (weight 1/2, cos 1/sqrt(3)).
    assert names[2][:2] == ["e", "a"]


def test_metrics_plumbing_on_known_ranks():
    popularity = np.arange(12, 0, -1)  # item 0 most popular ... item 11 least
    test = Cases([np.array([0])] * 4, np.array([0, 1, 10, 11]), [np.zeros(0, dtype=np.int64)] * 4)
    split = Split([f"i{j}" for j in range(12)], [], [], Cases([], np.zeros(0, dtype=np.int64), []), test,
                  popularity)
    metrics = ranking_metrics(PopularityRecommender().fit(split).recommend(test, k=10), test.targets, k=10)
    assert metrics["hits@10"] == 0.5  # ranks 1 and 2 found, ranks 11 and 12 beyond the cut-off
    assert metrics["mrr@10"] == pytest.approx((1 + 1 / 2) / 4)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 4)


FAST = RecommendationParams(epochs=12, hidden=32, batch_size=32, lr=1e-2, weight_decay=0.0)


@pytest.mark.parametrize(("scale", "window", "dropout"), [(12.0, 2, 0.3), (12.0, 2, 0.0), (12.0, None, 0.3),
                                                          (None, None, 0.0)],
                         ids=["niser-global", "niser-global-no-dropout", "niser", "dot-product"])
def test_srgnn_learns_a_deterministic_sequence_and_is_reproducible(scale, window, dropout):
    chains = [[f"p{p}i{j}" for j in range(4)] for p in range(5)]  # a -> b -> c, always followed by d
    sequences = {f"t{p}-{r}": chain for p, chain in enumerate(chains) for r in range(12)}
    sequences |= {f"x{p}": chain for p, chain in enumerate(chains)}
    split = split_sessions(_sessions(sequences), test_ids={f"x{p}" for p in range(5)})
    params = dataclasses.replace(FAST, normalised_scale=scale, global_window=window, dropout=dropout)
    model = SRGNN(params, seed=0).fit(split)
    ranked = model.recommend(split.test, k=10)
    assert np.array_equal(model.recommend(split.test, k=10), ranked)  # dropout is off when it scores
    metrics = ranking_metrics(ranked, split.test.targets, k=10)
    assert metrics["hits@10"] == 1.0
    assert metrics["mrr@10"] >= 0.9
    assert np.array_equal(SRGNN(params, seed=0).fit(split).recommend(split.test, k=10), ranked)


def test_srgnn_never_recommends_the_item_a_session_ends_on():
    # b is what follows a and a what follows b: the model learns both, yet after [.., a] a is never offered.
    sequences = {f"t{r}": ["a", "b", "a", "b", "c"] for r in range(20)} | {"x": ["a", "b", "a", "b"]}
    split = split_sessions(_sessions(sequences), test_ids={"x"})
    ranked = SRGNN(FAST, seed=0).fit(split).recommend(split.test, k=3)
    assert [split.items[j] for j in ranked[0]] == ["b", "c", "a"]  # a only where nothing else is left


def test_global_graph_weighs_neighbours_within_the_window_and_can_leave_a_session_out():
    sessions = [np.array([0, 1, 2]), np.array([0, 2]), np.array([3, 3])]  # a b c, a c; d alone
    def weights(graph, node_items, left_out=()):
        rows = graph.neighbours(np.array(node_items), left_out).toarray()
        return [dict(zip(*np.nonzero(row)[0:1], row[np.nonzero(row)], strict=True)) for row in rows]

    near = GlobalGraph(sessions, n_items=4, window=1)
    # Padded ids: a is 1. a neighbours b (a b c) and c (a c) once each; the pad and a lone item read nothing.
    assert weights(near, [[1, 0], [4, 0]]) == [{2: 0.5, 3: 0.5}, {}, {}, {}]
    far = GlobalGraph(sessions, n_items=4, window=2)
    assert weights(far, [[1, 3]]) == [{2: pytest.approx(1 / 3), 3: pytest.approx(2 / 3)},
                                      {1: pytest.approx(2 / 3), 2: pytest.approx(1 / 3)}]
    # Without session 0 (a b c) only a c is left: a's neighbour is c alone, c's is a alone.
    assert weights(far, [[1, 3]], [(0, 0)]) == [{3: 1.0}, {1: 1.0}]


def _intent_sessions(per_intent: int, test_per_intent: int) -> tuple[Sessions, Knowledge, set[str]]:
    """The same items a -> b in every session; the next item is c when the shopper searched for camping
    and d when for the office: only the query's intention tells them apart."""
    knowledge = Knowledge(query_intents={
        "tent for camping": [Intent("int-camp", "go camping", "used_for_func", 0.9)],
        "desk for office": [Intent("int-office", "work at the office", "used_for_func", 0.9)],
    })
    sequences, queries, test_ids = {}, {}, set()
    for intent, query, last in (("camp", "Tent for  camping", "c"), ("office", "desk for office", "d")):
        for r in range(per_intent + test_per_intent):
            session = f"{intent}-{r}"
            sequences[session] = ["a", "b", last]
            queries[session] = [query]
            if r >= per_intent:
                test_ids.add(session)
    return _sessions(sequences, queries), knowledge, test_ids


def test_knowledge_reveals_a_pattern_the_ids_cannot():
    sessions, knowledge, test_ids = _intent_sessions(40, 10)
    split = split_sessions(sessions, knowledge=knowledge, test_ids=test_ids)
    assert split.n_intentions == 2 and all(len(bag) == 1 for bag in split.test.knowledge)
    with_knowledge = SRGNN(FAST, seed=0, use_knowledge=True).fit(split)
    id_only = SRGNN(FAST, seed=0).fit(split)
    assert ranking_metrics(with_knowledge.recommend(split.test, k=1), split.test.targets, k=1)["hits@1"] == 1.0
    # Identical prefixes get identical lists, and half the test sessions want each item: chance at best.
    assert ranking_metrics(id_only.recommend(split.test, k=1), split.test.targets, k=1)["hits@1"] == 0.5
    blind = Cases(split.test.prefixes, split.test.targets, [np.zeros(0, dtype=np.int64)] * len(split.test))
    assert not np.array_equal(with_knowledge.recommend(blind, k=2), with_knowledge.recommend(split.test, k=2))


def test_evaluate_generated_compares_four_models_and_builds_the_report_section():
    sessions, knowledge, _ = _intent_sessions(30, 0)
    rows = []
    for i, (session, items, queries) in enumerate(zip(sessions.session_ids, sessions.items, sessions.queries,
                                                       strict=True)):
        rows.append((session, 60 * i, "search", queries[0], None))
        rows += [(session, 60 * i + 1 + j, "view", None, item) for j, item in enumerate(items)]
    params = RecommendationParams(epochs=8, hidden=16, batch_size=32, lr=1e-2, k=10, test_share=0.3)
    evaluation = evaluate_generated(_events(rows), knowledge, seeds=(0, 1), params=params)
    assert set(evaluation.scores) == {"popularity", "item_knn", "sr_gnn", "sr_gnn_knowledge"}
    assert len(evaluation.scores["sr_gnn"]["mrr@10"].values) == 2
    assert evaluation.scores["sr_gnn_knowledge"]["mrr@10"].mean > evaluation.scores["sr_gnn"]["mrr@10"].mean
    section = recommendation_section([evaluation], params)
    table = section.tables["next_item"]
    assert [row["model"] for row in table] == ["Popularity", "Item-kNN", "SR-GNN", "SR-GNN + COSMO"]
    assert list(table[0]) == ["dataset", "model", "seeds", "Hits@10 mean", "Hits@10 std", "NDCG@10 mean",
                              "NDCG@10 std", "MRR@10 mean", "MRR@10 std"]
    assert section.figures["next_item.png"].startswith(b"\x89PNG")
    assert section.summary["generated"]["sr_gnn"]["mrr@10"] == evaluation.scores["sr_gnn"]["mrr@10"].mean


def test_sessions_from_table_reads_amazon_m2_lists():
    table = pa.table({"session_id": ["m2-0", "m2-1"], "locale": ["DE", "UK"],
                      "items": [["x", "x", "y"], ["z", "z"]]})
    sessions = sessions_from_table(table)
    assert sessions.session_ids == ["m2-0"] and sessions.items == [["x", "y"]]


def test_diginetica_loader_orders_views_by_timeframe(tmp_path):
    path = tmp_path / "views.csv"
    path.write_text("session_id;user_id;item_id;timeframe;eventdate\n"
                    "2;NA;81766;526309;2016-05-09\n"
                    "1;NA;31331;1031018;2016-05-09\n"
                    "1;NA;32118;243569;2016-05-09\n"
                    "2;7;9654;75848;2016-05-09\n"
                    "1;NA;9654;600000;2016-05-09\n")
    views = load_item_views(path)
    assert views.column_names == ["session_id", "item_id", "timeframe"]
    assert views.column("session_id").to_pylist() == ["1", "1", "1", "2", "2"]
    assert views.column("item_id").to_pylist() == ["32118", "9654", "31331", "9654", "81766"]
    assert views.schema.field("timeframe").type == pa.int64()
    assert sessions_from_table(views).items == [["32118", "9654", "31331"], ["9654", "81766"]]


def test_diginetica_loader_names_missing_columns_and_bad_values(tmp_path):
    missing = tmp_path / "missing.csv"
    missing.write_text("session_id;user_id;item_id;eventdate\n1;NA;5;2016-05-09\n")
    with pytest.raises(DataError) as error:
        load_item_views(missing)
    assert error.value.field == "timeframe" and error.value.file == str(missing)
    bad = tmp_path / "bad.csv"
    bad.write_text("session_id;user_id;item_id;timeframe;eventdate\n1;NA;5;10;2016-05-09\n1;NA;6;soon;2016-05-09\n")
    with pytest.raises(DataError) as error:
        load_item_views(bad)
    assert (error.value.field, error.value.row) == ("timeframe", 1)


@pytest.mark.slow
def test_real_diginetica_sessions_run_through_knn_and_srgnn(shared_data):
    views = load_item_views(shared_data / "diginetica" / "sample_train-item-views.csv")
    params = RecommendationParams(epochs=2, max_sessions=400)
    evaluation = evaluate_real("diginetica", views, seeds=(0,), params=params)
    assert evaluation.counts["sessions"] == 400
    assert set(evaluation.scores) == {"popularity", "item_knn", "sr_gnn"}
    for model in ("item_knn", "sr_gnn"):
        for figure in evaluation.scores[model].values():
            assert 0.0 <= figure.mean <= 1.0
