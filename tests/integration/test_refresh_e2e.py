"""The main job as a user runs it: `cosmo refresh --generate`, twice (reruns are idempotent)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cosmo.cli import app

DAY = "2026-11-21"


@pytest.mark.slow
def test_cosmo_refresh_end_to_end_and_rerun(tmp_path):
    env = {"COSMO_STORAGE__ROOT": str(tmp_path / "data"), "COSMO_GENERATOR__EVENTS_PER_DAY": "30000",
           "COSMO_GENERATION__MAX_PAIRS_PER_DAY": "3", "COSMO_GENERATION__MAX_NEW_TOKENS": "16", "COLUMNS": "200",
           # a short fine-tune: the figures of a full one are the benchmark's business
           "COSMO_LM__MAX_TRAIN_INSTRUCTIONS": "64", "COSMO_LM__EPOCHS": "1", "COSMO_LM__EVAL_MAX_PER_TASK": "16"}
    runner = CliRunner()
    first = runner.invoke(app, ["refresh", "--generate", "--ds", DAY], env=env)
    assert first.exit_code == 0, first.output
    assert f"daily refresh for {DAY} done" in first.output
    assert "Sampled behaviours per domain" in first.output and "Why candidate pairs were dropped" in first.output
    summary_path = tmp_path / "data" / "reports" / "behaviour_sampling" / f"ds={DAY}" / "summary.json"
    summary = json.loads(summary_path.read_text())
    assert len(summary["domains"]) == 18
    assert summary["rows"]["behaviour_events"] >= 30_000
    assert summary["ingest"]["published"] == summary["rows"]["behaviour_events"] and summary["ingest"]["rejects"] == {}
    assert "Ingested events" in first.output
    assert "Knowledge candidates by relation" in first.output
    candidates = json.loads((tmp_path / "data" / "knowledge_candidates" / f"ds={DAY}" / "_manifest.json").read_text())
    assert candidates["metadata"]["prompts"] == 3 * 2 * 4  # pairs x behaviour types x default relations
    data = tmp_path / "data"
    filtered = json.loads((data / "filtered_candidates" / f"ds={DAY}" / "_manifest.json").read_text())
    assert filtered["rows"] == candidates["rows"]  # filtering marks, never removes
    assert (data / "reports" / "candidate_filtering" / f"ds={DAY}" / "filtering.png").stat().st_size > 10_000
    assert "Candidate filtering by relation" in first.output
    assert "Recovery of planted intentions" in first.output and "critic models:/cosmo-critic/" in first.output
    assert f"Knowledge graph as of {DAY}" in first.output  # built by the deploy flow from the champion's scores
    assert (tmp_path / "data" / "reports" / "knowledge_graph" / f"ds={DAY}" / "graph.png").stat().st_size > 10_000
    assert f"COSMO-LM on the held-out data of {DAY}" in first.output  # trained and evaluated by the retrain flow
    assert (data / "reports" / "cosmo_lm" / f"ds={DAY}" / "evaluation.png").stat().st_size > 10_000
    from cosmo.storage import Storage

    storage = Storage(str(data))
    assert storage.manifest("lm_instructions", DAY)["rows"] > 0
    instructions_run = storage.manifest("lm_instructions", DAY)["run_id"]
    # serving: the rebuilt day's features are served, COSMO-LM is deployed, the API answered
    assert "knowledge API on http://127.0.0.1:" in first.output and f"serving the features of {DAY}" in first.output
    assert "cache lookups by result:" in first.output  # a tiny day's graph may know none of its searches
    features = tmp_path / "features" / "offline" / "query_intent" / f"ds={DAY}" / "part-00000.parquet"
    assert features.stat().st_size > 0
    deployment = json.loads((tmp_path / "endpoint" / "deployment.json").read_text())
    assert deployment["model_name"] == "cosmo-lm" and deployment["model_data_url"].startswith("models:/cosmo-lm/")
    labels = storage.read("annotation_labels", DAY)
    assert set(labels.column("annotator_kind").to_pylist()) == {"machine"}
    assert storage.manifest("critic_scores", DAY)["rows"] == sum(storage.read("filtered_candidates", DAY)
                                                                  .column("kept").to_pylist())

    second = runner.invoke(app, ["refresh", "--generate", "--ds", DAY], env=env)
    assert second.exit_code == 0, second.output
    assert json.loads(summary_path.read_text())["rows"] == summary["rows"]
    rerun = json.loads((tmp_path / "data" / "knowledge_candidates" / f"ds={DAY}" / "_manifest.json").read_text())
    assert rerun["run_id"] == candidates["run_id"]  # same day, same model: the job had nothing to redo
    assert json.loads((data / "filtered_candidates" / f"ds={DAY}" / "_manifest.json").read_text())["rows"] == \
        filtered["rows"]
    assert storage.read("annotation_labels", DAY).num_rows == labels.num_rows  # rounds already full: no new labels
    # the same rows in, so the same instructions: no new COSMO-LM version trained, evaluated or deployed
    assert storage.manifest("lm_instructions", DAY)["run_id"] == instructions_run
    assert json.loads((tmp_path / "endpoint" / "deployment.json").read_text()) == deployment

    listing = runner.invoke(app, ["datasets", "list"], env=env)
    assert "search_buy_pairs" in listing.output and DAY in listing.output

    # the applications' harnesses on the refreshed day, as a user runs them (tiny sizes: the figures are
    # the benchmark's business)
    small = {"COSMO_APPS__RELEVANCE__MAX_EXAMPLES": "60", "COSMO_APPS__RELEVANCE__EPOCHS_FROZEN": "10",
             "COSMO_APPS__RELEVANCE__EPOCHS_TRAINABLE": "1", "COSMO_APPS__INTENTS__MAX_PAIRS": "16",
             "COSMO_APPS__RECOMMENDATION__EPOCHS": "1", "COSMO_APPS__RECOMMENDATION__MAX_SESSIONS": "400"}
    evaluated = runner.invoke(app, ["eval", "all", "--ds", DAY, "--seeds", "0"], env={**env, **small})
    assert evaluated.exit_code == 0, evaluated.output
    report = data / "reports" / "eval" / f"ds={DAY}"
    index = (report / "index.html").read_text()
    for section in ("relevance", "shopping_intents", "navigation", "recommendation"):
        assert f"id='{section}'" in index and (report / section / "section.json").is_file(), section
    assert "Cross-encoder + COSMO knowledge" in evaluated.output and "SR-GNN + COSMO" in evaluated.output
    assert (report / "recommendation" / "next_item.png").stat().st_size > 10_000
    assert json.loads((report / "summary.json").read_text())["navigation"]["broad_queries"] > 0


def test_refresh_without_logs_says_what_is_missing(tmp_path):
    env = {"COSMO_STORAGE__ROOT": str(tmp_path / "data"), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["refresh", "--ds", DAY], env=env)
    assert result.exit_code == 1
    assert f"no behaviour events yet under {tmp_path / 'raw' / 'shop'}/events/ds={DAY}" in result.output


def test_step_and_import_commands(tmp_path, shared_data):
    env = {"COSMO_STORAGE__ROOT": str(tmp_path / "data"), "COLUMNS": "200"}
    runner = CliRunner()
    imported = runner.invoke(app, ["data", "import", "intentionqa",
                                   str(shared_data / "intentionqa" / "task2.dev.jsonl"), "--ds", DAY], env=env)
    assert imported.exit_code == 0, imported.output
    ingested = runner.invoke(app, ["step", "ingest", "--ds", DAY], env=env)
    assert ingested.exit_code == 0, ingested.output
    assert "behaviour_events" in ingested.output
    bad = tmp_path / "bad.csv"
    bad.write_text("query,product_id,product_title,esci_label\ntent,B1,Tent,Q\n")
    failed = runner.invoke(app, ["data", "import", "esci", str(bad)], env=env)
    assert failed.exit_code == 1 and "row 0, field 'esci_label'" in failed.output
