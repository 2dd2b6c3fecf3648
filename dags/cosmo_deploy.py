"""
### COSMO deploy

Started by a new champion. The critic: a failed smoke test moves the alias back to the previous champion and fails the run with what went wrong; otherwise the latest day is rescored, its graph rebuilt and its features republished. COSMO-LM: deployed to the model endpoint (rolled back to the previous endpoint config when its smoke test fails), then it answers the cache's queued misses.
"""

from tasks.airflow.dags import build_dag

dag = build_dag("deploy", __doc__)
