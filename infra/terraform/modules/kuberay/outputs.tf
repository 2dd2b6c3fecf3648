output "ray_address" {
  description = "Ray Jobs API address inside the Kubernetes cluster (the platform's COSMO_RAY__ADDRESS)."
  value       = "http://${var.cluster_name}-head-svc.${var.namespace}.svc.cluster.local:8265"
}

output "head_service_name" {
  description = "Name of the head service."
  value       = "${var.cluster_name}-head-svc"
}

output "namespace" {
  description = "Namespace of the RayCluster."
  value       = kubernetes_namespace_v1.ray.metadata[0].name
}

output "service_account_name" {
  description = "Service account of the Ray pods (the IRSA subject system:serviceaccount:<namespace>:<name>)."
  value       = kubernetes_service_account_v1.ray.metadata[0].name
}
