output "bucket_names" {
  description = "Bucket name per purpose: raw, datasets, models, inference, logs."
  value       = merge({ for purpose, bucket in module.bucket : purpose => bucket.bucket_id }, { logs = module.logs.bucket_id })
}

output "bucket_arns" {
  description = "Bucket ARN per purpose: raw, datasets, models, inference, logs."
  value       = merge({ for purpose, bucket in module.bucket : purpose => bucket.bucket_arn }, { logs = module.logs.bucket_arn })
}

output "prefixes" {
  description = "Key prefixes of the lake layout (behaviour logs, datasets, feature store, async input/output/failures, model artifacts)."
  value       = local.prefixes
}

output "access_log_bucket" {
  description = "Name of the S3 server access log bucket, for other COSMO buckets to log to."
  value       = module.logs.bucket_id
}

output "raw_logs_uri" {
  description = "S3 URI of the behaviour logs."
  value       = "s3://${module.bucket["raw"].bucket_id}/${trimsuffix(local.prefixes.raw_logs, "/")}"
}

output "datasets_root_uri" {
  description = "S3 URI of the dataset root (the platform's storage root)."
  value       = "s3://${module.bucket["datasets"].bucket_id}/${trimsuffix(local.prefixes.datasets, "/")}"
}

output "feature_store_offline_uri" {
  description = "S3 URI of the Feature Store offline store."
  value       = "s3://${module.bucket["datasets"].bucket_id}/${trimsuffix(local.prefixes.feature_store, "/")}"
}

output "async_input_uri" {
  description = "S3 URI where async inference requests are staged."
  value       = "s3://${module.bucket["inference"].bucket_id}/${trimsuffix(local.prefixes.async_input, "/")}"
}

output "async_output_uri" {
  description = "S3 URI where the async endpoint writes responses."
  value       = "s3://${module.bucket["inference"].bucket_id}/${trimsuffix(local.prefixes.async_output, "/")}"
}

output "async_failure_uri" {
  description = "S3 URI where the async endpoint writes failures."
  value       = "s3://${module.bucket["inference"].bucket_id}/${trimsuffix(local.prefixes.async_failure, "/")}"
}

output "model_artifacts_uri" {
  description = "S3 URI of the model artifacts prefix."
  value       = "s3://${module.bucket["models"].bucket_id}/${trimsuffix(local.prefixes.model_artifacts, "/")}"
}
