"""Publishing a day's knowledge features: the graph as of the day becomes the three feature sets,
each checked by its suite, then written to the feature store, which serves the day only once all of
it is there. A day whose graph was not built (its gate failed, or no critic yet) is not published,
and a failed check or write leaves the previous day serving.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from cosmo.config import Settings
from cosmo.errors import StepSkipped
from cosmo.knowledge.history import built_days
from cosmo.quality import Gate
from cosmo.serving.feature_sets import FEATURE_SETS
from cosmo.serving.features import features_as_of
from cosmo.storage import Storage, as_date

log = logging.getLogger(__name__)


def suite_name(feature_set: str) -> str:
    """The expectation suite (expectations/<name>.json) a feature set is checked by."""
    return f"features_{feature_set}"


def publish_features(ds: dt.date | str, settings: Settings, store) -> dict:
    """Build, check and publish the day's features; returns rows per set, the store's previous day
    and the seconds each phase took."""
    day = as_date(ds)
    storage = Storage.from_settings(settings)
    if day not in built_days(storage, until=day):
        raise StepSkipped(f"no knowledge graph built for {day}: features are published from a day whose "
                          "graph passed its checks")
    started = time.perf_counter()
    tables = features_as_of(storage, day, settings)
    built = time.perf_counter()
    gate = Gate.from_settings(settings)
    for name, table in tables.items():  # every set is checked before any is written
        gate(suite_name(name), table, f"features/{name}/ds={day}")
    checked = time.perf_counter()
    results = store.publish_day([FEATURE_SETS[name] for name in tables], day.isoformat(), tables)
    rows = {name: table.num_rows for name, table in tables.items()}
    log.info("published the features of %s: %s", day, rows)
    return {"ds": day.isoformat(), "rows": rows, "previous_ds": results[0].previous_ds if results else None,
            "seconds": {"build": round(built - started, 3), "check": round(checked - built, 3),
                        "publish": round(time.perf_counter() - checked, 3)}}
