resource "aws_sagemaker_feature_group" "this" {
  for_each = var.feature_groups

  feature_group_name             = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  description                    = each.value.description
  record_identifier_feature_name = each.value.record_identifier_feature_name
  event_time_feature_name        = each.value.event_time_feature_name
  role_arn                       = var.role_arn

  dynamic "feature_definition" {
    for_each = each.value.features

    content {
      feature_name = feature_definition.value.name
      feature_type = feature_definition.value.type
    }
  }

  online_store_config {
    enable_online_store = var.enable_online_store

    security_config {
      kms_key_id = var.kms_key_arn
    }

    dynamic "ttl_duration" {
      for_each = var.online_ttl_days == null ? [] : [var.online_ttl_days]

      content {
        unit  = "Days"
        value = ttl_duration.value
      }
    }
  }

  offline_store_config {
    table_format                = var.table_format
    disable_glue_table_creation = false

    s3_storage_config {
      s3_uri     = var.offline_store_s3_uri
      kms_key_id = var.kms_key_arn
    }
  }

  tags = var.tags
}
