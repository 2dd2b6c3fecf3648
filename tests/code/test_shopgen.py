"""The generated shop: reproducible, realistic in shape, with a recoverable ground truth."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cosmo.shopgen import Shop, generate_shop
from cosmo.shopgen.vocabulary import DOMAINS, IMPULSE_TYPES, INTENTIONS

DAY = dt.date(2026, 11, 27)


def test_vocabulary_is_consistent():
    assert len(DOMAINS) == 18  # the paper's Table 3 domains
    known = {t for types in DOMAINS.values() for t in types}
    used = {t for it in INTENTIONS for t in it.product_types}
    assert used <= known, f"intentions name unknown types: {used - known}"
    assert known <= used, f"types no intention drives: {known - used}"
    assert not set(IMPULSE_TYPES) & used
    assert len({it.name for it in INTENTIONS}) == len(INTENTIONS)
    assert all(it.parent != it.name for it in INTENTIONS)


def test_same_seed_same_shop_and_different_seed_differs():
    a, b, c = Shop(10, seed=1), Shop(10, seed=1), Shop(10, seed=2)
    assert a.products.equals(b.products)
    rng = lambda s: __import__("numpy").random.default_rng(s)  # noqa: E731
    assert a.sessions(rng(5), 50, DAY, 0).equals(b.sessions(rng(5), 50, DAY, 0))
    assert not a.products.equals(c.products)


SHOP_DIGEST = """
import datetime, hashlib, numpy as np, pyarrow as pa
from cosmo.shopgen import Shop
shop = Shop(6, seed=1)
digest = hashlib.sha1()
for table in (shop.products, shop.sessions(np.random.default_rng(5), 30, datetime.date(2026, 11, 27), 0)):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    digest.update(sink.getvalue())
print(digest.hexdigest())
"""


def test_same_seed_same_shop_in_every_process():
    """A rerun of a day is a new process, with its own string-hash seed: nothing may follow set order."""
    import os
    import subprocess
    import sys

    digests = {subprocess.run([sys.executable, "-c", SHOP_DIGEST], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(digests) == 1, digests


def test_sessions_have_search_click_purchase_structure():
    shop = Shop(20, seed=3)
    import numpy as np

    events = shop.sessions(np.random.default_rng(0), 2_000, DAY, 0)
    types = events.column("event_type")
    assert set(types.unique().to_pylist()) == {"search", "click", "add_to_cart", "purchase"}
    searches = events.filter(pc.equal(types, "search"))
    assert searches.column("query").null_count == 0 and searches.column("product_id").null_count == searches.num_rows
    purchases = events.filter(pc.equal(types, "purchase"))
    assert purchases.column("product_id").null_count == 0
    # impulse purchases come without a query; all others carry the query that led to them
    no_query = purchases.filter(pc.is_null(purchases.column("query")))
    impulse_ids = {pid for pid, t in zip(shop.products.column("product_id").to_pylist(),
                                         shop.products.column("product_type").to_pylist(), strict=True)
                   if t in IMPULSE_TYPES}
    assert set(no_query.column("product_id").to_pylist()) <= impulse_ids
    # events are ordered by session, then time
    ts = events.column("ts").to_pylist()
    sessions = events.column("session_id").to_pylist()
    assert all(s1 != s2 or t1 <= t2 for s1, s2, t1, t2 in zip(sessions, sessions[1:], ts, ts[1:], strict=False))
    assert events.column("ts").cast("int64").to_numpy().min() >= int(
        dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)


def test_relevance_judgements_cover_all_labels():
    shop = Shop(8, seed=3)
    labels = shop.relevance_judgements()
    counts = dict(zip(*[labels.column("esci_label").value_counts().field(f).to_pylist()
                        for f in ("values", "counts")], strict=True))
    assert set(counts) == {"E", "S", "C", "I"}
    assert set(labels.column("product_id").to_pylist()) <= set(shop.products.column("product_id").to_pylist())


def test_generate_shop_streams_the_requested_events(tmp_path):
    summary = generate_shop(str(tmp_path / "raw"), start=DAY, days=2, events_per_day=25_000, seed=4,
                            products_per_type=10, chunk_events=10_000, progress=False)
    for day in ("2026-11-27", "2026-11-28"):
        path = tmp_path / "raw" / "events" / f"ds={day}" / "part-00000.parquet"
        metadata = pq.ParquetFile(path).metadata
        assert metadata.num_rows == summary["events"][day]
        assert 25_000 <= metadata.num_rows < 25_100  # cut at a session boundary
        assert metadata.num_row_groups >= 3  # written chunk by chunk, never held whole
    assert summary["products"] == 10 * summary["product_types"]
    assert not list((tmp_path / "raw").rglob("*.tmp-*"))
    planted = pq.read_table(tmp_path / "raw" / "intentions" / "planted.parquet")
    assert planted.num_rows == sum(len(it.product_types) for it in INTENTIONS)


def _day_events(root, day: str) -> pa.Table:
    return pq.read_table(root / "events" / f"ds={day}" / "part-00000.parquet").drop_columns(["ts", "session_id"])


def test_first_day_gives_each_day_its_own_traffic(tmp_path):
    """A daily run writes one day at a time: with first_day set, day D is the shop's day D - first_day
    (as a two-day export gives it), without it every date repeats day 0."""
    first, second = DAY, DAY + dt.timedelta(days=1)
    kwargs = {"events_per_day": 5_000, "seed": 4, "products_per_type": 4, "chunk_events": 10_000, "progress": False}
    generate_shop(str(tmp_path / "export"), start=first, days=2, **kwargs)
    for day in (first, second):
        generate_shop(str(tmp_path / "daily"), start=day, days=1, first_day=first, **kwargs)
        generate_shop(str(tmp_path / "alike"), start=day, days=1, **kwargs)
    assert _day_events(tmp_path / "daily", str(second)).equals(_day_events(tmp_path / "export", str(second)))
    assert not _day_events(tmp_path / "daily", str(second)).equals(_day_events(tmp_path / "daily", str(first)))
    assert _day_events(tmp_path / "alike", str(second)).equals(_day_events(tmp_path / "alike", str(first)))
    with pytest.raises(ValueError, match="first_day 2026-11-28 is after"):
        generate_shop(str(tmp_path / "early"), start=first, days=1, first_day=second, **kwargs)


@pytest.mark.parametrize("events", [0, -5])
def test_generator_settings_reject_nonsense(events):
    from pydantic import ValidationError

    from cosmo.config import GeneratorSettings

    with pytest.raises(ValidationError, match="events_per_day"):
        GeneratorSettings(events_per_day=events)
