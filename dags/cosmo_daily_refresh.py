"""
### COSMO daily refresh

The day's behaviour logs in, scored knowledge candidates out. Trigger it from the UI with `generate_sample_data` on for a demo day (the sample shop's logs are written first); scheduled runs wait, deferred, for the shop's export of the day.
"""

from tasks.airflow.dags import build_dag

dag = build_dag("daily_refresh", __doc__)
