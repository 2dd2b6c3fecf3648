# Provider configurations belong to the root. Tags on every resource; the Kubernetes and Helm
# providers (KubeRay option only) connect through modules/platform's `eks_connection`.

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(var.tags, {
      Project     = "cosmo"
      Environment = local.environment
      ManagedBy   = "terraform"
    })
  }
}

provider "kubernetes" {
  host                   = module.platform.eks_connection.host
  cluster_ca_certificate = module.platform.eks_connection.cluster_ca_certificate

  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = module.platform.eks_connection.token_args
  }
}

provider "helm" {
  kubernetes {
    host                   = module.platform.eks_connection.host
    cluster_ca_certificate = module.platform.eks_connection.cluster_ca_certificate

    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = module.platform.eks_connection.token_args
    }
  }
}
