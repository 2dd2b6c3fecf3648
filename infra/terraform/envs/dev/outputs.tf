# `cosmo_environment` is the contract with cosmo.config.Settings (tests/infra/test_outputs_contract.py):
#   terraform output -json cosmo_environment
# Everything else that modules/platform outputs (bucket names, endpoint, topics, Redis, MLflow,
# MWAA, Ray, roles) is in `platform`, described there:
#   terraform output -json platform | jq -r .mwaa.dags_bucket

output "cosmo_environment" {
  description = "COSMO_* environment variables (pydantic-settings, nested with __) for every platform process."
  value       = module.platform.cosmo_environment
}

output "platform" {
  description = "Every output of modules/platform (see its outputs.tf)."
  value       = module.platform
}
