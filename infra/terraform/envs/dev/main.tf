# Development: small and disposable. Everything that makes this environment "dev" is stated
# here; the composition is modules/platform, shared with prod. Account-specific inputs come from
# terraform.tfvars (variables.tf).

locals {
  environment = "dev"
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

  # Throw-away data, shorter retention.
  force_destroy_buckets = true
  raw_retention_days    = 180

  # One endpoint instance at most, one Redis node, a single-AZ database without protection.
  endpoint_max_capacity             = 1
  redis_node_type                   = "cache.t4g.small"
  redis_num_cache_clusters          = 1
  redis_snapshot_retention_limit    = 1
  redis_apply_immediately           = true
  mlflow_db_instance_class          = "db.t4g.medium"
  mlflow_db_multi_az                = false
  mlflow_db_deletion_protection     = false
  mlflow_db_backup_retention_period = 3

  # Smallest MWAA, one GPU worker for KubeRay.
  mwaa_environment_class = "mw1.small"
  mwaa_max_workers       = 2
  ray_gpu_workers        = { max_replicas = 1 }
}
