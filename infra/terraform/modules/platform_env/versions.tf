# No provider: this module only assembles the platform's configuration from other modules'
# outputs. It deliberately avoids language features newer than Terraform 1.0 (optional object
# attributes, `nullable`, string functions of 1.3+), so that the test suite can validate and
# evaluate it with the offline Terraform 1.0.3 binary.
terraform {
  required_version = ">= 1.5"
}
