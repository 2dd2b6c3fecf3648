output "db_instance_identifier" {
  description = "Identifier of the database instance."
  value       = aws_db_instance.this.identifier
}

output "db_address" {
  description = "Host name of the database."
  value       = aws_db_instance.this.address
}

output "db_port" {
  description = "Port of the database."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Name of the MLflow database."
  value       = aws_db_instance.this.db_name
}

output "master_user_secret_arn" {
  description = "ARN of the Secrets Manager secret RDS keeps the master password in."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "backend_store_uri_without_password" {
  description = "MLflow --backend-store-uri without the password (the server adds it from the secret at start-up)."
  value       = "postgresql://${aws_db_instance.this.username}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${aws_db_instance.this.db_name}?sslmode=require"
}

output "artifacts_bucket_name" {
  description = "Name of the MLflow artifacts bucket."
  value       = module.artifacts.bucket_id
}

output "artifacts_bucket_arn" {
  description = "ARN of the MLflow artifacts bucket."
  value       = module.artifacts.bucket_arn
}

output "artifact_root" {
  description = "MLflow --default-artifact-root (and the platform's COSMO_TRACKING__ARTIFACT_ROOT)."
  value       = "s3://${module.artifacts.bucket_id}"
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.this.id
}
