provider "aws" {
  region = "eu-west-1"
}

module "redis" {
  source = "../../"

  name                       = "cosmo-example-cache"
  vpc_id                     = "vpc-0123456789abcdef0"
  subnet_ids                 = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  allowed_security_group_ids = ["sg-0123456789abcdef0"]
  kms_key_arn                = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  auth_token_secret_id       = "cosmo/example/redis-auth-token"
  num_cache_clusters         = 2
}

output "primary_endpoint_address" {
  description = "Redis primary endpoint."
  value       = module.redis.primary_endpoint_address
}
