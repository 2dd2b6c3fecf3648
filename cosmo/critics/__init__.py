"""Plausibility and typicality critics (COSMO paper 3.3.2): examples from labels, fine-tuning with
MLflow tracking and registration, scoring every kept candidate on Ray Data, and the measure of
how well scores recover a generated shop's planted intentions."""
