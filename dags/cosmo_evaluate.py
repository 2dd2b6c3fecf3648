"""
### COSMO evaluate

Weekly, or triggered by hand for a date. Each harness trains its small models on that day's data and the graph as of it, over the seeds in `apps.seeds`, and writes its tables and plots under `reports/eval/ds=<date>/`; open `index.html` there.
"""

from tasks.airflow.dags import build_dag

dag = build_dag("evaluate", __doc__)
