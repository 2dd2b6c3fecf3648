provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.tags
  }
}

# The Kubernetes and Helm providers are used only by the KubeRay option; without it they are
# configured with empty values and never contacted.
data "aws_eks_cluster" "this" {
  count = var.enable_kuberay ? 1 : 0

  name = var.eks_cluster_name
}

locals {
  eks_host = try(data.aws_eks_cluster.this[0].endpoint, "")
  eks_ca   = try(base64decode(data.aws_eks_cluster.this[0].certificate_authority[0].data), "")
}

provider "kubernetes" {
  host                   = local.eks_host
  cluster_ca_certificate = local.eks_ca

  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", coalesce(var.eks_cluster_name, "none"), "--region", var.aws_region]
  }
}

provider "helm" {
  kubernetes {
    host                   = local.eks_host
    cluster_ca_certificate = local.eks_ca

    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", coalesce(var.eks_cluster_name, "none"), "--region", var.aws_region]
    }
  }
}
