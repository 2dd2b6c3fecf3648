"""Feedback from served knowledge: the API's writer acknowledges only stored events and loses none
under concurrency, the daily step deduplicates and sums them, and the next day's sample and
annotation batch change towards what shoppers clicked and bought."""

from __future__ import annotations

import datetime as dt
import threading

import pyarrow as pa
import pytest
from annotation_data import DAY as ANNOTATION_DAY
from annotation_data import write_day as write_annotation_day

from cosmo.annotation.selection import select_items
from cosmo.catalog import FEEDBACK_EVENTS, FEEDBACK_SIGNALS, GRAPH_TAIL_FORMS
from cosmo.config import FeedbackSettings
from cosmo.errors import DataError, StepSkipped
from cosmo.feedback_signals import behaviour_boosts, multiplier, window_signals
from cosmo.serving.feedback import FeedbackWriter, collect_feedback, landing_folder, read_landing

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


def writer(storage, **settings):
    return FeedbackWriter(storage, FeedbackSettings(**{"flush_ms": 20, **settings}), now=lambda: NOW)


def test_submit_returns_once_the_events_are_in_a_landing_file(storage):
    feedback = writer(storage)
    try:
        assert feedback.submit([{"event": "clicked", "query": "Winter  Tent", "product_id": "P1"}]) == 1
        landed, files = read_landing(storage, NOW.date())  # acknowledged means readable now
    finally:
        feedback.close()
    assert files == 1
    row = landed.to_pylist()[0]
    assert row["query_key"] == "winter tent" and row["product_id"] == "P1" and row["event"] == "clicked"
    assert row["ts"] == NOW and row["received_at"] == NOW


def test_concurrent_clients_lose_no_event_and_share_files(storage):
    feedback = writer(storage, flush_events=50)
    threads, per_thread = 40, 25

    def client(i):
        for j in range(per_thread):
            feedback.submit([{"event_id": f"e{i}-{j}", "event": "shown", "product_id": f"P{i}"}])

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    feedback.close()
    landed, files = read_landing(storage, NOW.date())
    assert landed.num_rows == threads * per_thread == feedback.events_written
    assert len(set(landed.column("event_id").to_pylist())) == threads * per_thread
    assert files < threads * per_thread  # group commit: requests arriving together share a file


def test_a_failed_write_is_the_callers_error(storage, monkeypatch):
    feedback = writer(storage)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("cosmo.serving.feedback.write_parquet_atomic", broken)
    try:
        with pytest.raises(OSError, match="disk full"):
            feedback.submit([{"event": "clicked", "query": "tent"}])
    finally:
        feedback.close()
    assert read_landing(storage, NOW.date())[1] == 0


def test_collect_deduplicates_retries_and_sums_signals(storage):
    feedback = writer(storage)
    try:
        event = {"event_id": "retry-1", "event": "purchased", "query": "tent", "product_id": "P1",
                 "intention_id": "i:camping"}
        feedback.submit([event])
        feedback.submit([event])  # the client retried after a timeout: counted once
        feedback.submit([{"event": "clicked", "query": "TENT", "product_id": "P1"},
                         {"event": "shown", "product_id": "P2"}])
    finally:
        feedback.close()
    settings = FeedbackSettings(click_weight=1.0, purchase_weight=3.0)
    result = collect_feedback(storage, NOW.date(), settings)
    assert result.events == 3 and result.duplicates == 1 and result.counts == {
        "shown": 1, "clicked": 1, "purchased": 1}
    signals = {(r["signal"], r["query_key"], r["product_id"], r["intention_id"]): r
               for r in storage.read(FEEDBACK_SIGNALS, NOW.date()).to_pylist()}
    pair = signals[("behaviour", "tent", "P1", None)]
    assert (pair["clicked"], pair["purchased"], pair["units"]) == (1, 1, 4.0)
    assert signals[("knowledge", "tent", None, "i:camping")]["units"] == 3.0
    assert signals[("knowledge", None, "P1", "i:camping")]["purchased"] == 1
    assert signals[("behaviour", None, "P2", None)]["units"] == 0.0
    # a rerun of the day reads the same landing files and writes the same partitions
    again = collect_feedback(storage, NOW.date(), settings)
    assert again.events == 3 and storage.read(FEEDBACK_EVENTS, NOW.date()).num_rows == 3


def test_landing_files_of_collected_days_past_the_retention_are_deleted_uncollected_ones_kept(storage):
    settings = FeedbackSettings(flush_ms=20, landing_retention_days=3)
    days = [NOW - dt.timedelta(days=n) for n in (6, 5, 1, 0)]
    for when in days:
        feedback = FeedbackWriter(storage, settings, now=lambda when=when: when)
        try:
            feedback.submit([{"event": "clicked", "query": "tent"}])
        finally:
            feedback.close()
    # the oldest day was never collected (say its step failed): its files are all there is of it
    collect_feedback(storage, days[1].date(), settings)
    collect_feedback(storage, days[2].date(), settings)
    collect_feedback(storage, days[3].date(), settings)
    fs = storage.fs
    assert not fs.exists(landing_folder(storage, days[1].date()))  # collected, 5 days old
    assert fs.exists(landing_folder(storage, days[0].date()))  # 6 days old but never collected
    assert fs.exists(landing_folder(storage, days[2].date())) and fs.exists(landing_folder(storage, days[3].date()))
    assert storage.read(FEEDBACK_EVENTS, days[1].date()).num_rows == 1  # its events live on
    # a rerun of a recent day reads the same files
    assert collect_feedback(storage, days[2].date(), settings).events == 1


