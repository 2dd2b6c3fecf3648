provider "aws" {
  region = "eu-west-1"
}

module "mlflow_backend" {
  source = "../../"

  name                       = "cosmo-example-mlflow"
  access_log_bucket          = "cosmo-example-logs-123456789012"
  vpc_id                     = "vpc-0123456789abcdef0"
  subnet_ids                 = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  allowed_security_group_ids = ["sg-0123456789abcdef0"]
  kms_key_arn                = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  multi_az                   = true
  deletion_protection        = true
}

output "artifact_root" {
  description = "MLflow artifact root."
  value       = module.mlflow_backend.artifact_root
}
