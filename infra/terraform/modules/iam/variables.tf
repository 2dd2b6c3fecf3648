variable "name_prefix" {
  type        = string
  description = "Prefix of role and policy names, e.g. `cosmo-prod`."

  validation {
    condition     = can(regex("^[a-zA-Z0-9+=,.@_-]{1,32}$", var.name_prefix))
    error_message = "The name_prefix must be 1-32 IAM name characters."
  }
}

variable "bucket_arns" {
  type = object({
    raw              = string
    datasets         = string
    models           = string
    inference        = string
    mlflow_artifacts = string
  })
  description = "ARNs of the buckets the workloads use (data_lake and mlflow_backend outputs)."
}

variable "prefixes" {
  type = object({
    raw_logs        = string
    datasets        = string
    feature_store   = string
    async_input     = string
    async_output    = string
    async_failure   = string
    model_artifacts = string
  })
  description = "Key prefixes inside the buckets (data_lake output `prefixes`); each ends with '/'."

  validation {
    condition     = alltrue([for p in values(var.prefixes) : endswith(p, "/")])
    error_message = "Every prefix must end with '/'."
  }
}

variable "kms_key_arns" {
  type        = list(string)
  description = "ARNs of the customer managed keys the workloads encrypt and decrypt with."

  validation {
    condition     = length(var.kms_key_arns) > 0
    error_message = "At least one KMS key ARN is needed."
  }
}

variable "endpoint_name" {
  type        = string
  description = "Name of the SageMaker async endpoint (scopes invoke rights and endpoint logs)."
}

variable "sns_topic_arns" {
  type        = list(string)
  description = "SNS topics the endpoint publishes async notifications to."
  default     = []
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "ECR repositories the endpoint pulls its inference image from."
  default     = []
}

variable "feature_group_names" {
  type        = list(string)
  description = "Names of the Feature Store feature groups the platform reads and writes."
  default     = []
}

variable "feature_store_glue_database" {
  type        = string
  description = "Glue database in which Feature Store creates offline store tables."
  default     = "sagemaker_featurestore"
}

variable "secret_arns" {
  type        = list(string)
  description = "Secrets the Airflow and Ray workers may read (e.g. the Redis auth token)."
  default     = []
}

variable "eks_oidc_provider_arn" {
  type        = string
  description = "ARN of the EKS cluster's IAM OIDC provider; needed for the IRSA roles of Ray (and self-managed Airflow) workers. Null: no IRSA roles."
  default     = null
}

variable "ray_service_account" {
  type = object({
    namespace = string
    name      = string
  })
  description = "Kubernetes service account of the Ray head and workers (IRSA)."
  default = {
    namespace = "ray"
    name      = "ray-worker"
  }
}

variable "airflow_service_account" {
  type = object({
    namespace = string
    name      = string
  })
  description = "Kubernetes service account of self-managed Airflow workers on EKS (IRSA). Null: no such role (MWAA attaches the airflow_worker policy to its execution role)."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags added to roles and policies."
  default     = {}
}
