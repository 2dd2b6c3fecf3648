# Production: highly available and protected. Everything that makes this environment "prod" is
# stated here; the composition is modules/platform, shared with dev. Account-specific inputs
# come from terraform.tfvars (variables.tf).

locals {
  environment = "prod"
}

module "platform" {
  source = "../../modules/platform"

  environment = local.environment

  # Account-specific (terraform.tfvars).
  vpc_id                           = var.vpc_id
  private_subnet_ids               = var.private_subnet_ids
  client_security_group_ids        = var.client_security_group_ids
  mlflow_server_security_group_ids = var.mlflow_server_security_group_ids
  admin_security_group_ids         = var.admin_security_group_ids
  endpoint_image_uri               = var.endpoint_image_uri
  endpoint_model_data_url          = var.endpoint_model_data_url
  ecr_repository_arns              = var.ecr_repository_arns
  redis_auth_token_secret_id       = var.redis_auth_token_secret_id
  enable_mwaa                      = var.enable_mwaa
  mwaa_requirements                = var.mwaa_requirements
  airflow_service_account          = var.airflow_service_account
  enable_kuberay                   = var.enable_kuberay
  eks_cluster_name                 = var.eks_cluster_name
  eks_oidc_provider_arn            = var.eks_oidc_provider_arn

  # Buckets are never force-destroyed; behaviour logs are kept two years.
  force_destroy_buckets = false
  raw_retention_days    = 730

  # Up to four endpoint instances; Redis with failover across AZs; a Multi-AZ database with
  # deletion protection and two weeks of backups.
  endpoint_max_capacity             = 4
  redis_node_type                   = "cache.r7g.large"
  redis_num_cache_clusters          = 2
  redis_snapshot_retention_limit    = 7
  redis_apply_immediately           = false
  mlflow_db_instance_class          = "db.r6g.large"
  mlflow_db_multi_az                = true
  mlflow_db_deletion_protection     = true
  mlflow_db_backup_retention_period = 14

  # Bigger MWAA, up to four GPU workers for KubeRay.
  mwaa_environment_class = "mw1.medium"
  mwaa_max_workers       = 6
  ray_gpu_workers        = { max_replicas = 4 }
}
