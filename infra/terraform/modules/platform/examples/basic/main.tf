provider "aws" {
  region = "eu-west-1"
}

# Without the KubeRay option the Kubernetes and Helm providers are never contacted; a root that
# enables it configures them from module.platform.eks_connection (see envs/*/providers.tf).

module "platform" {
  source = "../../"

  environment = "example"

  vpc_id                     = "vpc-0123456789abcdef0"
  private_subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  client_security_group_ids  = ["sg-0123456789abcdef0"]
  endpoint_image_uri         = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/cosmo-lm-serving:0.1.0"
  ecr_repository_arns        = ["arn:aws:ecr:eu-west-1:123456789012:repository/cosmo-lm-serving"]
  redis_auth_token_secret_id = "cosmo/example/redis-auth-token"
  mwaa_requirements          = ["cosmo==0.1.0"]

  force_destroy_buckets             = false
  raw_retention_days                = 365
  endpoint_max_capacity             = 1
  redis_node_type                   = "cache.t4g.small"
  redis_num_cache_clusters          = 2
  redis_snapshot_retention_limit    = 1
  redis_apply_immediately           = true
  mlflow_db_instance_class          = "db.t4g.medium"
  mlflow_db_multi_az                = true
  mlflow_db_deletion_protection     = true
  mlflow_db_backup_retention_period = 7
  mwaa_environment_class            = "mw1.small"
  mwaa_max_workers                  = 2
}

output "cosmo_environment" {
  description = "COSMO_* settings of the example environment."
  value       = module.platform.cosmo_environment
}
