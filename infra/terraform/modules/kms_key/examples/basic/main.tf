provider "aws" {
  region = "eu-west-1"
}

module "kms_key" {
  source = "../../"

  alias                 = "cosmo-example"
  description           = "COSMO example key"
  service_principals    = ["sns.amazonaws.com"]
  allow_cloudwatch_logs = true
}

output "key_arn" {
  description = "ARN of the example key."
  value       = module.kms_key.key_arn
}
