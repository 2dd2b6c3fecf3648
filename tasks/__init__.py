"""The orchestration side: what Airflow needs to run the registry's steps (``tasks.airflow``). The
domain logic and the steps themselves are in the library (``cosmo.pipeline``)."""
