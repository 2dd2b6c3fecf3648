"""
### COSMO deploy

Started by a new champion. A failed smoke test moves the alias back to the previous champion and fails the run with what went wrong.
"""

from tasks.airflow.dags import build_dag

dag = build_dag("deploy", __doc__)
