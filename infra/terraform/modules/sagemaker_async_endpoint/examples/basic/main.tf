provider "aws" {
  region = "eu-west-1"
}

module "key" {
  source = "../../../kms_key"

  alias       = "cosmo-example-endpoint"
  description = "COSMO example endpoint key"
}

module "endpoint" {
  source = "../../"

  name               = "cosmo-example-lm"
  execution_role_arn = "arn:aws:iam::123456789012:role/cosmo-example-sagemaker-endpoint"
  image_uri          = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/cosmo-lm-serving:latest"
  model_data_url     = "s3://cosmo-example-models-123456789012/models/cosmo-lm/model.tar.gz"
  kms_key_arn        = module.key.key_arn
  s3_output_path     = "s3://cosmo-example-inference-123456789012/async-output"
  s3_failure_path    = "s3://cosmo-example-inference-123456789012/async-failures"
  instance_type      = "ml.g5.xlarge"

  autoscaling = {
    min_capacity                = 0
    max_capacity                = 2
    target_backlog_per_instance = 5
  }
}

output "endpoint_name" {
  description = "Name of the example endpoint."
  value       = module.endpoint.endpoint_name
}
