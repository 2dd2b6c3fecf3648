data "aws_caller_identity" "current" {}

locals {
  artifacts_bucket_name = coalesce(var.artifacts_bucket_name, "${var.name}-artifacts-${data.aws_caller_identity.current.account_id}")
}

# Artifact store of MLflow (models, metrics files, evaluation reports).
module "artifacts" {
  source = "../s3_bucket"

  bucket        = local.artifacts_bucket_name
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy
  access_logging = {
    target_bucket = var.access_log_bucket
  }
  tags = merge(var.tags, { "cosmo:bucket" = "mlflow-artifacts" })

  lifecycle_rules = [{
    id                                 = "expire-old-artifact-versions"
    noncurrent_version_expiration_days = var.artifact_version_retention_days
  }]
}
