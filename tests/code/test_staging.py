"""Run keys and resumable staging (cosmo.staging): what every long step resumes with."""

from __future__ import annotations

import json

import pyarrow as pa

from cosmo.catalog import CRITIC_SCORES
from cosmo.staging import Staging, digest_of, input_versions, published, run_key

DAY = "2026-11-20"


def _scores(*ids: str) -> pa.Table:
    n = len(ids)
    return pa.table({"candidate_id": list(ids), "plausibility": [0.9] * n, "typicality": [0.5] * n,
                     "critic_model": ["models:/c/1"] * n, "kept": [True] * n}, CRITIC_SCORES.schema)


def test_run_key_is_order_free_and_changes_with_any_part():
    assert run_key(a=1, b=[1, 2]) == run_key(b=[1, 2], a=1)
    assert run_key(a=1, b=[1, 2]) != run_key(a=1, b=[2, 1])
    assert run_key(a=1) != run_key(a=2)
    assert digest_of(["x", "y"]) == digest_of(["y", "x"]) != digest_of(["x"])


def test_staged_chunks_survive_a_crash_and_go_once_published(storage):
    staging = Staging(storage, CRITIC_SCORES, DAY, run_key(model="v1"))
    assert staging.read().num_rows == 0 and staging.values("candidate_id") == set()
    staging.put(_scores("a", "b"))
    staging.put(_scores("c"))
    # a new process (the rerun) sees what the crashed one finished
    again = Staging(storage, CRITIC_SCORES, DAY, run_key(model="v1"))
    assert again.values("candidate_id") == {"a", "b", "c"}
    assert again.read(["candidate_id"]).column_names == ["candidate_id"]
    # another key's chunks are not this run's work
    assert Staging(storage, CRITIC_SCORES, DAY, run_key(model="v2")).read().num_rows == 0
    other_day = Staging(storage, CRITIC_SCORES, "2026-11-21", run_key(model="v1"))
    other_day.put(_scores("z"))
    again.clear()
    assert not storage.fs.exists(again.day_folder)
    assert other_day.values("candidate_id") == {"z"}  # other days keep theirs
    other_day.clear()
    assert not storage.fs.exists(storage.path("_staging", CRITIC_SCORES.name))


def test_a_chunk_being_written_is_not_read(storage):
    staging = Staging(storage, CRITIC_SCORES, DAY, "k")
    staging.put(_scores("a"))
    storage.fs.pipe(f"{staging.folder}/.chunk-half.parquet.tmp", b"not parquet yet")
    assert staging.values("candidate_id") == {"a"}


def test_published_matches_the_manifest_key(storage):
    key = run_key(model="v1")
    assert published(storage, CRITIC_SCORES, DAY, key) is None
    assert input_versions(storage, DAY, CRITIC_SCORES) == {"critic_scores": None}
    storage.write(CRITIC_SCORES, DAY, _scores("a"), metadata={"run_key": key})
    manifest = published(storage, CRITIC_SCORES, DAY, key)
    assert manifest is not None and manifest["rows"] == 1
    assert published(storage, CRITIC_SCORES, DAY, run_key(model="v2")) is None


def test_input_versions_follow_the_rows_not_the_run(storage):
    assert input_versions(storage, DAY, CRITIC_SCORES) == {"critic_scores": None}
    storage.write(CRITIC_SCORES, DAY, _scores("a", "b", "c"))
    first = storage.manifest(CRITIC_SCORES, DAY)
    assert input_versions(storage, DAY, "critic_scores") == {"critic_scores": first["content"]}
    # a rerun that rewrites the same rows, in another order and other batches: a new run, the same version
    with storage.writer(CRITIC_SCORES, DAY) as writer:
        writer.write(_scores("c"))
        writer.write(_scores("b", "a"))
    rewritten = storage.manifest(CRITIC_SCORES, DAY)
    assert rewritten["run_id"] != first["run_id"] and rewritten["content"] == first["content"]
    for other in (_scores("a", "b"), _scores("a", "b", "c", "c"), _scores("a", "b", "d")):
        storage.write(CRITIC_SCORES, DAY, other)
        assert input_versions(storage, DAY, CRITIC_SCORES)["critic_scores"] != first["content"]
    # partitions committed before digests were recorded are versioned by their run
    manifest_path = f"{storage.partition_path(CRITIC_SCORES, DAY)}/_manifest.json"
    old = {k: v for k, v in storage.manifest(CRITIC_SCORES, DAY).items() if k != "content"}
    storage.put_bytes(manifest_path, json.dumps(old).encode())
    assert input_versions(storage, DAY, CRITIC_SCORES) == {"critic_scores": old["run_id"]}
