locals {
  # Environment variables read by the platform's settings (cosmo.config.Settings:
  # prefix COSMO_, nested fields joined with "__"). Values are strings; pydantic parses them.
  base_environment = {
    COSMO_AWS__REGION                        = var.aws_region
    COSMO_STORAGE__ROOT                      = "s3://${var.datasets_bucket}/${var.datasets_prefix}"
    COSMO_SOURCE__URI                        = "s3://${var.raw_bucket}/${var.raw_prefix}"
    COSMO_TRACKING__ARTIFACT_ROOT            = "s3://${var.mlflow_artifacts_bucket}"
    COSMO_SERVING__BACKEND                   = "sagemaker"
    COSMO_SERVING__ENDPOINT_NAME             = var.endpoint_name
    COSMO_SERVING__ASYNC_INPUT_URI           = var.async_input_uri
    COSMO_SERVING__ASYNC_OUTPUT_URI          = var.async_output_uri
    COSMO_SERVING__ASYNC_FAILURE_URI         = var.async_failure_uri
    COSMO_FEATURE_STORE__BACKEND             = "sagemaker"
    COSMO_FEATURE_STORE__FEATURE_GROUP_NAMES = jsonencode(var.feature_group_names)
    COSMO_CACHE__BACKEND                     = "redis"
    COSMO_CACHE__REDIS_HOST                  = var.redis_host
    COSMO_CACHE__REDIS_PORT                  = tostring(var.redis_port)
    COSMO_CACHE__REDIS_TLS                   = "true"
  }

  ray_environment = var.ray_address == null ? {} : {
    COSMO_RAY__ADDRESS = var.ray_address
  }

  environment = merge(local.base_environment, local.ray_environment)
}
