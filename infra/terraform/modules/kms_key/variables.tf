variable "alias" {
  type        = string
  description = "Alias of the key without the `alias/` prefix, e.g. `cosmo-prod-data`."

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "The alias may contain letters, digits, '/', '_' and '-' and must not start with 'aws/'."
  }
}

variable "description" {
  type        = string
  description = "What the key protects; shown in the KMS console."
}

variable "deletion_window_in_days" {
  type        = number
  description = "Waiting period before a scheduled key deletion completes."
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "The deletion_window_in_days must be between 7 and 30."
  }
}

variable "service_principals" {
  type        = list(string)
  description = "AWS service principals (e.g. `sns.amazonaws.com`) allowed to use the key for this account's resources (condition aws:SourceAccount)."
  default     = []
}

variable "allow_cloudwatch_logs" {
  type        = bool
  description = "Allow CloudWatch Logs in this region to encrypt this account's log groups with the key."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to the key."
  default     = {}
}
