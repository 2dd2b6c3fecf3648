"""The critic loop on local Ray: a generated shop's candidates labelled by the oracle, the critic
trained and registered from the day's labels, the scoring Ray job (as `python -m ray_jobs.score`
runs it) publishing critic_scores that pass their suite, and the recovery of planted intentions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pyarrow as pa
import pytest

DAY = dt.date(2026, 11, 23)
TYPES = ("tent", "sleeping bag", "swimsuit", "sunscreen", "yoga mat", "board game")
pytestmark = pytest.mark.slow


def candidate(ptype, product, relation, tail, k):
    cid = hashlib.sha1(f"{ptype}|{relation}|{tail}|{k}".encode()).hexdigest()[:16]
    return dict(candidate_id=cid, prompt_id=f"p{cid}", behaviour="search_buy", relation=relation, head=ptype,
                head_text=ptype, product_id=product["product_id"], product_text=product["title"], tail=tail,
                tail_raw=tail, rank=1, parse_status="ok", generation=tail, finish_reason="stop", output_tokens=4,
                model="m", backend="transformers", prompt_version="fig3-v1", template_id="t", sampling_params="{}",
                generated_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC), domain=product["domain"], drop_reason=None,
                echo_score=0.0, head_share=0.0, head_entropy=0.0, perplexity=12.0, similarity=0.3, kept=True)


@pytest.fixture(scope="module")
def labelled_day(tmp_path_factory):
    """A generated shop's catalogue and ground truth, candidates naming planted intentions, other
    product types' intentions and nonsense, all selected as items and labelled by the oracle."""
    from cosmo.annotation.machine import label_items
    from cosmo.catalog import ANNOTATION_ITEMS, FILTERED_CANDIDATES
    from cosmo.config import Settings
    from cosmo.shopgen.generator import Shop
    from cosmo.storage import Storage

    root = tmp_path_factory.mktemp("critic") / "data"
    settings = Settings(storage={"root": str(root)},
                        critic={"epochs": 2, "batch_size": 8, "max_length": 48, "learning_rate": 1e-4})
    storage = Storage.from_settings(settings, gate=False)  # the fixture's hand-made items
    shop = Shop(products_per_type=4, seed=7)
    storage.write("products", DAY, shop.products)
    storage.write("planted_intentions", DAY, shop.planted_intentions())
    products = {}
    for row in shop.products.to_pylist():
        products.setdefault(row["product_type"], []).append(row)
    planted = {}
    for row in shop.planted_intentions().to_pylist():
        planted.setdefault(row["product_type"], []).append(row)
    rows = []
    for i, ptype in enumerate(TYPES):
        own = planted[ptype]
        for k, intention in enumerate(own[:2]):
            rows.append(candidate(ptype, products[ptype][k], intention["relation"], intention["intention"], k))
        other = next(p for p in planted[TYPES[(i + 3) % len(TYPES)]]
                     if p["intention"] not in {o["intention"] for o in own})
        rows.append(candidate(ptype, products[ptype][2], other["relation"], other["intention"], 2))
        rows.append(candidate(ptype, products[ptype][3], "USED_FOR_EVE", "quantum physics lectures", 3))
    candidates = pa.Table.from_pylist(rows, schema=FILTERED_CANDIDATES.schema)
    dropped = candidates.slice(0, 1).to_pylist()[0] | {"candidate_id": "dropped", "kept": False,
                                                       "drop_reason": "generic"}
    storage.write("filtered_candidates", DAY, pa.concat_tables(
        [candidates, pa.Table.from_pylist([dropped], schema=FILTERED_CANDIDATES.schema)]))
    items = [{"item_id": f"i-{r['candidate_id']}", "weight": 1.0, "stratum": "s", "audit": False,
              **{c: r[c] for c in ("candidate_id", "behaviour", "relation", "domain", "head_text", "product_text",
                                   "tail")}} for r in rows]
    storage.write("annotation_items", DAY, pa.Table.from_pylist(items, schema=ANNOTATION_ITEMS.schema))
    label_items(DAY, settings, "oracle")
    return settings


@pytest.fixture(scope="module")
def ray_local():
    import ray

    from cosmo.compute import ensure_ray

    ensure_ray(num_cpus=2)
    yield
    ray.shutdown()


def test_train_score_validate_and_measure_recovery(labelled_day, ray_local, capsys):
    from cosmo.critics.recovery import measure_recovery, print_recovery
    from cosmo.critics.score import score_candidates
    from cosmo.critics.train import train_critic
    from cosmo.quality import validate_partition
    from cosmo.storage import Storage
    from ray_jobs.score import main

    storage = Storage.from_settings(labelled_day)
    labels = storage.read("annotation_labels", DAY).to_pylist()
    planted = sum(r["plausible"] == "yes" and r["typical"] == "yes" for r in labels)  # the oracle's "planted"
    assert len(labels) == 23 and planted == 11  # sleeping bag has one planted intention, the others two
    with pytest.raises(LookupError, match="models:/cosmo-critic@champion.*train one first"):
        score_candidates(DAY, labelled_day)  # nothing registered yet
    with pytest.raises(LookupError, match="no annotation labels up to 2026-11-22.*no critic is registered"):
        train_critic(DAY - dt.timedelta(days=1), labelled_day, progress=False)
    version = train_critic(DAY, labelled_day, progress=False)
    assert version.uri == "models:/cosmo-critic/1" and version.alias == "champion" and version.trained
    assert version.train_examples + version.held_out_examples == 23
    rerun = train_critic(DAY, labelled_day, progress=False)  # the same labels and settings: nothing to learn
    assert (rerun.uri, rerun.trained) == (version.uri, False) and "already trained" in rerun.reason

    main(["--ds", DAY.isoformat(), "--overrides", json.dumps({"storage": {"root": labelled_day.storage.root},
                                                              "critic": {"batch_size": 8}})])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["outputs"]
    assert summary["critic_model"] == "models:/cosmo-critic/1" and summary["scored"] == 23

    scores = storage.read("critic_scores", DAY)
    assert "dropped" not in scores.column("candidate_id").to_pylist()  # only what the coarse filter kept
    validate_partition(storage, "critic_scores", DAY)
    for row in scores.to_pylist():
        assert row["kept"] == (row["plausibility"] > labelled_day.critic.keep_threshold)
    assert storage.manifest("critic_scores", DAY)["metadata"]["keep_threshold"] == 0.5

    # a later day whose labels decide nothing (every answer "not sure") keeps the champion
    later = DAY + dt.timedelta(days=1)
    undecided = storage.read("annotation_labels", DAY)
    for question in ("complete", "relevant", "informative", "plausible", "typical"):
        undecided = undecided.set_column(undecided.schema.get_field_index(question), question,
                                         pa.array(["not_sure"] * undecided.num_rows))
    storage.write("annotation_labels", later, undecided)
    kept = train_critic(later, labelled_day.model_copy(update={"critic": labelled_day.critic.model_copy(
        update={"training_days": 1})}), progress=False)
    assert (kept.uri, kept.trained) == ("models:/cosmo-critic/1", False) and "decided" in kept.reason

    report = measure_recovery(DAY, labelled_day)
    print_recovery(report)
    coarse, critic = report.selections
    assert (coarse.edges, coarse.correct_edges, coarse.recovered_triples) == (23, planted, planted)
    assert report.reachable_triples == 13  # sunscreen has more planted intentions than candidates name
    assert critic.edges == summary["kept"] and report.oracle_verdicts == 23
    assert report.plausibility_auc is not None and report.plausibility_auc > 0.5  # learnt something
    assert "Recovery of planted intentions" in capsys.readouterr().out
