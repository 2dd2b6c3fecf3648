"""
### COSMO retrain

Started by new labels and weekly. Every version is tracked in MLflow (`tracking.uri`); the registry alias moves only to a critic trained on new labels.
"""

from tasks.airflow.dags import build_dag

dag = build_dag("retrain", __doc__)
