variable "name" {
  type        = string
  description = "Endpoint name; also the prefix of the model, endpoint configuration, SNS topics and alarms."

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,39}$", var.name))
    error_message = "The name must be 1-40 alphanumeric characters or hyphens (room is left for generated suffixes)."
  }
}

variable "execution_role_arn" {
  type        = string
  description = "ARN of the IAM role SageMaker assumes to pull the image and model, write async results and publish notifications (see the iam module)."
}

variable "image_uri" {
  type        = string
  description = "Inference container image URI (ECR)."
}

variable "model_data_url" {
  type        = string
  description = "S3 URI of the model artifact (model.tar.gz). Null when the image carries the model."
  default     = null

  validation {
    condition     = var.model_data_url == null || can(regex("^s3://", var.model_data_url))
    error_message = "The model_data_url must be an s3:// URI."
  }
}

variable "environment" {
  type        = map(string)
  description = "Environment variables of the inference container. No secrets: the container gets AWS access from the execution role."
  default     = {}
}

variable "enable_network_isolation" {
  type        = bool
  description = "Run the container without network access (SageMaker still stages the model and async payloads)."
  default     = true
}

variable "variant_name" {
  type        = string
  description = "Production variant name."
  default     = "AllTraffic"
}

variable "instance_type" {
  type        = string
  description = "Instance type of the production variant."
  default     = "ml.g5.xlarge"

  validation {
    condition     = startswith(var.instance_type, "ml.")
    error_message = "The instance_type must be a SageMaker instance type (ml.*)."
  }
}

variable "initial_instance_count" {
  type        = number
  description = "Instances when an endpoint configuration is first deployed (SageMaker requires at least 1); autoscaling then takes over and may go down to min_capacity."
  default     = 1

  validation {
    condition     = var.initial_instance_count >= 1
    error_message = "The initial_instance_count must be at least 1."
  }
}

variable "container_startup_health_check_timeout_in_seconds" {
  type        = number
  description = "How long SageMaker waits for the container to pass its health check (large LLMs load slowly)."
  default     = 900

  validation {
    condition     = var.container_startup_health_check_timeout_in_seconds >= 60 && var.container_startup_health_check_timeout_in_seconds <= 3600
    error_message = "Must be between 60 and 3600 seconds."
  }
}

variable "model_data_download_timeout_in_seconds" {
  type        = number
  description = "How long SageMaker may take to download the model artifact."
  default     = 1200

  validation {
    condition     = var.model_data_download_timeout_in_seconds >= 60 && var.model_data_download_timeout_in_seconds <= 3600
    error_message = "Must be between 60 and 3600 seconds."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer managed KMS key for async outputs, SNS topics and (EBS-backed instance types) the ML storage volume."
}

variable "s3_output_path" {
  type        = string
  description = "S3 URI where the endpoint writes async responses."

  validation {
    condition     = can(regex("^s3://", var.s3_output_path))
    error_message = "The s3_output_path must be an s3:// URI."
  }
}

variable "s3_failure_path" {
  type        = string
  description = "S3 URI where the endpoint writes async failures."

  validation {
    condition     = can(regex("^s3://", var.s3_failure_path))
    error_message = "The s3_failure_path must be an s3:// URI."
  }
}

variable "max_concurrent_invocations_per_instance" {
  type        = number
  description = "Requests one instance works on at once (async client_config)."
  default     = 4

  validation {
    condition     = var.max_concurrent_invocations_per_instance >= 1 && var.max_concurrent_invocations_per_instance <= 1000
    error_message = "The max_concurrent_invocations_per_instance must be between 1 and 1000."
  }
}

variable "include_inference_response_in" {
  type        = list(string)
  description = "Notifications that carry the inference response (small responses only)."
  default     = []

  validation {
    condition     = alltrue([for t in var.include_inference_response_in : contains(["SUCCESS_NOTIFICATION_TOPIC", "ERROR_NOTIFICATION_TOPIC"], t)])
    error_message = "Allowed values: SUCCESS_NOTIFICATION_TOPIC, ERROR_NOTIFICATION_TOPIC."
  }
}

variable "autoscaling" {
  type = object({
    min_capacity                = optional(number, 0)
    max_capacity                = optional(number, 2)
    target_backlog_per_instance = optional(number, 5)
    scale_in_cooldown           = optional(number, 600)
    scale_out_cooldown          = optional(number, 300)
    scale_from_zero_cooldown    = optional(number, 300)
  })
  description = "Autoscaling of the variant: target tracking on ApproximateBacklogSizePerInstance between min_capacity (0: scale to zero when idle) and max_capacity, plus a step policy on HasBacklogWithoutCapacity that adds an instance when requests wait and none is running."
  default     = {}

  validation {
    condition     = var.autoscaling.min_capacity >= 0 && var.autoscaling.max_capacity >= 1 && var.autoscaling.min_capacity <= var.autoscaling.max_capacity
    error_message = "Need 0 <= min_capacity <= max_capacity and max_capacity >= 1."
  }

  validation {
    condition     = var.autoscaling.target_backlog_per_instance > 0
    error_message = "The target_backlog_per_instance must be positive."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
