# Permission documents of the COSMO workloads. Every statement names its resources: buckets and
# prefixes, keys, topics, the endpoint, feature groups, secrets, log groups. The only "*"
# resources are actions that AWS does not scope to a resource (each marked where used).

locals {
  b = var.bucket_arns
  p = var.prefixes

  endpoint_log_group = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/Endpoints/${var.endpoint_name}"
}

data "aws_iam_policy_document" "sagemaker_endpoint" {
  statement {
    sid       = "ReadModelArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${local.b.models}/${local.p.model_artifacts}*"]
  }

  statement {
    sid       = "ReadAsyncRequests"
    actions   = ["s3:GetObject"]
    resources = ["${local.b.inference}/${local.p.async_input}*"]
  }

  statement {
    sid     = "WriteAsyncResponsesAndFailures"
    actions = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [
      "${local.b.inference}/${local.p.async_output}*",
      "${local.b.inference}/${local.p.async_failure}*",
    ]
  }

  statement {
    sid       = "UseLakeKeys"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = var.kms_key_arns
  }

  dynamic "statement" {
    for_each = length(var.sns_topic_arns) > 0 ? [1] : []

    content {
      sid       = "PublishAsyncNotifications"
      actions   = ["sns:Publish"]
      resources = var.sns_topic_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) > 0 ? [1] : []

    content {
      sid       = "PullInferenceImage"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = var.ecr_repository_arns
    }
  }

  statement {
    # ecr:GetAuthorizationToken has no resource-level permissions: AWS requires "*".
    sid       = "GetEcrAuthorizationToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteEndpointLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = [local.endpoint_log_group, "${local.endpoint_log_group}:log-stream:*"]
  }

  statement {
    # cloudwatch:PutMetricData has no resource-level permissions: AWS requires "*". The
    # namespace condition limits it to SageMaker's own namespaces.
    sid       = "PublishEndpointMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["AWS/SageMaker", "/aws/sagemaker/*"]
    }
  }
}

data "aws_iam_policy_document" "feature_store" {
  statement {
    sid       = "WriteOfflineStore"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectAcl"]
    resources = ["${local.b.datasets}/${local.p.feature_store}*"]
  }

  statement {
    sid       = "CheckOfflineStoreBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    resources = [local.b.datasets]
  }

  statement {
    sid       = "UseLakeKeys"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = var.kms_key_arns
  }

  statement {
    sid     = "ManageOfflineStoreTables"
    actions = ["glue:CreateTable", "glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"]
    resources = [
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${var.feature_store_glue_database}",
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${var.feature_store_glue_database}/*",
    ]
  }
}

# What every COSMO batch worker may do on the lake: Ray jobs get exactly this, Airflow tasks get
# it plus the serving and feature store rights below.
data "aws_iam_policy_document" "lake_worker" {
  statement {
    sid     = "ListLakeBuckets"
    actions = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = [
      local.b.raw,
      local.b.datasets,
      local.b.models,
      local.b.mlflow_artifacts,
    ]
  }

  statement {
    sid       = "ReadBehaviourLogs"
    actions   = ["s3:GetObject"]
    resources = ["${local.b.raw}/${local.p.raw_logs}*"]
  }

  statement {
    sid     = "ReadWriteDatasetsModelsAndArtifacts"
    actions = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = [
      "${local.b.datasets}/${local.p.datasets}*",
      "${local.b.models}/${local.p.model_artifacts}*",
      "${local.b.mlflow_artifacts}/*",
    ]
  }

  statement {
    sid       = "UseLakeKeys"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = var.kms_key_arns
  }

  dynamic "statement" {
    for_each = length(var.secret_arns) > 0 ? [1] : []

    content {
      sid       = "ReadPlatformSecrets"
      actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
      resources = var.secret_arns
    }
  }
}

data "aws_iam_policy_document" "airflow_worker" {
  source_policy_documents = [data.aws_iam_policy_document.lake_worker.json]

  statement {
    sid       = "ListInferenceBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = [local.b.inference]
  }

  statement {
    sid       = "StageAsyncRequests"
    actions   = ["s3:PutObject"]
    resources = ["${local.b.inference}/${local.p.async_input}*"]
  }

  statement {
    sid     = "ReadAsyncResults"
    actions = ["s3:GetObject"]
    resources = [
      "${local.b.inference}/${local.p.async_output}*",
      "${local.b.inference}/${local.p.async_failure}*",
    ]
  }

  statement {
    sid       = "InvokeAsyncEndpoint"
    actions   = ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointAsync"]
    resources = [local.endpoint_arn]
  }

  dynamic "statement" {
    for_each = length(local.feature_group_arns) > 0 ? [1] : []

    content {
      sid = "ReadWriteFeatureGroups"
      actions = [
        "sagemaker:BatchGetRecord",
        "sagemaker:DeleteRecord",
        "sagemaker:DescribeFeatureGroup",
        "sagemaker:GetRecord",
        "sagemaker:PutRecord",
      ]
      resources = local.feature_group_arns
    }
  }
}
