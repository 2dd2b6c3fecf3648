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

  irsa_enabled = var.eks_oidc_provider_arn != null
  oidc_issuer  = local.irsa_enabled ? replace(var.eks_oidc_provider_arn, "/^arn:[^:]+:iam::[0-9]+:oidc-provider\\//", "") : ""
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

# --- Airflow and Ray workers -----------------------------------------------------------------

# Managed policies, so that the Airflow one can also be attached to the MWAA execution role (mwaa
# module) when Airflow does not run on EKS.
resource "aws_iam_policy" "airflow_worker" {
  name        = "${var.name_prefix}-airflow-worker"
  description = "What COSMO's Airflow tasks may do: lake I/O, async endpoint, feature store."
  policy      = data.aws_iam_policy_document.airflow_worker.json
  tags        = var.tags
}

resource "aws_iam_policy" "ray_worker" {
  name        = "${var.name_prefix}-ray-worker"
  description = "What COSMO's Ray jobs may do: lake I/O and MLflow artifacts."
  policy      = data.aws_iam_policy_document.lake_worker.json
  tags        = var.tags
}

# IRSA roles of the workloads on EKS, one per Kubernetes service account, each trusted by that
# service account only: Ray with an OIDC provider, Airflow when it is self-managed on EKS too.
locals {
  irsa_workloads = {
    "ray-worker" = {
      service_account = var.ray_service_account
      policy_arn      = aws_iam_policy.ray_worker.arn
      description     = "IRSA role of the COSMO Ray head and workers on EKS."
    }
    "airflow-worker" = {
      service_account = var.airflow_service_account
      policy_arn      = aws_iam_policy.airflow_worker.arn
      description     = "IRSA role of self-managed COSMO Airflow workers on EKS."
    }
  }
  irsa_roles = {
    for workload, spec in local.irsa_workloads : workload => spec
    if local.irsa_enabled && spec.service_account != null
  }
}

data "aws_iam_policy_document" "irsa_assume" {
  for_each = local.irsa_roles

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.service_account.namespace}:${each.value.service_account.name}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.irsa_roles

  name                 = "${var.name_prefix}-${each.key}"
  description          = each.value.description
  assume_role_policy   = data.aws_iam_policy_document.irsa_assume[each.key].json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "irsa" {
  for_each = local.irsa_roles

  role       = aws_iam_role.irsa[each.key].name
  policy_arn = each.value.policy_arn
}
