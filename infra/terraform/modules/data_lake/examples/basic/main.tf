provider "aws" {
  region = "eu-west-1"
}

module "key" {
  source = "../../../kms_key"

  alias       = "cosmo-example-lake"
  description = "COSMO example data lake key"
}

module "data_lake" {
  source = "../../"

  name_prefix   = "cosmo-example"
  kms_key_arn   = module.key.key_arn
  force_destroy = true
}

output "bucket_names" {
  description = "Lake bucket names."
  value       = module.data_lake.bucket_names
}
