locals {
  labels = {
    "app.kubernetes.io/part-of"    = "cosmo"
    "app.kubernetes.io/managed-by" = "terraform"
  }

  container_security_context = {
    allowPrivilegeEscalation = false
    capabilities             = { drop = ["ALL"] }
  }

  gpu_resources = {
    cpu              = var.gpu_workers.cpu
    memory           = var.gpu_workers.memory
    "nvidia.com/gpu" = var.gpu_workers.gpus_per_worker
  }

  # Values of the ray-cluster chart (helm-chart/ray-cluster/values.yaml in kuberay).
  ray_cluster_values = {
    fullnameOverride = var.cluster_name
    image = {
      repository = var.ray_image.repository
      tag        = var.ray_image.tag
      pullPolicy = "IfNotPresent"
    }

    head = {
      enableInTreeAutoscaling = var.enable_autoscaling
      serviceAccountName      = kubernetes_service_account_v1.ray.metadata[0].name
      labels                  = local.labels
      # num-cpus 0: the head schedules no tasks, it only runs drivers, the dashboard and the
      # Jobs API (port 8265).
      rayStartParams = {
        "dashboard-host" = "0.0.0.0"
        "num-cpus"       = "0"
      }
      resources = {
        limits   = { cpu = var.head.cpu, memory = var.head.memory }
        requests = { cpu = var.head.cpu, memory = var.head.memory }
      }
      securityContext = local.container_security_context
    }

    # The default worker group of the chart is the GPU group.
    worker = {
      groupName          = "gpu"
      replicas           = var.gpu_workers.min_replicas
      minReplicas        = var.gpu_workers.min_replicas
      maxReplicas        = var.gpu_workers.max_replicas
      serviceAccountName = kubernetes_service_account_v1.ray.metadata[0].name
      labels             = local.labels
      image = {
        repository = var.ray_gpu_image.repository
        tag        = var.ray_gpu_image.tag
        pullPolicy = "IfNotPresent"
      }
      rayStartParams = {
        "num-gpus" = tostring(var.gpu_workers.gpus_per_worker)
      }
      resources = {
        limits   = local.gpu_resources
        requests = local.gpu_resources
      }
      nodeSelector = var.gpu_workers.node_selector
      tolerations = [{
        key      = "nvidia.com/gpu"
        operator = "Exists"
        effect   = "NoSchedule"
      }]
      securityContext = local.container_security_context
    }

    additionalWorkerGroups = {
      cpu = {
        disabled           = false
        replicas           = var.cpu_workers.min_replicas
        minReplicas        = var.cpu_workers.min_replicas
        maxReplicas        = var.cpu_workers.max_replicas
        serviceAccountName = kubernetes_service_account_v1.ray.metadata[0].name
        labels             = local.labels
        rayStartParams     = {}
        resources = {
          limits   = { cpu = var.cpu_workers.cpu, memory = var.cpu_workers.memory }
          requests = { cpu = var.cpu_workers.cpu, memory = var.cpu_workers.memory }
        }
        securityContext = local.container_security_context
      }
    }

    service = {
      type = "ClusterIP"
    }
  }
}

resource "helm_release" "operator" {
  name             = "kuberay-operator"
  repository       = var.chart_repository
  chart            = "kuberay-operator"
  version          = var.kuberay_version
  namespace        = var.operator_namespace
  create_namespace = true
  atomic           = true
  wait             = true
  timeout          = 600
}

resource "kubernetes_namespace_v1" "ray" {
  metadata {
    name   = var.namespace
    labels = local.labels
  }
}

resource "kubernetes_service_account_v1" "ray" {
  metadata {
    name        = var.service_account_name
    namespace   = kubernetes_namespace_v1.ray.metadata[0].name
    labels      = local.labels
    annotations = var.service_account_role_arn == null ? {} : { "eks.amazonaws.com/role-arn" = var.service_account_role_arn }
  }

  # The Ray autoscaler sidecar on the head talks to the Kubernetes API with this account's
  # token (KubeRay binds it to a Role limited to this RayCluster's pods).
  automount_service_account_token = true
}

# The RayCluster custom resource, rendered by KubeRay's ray-cluster chart. Using the chart
# instead of a kubernetes_manifest keeps plans working before the operator's CRDs exist.
resource "helm_release" "ray_cluster" {
  name      = var.cluster_name
  namespace = kubernetes_namespace_v1.ray.metadata[0].name

  repository = var.chart_repository
  chart      = "ray-cluster"
  version    = var.kuberay_version
  atomic     = true
  wait       = true
  timeout    = 900

  values = [yamlencode(local.ray_cluster_values)]

  depends_on = [helm_release.operator]
}
