output "feature_group_names" {
  description = "Feature group name per feature set (e.g. query_intent => cosmo-prod-query-intent)."
  value       = { for k, g in aws_sagemaker_feature_group.this : k => g.feature_group_name }
}

output "feature_group_arns" {
  description = "Feature group ARN per feature set."
  value       = { for k, g in aws_sagemaker_feature_group.this : k => g.arn }
}
