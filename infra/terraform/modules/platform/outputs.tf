# What the platform's configuration consumes. `cosmo_environment` is the contract with
# cosmo.config.Settings (tests/infra/test_outputs_contract.py); the other outputs are for
# operators and CI. The env roots output `cosmo_environment` and this whole module as `platform`.

output "cosmo_environment" {
  description = "COSMO_* environment variables (pydantic-settings, nested with __) for every platform process: `terraform output -json cosmo_environment`."
  value       = module.platform_env.cosmo_environment
}

output "bucket_names" {
  description = "Lake bucket names by purpose (raw, datasets, models, inference, logs)."
  value       = module.data_lake.bucket_names
}

output "mlflow_artifacts_bucket" {
  description = "MLflow artifacts bucket."
  value       = module.mlflow_backend.artifacts_bucket_name
}

output "endpoint_name" {
  description = "SageMaker async endpoint name."
  value       = module.endpoint.endpoint_name
}

output "async_notification_topics" {
  description = "SNS topics announcing async successes and errors."
  value = {
    success = module.endpoint.success_topic_arn
    error   = module.endpoint.error_topic_arn
  }
}

output "feature_group_names" {
  description = "Feature group name per feature set."
  value       = module.feature_store.feature_group_names
}

output "redis_address" {
  description = "Redis primary endpoint (host and port, TLS)."
  value = {
    host = module.redis.primary_endpoint_address
    port = module.redis.port
  }
}

output "redis_auth_token_secret_arn" {
  description = "Secret holding the Redis AUTH token (read into COSMO_CACHE__REDIS_AUTH_TOKEN at run time)."
  value       = module.redis.auth_token_secret_arn
}

output "mlflow_backend" {
  description = "MLflow server settings: backend store URI (password from the secret) and artifact root."
  value = {
    backend_store_uri_without_password = module.mlflow_backend.backend_store_uri_without_password
    master_user_secret_arn             = module.mlflow_backend.master_user_secret_arn
    artifact_root                      = module.mlflow_backend.artifact_root
  }
}

output "mwaa" {
  description = "MWAA environment (null without the MWAA option)."
  value = var.enable_mwaa ? {
    webserver_url      = module.mwaa[0].webserver_url
    dags_bucket        = module.mwaa[0].dags_bucket_name
    execution_role_arn = module.mwaa[0].execution_role_arn
  } : null
}

output "ray_address" {
  description = "Ray Jobs API address inside the EKS cluster (null without the KubeRay option)."
  value       = var.enable_kuberay ? module.kuberay[0].ray_address : null
}

output "role_arns" {
  description = "IAM roles of the workloads."
  value = {
    sagemaker_endpoint = module.iam.sagemaker_endpoint_role_arn
    feature_store      = module.iam.feature_store_role_arn
    airflow_worker     = module.iam.airflow_worker_role_arn
    ray_worker         = module.iam.ray_worker_role_arn
  }
}

output "eks_connection" {
  description = "How the env roots' Kubernetes and Helm providers reach the EKS cluster of the KubeRay option: host, CA certificate, `aws eks get-token` arguments (empty values without the option)."
  value = {
    host                   = try(data.aws_eks_cluster.this[0].endpoint, "")
    cluster_ca_certificate = try(base64decode(data.aws_eks_cluster.this[0].certificate_authority[0].data), "")
    token_args             = ["eks", "get-token", "--cluster-name", coalesce(var.eks_cluster_name, "none"), "--region", data.aws_region.current.name]
  }
}
