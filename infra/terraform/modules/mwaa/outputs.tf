output "environment_name" {
  description = "Name of the MWAA environment."
  value       = aws_mwaa_environment.this.name
}

output "environment_arn" {
  description = "ARN of the MWAA environment."
  value       = aws_mwaa_environment.this.arn
}

output "webserver_url" {
  description = "URL of the (private) Airflow UI."
  value       = aws_mwaa_environment.this.webserver_url
}

output "execution_role_arn" {
  description = "ARN of the execution role (the identity Airflow tasks run as)."
  value       = aws_iam_role.execution.arn
}

output "dags_bucket_name" {
  description = "Bucket to sync the dags/ folder to (s3://<bucket>/dags/)."
  value       = module.dags_bucket.bucket_id
}

output "security_group_id" {
  description = "Security group of the environment (allow it on Redis, the MLflow database, Ray)."
  value       = aws_security_group.this.id
}
