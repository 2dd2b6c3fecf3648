provider "aws" {
  region = "eu-west-1"
}

module "mwaa" {
  source = "../../"

  name              = "cosmo-example"
  vpc_id            = "vpc-0123456789abcdef0"
  subnet_ids        = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  access_log_bucket = "cosmo-example-logs-123456789012"
  requirements      = ["boto3>=1.35"]
  startup_script    = "#!/bin/sh\nexport COSMO_AWS__REGION='eu-west-1'\n"
  additional_policy_arns = {
    platform = "arn:aws:iam::123456789012:policy/cosmo-example-airflow-worker"
  }
}

output "webserver_url" {
  description = "Private Airflow UI."
  value       = module.mwaa.webserver_url
}
