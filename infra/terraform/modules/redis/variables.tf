variable "name" {
  type        = string
  description = "Replication group ID and name prefix of the related resources, e.g. `cosmo-prod-cache`."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name))
    error_message = "The name must start with a letter, use lowercase letters, digits and '-', and be at most 40 characters."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the cache."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the cache (one per AZ used)."

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "At least one subnet is needed."
  }
}

variable "allowed_security_group_ids" {
  type        = list(string)
  description = "Security groups of the clients (Airflow, Ray, serving) allowed to connect."
  default     = []
}

variable "allowed_cidr_blocks" {
  type        = list(string)
  description = "Private CIDR blocks allowed to connect, in addition to the security groups."
  default     = []

  validation {
    condition     = !contains(var.allowed_cidr_blocks, "0.0.0.0/0")
    error_message = "The cache must not be open to 0.0.0.0/0."
  }
}

variable "engine_version" {
  type        = string
  description = "Redis engine version."
  default     = "7.1"
}

variable "parameter_group_name" {
  type        = string
  description = "Parameter group matching engine_version."
  default     = "default.redis7"
}

variable "node_type" {
  type        = string
  description = "Cache node type."
  default     = "cache.t4g.small"

  validation {
    condition     = startswith(var.node_type, "cache.")
    error_message = "The node_type must be an ElastiCache node type (cache.*)."
  }
}

variable "num_cache_clusters" {
  type        = number
  description = "Nodes (primary plus replicas). 2 or more turns on automatic failover and Multi-AZ."
  default     = 1

  validation {
    condition     = var.num_cache_clusters >= 1 && var.num_cache_clusters <= 6
    error_message = "The num_cache_clusters must be between 1 and 6."
  }
}

variable "port" {
  type        = number
  description = "Port Redis listens on."
  default     = 6379
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer managed KMS key for data at rest, snapshots and the slow log."
}

variable "auth_token_secret_id" {
  type        = string
  description = "Name or ARN of the Secrets Manager secret holding the Redis AUTH token (16-128 printable characters, no '@', '\"' or '/'). Created outside Terraform code so that no token is ever written in it."
}

variable "auth_token_secret_json_key" {
  type        = string
  description = "If the secret is a JSON object, the key holding the token. Null: the secret string is the token."
  default     = null
}

variable "snapshot_retention_limit" {
  type        = number
  description = "Days automatic snapshots are kept (0 turns backups off)."
  default     = 7

  validation {
    condition     = var.snapshot_retention_limit >= 1 && var.snapshot_retention_limit <= 35
    error_message = "The snapshot_retention_limit must be between 1 and 35."
  }
}

variable "snapshot_window" {
  type        = string
  description = "Daily UTC window of automatic snapshots."
  default     = "03:00-04:00"
}

variable "maintenance_window" {
  type        = string
  description = "Weekly UTC maintenance window."
  default     = "sun:04:30-sun:05:30"
}

variable "log_retention_days" {
  type        = number
  description = "Days the slow log is kept in CloudWatch Logs."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be a CloudWatch Logs retention value."
  }
}

variable "apply_immediately" {
  type        = bool
  description = "Apply changes now instead of in the maintenance window."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