def test_no_feedback_skips_and_a_bad_file_is_named(storage):
    with pytest.raises(StepSkipped, match="no feedback landed"):
        collect_feedback(storage, NOW.date(), FeedbackSettings())
    table = pa.Table.from_pylist([{"event_id": "x", "event": "liked", "ts": NOW, "received_at": NOW}],
                                 FEEDBACK_EVENTS.schema)
    path = f"{landing_folder(storage, NOW.date())}/bad.parquet"
    storage.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    import pyarrow.parquet as pq

    pq.write_table(table, path)
    with pytest.raises(DataError, match="'liked' is not one of") as error:
        collect_feedback(storage, NOW.date(), FeedbackSettings())
    assert error.value.file.endswith("bad.parquet") and error.value.row == 0 and error.value.field == "event"


def plant_signals(storage, day, rows):
    full = [{"shown": 0, "clicked": 0, "purchased": 0, "query_key": None, "product_id": None, "intention_id": None,
             **r} for r in rows]
    storage.write(FEEDBACK_SIGNALS, day, pa.Table.from_pylist(full, FEEDBACK_SIGNALS.schema))


def test_signals_of_the_window_before_the_day_are_summed(storage):
    day = dt.date(2026, 11, 27)
    plant_signals(storage, day - dt.timedelta(days=1), [{"signal": "behaviour", "query_key": "tent", "units": 2.0}])
    plant_signals(storage, day - dt.timedelta(days=3), [{"signal": "behaviour", "query_key": "tent", "units": 1.0}])
    plant_signals(storage, day, [{"signal": "behaviour", "query_key": "tent", "units": 100.0}])  # the day itself
    plant_signals(storage, day - dt.timedelta(days=30), [{"signal": "behaviour", "query_key": "tent", "units": 9.0}])
    signals = window_signals(storage, day, 7)
    assert signals.num_rows == 1 and signals.column("units")[0].as_py() == 3.0
    boosts = behaviour_boosts(storage, day, FeedbackSettings(window_days=7, sampling_boost=2.0)).to_pylist()
    assert boosts == [{"query_key": "tent", "product_id": None, "multiplier": pytest.approx(multiplier(3.0, 2.0))}]


def test_feedback_changes_the_next_days_sample(storage):
    from test_sampling_rules import DS, LOOSE, Log, run

    from cosmo.behaviours.sampling import sample_behaviours
    from cosmo.config import SamplingSettings

    log = Log()
    for i in range(1, 7):
        log.search_buy(f"tent query {i}", f"TENT{i}")
    baseline, _, _, _ = run(storage, log, max_search_buy_pairs=2)
    left_out = next(f"tent query {i}" for i in range(1, 7) if (f"tent query {i}", f"TENT{i}") not in baseline)
    product = left_out.replace("tent query ", "TENT")
    plant_signals(storage, DS - dt.timedelta(days=1), [
        {"signal": "behaviour", "query_key": left_out, "product_id": product, "clicked": 10, "purchased": 10,
         "units": 40.0}])
    boosted = sample_behaviours(storage, DS, SamplingSettings(**{**LOOSE, "max_search_buy_pairs": 2}),
                                feedback=FeedbackSettings(sampling_boost=5.0))
    kept = {(r["query"], r["product_id"]): r for r in storage.read("search_buy_pairs", DS).to_pylist()}
    assert boosted.kept["search_buy"] == 2
    assert (left_out, product) in kept, "the pair shoppers clicked and bought is sampled the next day"
    assert kept[(left_out, product)]["sampling_weight"] == pytest.approx(multiplier(40.0, 5.0))


def test_feedback_raises_the_annotation_priority_of_the_knowledge(settings, storage):
    write_annotation_day(storage)
    settings.annotation.items_per_stratum = 1
    settings.annotation.audit_share = 0
    select_items(ANNOTATION_DAY, settings)
    chosen = set(storage.read("annotation_items", ANNOTATION_DAY).column("candidate_id").to_pylist())
    candidates = storage.read("filtered_candidates", ANNOTATION_DAY).to_pylist()
    target = next(c for c in candidates if c["kept"] and c["behaviour"] == "search_buy"
                  and c["domain"] == "Sports & Outdoors" and c["candidate_id"] not in chosen)
    day = dt.date.fromisoformat(ANNOTATION_DAY)
    earlier = day - dt.timedelta(days=1)
    # an earlier day's graph merged the tail into an intention node; shoppers clicked that knowledge
    storage.write(GRAPH_TAIL_FORMS, earlier, pa.Table.from_pylist([{
        "form": target["tail"], "key": target["tail"], "node_id": "i:planted", "canonical": target["tail"],
        "method": "canonical", "score": 1.0, "count": 1, "ds": earlier}], GRAPH_TAIL_FORMS.schema))
    plant_signals(storage, earlier, [{"signal": "knowledge", "query_key": target["head"], "intention_id": "i:planted",
                                      "clicked": 50, "units": 50.0}])
    settings.feedback.annotation_boost = 1000.0
    select_items(ANNOTATION_DAY, settings)
    items = storage.read("annotation_items", ANNOTATION_DAY).to_pylist()
    assert target["candidate_id"] in {i["candidate_id"] for i in items}
    boosted = next(i for i in items if i["candidate_id"] == target["candidate_id"])
    others = [i["weight"] for i in items if i["candidate_id"] != target["candidate_id"]]
    assert boosted["weight"] > max(others)
