data "aws_caller_identity" "current" {}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice left to the account owner; lake data is rebuilt from the raw logs and versioning guards against deletes.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications: the pipeline is scheduled by Airflow and async results are announced on SNS by SageMaker.
  #checkov:skip=CKV_AWS_145:Default encryption is SSE-KMS with a customer managed key; only the access log target bucket uses AES256 because S3 server access logging does not support SSE-KMS targets.
  bucket        = var.bucket
  force_destroy = var.force_destroy
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = var.sse_algorithm != "aws:kms" || var.kms_key_arn != null
      error_message = "The kms_key_arn is required when sse_algorithm is aws:kms."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.sse_algorithm
      kms_master_key_id = var.sse_algorithm == "aws:kms" ? var.kms_key_arn : null
    }
    bucket_key_enabled = var.sse_algorithm == "aws:kms"
  }
}

resource "aws_s3_bucket_logging" "this" {
  count = var.access_logging == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_logging.target_bucket
  target_prefix = "${var.access_logging.target_prefix}${var.bucket}/"
}
