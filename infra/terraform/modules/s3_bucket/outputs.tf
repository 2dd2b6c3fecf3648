output "bucket_id" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.id

  # Consumers get the bucket only once it is fully configured: objects written before
  # versioning is on would have no version ID, and nothing should land before encryption,
  # the public access block and the TLS-only policy are in place.
  depends_on = [
    aws_s3_bucket_versioning.this,
    aws_s3_bucket_server_side_encryption_configuration.this,
    aws_s3_bucket_public_access_block.this,
    aws_s3_bucket_policy.this,
    aws_s3_bucket_ownership_controls.this,
  ]
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn

  depends_on = [
    aws_s3_bucket_versioning.this,
    aws_s3_bucket_server_side_encryption_configuration.this,
    aws_s3_bucket_public_access_block.this,
    aws_s3_bucket_policy.this,
    aws_s3_bucket_ownership_controls.this,
  ]
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the bucket."
  value       = aws_s3_bucket.this.bucket_regional_domain_name

  depends_on = [
    aws_s3_bucket_versioning.this,
    aws_s3_bucket_server_side_encryption_configuration.this,
    aws_s3_bucket_public_access_block.this,
    aws_s3_bucket_policy.this,
    aws_s3_bucket_ownership_controls.this,
  ]
}
