provider "aws" {
  region = "eu-west-1"
}

data "aws_eks_cluster" "this" {
  name = "cosmo-example"
}

provider "kubernetes" {
  host                   = data.aws_eks_cluster.this.endpoint
  cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)

  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", data.aws_eks_cluster.this.name]
  }
}

provider "helm" {
  kubernetes {
    host                   = data.aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)

    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", data.aws_eks_cluster.this.name]
    }
  }
}

module "kuberay" {
  source = "../../"

  cluster_name             = "cosmo"
  service_account_role_arn = "arn:aws:iam::123456789012:role/cosmo-example-ray-worker"

  gpu_workers = {
    max_replicas  = 2
    node_selector = { "node.kubernetes.io/instance-type" = "g5.2xlarge" }
  }
}

output "ray_address" {
  description = "Ray Jobs API address."
  value       = module.kuberay.ray_address
}
