locals {
  # Instance families with local NVMe instance storage: SageMaker rejects a volume KMS key for
  # them (their instance store is hardware encrypted), so the key is set for EBS-backed
  # types only.
  instance_has_local_nvme = can(regex("^ml\\.(c5d|c6id|g4dn|g5|g6|g6e|inf2|m5d|m6id|p3dn|p4d|p4de|p5|r5d|trn1)\\.", var.instance_type))

  # The model name changes whenever what it serves changes, so a new model (and, through the
  # endpoint configuration, a rolling endpoint update) is created before the old one goes.
  model_fingerprint = substr(sha1(jsonencode({
    image           = var.image_uri
    model_data_url  = var.model_data_url
    environment     = var.environment
    role            = var.execution_role_arn
    network_isolate = var.enable_network_isolation
  })), 0, 8)
}

resource "aws_sagemaker_model" "this" {
  name                     = "${var.name}-${local.model_fingerprint}"
  execution_role_arn       = var.execution_role_arn
  enable_network_isolation = var.enable_network_isolation

  primary_container {
    image          = var.image_uri
    model_data_url = var.model_data_url
    environment    = var.environment
    mode           = "SingleModel"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  # name_prefix + create_before_destroy: a changed configuration is created under a new name,
  # the endpoint is updated to it, then the old configuration is deleted.
  name_prefix = "${var.name}-"
  kms_key_arn = local.instance_has_local_nvme ? null : var.kms_key_arn

  production_variants {
    variant_name                                      = var.variant_name
    model_name                                        = aws_sagemaker_model.this.name
    instance_type                                     = var.instance_type
    initial_instance_count                            = var.initial_instance_count
    container_startup_health_check_timeout_in_seconds = var.container_startup_health_check_timeout_in_seconds
    model_data_download_timeout_in_seconds            = var.model_data_download_timeout_in_seconds
  }

  async_inference_config {
    output_config {
      s3_output_path  = var.s3_output_path
      s3_failure_path = var.s3_failure_path
      kms_key_id      = var.kms_key_arn

      notification_config {
        success_topic                 = aws_sns_topic.success.arn
        error_topic                   = aws_sns_topic.error.arn
        include_inference_response_in = var.include_inference_response_in
      }
    }

    client_config {
      max_concurrent_invocations_per_instance = var.max_concurrent_invocations_per_instance
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name
  tags                 = var.tags
}
