data "aws_caller_identity" "current" {}

locals {
  suffix = coalesce(var.bucket_name_suffix, data.aws_caller_identity.current.account_id)

  bucket_names = {
    for purpose in ["raw", "datasets", "models", "inference", "logs"] :
    purpose => "${var.name_prefix}-${purpose}-${local.suffix}"
  }

  # Layout inside the buckets. The platform's configuration points at these prefixes.
  prefixes = {
    raw_logs        = "behaviour_logs/"
    datasets        = "cosmo/"
    feature_store   = "feature-store/"
    async_input     = "async-input/"
    async_output    = "async-output/"
    async_failure   = "async-failures/"
    model_artifacts = "models/"
  }

  access_logging = {
    target_bucket = module.logs.bucket_id
    target_prefix = "s3-access/"
  }
}

# Target of S3 server access logs for every COSMO bucket. S3 log delivery supports only SSE-S3
# on the target bucket, hence AES256 here and SSE-KMS everywhere else.
module "logs" {
  source = "../s3_bucket"

  bucket                    = local.bucket_names.logs
  sse_algorithm             = "AES256"
  allow_access_log_delivery = true
  force_destroy             = var.force_destroy
  tags                      = merge(var.tags, { "cosmo:bucket" = "logs" })

  lifecycle_rules = [{
    id                                 = "expire-access-logs"
    expiration_days                    = var.access_log_retention_days
    noncurrent_version_expiration_days = 1
  }]
}

# The lake buckets proper, by purpose: SSE-KMS, logged to the bucket above, each with its own
# lifecycle rules.
locals {
  lifecycle_rules_by_bucket = {
    # Behaviour logs as ingested: written once, read by the daily sampling.
    raw = [{
      id = "tier-and-expire-behaviour-logs"
      transitions = [
        { days = 30, storage_class = "STANDARD_IA" },
        { days = 90, storage_class = "GLACIER_IR" },
      ]
      expiration_days                    = var.raw_retention_days
      noncurrent_version_expiration_days = var.noncurrent_version_retention_days
    }]

    # Partitioned Parquet datasets (samples, generations, candidates, knowledge graph) and the
    # Feature Store offline store.
    datasets = [{
      id                                 = "intelligent-tiering"
      transitions                        = [{ days = 30, storage_class = "INTELLIGENT_TIERING" }]
      noncurrent_version_expiration_days = var.noncurrent_version_retention_days
    }]

    # Model artifacts (COSMO-LM checkpoints, critics, model.tar.gz for the endpoint).
    models = [{
      id                                 = "expire-old-model-versions"
      noncurrent_version_expiration_days = var.model_version_retention_days
    }]

    # Async inference: staged requests, responses and failures, each with its own retention.
    inference = [
      {
        id                                 = "expire-async-input"
        prefix                             = local.prefixes.async_input
        expiration_days                    = var.async_inference_retention_days.input
        noncurrent_version_expiration_days = 1
      },
      {
        id                                 = "expire-async-output"
        prefix                             = local.prefixes.async_output
        expiration_days                    = var.async_inference_retention_days.output
        noncurrent_version_expiration_days = 1
      },
      {
        id                                 = "expire-async-failures"
        prefix                             = local.prefixes.async_failure
        expiration_days                    = var.async_inference_retention_days.failure
        noncurrent_version_expiration_days = 1
      },
    ]
  }
}

module "bucket" {
  source   = "../s3_bucket"
  for_each = local.lifecycle_rules_by_bucket

  bucket          = local.bucket_names[each.key]
  kms_key_arn     = var.kms_key_arn
  force_destroy   = var.force_destroy
  access_logging  = local.access_logging
  lifecycle_rules = each.value
  tags            = merge(var.tags, { "cosmo:bucket" = each.key })
}
