variable "name" {
  type        = string
  description = "Name prefix of the database, bucket and related resources, e.g. `cosmo-prod-mlflow`."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "The name must be 3-32 characters: lowercase letters, digits and '-', starting with a letter."
  }
}

variable "artifacts_bucket_name" {
  type        = string
  description = "Name of the MLflow artifacts bucket. Null: <name>-artifacts-<account id>."
  default     = null
}

variable "access_log_bucket" {
  type        = string
  description = "Bucket receiving S3 server access logs of the artifacts bucket (data_lake output access_log_bucket)."
}

variable "force_destroy" {
  type        = bool
  description = "Allow `terraform destroy` to delete a non-empty artifacts bucket (throw-away environments only)."
  default     = false
}

variable "artifact_version_retention_days" {
  type        = number
  description = "Days non-current versions of MLflow artifacts are kept."
  default     = 90

  validation {
    condition     = var.artifact_version_retention_days >= 1
    error_message = "The artifact_version_retention_days must be at least 1."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the database."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the database (at least two AZs)."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "RDS needs subnets in at least two availability zones."
  }
}

variable "allowed_security_group_ids" {
  type        = list(string)
  description = "Security groups of the MLflow tracking server (and admin hosts) allowed to connect."
  default     = []
}

variable "allowed_cidr_blocks" {
  type        = list(string)
  description = "Private CIDR blocks allowed to connect, in addition to the security groups."
  default     = []

  validation {
    condition     = !contains(var.allowed_cidr_blocks, "0.0.0.0/0")
    error_message = "The database must not be open to 0.0.0.0/0."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer managed KMS key for storage, the master user secret, Performance Insights, logs and the artifacts bucket."
}

variable "engine_version" {
  type        = string
  description = "PostgreSQL major (or major.minor) version."
  default     = "16"
}

variable "parameter_group_family" {
  type        = string
  description = "Parameter group family matching engine_version."
  default     = "postgres16"
}

variable "instance_class" {
  type        = string
  description = "Database instance class."
  default     = "db.t4g.medium"

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "The instance_class must be an RDS instance class (db.*)."
  }
}

variable "allocated_storage" {
  type        = number
  description = "Initial storage in GiB."
  default     = 20

  validation {
    condition     = var.allocated_storage >= 20
    error_message = "The allocated_storage must be at least 20 GiB."
  }
}

variable "max_allocated_storage" {
  type        = number
  description = "Upper bound of storage autoscaling in GiB."
  default     = 100
}

variable "multi_az" {
  type        = bool
  description = "Standby replica in a second AZ (production)."
  default     = true
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to delete the database (production)."
  default     = true
}

variable "backup_retention_period" {
  type        = number
  description = "Days automated backups are kept."
  default     = 7

  validation {
    condition     = var.backup_retention_period >= 1 && var.backup_retention_period <= 35
    error_message = "The backup_retention_period must be between 1 and 35."
  }
}

variable "database_name" {
  type        = string
  description = "Name of the MLflow database."
  default     = "mlflow"
}

variable "master_username" {
  type        = string
  description = "Master user name. Its password is generated and kept by RDS in Secrets Manager."
  default     = "mlflow"
}

variable "monitoring_interval" {
  type        = number
  description = "Enhanced Monitoring interval in seconds."
  default     = 60

  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "The monitoring_interval must be one of 1, 5, 10, 15, 30, 60."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days PostgreSQL logs are kept in CloudWatch Logs."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be a CloudWatch Logs retention value."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
