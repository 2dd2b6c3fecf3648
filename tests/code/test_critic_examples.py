"""Critic inputs and labels: verbalisation, the majority vote, example checks, the held-out split,
the tracking store's location, and the planted-intention recovery measure."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from cosmo.annotation.texts import behaviour_text, statement_text
from cosmo.catalog import ANNOTATION_LABELS
from cosmo.critics.examples import EXAMPLE_SCHEMA, check_examples, examples_from_labels, majority_labels
from cosmo.critics.train import split_held_out
from cosmo.errors import DataError


def labels(*rows) -> pa.Table:
    """rows: (candidate_id, annotator, kind, plausible, typical)."""
    out = []
    for k, (cid, annotator, kind, plausible, typical) in enumerate(rows):
        out.append({"label_id": f"l{k}", "item_id": f"i-{cid}", "candidate_id": cid, "annotator": annotator,
                    "annotator_kind": kind, "source": "test", "round": 1, "complete": "yes", "relevant": "yes",
                    "informative": "yes", "plausible": plausible, "typical": typical,
                    "labelled_at": dt.datetime(2026, 11, 23, tzinfo=dt.UTC)})
    return pa.Table.from_pylist(out, schema=ANNOTATION_LABELS.schema)


def test_verbalisation_follows_the_relation_catalogue():
    assert behaviour_text("search_buy", "camping", "Tent") == 'A customer searched for "camping" and bought "Tent".'
    assert behaviour_text("co_buy", "Tent", "Stove") == 'A customer bought "Tent" together with "Stove".'
    assert statement_text("co_buy", "USED_FOR_EVE", "winter camping") == \
        "Both products are used for events or activities such as winter camping"
    assert statement_text("co_buy", None, "because they both are tents.") == "because they both are tents."
    with pytest.raises(ValueError, match="unknown relation 'USED_FOR_NOTHING'"):
        statement_text("co_buy", "USED_FOR_NOTHING", "x")


def test_majority_vote_rules():
    votes = majority_labels(labels(
        ("tie", "a", "human", "yes", "yes"), ("tie", "b", "human", "no", "no"),
        ("third", "a", "human", "yes", "no"), ("third", "b", "human", "no", "no"),
        ("third", "c", "human", "yes", "not_sure"),
        ("unsure", "a", "human", "not_sure", "yes"), ("unsure", "b", "human", "not_sure", "yes"),
        ("mixed", "a", "human", "no", "no"), ("mixed", "oracle", "machine", "yes", "yes"),
        ("mixed", "judge", "machine", "yes", "yes"),
        ("implausible", "a", "human", "no", "yes"), ("implausible", "b", "human", "no", "yes"),
        ("machine_only", "oracle", "machine", "yes", "no"),
    ))
    got = {r["candidate_id"]: (r["plausible"], r["typical"], r["annotators"], r["annotator_kind"])
           for r in votes.to_pylist()}
    assert got["tie"] == (None, None, 2, "human")  # two annotators disagree, no third yet: no label
    assert got["third"] == (1.0, 0.0, 3, "human")  # the third opinion decides
    assert got["unsure"] == (None, 1.0, 2, "human")
    assert got["mixed"] == (0.0, 0.0, 1, "human")  # a human label outweighs any number of machine ones
    assert got["implausible"] == (0.0, 0.0, 2, "human")  # never typical when implausible
    assert got["machine_only"] == (1.0, 0.0, 1, "machine")


def test_examples_from_labels_join_texts_and_drop_undecided():
    items = pa.table({"candidate_id": ["c1", "c2"], "behaviour": ["search_buy", "co_buy"],
                      "relation": ["USED_FOR_EVE", "USED_FOR_AUD"], "head_text": ["camping", "Tent"],
                      "product_text": ["Tent", "Stove"], "tail": ["winter camping", "campers"]})
    examples = examples_from_labels(labels(("c1", "a", "human", "yes", "yes"), ("c2", "a", "human", "yes", "no"),
                                           ("c2", "b", "human", "no", "yes")), items)
    assert examples.schema == EXAMPLE_SCHEMA
    assert examples.to_pylist() == [{
        "candidate_id": "c1", "context": 'A customer searched for "camping" and bought "Tent".',
        "statement": "The product is used for events or activities such as winter camping",
        "plausible": 1.0, "typical": 1.0}]
    with pytest.raises(DataError, match="field 'candidate_id'.*no text.*'c3'"):
        examples_from_labels(labels(("c3", "a", "human", "yes", "yes")), items, origin="labels.parquet")


def test_bad_labels_and_targets_name_row_and_field():
    bad_kind = labels(("c1", "a", "human", "yes", "yes"), ("c1", "b", "robot", "yes", "yes"))
    with pytest.raises(DataError, match="row 1, field 'annotator_kind'.*robot"):
        majority_labels(bad_kind)
    examples = pa.table({"candidate_id": ["a", "b"], "context": ["x", "y"], "statement": ["s", "t"],
                         "plausible": [1.0, 1.5], "typical": [None, 0.0]})
    with pytest.raises(DataError, match="row 1, field 'plausible'.*1.5"):
        check_examples(examples)


def test_held_out_split_is_stable_and_disjoint():
    ids = [f"cand-{i}" for i in range(400)]
    examples = pa.table({"candidate_id": ids, "context": ids, "statement": ids, "plausible": [1.0] * 400,
                         "typical": [None] * 400}, schema=EXAMPLE_SCHEMA)
    train, held = split_held_out(examples, 0.25, seed=3)
    again_train, again_held = split_held_out(examples.slice(100), 0.25, seed=3)
    assert 60 < held.num_rows < 140 and train.num_rows + held.num_rows == 400
    assert not set(train.column("candidate_id").to_pylist()) & set(held.column("candidate_id").to_pylist())
    assert set(again_held.column("candidate_id").to_pylist()) <= set(held.column("candidate_id").to_pylist())
    tiny_train, tiny_held = split_held_out(examples.slice(0, 1), 0.99)
    assert tiny_train.num_rows == 1 and tiny_held.num_rows == 0  # never nothing to learn from


def test_tracking_store_defaults_to_sqlite_beside_the_data(tmp_path):
    from cosmo.config import Settings
    from cosmo.tracking import tracking_target

    target = tracking_target(Settings(storage={"root": str(tmp_path / "data")}))
    assert target.uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert target.artifact_root == (tmp_path / "mlartifacts").as_uri()
    server = tracking_target(Settings(storage={"root": "s3://bucket/cosmo"},
                                      tracking={"uri": "http://mlflow:5000", "artifact_root": "s3://bucket/mlflow"}))
    assert (server.uri, server.artifact_root) == ("http://mlflow:5000", "s3://bucket/mlflow")
    with pytest.raises(ValueError, match="set tracking.uri"):
        tracking_target(Settings(storage={"root": "s3://bucket/cosmo"}))


def test_recovery_counts_correct_edges_and_planted_triples():
    from cosmo.catalog import CRITIC_SCORES
    from cosmo.critics.recovery import recovery_from_tables
    from cosmo.shopgen.generator import Shop

    shop = Shop(products_per_type=2, seed=7)
    tent = next(r for r in shop.products.to_pylist() if r["product_type"] == "tent")
    tails = ["winter camping", "family camping", "beach vacation", "camping", "knitting"]
    candidates = pa.table({
        "candidate_id": [f"c{i}" for i in range(5)], "behaviour": ["search_buy"] * 5,
        "relation": ["USED_FOR_EVE"] * 5, "head": ["camping"] * 5, "head_text": ["camping"] * 5,
        "product_id": [tent["product_id"]] * 5, "product_text": [tent["title"]] * 5, "tail": tails,
        "kept": [True, True, True, True, False]})
    scores = pa.table({"candidate_id": [f"c{i}" for i in range(4)], "plausibility": [0.9, 0.4, 0.5, 0.8],
                       "typicality": [0.5] * 4, "critic_model": ["models:/cosmo-critic/1"] * 4,
                       "kept": [True, False, False, True]}, schema=CRITIC_SCORES.schema)
    report = recovery_from_tables(candidates, scores, shop.planted_intentions(), shop.products, ds="2026-11-23")
    coarse, critic = report.selections
    # tent is planted for winter and family camping (USED_FOR_EVE); "camping" is family camping's paraphrase
    assert report.reachable_triples == 2
    assert (coarse.edges, coarse.correct_edges, coarse.recovered_triples) == (4, 3, 2)
    assert (critic.edges, critic.correct_edges, critic.recovered_triples) == (2, 2, 2)
    assert critic.precision == 1.0 and coarse.recall == 1.0
    assert report.plausibility_auc == pytest.approx(2 / 3, abs=1e-3)  # beach vacation (0.5) outranks family camping (0.4)


def test_ranking_groups_stay_whole_in_batches_and_reward_the_right_order():
    import numpy as np
    import torch

    from cosmo.critics.train import _batches, _groups, _listwise

    members = _groups(["q1", "q1", "q1", None, "q2", "q2", None], 7)
    assert [m.tolist() for m in members] == [[0, 1, 2], [3], [4, 5], [6]]
    for batch in _batches(members, 4, np.random.default_rng(0)):
        assert sum(len(g) for g in batch) <= 4 or len(batch) == 1
    assert sorted(np.concatenate([np.concatenate(b) for b in _batches(members, 4, np.random.default_rng(1))])
                  ) == list(range(7))
    targets, mask = np.array([1.0, 0.0, 0.0]), np.ones(3, dtype=bool)
    right = _listwise(torch.tensor([3.0, 0.0, -1.0]), [3], targets, mask)
    wrong = _listwise(torch.tensor([-1.0, 3.0, 0.0]), [3], targets, mask)
    assert float(right) < 0.1 < float(wrong)
    assert float(_listwise(torch.tensor([1.0, 2.0]), [2], np.array([1.0, 1.0]), np.ones(2, bool))) == 0.0  # two positives
