variable "aws_region" {
  type        = string
  description = "AWS region of the environment."
}

variable "datasets_bucket" {
  type        = string
  description = "Name of the datasets bucket (data_lake output bucket_names.datasets)."
}

variable "datasets_prefix" {
  type        = string
  description = "Prefix of the dataset root inside the datasets bucket, without slashes."
  default     = "cosmo"
}

variable "raw_bucket" {
  type        = string
  description = "Name of the raw behaviour-log bucket (data_lake output bucket_names.raw)."
}

variable "raw_prefix" {
  type        = string
  description = "Prefix of the behaviour logs inside the raw bucket, without slashes."
  default     = "behaviour_logs"
}

variable "mlflow_artifacts_bucket" {
  type        = string
  description = "Name of the MLflow artifacts bucket (mlflow_backend output artifacts_bucket_name)."
}

variable "endpoint_name" {
  type        = string
  description = "Name of the SageMaker async endpoint."
}

variable "async_input_uri" {
  type        = string
  description = "S3 URI where async requests are staged."

  validation {
    condition     = can(regex("^s3://", var.async_input_uri))
    error_message = "The async_input_uri must be an s3:// URI."
  }
}

variable "async_output_uri" {
  type        = string
  description = "S3 URI where the endpoint writes async responses."

  validation {
    condition     = can(regex("^s3://", var.async_output_uri))
    error_message = "The async_output_uri must be an s3:// URI."
  }
}

variable "async_failure_uri" {
  type        = string
  description = "S3 URI where the endpoint writes async failures."

  validation {
    condition     = can(regex("^s3://", var.async_failure_uri))
    error_message = "The async_failure_uri must be an s3:// URI."
  }
}

variable "feature_group_names" {
  type        = map(string)
  description = "Feature group name per feature set (feature_store output feature_group_names)."
}

variable "redis_host" {
  type        = string
  description = "Host name of the Redis primary endpoint."
}

variable "redis_port" {
  type        = number
  description = "Port of Redis."
  default     = 6379
}

variable "ray_address" {
  type        = string
  description = "Ray Jobs API address (kuberay output ray_address). Null when Ray runs locally."
  default     = null
}
