output "sagemaker_endpoint_role_arn" {
  description = "ARN of the async endpoint's execution role (with its permissions attached)."
  value       = aws_iam_role.sagemaker_endpoint.arn

  # SageMaker checks the role when the model is created: hand out the ARN only once the
  # permissions are in place.
  depends_on = [aws_iam_role_policy.sagemaker_endpoint]
}

output "feature_store_role_arn" {
  description = "ARN of the role Feature Store uses for the offline store."
  value       = aws_iam_role.feature_store.arn
  depends_on  = [aws_iam_role_policy.feature_store]
}

output "airflow_worker_policy_arn" {
  description = "ARN of the managed policy with the Airflow tasks' permissions (attach to the MWAA execution role)."
  value       = aws_iam_policy.airflow_worker.arn
}

output "airflow_worker_role_arn" {
  description = "ARN of the IRSA role for self-managed Airflow workers on EKS; null when not created."
  value       = try(aws_iam_role.irsa["airflow-worker"].arn, null)
}

output "ray_worker_policy_arn" {
  description = "ARN of the managed policy with the Ray jobs' permissions."
  value       = aws_iam_policy.ray_worker.arn
}

output "ray_worker_role_arn" {
  description = "ARN of the IRSA role for the Ray service account; null without an OIDC provider."
  value       = try(aws_iam_role.irsa["ray-worker"].arn, null)
}
