# Account-specific inputs (terraform.tfvars). They are validated where they are used, in
# modules/platform; environment-specific values (sizes, protection) are in main.tf.

variable "aws_region" {
  type        = string
  description = "AWS region of the environment."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "The aws_region must look like eu-west-1."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (cost allocation, owner)."
  default     = {}
}

variable "vpc_id" {
  type        = string
  description = "Existing VPC of the environment."
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets (at least two AZs; the first two host MWAA)."
}

variable "client_security_group_ids" {
  type        = list(string)
  description = "Security groups of platform clients allowed to reach Redis."
  default     = []
}

variable "mlflow_server_security_group_ids" {
  type        = list(string)
  description = "Security groups of the MLflow tracking server."
  default     = []
}

variable "admin_security_group_ids" {
  type        = list(string)
  description = "Security groups (VPN, bastion) allowed to reach the private Airflow UI."
  default     = []
}

variable "endpoint_image_uri" {
  type        = string
  description = "ECR image URI of the COSMO-LM inference container."
}

variable "endpoint_model_data_url" {
  type        = string
  description = "S3 URI of the COSMO-LM model artifact. Null: the image carries the model."
  default     = null
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "ECR repositories the endpoint may pull from."
  default     = []
}

variable "redis_auth_token_secret_id" {
  type        = string
  description = "Name or ARN of the existing Secrets Manager secret with the Redis AUTH token."
}

variable "enable_mwaa" {
  type        = bool
  description = "Run the DAGs on Amazon MWAA (false: self-managed Airflow, e.g. on EKS)."
  default     = true
}

variable "mwaa_requirements" {
  type        = list(string)
  description = "requirements.txt lines of the MWAA environment."
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
