"""The pipeline spine: the step registry (the one statement of order), the step functions it names,
the in-process runner, and Ray job submission. Imports no Airflow; the DAGs are built from it in
``tasks/airflow``."""
