"""Airflow glue, built from the step registry: the DAG factory, the operators that run a step (on
the worker, as a Ray job, or as a deferred wait), their triggers and the failure callback."""
