provider "aws" {
  region = "eu-west-1"
}

module "feature_store" {
  source = "../../"

  name_prefix          = "cosmo-example"
  role_arn             = "arn:aws:iam::123456789012:role/cosmo-example-feature-store"
  kms_key_arn          = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  offline_store_s3_uri = "s3://cosmo-example-datasets-123456789012/feature-store"
}

output "feature_group_names" {
  description = "Feature group names by feature set."
  value       = module.feature_store.feature_group_names
}
