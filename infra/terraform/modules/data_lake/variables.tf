variable "name_prefix" {
  type        = string
  description = "Prefix of every bucket name, e.g. `cosmo-prod`."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "The name_prefix must be 3-20 characters of lowercase letters, digits and '-'."
  }
}

variable "bucket_name_suffix" {
  type        = string
  description = "Suffix that makes bucket names globally unique. Null: the AWS account ID."
  default     = null
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer managed KMS key that encrypts the lake buckets."
}

variable "force_destroy" {
  type        = bool
  description = "Allow `terraform destroy` to delete non-empty buckets (throw-away environments only)."
  default     = false
}

variable "raw_retention_days" {
  type        = number
  description = "Days behaviour logs are kept in the raw bucket before they expire."
  default     = 730

  validation {
    condition     = var.raw_retention_days >= 90
    error_message = "The raw_retention_days must be at least 90 (the raw bucket moves objects to GLACIER_IR after 90 days)."
  }
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days overwritten or deleted object versions are kept (raw, datasets)."
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "The noncurrent_version_retention_days must be at least 1."
  }
}

variable "model_version_retention_days" {
  type        = number
  description = "Days non-current versions of model artifacts are kept."
  default     = 90

  validation {
    condition     = var.model_version_retention_days >= 1
    error_message = "The model_version_retention_days must be at least 1."
  }
}

variable "async_inference_retention_days" {
  type = object({
    input   = number
    output  = number
    failure = number
  })
  description = "Days async inference requests, responses and failures are kept."
  default = {
    input   = 7
    output  = 30
    failure = 90
  }

  validation {
    condition     = var.async_inference_retention_days.input >= 1 && var.async_inference_retention_days.output >= 1 && var.async_inference_retention_days.failure >= 1
    error_message = "Every async inference retention must be at least 1 day."
  }
}

variable "access_log_retention_days" {
  type        = number
  description = "Days S3 server access logs are kept in the log bucket."
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 1
    error_message = "The access_log_retention_days must be at least 1."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every bucket."
  default     = {}
}
