# Inputs come in two kinds. Account-specific ones (network, image, secret, options) reach the env
# roots through terraform.tfvars and are passed on unchanged. Environment-specific ones (sizes,
# retention, protection) have no default: each root states them, so that what makes an
# environment "dev" or "prod" is written in its main.tf and nowhere else.

variable "environment" {
  type        = string
  description = "Environment name (`dev`, `prod`, ...): names every resource `cosmo-<environment>-...`."

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,12}[a-z0-9])?$", var.environment))
    error_message = "The environment must be 1-14 lowercase letters, digits or '-', starting with a letter."
  }
}

# --- Network -------------------------------------------------------------------------------

variable "vpc_id" {
  type        = string
  description = "Existing VPC of the environment."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "The vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets (at least two AZs; the first two host MWAA) with a route to AWS APIs through NAT or VPC endpoints."

  validation {
    condition     = length(var.private_subnet_ids) >= 2 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "Give at least two subnet IDs (subnet-...)."
  }
}

variable "client_security_group_ids" {
  type        = list(string)
  description = "Security groups of platform clients (EKS nodes running Ray, serving hosts) allowed to reach Redis. MWAA's group is added automatically."
  default     = []
}

variable "mlflow_server_security_group_ids" {
  type        = list(string)
  description = "Security groups of the MLflow tracking server allowed to reach its database."
  default     = []
}

variable "admin_security_group_ids" {
  type        = list(string)
  description = "Security groups (VPN, bastion) allowed to reach the private Airflow UI."
  default     = []
}

# --- Data lake -----------------------------------------------------------------------------

variable "force_destroy_buckets" {
  type        = bool
  description = "Let `terraform destroy` delete non-empty buckets (throw-away environments only)."
}

variable "raw_retention_days" {
  type        = number
  description = "Days behaviour logs are kept."
}

# --- Async endpoint ------------------------------------------------------------------------

variable "endpoint_image_uri" {
  type        = string
  description = "ECR image URI of the COSMO-LM inference container."
}

variable "endpoint_model_data_url" {
  type        = string
  description = "S3 URI of the COSMO-LM model artifact (model.tar.gz in the models bucket). Null: the image carries the model."
  default     = null
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "ECR repositories the endpoint may pull from (the repository of endpoint_image_uri)."
  default     = []
}

variable "endpoint_instance_type" {
  type        = string
  description = "Instance type of the async endpoint."
  default     = "ml.g5.xlarge"
}

variable "endpoint_max_capacity" {
  type        = number
  description = "Most instances the endpoint scales out to (it scales in to zero when idle)."

  validation {
    condition     = var.endpoint_max_capacity >= 1
    error_message = "The endpoint_max_capacity must be at least 1."
  }
}

variable "endpoint_target_backlog_per_instance" {
  type        = number
  description = "Queued requests per instance the autoscaler aims for (ApproximateBacklogSizePerInstance)."
  default     = 5
}

variable "endpoint_max_concurrent_invocations" {
  type        = number
  description = "Requests one instance processes at once."
  default     = 4
}

# --- Cache ---------------------------------------------------------------------------------

variable "redis_auth_token_secret_id" {
  type        = string
  description = "Name or ARN of the existing Secrets Manager secret with the Redis AUTH token (created before the first apply; see the redis module README)."
}

variable "redis_node_type" {
  type        = string
  description = "ElastiCache node type."
}

variable "redis_num_cache_clusters" {
  type        = number
  description = "Redis nodes (2+ turns on failover and Multi-AZ)."
}

variable "redis_snapshot_retention_limit" {
  type        = number
  description = "Days Redis snapshots are kept."
}

variable "redis_apply_immediately" {
  type        = bool
  description = "Apply Redis changes at once instead of in the maintenance window."
}

# --- MLflow --------------------------------------------------------------------------------

variable "mlflow_db_instance_class" {
  type        = string
  description = "Instance class of the MLflow database."
}

variable "mlflow_db_multi_az" {
  type        = bool
  description = "Standby replica of the MLflow database in a second AZ."
}

variable "mlflow_db_deletion_protection" {
  type        = bool
  description = "Refuse to delete the MLflow database."
}

variable "mlflow_db_backup_retention_period" {
  type        = number
  description = "Days automated backups of the MLflow database are kept."
}

# --- Orchestration: MWAA option ------------------------------------------------------------

variable "enable_mwaa" {
  type        = bool
  description = "Run the DAGs on Amazon MWAA (false: self-managed Airflow, e.g. on EKS)."
  default     = true
}

variable "mwaa_environment_class" {
  type        = string
  description = "MWAA environment class."
}

variable "mwaa_max_workers" {
  type        = number
  description = "Most MWAA workers."
}

variable "mwaa_requirements" {
  type        = list(string)
  description = "requirements.txt lines of the MWAA environment (the COSMO package and its pins)."
  default     = []
}

variable "airflow_service_account" {
  type = object({
    namespace = string
    name      = string
  })
  description = "Service account of self-managed Airflow workers on EKS (IRSA role); null with MWAA."
  default     = null
}

# --- Batch compute: KubeRay option ---------------------------------------------------------

variable "enable_kuberay" {
  type        = bool
  description = "Deploy KubeRay and a RayCluster with a GPU worker group on the existing EKS cluster."
  default     = false
}

variable "eks_cluster_name" {
  type        = string
  description = "Existing EKS cluster for KubeRay (required with enable_kuberay)."
  default     = null
}

variable "eks_oidc_provider_arn" {
  type        = string
  description = "IAM OIDC provider of the EKS cluster, for the IRSA roles of Ray (and self-managed Airflow) workers."
  default     = null
}

variable "ray_namespace" {
  type        = string
  description = "Kubernetes namespace of the RayCluster."
  default     = "ray"
}

variable "ray_gpu_workers" {
  type = object({
    min_replicas    = optional(number)
    max_replicas    = optional(number)
    gpus_per_worker = optional(number)
    cpu             = optional(string)
    memory          = optional(string)
    node_selector   = optional(map(string))
  })
  description = "GPU worker group of the RayCluster (kuberay module input gpu_workers: attributes left out take that module's defaults)."
  default     = {}
}
