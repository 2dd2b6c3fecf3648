variable "name" {
  type        = string
  description = "MWAA environment name, e.g. `cosmo-prod`."

  validation {
    condition     = can(regex("^[a-zA-Z][0-9a-zA-Z_-]{0,79}$", var.name))
    error_message = "The name must start with a letter and use letters, digits, '-' and '_' (max 80)."
  }
}

variable "airflow_version" {
  type        = string
  description = "Apache Airflow version of the environment (the COSMO DAGs use the Airflow 3 task SDK)."
  default     = "3.0.6"

  validation {
    condition     = startswith(var.airflow_version, "3.")
    error_message = "COSMO's DAGs need Airflow 3."
  }
}

variable "environment_class" {
  type        = string
  description = "Environment class (scheduler and worker size)."
  default     = "mw1.small"

  validation {
    condition     = contains(["mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"], var.environment_class)
    error_message = "The environment_class must be one of mw1.micro, mw1.small, mw1.medium, mw1.large, mw1.xlarge, mw1.2xlarge."
  }
}

variable "min_workers" {
  type        = number
  description = "Minimum number of Celery workers."
  default     = 1
}

variable "max_workers" {
  type        = number
  description = "Maximum number of Celery workers."
  default     = 4

  validation {
    condition     = var.max_workers >= 1 && var.max_workers <= 25
    error_message = "The max_workers must be between 1 and 25."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the environment."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Exactly two private subnets in different AZs (with a route to AWS APIs via NAT or VPC endpoints)."

  validation {
    condition     = length(var.subnet_ids) == 2
    error_message = "MWAA needs exactly two private subnets."
  }
}

variable "webserver_allowed_security_group_ids" {
  type        = list(string)
  description = "Security groups (VPN, bastion, proxies) allowed to reach the private Airflow UI on 443."
  default     = []
}

variable "webserver_allowed_cidr_blocks" {
  type        = list(string)
  description = "Private CIDR blocks allowed to reach the private Airflow UI on 443."
  default     = []

  validation {
    condition     = !contains(var.webserver_allowed_cidr_blocks, "0.0.0.0/0")
    error_message = "The Airflow UI must not be open to 0.0.0.0/0."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer managed KMS key for the environment, its DAGs bucket and logs (the key must allow CloudWatch Logs: kms_key module allow_cloudwatch_logs)."
}

variable "dags_bucket_name" {
  type        = string
  description = "Name of the bucket holding DAGs, requirements and the startup script. Null: <name>-mwaa-<account id>."
  default     = null
}

variable "access_log_bucket" {
  type        = string
  description = "Bucket receiving S3 server access logs of the DAGs bucket."
}

variable "force_destroy" {
  type        = bool
  description = "Allow `terraform destroy` to delete a non-empty DAGs bucket (throw-away environments only)."
  default     = false
}

variable "requirements" {
  type        = list(string)
  description = "Lines of requirements.txt (pinned packages, plus a --constraint line for the Airflow version)."
  default     = []
}

variable "startup_script" {
  type        = string
  description = "Content of the startup script run on every scheduler, worker and web server (e.g. exporting the platform's COSMO_* configuration). Never put secrets here."
  default     = "#!/bin/sh\n"
}

variable "airflow_configuration_options" {
  type        = map(string)
  description = "Airflow configuration overrides (section.key => value)."
  default     = {}
}

variable "additional_policy_arns" {
  type        = map(string)
  description = "Managed policies attached to the execution role, by a static label (e.g. { platform = <iam module airflow_worker_policy_arn> })."
  default     = {}
}

variable "log_level" {
  type        = string
  description = "Level of the scheduler, worker, web server, DAG processing and task logs."
  default     = "INFO"

  validation {
    condition     = contains(["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"], var.log_level)
    error_message = "The log_level must be CRITICAL, ERROR, WARNING, INFO or DEBUG."
  }
}

variable "weekly_maintenance_window_start" {
  type        = string
  description = "Start of the weekly maintenance window (DAY:HH:MM, UTC)."
  default     = "SUN:03:00"
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
