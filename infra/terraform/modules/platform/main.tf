data "aws_region" "current" {}

locals {
  name          = "cosmo-${var.environment}"
  endpoint_name = "${local.name}-cosmo-lm"

  ray_service_account = {
    namespace = var.ray_namespace
    name      = "ray-worker"
  }
}

check "kuberay_inputs" {
  assert {
    condition     = !var.enable_kuberay || (var.eks_cluster_name != null && var.eks_oidc_provider_arn != null)
    error_message = "The KubeRay option needs eks_cluster_name and eks_oidc_provider_arn."
  }
}

# --- Keys ----------------------------------------------------------------------------------

module "kms_data" {
  source = "../kms_key"

  alias                 = "${local.name}-data"
  description           = "COSMO ${var.environment}: lake, async inference, feature store, MLflow"
  allow_cloudwatch_logs = true
}

module "kms_platform" {
  source = "../kms_key"

  alias                 = "${local.name}-platform"
  description           = "COSMO ${var.environment}: Redis, MWAA and their logs"
  allow_cloudwatch_logs = true
}

# --- Storage -------------------------------------------------------------------------------

module "data_lake" {
  source = "../data_lake"

  name_prefix        = local.name
  kms_key_arn        = module.kms_data.key_arn
  force_destroy      = var.force_destroy_buckets
  raw_retention_days = var.raw_retention_days
}

module "mlflow_backend" {
  source = "../mlflow_backend"

  name                       = "${local.name}-mlflow"
  access_log_bucket          = module.data_lake.access_log_bucket
  force_destroy              = var.force_destroy_buckets
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  allowed_security_group_ids = var.mlflow_server_security_group_ids
  kms_key_arn                = module.kms_data.key_arn
  instance_class             = var.mlflow_db_instance_class
  multi_az                   = var.mlflow_db_multi_az
  deletion_protection        = var.mlflow_db_deletion_protection
  backup_retention_period    = var.mlflow_db_backup_retention_period
}

# --- Identities ----------------------------------------------------------------------------

module "iam" {
  source = "../iam"

  name_prefix = local.name
  bucket_arns = {
    raw              = module.data_lake.bucket_arns.raw
    datasets         = module.data_lake.bucket_arns.datasets
    models           = module.data_lake.bucket_arns.models
    inference        = module.data_lake.bucket_arns.inference
    mlflow_artifacts = module.mlflow_backend.artifacts_bucket_arn
  }
  prefixes                = module.data_lake.prefixes
  kms_key_arns            = [module.kms_data.key_arn, module.kms_platform.key_arn]
  endpoint_name           = local.endpoint_name
  sns_topic_arns          = [module.endpoint.success_topic_arn, module.endpoint.error_topic_arn]
  ecr_repository_arns     = var.ecr_repository_arns
  feature_group_names     = values(module.feature_store.feature_group_names)
  secret_arns             = [module.redis.auth_token_secret_arn]
  eks_oidc_provider_arn   = var.eks_oidc_provider_arn
  ray_service_account     = local.ray_service_account
  airflow_service_account = var.airflow_service_account
}

# --- Serving -------------------------------------------------------------------------------

module "endpoint" {
  source = "../sagemaker_async_endpoint"

  name                                    = local.endpoint_name
  execution_role_arn                      = module.iam.sagemaker_endpoint_role_arn
  image_uri                               = var.endpoint_image_uri
  model_data_url                          = var.endpoint_model_data_url
  instance_type                           = var.endpoint_instance_type
  kms_key_arn                             = module.kms_data.key_arn
  s3_output_path                          = module.data_lake.async_output_uri
  s3_failure_path                         = module.data_lake.async_failure_uri
  max_concurrent_invocations_per_instance = var.endpoint_max_concurrent_invocations

  autoscaling = {
    min_capacity                = 0
    max_capacity                = var.endpoint_max_capacity
    target_backlog_per_instance = var.endpoint_target_backlog_per_instance
  }
}

module "feature_store" {
  source = "../feature_store"

  name_prefix          = local.name
  role_arn             = module.iam.feature_store_role_arn
  kms_key_arn          = module.kms_data.key_arn
  offline_store_s3_uri = module.data_lake.feature_store_offline_uri
}

module "redis" {
  source = "../redis"

  name                       = "${local.name}-cache"
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  allowed_security_group_ids = concat(var.client_security_group_ids, var.enable_mwaa ? [module.mwaa[0].security_group_id] : [])
  kms_key_arn                = module.kms_platform.key_arn
  auth_token_secret_id       = var.redis_auth_token_secret_id
  node_type                  = var.redis_node_type
  num_cache_clusters         = var.redis_num_cache_clusters
  snapshot_retention_limit   = var.redis_snapshot_retention_limit
  apply_immediately          = var.redis_apply_immediately
}

# --- Orchestration and batch compute (options) ---------------------------------------------

module "mwaa" {
  source = "../mwaa"
  count  = var.enable_mwaa ? 1 : 0

  name                                 = local.name
  vpc_id                               = var.vpc_id
  subnet_ids                           = slice(var.private_subnet_ids, 0, 2)
  webserver_allowed_security_group_ids = var.admin_security_group_ids
  kms_key_arn                          = module.kms_platform.key_arn
  access_log_bucket                    = module.data_lake.access_log_bucket
  force_destroy                        = var.force_destroy_buckets
  environment_class                    = var.mwaa_environment_class
  max_workers                          = var.mwaa_max_workers
  requirements                         = var.mwaa_requirements
  startup_script                       = module.platform_env.startup_script
  additional_policy_arns = {
    platform = module.iam.airflow_worker_policy_arn
  }
}

module "kuberay" {
  source = "../kuberay"
  count  = var.enable_kuberay ? 1 : 0

  cluster_name             = "cosmo"
  namespace                = local.ray_service_account.namespace
  service_account_name     = local.ray_service_account.name
  service_account_role_arn = module.iam.ray_worker_role_arn
  gpu_workers              = var.ray_gpu_workers
}

# The env roots configure the Kubernetes and Helm providers (used by KubeRay only) from the
# `eks_connection` output. Without the KubeRay option they get empty values and are never
# contacted.
data "aws_eks_cluster" "this" {
  count = var.enable_kuberay ? 1 : 0

  name = var.eks_cluster_name
}

# --- Platform configuration ----------------------------------------------------------------

module "platform_env" {
  source = "../platform_env"

  aws_region              = data.aws_region.current.name
  datasets_bucket         = module.data_lake.bucket_names.datasets
  datasets_prefix         = trimsuffix(module.data_lake.prefixes.datasets, "/")
  raw_bucket              = module.data_lake.bucket_names.raw
  raw_prefix              = trimsuffix(module.data_lake.prefixes.raw_logs, "/")
  mlflow_artifacts_bucket = module.mlflow_backend.artifacts_bucket_name
  endpoint_name           = module.endpoint.endpoint_name
  async_input_uri         = module.data_lake.async_input_uri
  async_output_uri        = module.data_lake.async_output_uri
  async_failure_uri       = module.data_lake.async_failure_uri
  feature_group_names     = module.feature_store.feature_group_names
  redis_host              = module.redis.primary_endpoint_address
  redis_port              = module.redis.port
  ray_address             = var.enable_kuberay ? module.kuberay[0].ray_address : null
}
