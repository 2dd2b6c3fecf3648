data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  endpoint_arn = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:endpoint/${lower(var.endpoint_name)}"
  feature_group_arns = [
    for name in var.feature_group_names :
    "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:feature-group/${lower(name)}"
  ]

  irsa_enabled    = var.eks_oidc_provider_arn != null
  oidc_issuer     = local.irsa_enabled ? replace(var.eks_oidc_provider_arn, "/^arn:[^:]+:iam::[0-9]+:oidc-provider\\//", "") : ""
  airflow_on_irsa = local.irsa_enabled && var.airflow_service_account != null
}

# --- SageMaker endpoint execution role -------------------------------------------------------

data "aws_iam_policy_document" "sagemaker_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sagemaker_endpoint" {
  name                 = "${var.name_prefix}-sagemaker-endpoint"
  description          = "Execution role of the COSMO-LM async endpoint."
  assume_role_policy   = data.aws_iam_policy_document.sagemaker_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "sagemaker_endpoint" {
  name   = "cosmo-endpoint"
  role   = aws_iam_role.sagemaker_endpoint.id
  policy = data.aws_iam_policy_document.sagemaker_endpoint.json
}

# --- Feature Store role (offline store writes) ------------------------------------------------

resource "aws_iam_role" "feature_store" {
  name                 = "${var.name_prefix}-feature-store"
  description          = "Role SageMaker Feature Store uses to write the offline store to the lake."
  assume_role_policy   = data.aws_iam_policy_document.sagemaker_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "feature_store" {
  name   = "cosmo-feature-store"
  role   = aws_iam_role.feature_store.id
  policy = data.aws_iam_policy_document.feature_store.json
}

# --- Airflow workers --------------------------------------------------------------------------

# A managed policy so that it can be attached to the MWAA execution role (mwaa module) or to the
# IRSA role below when Airflow runs on EKS.
resource "aws_iam_policy" "airflow_worker" {
  name        = "${var.name_prefix}-airflow-worker"
  description = "What COSMO's Airflow tasks may do: lake I/O, async endpoint, feature store."
  policy      = data.aws_iam_policy_document.airflow_worker.json
  tags        = var.tags
}

data "aws_iam_policy_document" "airflow_assume" {
  count = local.airflow_on_irsa ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.airflow_service_account.namespace}:${var.airflow_service_account.name}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "airflow_worker" {
  count = local.airflow_on_irsa ? 1 : 0

  name                 = "${var.name_prefix}-airflow-worker"
  description          = "IRSA role of self-managed COSMO Airflow workers on EKS."
  assume_role_policy   = data.aws_iam_policy_document.airflow_assume[0].json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "airflow_worker" {
  count = local.airflow_on_irsa ? 1 : 0

  role       = aws_iam_role.airflow_worker[0].name
  policy_arn = aws_iam_policy.airflow_worker.arn
}

# --- Ray workers (KubeRay on EKS, IRSA) --------------------------------------------------------

resource "aws_iam_policy" "ray_worker" {
  name        = "${var.name_prefix}-ray-worker"
  description = "What COSMO's Ray jobs may do: lake I/O and MLflow artifacts."
  policy      = data.aws_iam_policy_document.ray_worker.json
  tags        = var.tags
}

data "aws_iam_policy_document" "ray_assume" {
  count = local.irsa_enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.ray_service_account.namespace}:${var.ray_service_account.name}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ray_worker" {
  count = local.irsa_enabled ? 1 : 0

  name                 = "${var.name_prefix}-ray-worker"
  description          = "IRSA role of the COSMO Ray head and workers on EKS."
  assume_role_policy   = data.aws_iam_policy_document.ray_assume[0].json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "ray_worker" {
  count = local.irsa_enabled ? 1 : 0

  role       = aws_iam_role.ray_worker[0].name
  policy_arn = aws_iam_policy.ray_worker.arn
}
