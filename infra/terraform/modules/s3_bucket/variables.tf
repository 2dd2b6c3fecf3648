variable "bucket" {
  type        = string
  description = "Globally unique bucket name."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket))
    error_message = "Bucket names are 3-63 characters of lowercase letters, digits, '.' and '-'."
  }
}

variable "sse_algorithm" {
  type        = string
  description = "Default encryption: `aws:kms` with a customer managed key (default), or `AES256` for a server access log target bucket (S3 does not deliver access logs to SSE-KMS buckets)."
  default     = "aws:kms"

  validation {
    condition     = contains(["aws:kms", "AES256"], var.sse_algorithm)
    error_message = "The sse_algorithm must be aws:kms or AES256."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer managed KMS key used for default encryption; required when sse_algorithm is aws:kms."
  default     = null
}

variable "force_destroy" {
  type        = bool
  description = "Allow `terraform destroy` to delete a bucket that still holds objects. Keep false outside throw-away environments."
  default     = false
}

variable "lifecycle_rules" {
  type = list(object({
    id                                 = string
    prefix                             = optional(string, "")
    expiration_days                    = optional(number)
    noncurrent_version_expiration_days = optional(number)
    transitions = optional(list(object({
      days          = number
      storage_class = string
    })), [])
  }))
  description = "Lifecycle rules (transitions, expiry, non-current version expiry) per prefix. A rule that aborts incomplete multipart uploads and removes expired delete markers is always added."
  default     = []

  validation {
    condition = alltrue([
      for rule in var.lifecycle_rules : alltrue([
        for t in rule.transitions : contains(["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], t.storage_class)
      ])
    ])
    error_message = "Transition storage_class must be one of STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  type        = number
  description = "Days after which incomplete multipart uploads are aborted."
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1
    error_message = "The abort_incomplete_multipart_upload_days must be at least 1."
  }
}

variable "access_logging" {
  type = object({
    target_bucket = string
    target_prefix = optional(string, "s3-access/")
  })
  description = "Where S3 server access logs go (the target bucket must use AES256 and allow log delivery). Null only for the log bucket itself."
  default     = null
}

variable "allow_access_log_delivery" {
  type        = bool
  description = "Make this bucket a server access log target: allow logging.s3.amazonaws.com to write for source buckets of this account."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to the bucket."
  default     = {}
}
