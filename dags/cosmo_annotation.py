"""
### COSMO annotation

Started by each day's filtered candidates. People label the exported batch in Label Studio, SageMaker Ground Truth (`cosmo annotate import`) or on the built-in page (`cosmo annotate serve`); the run waits for them without holding a worker.
"""

from tasks.airflow.dags import build_dag

dag = build_dag("annotation", __doc__)
