provider "aws" {
  region = "eu-west-1"
}

module "key" {
  source = "../../../kms_key"

  alias       = "cosmo-example-bucket"
  description = "Example bucket key"
}

module "logs" {
  source = "../../"

  bucket                    = "cosmo-example-access-logs-123456789012"
  sse_algorithm             = "AES256"
  allow_access_log_delivery = true
  lifecycle_rules = [{
    id              = "expire-access-logs"
    expiration_days = 365
  }]
}

module "bucket" {
  source = "../../"

  bucket      = "cosmo-example-data-123456789012"
  kms_key_arn = module.key.key_arn
  access_logging = {
    target_bucket = module.logs.bucket_id
  }
  lifecycle_rules = [{
    id                                 = "tier-and-expire"
    transitions                        = [{ days = 30, storage_class = "STANDARD_IA" }]
    noncurrent_version_expiration_days = 30
  }]
}

output "bucket_id" {
  description = "Name of the example bucket."
  value       = module.bucket.bucket_id
}
