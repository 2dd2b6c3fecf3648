output "replication_group_id" {
  description = "ID of the replication group."
  value       = aws_elasticache_replication_group.this.id
}

output "primary_endpoint_address" {
  description = "Host name of the primary endpoint (the platform's COSMO_CACHE__REDIS_HOST)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "reader_endpoint_address" {
  description = "Host name of the reader endpoint."
  value       = aws_elasticache_replication_group.this.reader_endpoint_address
}

output "port" {
  description = "Port of the cache."
  value       = var.port
}

output "security_group_id" {
  description = "Security group of the cache."
  value       = aws_security_group.this.id
}

output "auth_token_secret_arn" {
  description = "ARN of the secret holding the AUTH token (grant clients secretsmanager:GetSecretValue on it)."
  value       = data.aws_secretsmanager_secret_version.auth_token.arn
}
