"""
### COSMO feedback

Daily. Turns the feedback events the knowledge API stored that day (shown, clicked, purchased) into the feedback_events dataset, deduplicated and checked, and into the signals that raise the next days' sampling weights and annotation priorities.
"""

from tasks.airflow.dags import build_dag

dag = build_dag("feedback", __doc__)
