variable "cluster_name" {
  type        = string
  description = "Name of the RayCluster (and of its Helm release); the head service is <cluster_name>-head-svc."

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.cluster_name))
    error_message = "The cluster_name must be a DNS label of at most 40 characters."
  }
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace of the RayCluster."
  default     = "ray"
}

variable "operator_namespace" {
  type        = string
  description = "Kubernetes namespace of the KubeRay operator."
  default     = "kuberay-system"
}

variable "chart_repository" {
  type        = string
  description = "Helm repository of the KubeRay charts (a mirror in air-gapped accounts)."
  default     = "https://ray-project.github.io/kuberay-helm/"
}

variable "kuberay_version" {
  type        = string
  description = "Version of the kuberay-operator and ray-cluster charts."
  default     = "1.4.2"
}

variable "ray_image" {
  type = object({
    repository = string
    tag        = string
  })
  description = "Ray image of the head and CPU workers: the COSMO CPU environment, same Ray version as the platform (2.60)."
  default = {
    repository = "rayproject/ray"
    tag        = "2.60.0-py311"
  }
}

variable "ray_gpu_image" {
  type = object({
    repository = string
    tag        = string
  })
  description = "Ray image of the GPU workers: the COSMO GPU environment with vLLM, same Ray version as the platform."
  default = {
    repository = "rayproject/ray"
    tag        = "2.60.0-py311-gpu"
  }
}

variable "head" {
  type = object({
    cpu    = optional(string, "2")
    memory = optional(string, "8Gi")
  })
  description = "Resources of the head pod (runs job drivers, the dashboard and the Jobs API; no tasks)."
  default     = {}
}

variable "gpu_workers" {
  type = object({
    min_replicas    = optional(number, 0)
    max_replicas    = optional(number, 4)
    gpus_per_worker = optional(number, 1)
    cpu             = optional(string, "8")
    memory          = optional(string, "32Gi")
    node_selector   = optional(map(string), {})
  })
  description = "The GPU worker group (vLLM generation, COSMO-LM fine-tuning). Scales from min to max with the Ray autoscaler."
  default     = {}

  validation {
    condition     = var.gpu_workers.gpus_per_worker >= 1 && var.gpu_workers.min_replicas >= 0 && var.gpu_workers.min_replicas <= var.gpu_workers.max_replicas
    error_message = "Need gpus_per_worker >= 1 and 0 <= min_replicas <= max_replicas."
  }
}

variable "cpu_workers" {
  type = object({
    min_replicas = optional(number, 0)
    max_replicas = optional(number, 8)
    cpu          = optional(string, "4")
    memory       = optional(string, "16Gi")
  })
  description = "The CPU worker group (sampling, filtering, scoring)."
  default     = {}

  validation {
    condition     = var.cpu_workers.min_replicas >= 0 && var.cpu_workers.min_replicas <= var.cpu_workers.max_replicas
    error_message = "Need 0 <= min_replicas <= max_replicas."
  }
}

variable "enable_autoscaling" {
  type        = bool
  description = "Run the Ray autoscaler so worker groups follow the job's demand."
  default     = true
}

variable "service_account_name" {
  type        = string
  description = "Service account of the head and workers (annotated for IRSA)."
  default     = "ray-worker"
}

variable "service_account_role_arn" {
  type        = string
  description = "IAM role the service account assumes through IRSA (iam module output ray_worker_role_arn). Null: no AWS access."
  default     = null
}
