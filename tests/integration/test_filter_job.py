"""The filter Ray job on local Ray over a small hand-made day of candidates: every filter fires
where it must, the table passes its suite and is published with its report, a rerun is a no-op,
a crashed run resumes from its staged batches, and a failing suite publishes nothing."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pyarrow as pa
import pytest

DAY = dt.date(2026, 11, 23)
pytestmark = pytest.mark.slow

TITLES = {"B1": ("Coleman 4 Person Dome Tent", "Sports", "tent"),
          "B2": ("Zero-Degree Mummy Sleeping Bag", "Sports", "sleeping bag"),
          "B3": ("Organic Muslin Swaddle Blanket", "Baby", "blanket"),
          "B4": ("Non-Slip Extra-Thick Yoga Mat", "Sports", "yoga mat"),
          "B5": ("Assorted Birthday Party Favors Gift Set", "Party", "party favors")}
# (head, product, relation, tail, parse_status, expected drop reason)
CASES = [
    ("camping", "B1", "USED_FOR_EVE", "family camping trips", "ok", None),
    ("camping", "B1", "USED_FOR_EVE", "backpacking trips", "copied_example", "copied_example"),
    ("camping", "B1", "USED_FOR_EVE", None, "no_tail", "unparsed"),
    ("camping", "B1", "USED_FOR_AUD", "campers", "ok", None),
    ("camping", "B1", "USED_FOR_AUD", "dome tent", "ok", "echoes_context"),
    ("camping", "B1", "USED_FOR_FUNC", "for the", "ok", "high_perplexity"),
    ("birthday party", "B5", "USED_FOR_EVE", "birthday parties", "ok", "paraphrase"),
    ("winter camping", "B2", "USED_FOR_FUNC", "keeping warm at night", "ok", None),
    ("winter camping", "B2", "USED_FOR_AUD", "people who", "ok", "high_perplexity"),
    ("baby shower gift", "B3", "USED_FOR_EVE", "baby showers", "ok", None),
    ("baby shower gift", "B3", "USED_FOR_AUD", "new parents", "ok", None),
    ("baby shower gift", "B3", "USED_FOR_FUNC", "ok", "ok", "too_short"),
    ("home workout", "B4", "USED_FOR_EVE", "yoga classes", "ok", None),
    ("home workout", "B4", "USED_FOR_FUNC", "yoga mats", "ok", "echoes_context"),
    ("home workout", "B4", "USED_FOR_AUD", "a yoga mat", "ok", "paraphrase"),  # its type again
]
GENERIC_HEADS = ["camping", "winter camping", "baby shower gift", "home workout", "hiking", "beach day"]


def candidate_rows() -> list[dict]:
    from cosmo.generation.prompts import PROMPT_VERSION

    cases = list(CASES) + [(head, "B4" if head in ("hiking", "beach day") else
                            {"camping": "B1", "winter camping": "B2", "baby shower gift": "B3",
                             "home workout": "B4"}[head], "USED_FOR_EVE", "everyday use", "ok", "generic")
                           for head in GENERIC_HEADS]
    rows = []
    for i, (head, product, relation, tail, status, _) in enumerate(cases):
        rows.append({"candidate_id": f"c{i:02d}", "prompt_id": f"p-{head}-{relation}", "behaviour": "search_buy",
                     "relation": relation, "head": head, "head_text": head, "product_id": product,
                     "product_text": TITLES[product][0], "tail": tail, "tail_raw": tail or "", "rank": 0,
                     "parse_status": status, "generation": tail, "finish_reason": "stop", "output_tokens": 6,
                     "model": "smollm2", "backend": "transformers", "prompt_version": PROMPT_VERSION,
                     "template_id": "t", "sampling_params": "{}", "generated_at": dt.datetime(2026, 11, 23, tzinfo=dt.UTC)})
    return rows


def expected_reasons() -> list[str | None]:
    return [case[-1] for case in CASES] + ["generic"] * len(GENERIC_HEADS)


def write_day(root, rows: list[dict]) -> None:
    from cosmo.catalog import KNOWLEDGE_CANDIDATES, PRODUCTS
    from cosmo.storage import Storage

    storage = Storage(str(root))
    storage.write(PRODUCTS, DAY, pa.table({
        "product_id": list(TITLES), "title": [t for t, _, _ in TITLES.values()],
        "domain": [d for _, d, _ in TITLES.values()], "product_type": [p for _, _, p in TITLES.values()],
        "brand": [None] * len(TITLES), "price": [None] * len(TITLES)}))
    storage.write(KNOWLEDGE_CANDIDATES, DAY, pa.Table.from_pylist(rows, schema=KNOWLEDGE_CANDIDATES.schema))


@pytest.fixture(scope="module")
def ray_local():
    import ray

    from cosmo.compute import ensure_ray

    ensure_ray(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture
def day(tmp_path):
    root = tmp_path / "data"
    write_day(root, candidate_rows())
    return root


def settings_for(root, **filters):
    from cosmo.config import Settings

    # generic: a tail on at least 5 heads, a third of all heads, spread evenly
    return Settings(storage={"root": str(root)},
                    filters={"generic_min_heads": 5, "generic_head_share": 0.3, **filters})


def test_job_filters_resumes_validates_reports_and_reruns_as_a_no_op(ray_local, day, monkeypatch, capsys):
    """A run that crashes after its first scored batch, the run that resumes it, and a rerun."""
    import cosmo.refinement.filtering as filtering
    from cosmo.quality import validate_partition
    from cosmo.storage import Storage
    from ray_jobs.filter import main

    settings = settings_for(day, rows_per_batch=4)
    storage = Storage(str(day))
    from cosmo.staging import Staging

    original, calls = Staging.put, {"n": 0}

    def crash_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost")
        return original(*args, **kwargs)

    monkeypatch.setattr(Staging, "put", crash_on_second_batch)
    with pytest.raises(RuntimeError, match="worker lost"):
        filtering.run(DAY, settings)
    assert not storage.has_partition("filtered_candidates", DAY)
    monkeypatch.setattr(Staging, "put", original)

    result = filtering.run(DAY, settings)
    survivors = sum(1 for reason in expected_reasons() if reason in (None, "high_perplexity", "paraphrase"))
    assert result.skipped == 4 and result.scored_now == survivors - 4  # the first batch survived the crash
    table = storage.read("filtered_candidates", DAY)
    by_id = {row["candidate_id"]: row for row in table.to_pylist()}
    reasons = [by_id[f"c{i:02d}"]["drop_reason"] for i in range(len(by_id))]
    assert reasons == expected_reasons(), [(r["tail"], r["drop_reason"], r["perplexity"], r["similarity"])
                                           for r in table.to_pylist()]
    assert result.candidates == len(by_id) and result.kept == reasons.count(None) == 6
    assert result.dropped["high_perplexity"] == 2 and result.dropped["generic"] == len(GENERIC_HEADS)
    for row in by_id.values():
        assert row["kept"] is (row["drop_reason"] is None)
        assert row["domain"] == TITLES[row["product_id"]][1]
        if row["drop_reason"] in (None, "paraphrase"):  # went through both model filters
            assert row["perplexity"] is not None and row["similarity"] is not None
        if row["drop_reason"] == "high_perplexity":     # dropped before the similarity filter
            assert row["similarity"] is None
        if row["drop_reason"] in ("unparsed", "echoes_context", "generic"):  # the rules' rows cost no model
            assert row["perplexity"] is None
    validate_partition(storage, "filtered_candidates", DAY)
    for name in ("summary", "table", "markdown", "plot"):
        assert storage.fs.exists(result.report[name])
    summary = json.loads(storage.fs.cat_file(result.report["summary"]))
    assert summary["by_domain"]["Baby"] == {"kept": 2, "too_short": 1, "generic": 1}
    assert not storage.fs.exists(storage.path("_staging", "filtered_candidates", f"ds={DAY}"))

    # a rerun with the same candidates and settings does nothing (the job's entry point, as Ray runs it)
    run_id = storage.manifest("filtered_candidates", DAY)["run_id"]
    capsys.readouterr()
    main(["--ds", DAY.isoformat(), "--overrides", json.dumps(settings.model_dump(mode="json"))])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["outputs"]
    assert printed["scored_now"] == 0 and printed["kept"] == 6 and printed["filtered_candidates"] == result.uri
    assert storage.manifest("filtered_candidates", DAY)["run_id"] == run_id


def test_a_failing_suite_publishes_nothing(tmp_path):
    """The suite runs on the table before it is written: a failure leaves no partition behind."""
    from cosmo.config import Settings
    from cosmo.errors import QualityCheckFailed
    from cosmo.quality import PROJECT_EXPECTATIONS
    from cosmo.refinement.filtering import run
    from cosmo.storage import Storage

    root = tmp_path / "data"
    write_day(root, [r for r in candidate_rows() if r["parse_status"] != "ok"])  # rules drop all: no model runs
    folder = tmp_path / "expectations"
    shutil.copytree(PROJECT_EXPECTATIONS, folder)
    suite = json.loads((folder / "filtered_candidates.json").read_text())
    suite["expectations"].append({"type": "expect_column_values_to_be_in_set",  # false here: nothing is kept
                                  "kwargs": {"column": "kept", "value_set": [True]}})
    (folder / "filtered_candidates.json").write_text(json.dumps(suite))
    storage = Storage(str(root))
    with pytest.raises(QualityCheckFailed, match="kept"):
        run(DAY, Settings(storage={"root": str(root)}, quality={"expectations_dir": str(folder)}))
    assert not storage.has_partition("filtered_candidates", DAY)
    assert run(DAY, Settings(storage={"root": str(root)})).kept == 0  # the project's suite passes
    assert storage.has_partition("filtered_candidates", DAY)
