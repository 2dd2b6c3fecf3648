output "endpoint_name" {
  description = "Name of the async endpoint (what invoke_endpoint_async is called with)."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the async endpoint."
  value       = aws_sagemaker_endpoint.this.arn
}

output "endpoint_config_name" {
  description = "Name of the endpoint configuration in service."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "model_name" {
  description = "Name of the SageMaker model in service."
  value       = aws_sagemaker_model.this.name
}

output "success_topic_arn" {
  description = "SNS topic that receives a message per successful async request."
  value       = aws_sns_topic.success.arn
}

output "error_topic_arn" {
  description = "SNS topic that receives a message per failed async request."
  value       = aws_sns_topic.error.arn
}

output "s3_output_path" {
  description = "S3 URI of async responses."
  value       = var.s3_output_path
}

output "s3_failure_path" {
  description = "S3 URI of async failures."
  value       = var.s3_failure_path
}

output "scale_from_zero_alarm_arn" {
  description = "ARN of the HasBacklogWithoutCapacity alarm that scales the endpoint up from zero."
  value       = aws_cloudwatch_metric_alarm.has_backlog_without_capacity.arn
}
