# Remote state in S3, locked. Partial configuration: the account-specific settings are given at
# init time and never committed:
#
#   terraform init -backend-config=backend.hcl
#
# with a backend.hcl like backend.hcl.example:
#
#   bucket       = "<state bucket>"            # versioned, SSE-KMS, public access blocked
#   key          = "cosmo/<env>/terraform.tfstate"
#   region       = "<region>"
#   encrypt      = true
#   kms_key_id   = "<state key ARN>"           # the state holds the Redis AUTH token
#   use_lockfile = true                        # S3 native locking, Terraform >= 1.10
#   # dynamodb_table = "<lock table>"          # instead of use_lockfile on Terraform < 1.10
#
# The state bucket, its key and (for Terraform < 1.10) the DynamoDB lock table (partition key
# `LockID`, type S) are created once per account, outside these roots (bootstrap).
terraform {
  backend "s3" {}
}
