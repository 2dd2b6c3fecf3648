data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id       = data.aws_caller_identity.current.account_id
  partition        = data.aws_partition.current.partition
  region           = data.aws_region.current.name
  dags_bucket_name = coalesce(var.dags_bucket_name, lower("${var.name}-mwaa-${local.account_id}"))
  environment_arn  = "arn:${local.partition}:airflow:${local.region}:${local.account_id}:environment/${var.name}"
}

# DAGs (synced by CI with `aws s3 sync dags/ s3://<bucket>/dags/`), requirements and the
# startup script.
module "dags_bucket" {
  source = "../s3_bucket"

  bucket        = local.dags_bucket_name
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy
  access_logging = {
    target_bucket = var.access_log_bucket
  }
  tags = merge(var.tags, { "cosmo:bucket" = "mwaa" })

  lifecycle_rules = [{
    id                                 = "expire-old-dag-versions"
    noncurrent_version_expiration_days = 30
  }]
}

resource "aws_s3_object" "requirements" {
  bucket       = module.dags_bucket.bucket_id
  key          = "requirements.txt"
  content      = join("\n", concat(var.requirements, [""]))
  content_type = "text/plain"
  kms_key_id   = var.kms_key_arn
}

# Always present (the default is an empty script): a count on the content would be unknown at
# plan time, because the content embeds values known only after apply (e.g. the Redis host).
resource "aws_s3_object" "startup_script" {
  bucket       = module.dags_bucket.bucket_id
  key          = "startup.sh"
  content      = var.startup_script
  content_type = "text/x-sh"
  kms_key_id   = var.kms_key_arn
}

resource "aws_mwaa_environment" "this" {
  name               = var.name
  airflow_version    = var.airflow_version
  environment_class  = var.environment_class
  min_workers        = var.min_workers
  max_workers        = var.max_workers
  execution_role_arn = aws_iam_role.execution.arn
  kms_key            = var.kms_key_arn

  source_bucket_arn                = module.dags_bucket.bucket_arn
  dag_s3_path                      = "dags/"
  requirements_s3_path             = aws_s3_object.requirements.key
  requirements_s3_object_version   = aws_s3_object.requirements.version_id
  startup_script_s3_path           = aws_s3_object.startup_script.key
  startup_script_s3_object_version = aws_s3_object.startup_script.version_id

  airflow_configuration_options = var.airflow_configuration_options

  # Private networking: the UI is reachable only from inside the VPC, and the environment runs
  # in private subnets.
  webserver_access_mode = "PRIVATE_ONLY"
  endpoint_management   = "SERVICE"

  network_configuration {
    security_group_ids = [aws_security_group.this.id]
    subnet_ids         = var.subnet_ids
  }

  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = var.log_level
    }

    scheduler_logs {
      enabled   = true
      log_level = var.log_level
    }

    task_logs {
      enabled   = true
      log_level = var.log_level
    }

    webserver_logs {
      enabled   = true
      log_level = var.log_level
    }

    worker_logs {
      enabled   = true
      log_level = var.log_level
    }
  }

  weekly_maintenance_window_start = var.weekly_maintenance_window_start
  tags                            = var.tags

  depends_on = [
    aws_iam_role_policy.execution,
    aws_iam_role_policy_attachment.additional,
  ]
}
