"""Sampling a generated day again from the same events gives the same pairs, to the last bit: the
weighted sample depends on float weights, and DuckDB's parallel sums may add in any order."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from cosmo.behaviours.ingest import ingest_day
from cosmo.behaviours.sampling import sample_behaviours
from cosmo.config import GeneratorSettings, SamplingSettings
from cosmo.shopgen import generate_shop
from cosmo.storage import Storage

DAY = dt.date(2026, 11, 27)
RUNS = 6  # the order of a parallel sum varies from run to run; one rerun alone often matches


@pytest.mark.slow
def test_a_day_samples_the_same_pairs_every_time(tmp_path):
    generate_shop(str(tmp_path / "raw"), start=DAY, days=1, events_per_day=200_000, seed=7,
                  products_per_type=GeneratorSettings().products_per_type, chunk_events=50_000, progress=False)
    ingest_day(str(tmp_path / "raw"), Storage(str(tmp_path / "run0")), DAY)
    for run in range(1, RUNS):
        shutil.copytree(tmp_path / "run0", tmp_path / f"run{run}")
    tables = []
    for run in range(RUNS):
        storage = Storage(str(tmp_path / f"run{run}"))
        sample_behaviours(storage, DAY, SamplingSettings(threads=2))
        tables.append({name: storage.read(name, DAY) for name in ("search_buy_pairs", "co_buy_pairs")})
    assert all(t.num_rows > 100 for t in tables[0].values())
    for run, later in enumerate(tables[1:], start=1):
        for name, table in later.items():
            assert table.equals(tables[0][name]), f"{name} differs in run {run}"
