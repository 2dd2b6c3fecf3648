provider "aws" {
  region = "eu-west-1"
}

module "iam" {
  source = "../../"

  name_prefix = "cosmo-example"
  bucket_arns = {
    raw              = "arn:aws:s3:::cosmo-example-raw-123456789012"
    datasets         = "arn:aws:s3:::cosmo-example-datasets-123456789012"
    models           = "arn:aws:s3:::cosmo-example-models-123456789012"
    inference        = "arn:aws:s3:::cosmo-example-inference-123456789012"
    mlflow_artifacts = "arn:aws:s3:::cosmo-example-mlflow-artifacts-123456789012"
  }
  prefixes = {
    raw_logs        = "behaviour_logs/"
    datasets        = "cosmo/"
    feature_store   = "feature-store/"
    async_input     = "async-input/"
    async_output    = "async-output/"
    async_failure   = "async-failures/"
    model_artifacts = "models/"
  }
  kms_key_arns          = ["arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"]
  endpoint_name         = "cosmo-example-lm"
  sns_topic_arns        = ["arn:aws:sns:eu-west-1:123456789012:cosmo-example-lm-async-success"]
  ecr_repository_arns   = ["arn:aws:ecr:eu-west-1:123456789012:repository/cosmo-lm-serving"]
  feature_group_names   = ["cosmo-example-query-intent", "cosmo-example-product-intent"]
  eks_oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"
}

output "sagemaker_endpoint_role_arn" {
  description = "Endpoint execution role."
  value       = module.iam.sagemaker_endpoint_role_arn
}
