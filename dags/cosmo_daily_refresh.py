"""
### COSMO daily refresh

Turns one day of behaviour logs into sampled search-buy and co-buy pairs for knowledge generation:

1. **generate_sample_shop**: only when the `generate_sample_data` param is on (demos, tests);
2. **ingest**: validate the day's raw logs and catalogue and publish them as datasets;
3. **validate_behaviours**: Great Expectations gate on the ingested datasets;
4. **sample**: behaviour sampling (COSMO 3.2.1), every dropped pair kept with its reason;
5. **validate_samples**: gate on the sampled pairs; a failure stops publishing;
6. **report**: per-domain statistics (JSON) and plot (PNG) under `reports/`;
7. **generate_candidates**: the Ray job `ray_jobs.generate` (through the Ray Jobs API when
   `COSMO_RAY__ADDRESS` is set, else local Ray); stopped if this task is killed or times out;
8. **validate_candidates**: gate on the knowledge candidates;
9. **discover_relations**: frequent predicate patterns under the seed relations;
10. **filter_candidates**: the Ray job `ray_jobs.filter` (rules, LM perplexity, embedding
    similarity); every candidate kept with its drop reason and scores, validated before it is
    published, plus a per-domain and per-relation report;
11. **select_for_annotation**: weighted, stratified sample for people, exported as Label Studio
    tasks and a Ground Truth manifest under `annotation/exports/`;
12. **machine_annotate**: machine annotators (planted-intention oracle, LLM judge) fill the rounds
    where configured (demos, bootstrapping; labels marked as machine), then agreement statistics;
13. **train_critic**: the Ray job `ray_jobs.train_critic`: fine-tune, log to MLflow, register,
    move the alias;
14. **score_candidates**: the Ray job `ray_jobs.score` with the alias's critic;
15. **validate_scores**: gate on the critic scores.

Configuration comes from `COSMO_*` variables on the workers; the `config_overrides` param
overrides any of it for one run (e.g. `{"sampling": {"min_click_rate": 0.05}}`).
This file only declares: the steps live in `tasks/daily_refresh.py`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

DEFAULT_ARGS = {
    "owner": "cosmo-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=2),
}


def _overrides(params: dict) -> dict:
    overrides = dict(params.get("config_overrides") or {})
    if params.get("events_per_day"):
        overrides.setdefault("generator", {})["events_per_day"] = params["events_per_day"]
    return overrides


@dag(
    dag_id="cosmo_daily_refresh",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["cosmo", "daily-refresh", "behaviours"],
    doc_md=__doc__,
    params={
        "generate_sample_data": Param(
            False, type="boolean", description="Generate the sample shop's logs for the date before ingesting."
        ),
        "events_per_day": Param(
            None, type=["null", "integer"], minimum=1000, description="Events to generate (with generation on)."
        ),
        "config_overrides": Param(
            {}, type="object", description="Settings overrides for this run, nested like cosmo config show."
        ),
    },
)
def cosmo_daily_refresh():
    @task
    def generate_sample_shop(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        if not params["generate_sample_data"]:
            return {}
        from tasks.daily_refresh import generate_sample_shop as step

        return step(ds, _overrides(params), progress=False)

    @task
    def ingest(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import ingest as step

        return step(ds, _overrides(params))

    @task(retries=0)  # a failed expectation will fail again: do not retry
    def validate_behaviours(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import BEHAVIOUR_DATASETS, validate

        return validate(ds, BEHAVIOUR_DATASETS, _overrides(params))

    @task
    def sample(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import sample as step

        return step(ds, _overrides(params))

    @task(retries=0)
    def validate_samples(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import SAMPLE_DATASETS, validate

        return validate(ds, SAMPLE_DATASETS, _overrides(params))

    @task
    def report(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import report as step

        return step(ds, _overrides(params))

    @task(execution_timeout=timedelta(hours=6))
    def generate_candidates(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import generate_candidates as step

        return step(ds, _overrides(params))

    @task(retries=0)
    def validate_candidates(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import CANDIDATE_DATASETS, validate

        return validate(ds, CANDIDATE_DATASETS, _overrides(params))

    @task
    def discover_relations(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import discover_relations as step

        return step(ds, _overrides(params))

    @task(execution_timeout=timedelta(hours=4))
    def filter_candidates(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import filter_candidates as step

        return step(ds, _overrides(params))

    @task
    def select_for_annotation(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import select_for_annotation as step

        return step(ds, _overrides(params))

    @task
    def machine_annotate(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import machine_annotate as step

        return step(ds, _overrides(params))

    @task(execution_timeout=timedelta(hours=4))
    def train_critic(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import train_critic as step

        return step(ds, _overrides(params))

    @task(execution_timeout=timedelta(hours=4))
    def score_candidates(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import score_candidates as step

        return step(ds, _overrides(params))

    @task(retries=0)
    def validate_scores(ds: str | None = None, params: dict | None = None) -> dict[str, str]:
        from tasks.daily_refresh import SCORE_DATASETS, validate

        return validate(ds, SCORE_DATASETS, _overrides(params))

    generated = generate_sample_shop()
    ingested = ingest()
    behaviours_ok = validate_behaviours()
    sampled = sample()
    samples_ok = validate_samples()
    generated >> ingested >> behaviours_ok >> sampled >> samples_ok >> report()
    candidates_ok = validate_candidates()
    samples_ok >> generate_candidates() >> candidates_ok >> discover_relations()
    (candidates_ok >> filter_candidates() >> select_for_annotation() >> machine_annotate() >> train_critic()
     >> score_candidates() >> validate_scores())


cosmo_daily_refresh()
