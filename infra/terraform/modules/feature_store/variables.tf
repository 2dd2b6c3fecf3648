variable "name_prefix" {
  type        = string
  description = "Prefix of feature group names, e.g. `cosmo-prod` gives `cosmo-prod-query-intent`."

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,39}$", var.name_prefix))
    error_message = "The name_prefix must be 1-40 alphanumeric characters or hyphens."
  }
}

variable "role_arn" {
  type        = string
  description = "ARN of the role Feature Store uses to write the offline store (iam module output feature_store_role_arn)."
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer managed KMS key for the online store and the offline store objects."
}

variable "offline_store_s3_uri" {
  type        = string
  description = "S3 URI of the offline store in the lake, e.g. s3://cosmo-prod-datasets-123456789012/feature-store."

  validation {
    condition     = can(regex("^s3://[a-z0-9.-]+(/.*)?$", var.offline_store_s3_uri))
    error_message = "The offline_store_s3_uri must be an s3:// URI."
  }
}

variable "table_format" {
  type        = string
  description = "Offline store table format: Iceberg (compaction, faster queries) or Glue."
  default     = "Iceberg"

  validation {
    condition     = contains(["Iceberg", "Glue"], var.table_format)
    error_message = "The table_format must be Iceberg or Glue."
  }
}

variable "enable_online_store" {
  type        = bool
  description = "Serve the latest record per identifier with low latency (the online store)."
  default     = true
}

variable "online_ttl_days" {
  type        = number
  description = "Days after which online records expire (knowledge is refreshed daily). Null: never."
  default     = 30

  validation {
    condition     = var.online_ttl_days == null ? true : var.online_ttl_days >= 1
    error_message = "The online_ttl_days must be at least 1."
  }
}

variable "feature_groups" {
  type = map(object({
    description                    = string
    record_identifier_feature_name = string
    event_time_feature_name        = string
    features = list(object({
      name = string
      type = string
    }))
  }))
  description = "Feature groups by feature set name (the key the platform uses, e.g. query_intent). Each lists its features; the record identifier and event time must be among them. The defaults are cosmo.serving.feature_sets (FeatureSet.definitions): change both together (tests/infra/test_feature_groups_match.py checks it)."
  default = {
    query_intent = {
      description                    = "COSMO knowledge per search query: intentions by relation, strong intent, intention cluster, linked product types."
      record_identifier_feature_name = "record_id"
      event_time_feature_name        = "event_time"
      features = [
        { name = "record_id", type = "String" },
        { name = "event_time", type = "Fractional" },
        { name = "ds", type = "String" },
        { name = "query_id", type = "String" },
        { name = "query", type = "String" },
        { name = "intents", type = "String" },
        { name = "top_intention", type = "String" },
        { name = "top_relation", type = "String" },
        { name = "top_typicality", type = "Fractional" },
        { name = "strong_intent", type = "Integral" },
        { name = "intent_cluster", type = "String" },
        { name = "intent_cluster_name", type = "String" },
        { name = "product_types", type = "String" },
        { name = "critic_models", type = "String" },
      ]
    }
    product_intent = {
      description                    = "COSMO knowledge per product: intentions by relation, strong intent, intention cluster, linked product types."
      record_identifier_feature_name = "record_id"
      event_time_feature_name        = "event_time"
      features = [
        { name = "record_id", type = "String" },
        { name = "event_time", type = "Fractional" },
        { name = "ds", type = "String" },
        { name = "product_id", type = "String" },
        { name = "title", type = "String" },
        { name = "product_type", type = "String" },
        { name = "domain", type = "String" },
        { name = "intents", type = "String" },
        { name = "top_intention", type = "String" },
        { name = "top_relation", type = "String" },
        { name = "top_typicality", type = "Fractional" },
        { name = "strong_intent", type = "Integral" },
        { name = "intent_cluster", type = "String" },
        { name = "intent_cluster_name", type = "String" },
        { name = "product_types", type = "String" },
        { name = "critic_models", type = "String" },
      ]
    }
    intention_hierarchy = {
      description                    = "Each intention node with its place in the hierarchy: what navigation suggestions are made of."
      record_identifier_feature_name = "record_id"
      event_time_feature_name        = "event_time"
      features = [
        { name = "record_id", type = "String" },
        { name = "event_time", type = "Fractional" },
        { name = "ds", type = "String" },
        { name = "intention_id", type = "String" },
        { name = "name", type = "String" },
        { name = "parent_id", type = "String" },
        { name = "parent_name", type = "String" },
        { name = "depth", type = "Integral" },
        { name = "children", type = "String" },
        { name = "product_types", type = "String" },
        { name = "queries", type = "Integral" },
      ]
    }
  }

  validation {
    condition = alltrue([
      for g in values(var.feature_groups) :
      contains([for f in g.features : f.name], g.record_identifier_feature_name) &&
      contains([for f in g.features : f.name], g.event_time_feature_name)
    ])
    error_message = "The record identifier and event time features must be listed in features."
  }

  validation {
    condition     = alltrue(flatten([for g in values(var.feature_groups) : [for f in g.features : contains(["String", "Integral", "Fractional"], f.type)]]))
    error_message = "Feature types must be String, Integral or Fractional."
  }

  validation {
    condition = alltrue([
      for g in values(var.feature_groups) :
      contains(["String", "Fractional"], one([for f in g.features : f.type if f.name == g.event_time_feature_name]))
    ])
    error_message = "The event time feature must be String (ISO-8601) or Fractional (epoch seconds)."
  }

  validation {
    condition     = alltrue([for g in values(var.feature_groups) : length(g.description) <= 128])
    error_message = "Feature group descriptions are at most 128 characters (SageMaker's limit)."
  }

  validation {
    condition     = alltrue([for k in keys(var.feature_groups) : can(regex("^[a-z][a-z0-9_]*$", k))])
    error_message = "Feature set names are lowercase snake_case (they are the platform's keys)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every feature group."
  default     = {}
}
