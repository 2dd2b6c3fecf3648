module "platform_env" {
  source = "../../"

  aws_region              = "eu-west-1"
  datasets_bucket         = "cosmo-example-datasets-123456789012"
  raw_bucket              = "cosmo-example-raw-123456789012"
  mlflow_artifacts_bucket = "cosmo-example-mlflow-artifacts-123456789012"
  endpoint_name           = "cosmo-example-lm"
  async_input_uri         = "s3://cosmo-example-inference-123456789012/async-input"
  async_output_uri        = "s3://cosmo-example-inference-123456789012/async-output"
  async_failure_uri       = "s3://cosmo-example-inference-123456789012/async-failures"
  feature_group_names = {
    query_intent        = "cosmo-example-query-intent"
    product_intent      = "cosmo-example-product-intent"
    intention_hierarchy = "cosmo-example-intention-hierarchy"
  }
  redis_host  = "master.cosmo-example-cache.abc123.euw1.cache.amazonaws.com"
  ray_address = "http://cosmo-head-svc.ray.svc.cluster.local:8265"
}

output "cosmo_environment" {
  description = "COSMO_* settings."
  value       = module.platform_env.cosmo_environment
}
